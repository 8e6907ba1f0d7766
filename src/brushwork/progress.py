"""How engine calls report progress: one record, ``Progress``, passed to one ``ProgressCallback``.

Every engine reports with it: the Gatys scales (``gatys.optimize``, ``gatys.video``), training
(``fast.train``), the painters, videos and GIFs (``media``), batch, evaluation and weight downloads.
None of them prints or draws bars; they call ``callback(Progress(...))`` and the front end decides what
to show (the CLI's tqdm bar in ``brushwork.cli.progress``, the web app's job reporter).

A picture of the work so far costs a full-size render (upsampling, colour transfer, a PIL copy), so
an engine hands over ``render`` and the picture is made only when a listener reads ``image``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the record itself needs no PIL: most listeners never see a picture
    from PIL import Image


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units finished (``total`` None while unknown, e.g. a video's frames).

    ``info`` holds other numbers worth showing (an epoch, a rate, validation figures); ``losses`` the
    weighted loss terms (``total``, ``content``, ``style``, ``tv``, ``extra``) where there are any. The
    Gatys fields: ``scale`` of ``scales`` (0-based), the picture's ``width`` x ``height`` at that scale,
    ``converged`` on the last step of a scale stopped by the tolerance rule. ``seconds``: wall time of
    this unit; ``eta``: the engine's estimate of the seconds left (None: the listener's own guess).
    """

    done: int
    total: int | None
    unit: str = "it"
    message: str = ""
    info: Mapping[str, float | int | str] = field(default_factory=dict)
    losses: Mapping[str, float] = field(default_factory=dict)
    scale: int = 0
    scales: int = 1
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    eta: float | None = None
    converged: bool = False
    #: Makes the picture of the work so far; called at most once, by ``image``.
    render: Callable[[], Image.Image] | None = field(default=None, repr=False, compare=False)

    @property
    def has_image(self) -> bool:
        """Whether ``image`` gives a picture (without making it)."""
        return self.render is not None

    @functools.cached_property
    def image(self) -> Image.Image | None:
        """The current result as a picture, made on first read and kept; None when there is none."""
        return None if self.render is None else self.render()


#: The one callback type of every engine (and the only one: nothing else defines a progress callback).
ProgressCallback = Callable[[Progress], None]


def report(callback: ProgressCallback | None, done: int, total: int | None, unit: str = "it",
           message: str = "", **info: float | int | str) -> None:
    """Call ``callback`` if there is one: engines use this so 'no callback' needs no branches."""
    if callback:  # None (or a legacy False) means nobody listens
        callback(Progress(done, total, unit, message, info))
