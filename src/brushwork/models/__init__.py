"""Trained fast-style models shipped inside the package (fp16 safetensors, trained by ``brushwork train``).

``brushwork apply NAME photo.jpg`` accepts these names; ``brushwork models`` lists them. A model is
shipped only after its results were looked at (see docs/fast.md for how long each was trained).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ShippedModel:
    name: str
    file: str
    about: str

    @property
    def title(self) -> str:
        return self.about

    @property
    def path(self) -> Path:
        return MODELS_DIR / self.file


#: Registry: one line per shipped model. Only files that exist are offered.
_REGISTRY: tuple[ShippedModel, ...] = (
    ShippedModel("starry-night", "starry_night.safetensors",
                 "Van Gogh, The Starry Night; slim net (width 16, 3 res blocks), "
                 "1614 steps + 900 fine-tuning steps (the count shown), see docs/fast.md"),
)


def shipped_models() -> list[ShippedModel]:
    return [m for m in _REGISTRY if m.path.is_file()]


def find_shipped(name: str) -> ShippedModel | None:
    wanted = name.lower().replace("_", "-")
    return next((m for m in shipped_models() if m.name == wanted), None)
