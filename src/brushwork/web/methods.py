"""How a job is painted: a small interface with one class per method, each running a painter.

``gatys`` optimises the picture (``painters.GatysPainter``) and works with any painting; ``fast``
runs a feed-forward model trained for one painting (``painters.FastPainter``) and is offered only
when at least one model is at hand. The job runner only knows the ``Method`` interface, so a new
method is one more class here around one more painter.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from PIL import Image

from brushwork.config import ApplyConfig, StylizeConfig
from brushwork.errors import ConfigError
from brushwork.models import shipped_models
from brushwork.painters import FastPainter, GatysPainter, PaintStep

ImageThunk = Callable[[], Image.Image]
#: Smallest output side a job may ask for (the largest is the server's ``max_size``).
MIN_SIZE = 32
#: Style and content weights a job may ask for (both ends included).
WEIGHT_LIMITS = (0, 10000)


@dataclass(frozen=True)
class JobOptions:
    """What a job may choose. Defaults are the page's starting values."""

    size: int = 384
    iterations: int = 150
    style_weight: float = StylizeConfig.style_weight  # type: ignore[assignment]
    content_weight: float = StylizeConfig.content_weight  # type: ignore[assignment]
    preserve_colors: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StyleInput:
    """The style of one job: a painting picture (Gatys) and/or a fast model's id."""

    painting: Image.Image | None = None
    fast_model: str | None = None


class Reporter(Protocol):
    """What a method tells the job runner; ``check`` raises when the job must stop."""

    def step(
        self, iteration: int, total: int, losses: dict[str, float], image: ImageThunk | None
    ) -> None: ...

    def check(self) -> None: ...


class Method(Protocol):
    name: str
    title: str
    lane: str  # jobs of one lane share a worker pool and a queue
    defaults: JobOptions  # what a request leaves out

    def unavailable_reason(self) -> str | None:
        """None when usable, else why not (shown to users as is)."""

    def models(self) -> dict[str, str]:
        """Trained models this method offers as styles: id -> title (empty for Gatys)."""

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image: ...


def _reporting(reporter: Reporter) -> Callable[[PaintStep], None]:
    """A painter callback that forwards each step to the job (progress, preview, cancel check)."""

    def forward(step: PaintStep) -> None:
        reporter.step(step.done, step.total, step.losses, step.image)

    return forward


class GatysMethod:
    """Gatys optimisation: slow (minutes at 512 px on a CPU), any painting, live previews.

    Every job gets its own ``GatysPainter`` (its options differ); they all share the one cached
    VGG (``painters.loss_network``), loaded by the first job.
    """

    name = "gatys"
    title = "Quality (Gatys)"
    lane = "gatys"
    defaults = JobOptions()

    def __init__(self, weights: str = "default"):
        self.weights = weights

    def unavailable_reason(self) -> str | None:
        return None

    def models(self) -> dict[str, str]:
        return {}

    def painter(self, options: JobOptions) -> GatysPainter:
        config = StylizeConfig(
            size=options.size,
            iterations=options.iterations,
            style_weight=options.style_weight,
            content_weight=options.content_weight,
            preserve_colors=options.preserve_colors,
            weights=self.weights,
        )
        return GatysPainter(config)

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        if style.painting is None:
            raise ConfigError("the quality method needs a painting; pick one from the gallery or upload one")
        reporter.check()
        return self.painter(options).paint(photo, style.painting, callback=_reporting(reporter))


@dataclass(frozen=True)
class FastModel:
    """A fast model the app offers: its id (what jobs store), gallery title and file or shipped name."""

    id: str
    title: str
    ref: str | os.PathLike


def shipped_fast_models() -> list[FastModel]:
    """The models shipped inside the package (``brushwork models``), by their names."""
    return [FastModel(m.name, m.title, m.name) for m in shipped_models()]


class FastMethod:
    """A feed-forward model per style: about a second per picture.

    Offered when at least one model is given (default: the shipped ones). Each model is loaded
    once, on its first job, into a ``FastPainter``; jobs use copies of it with their own size and
    colour option, and the painter serialises runs of one model.
    """

    name = "fast"
    title = "Fast"
    lane = "fast"
    defaults = JobOptions(size=512, iterations=1)

    def __init__(self, models: Sequence[FastModel] | None = None, config: ApplyConfig | None = None):
        listed = shipped_fast_models() if models is None else list(models)
        self._models = {m.id: m for m in listed}
        self.config = config or ApplyConfig()
        self._painters: dict[str, FastPainter] = {}
        self._lock = threading.Lock()

    def models(self) -> dict[str, str]:
        return {m.id: m.title for m in self._models.values()}

    def unavailable_reason(self) -> str | None:
        if not self._models:
            return (
                "no fast models are installed yet (train one with brushwork train, or use the quality method)"
            )
        return None

    def painter(self, model_id: str) -> FastPainter:
        """The loaded painter of one model (loaded on first use, then shared by every job)."""
        entry = self._models.get(model_id)
        if entry is None:
            raise ConfigError(f"no fast model {model_id!r} on this server")
        with self._lock:
            if model_id not in self._painters:
                self._painters[model_id] = FastPainter(entry.ref, self.config)
            return self._painters[model_id]

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        reason = self.unavailable_reason()
        if reason:
            raise ConfigError(reason)
        if style.fast_model is None:
            raise ConfigError("this style has no fast model; use the quality method for it")
        reporter.check()
        painter = self.painter(style.fast_model).replace(
            size=options.size, preserve_colors=options.preserve_colors
        )
        return painter.paint(photo, callback=_reporting(reporter))


def default_methods(gatys_weights: str = "default") -> dict[str, Method]:
    methods: list[Method] = [FastMethod(), GatysMethod(gatys_weights)]
    return {m.name: m for m in methods}
