"""Settings of ``brushwork serve``: one frozen dataclass, the one home of every server default.

The ``serve`` command derives its flags from these fields, tests build small servers from it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from brushwork.errors import ConfigError


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


def default_data_dir() -> str:
    """Where jobs live unless told: $BRUSHWORK_WEB_DATA, else the XDG data folder."""
    if os.environ.get("BRUSHWORK_WEB_DATA"):
        return os.environ["BRUSHWORK_WEB_DATA"]
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "brushwork" / "web")


@dataclass(frozen=True)
class WebServiceConfig:
    """What the web service accepts, how much it runs at once and what it keeps."""

    host: str = _help("interface to bind; 0.0.0.0 exposes the service to the network", default="127.0.0.1")
    port: int = _help("TCP port", default=8000)
    data_dir: str | None = _help(
        "folder for uploads, previews and results (default: $BRUSHWORK_WEB_DATA or "
        "~/.local/share/brushwork/web)",
        default=None,
    )
    styles_dir: str | None = _help(
        "extra folder of paintings to offer in the gallery, besides the bundled ones", default=None
    )
    gatys_workers: int = _help("Gatys jobs run at once (each uses all CPU cores)", default=1)
    fast_workers: int = _help("fast-model jobs run at once", default=2)
    queue_size: int = _help("jobs waiting per method before new ones get HTTP 429", default=8)
    max_upload_mb: float = _help("largest accepted upload in megabytes", default=20.0)
    max_pixels: int = _help(
        "largest accepted upload in pixels (decompression-bomb guard)", default=40_000_000
    )
    max_size: int = _help("largest output side a job may ask for, in pixels", default=1024)
    max_iterations: int = _help("most Gatys iterations a job may ask for", default=1000)
    job_time_limit: float = _help("seconds a job may run before it is stopped and failed", default=900.0)
    preview_every: int = _help("Gatys jobs write a preview image every N iterations", default=5)
    fast_inline_wait: float = _help(
        "seconds a fast-model request waits for its result before answering 202", default=15.0
    )
    max_data_mb: float = _help("cap on the data folder; the oldest finished jobs go first", default=2048.0)
    max_age_hours: float = _help("finished jobs older than this are deleted", default=168.0)
    gatys_weights: str = _help(
        "VGG weight source for Gatys jobs (server-side only; 'random' is for tests)", default="default"
    )
    cors_origins: tuple[str, ...] = _help(
        "origins allowed to call the API from other web sites; empty keeps CORS closed", default=()
    )

    def __post_init__(self) -> None:
        checks = {
            "gatys_workers": self.gatys_workers >= 1,
            "fast_workers": self.fast_workers >= 1,
            "queue_size": self.queue_size >= 0,
            "max_upload_mb": self.max_upload_mb > 0,
            "max_pixels": self.max_pixels > 0,
            "max_size": 16 <= self.max_size <= 4096,
            "max_iterations": self.max_iterations >= 1,
            "job_time_limit": self.job_time_limit > 0,
            "preview_every": self.preview_every >= 1,
            "fast_inline_wait": self.fast_inline_wait >= 0,
            "max_data_mb": self.max_data_mb > 0,
            "max_age_hours": self.max_age_hours > 0,
            "port": 0 <= self.port <= 65535,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"{name.replace('_', '-')} has an impossible value: {getattr(self, name)}")
        if "*" in self.cors_origins:
            raise ConfigError("cors-origins '*' would let any web site drive this server; list origins")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir or default_data_dir())

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_data_bytes(self) -> int:
        return int(self.max_data_mb * 1024 * 1024)

    def replace(self, **changes) -> WebServiceConfig:
        return dataclasses.replace(self, **changes)
