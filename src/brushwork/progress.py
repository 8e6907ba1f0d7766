"""How long engine calls report progress: one small record, passed to a callback.

Engines (``optimize``, ``fast``, ``evaluation``, weight downloads) never print or draw bars; they
call ``callback(Progress(...))`` and the front end decides what to show (the CLI's tqdm bar in
``brushwork.cli.progress``, the web app's job state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units finished; ``info`` holds numbers worth showing (losses, ...)."""

    done: int
    total: int | None
    unit: str = "it"
    message: str = ""
    info: dict[str, float | int | str] = field(default_factory=dict)


ProgressCallback = Callable[[Progress], None]


def report(callback: ProgressCallback | None, done: int, total: int | None, unit: str = "it",
           message: str = "", **info: float | int | str) -> None:
    """Call ``callback`` if there is one: engines use this so 'no callback' needs no branches."""
    if callback:  # None (or a legacy False) means nobody listens
        callback(Progress(done, total, unit, message, info))
