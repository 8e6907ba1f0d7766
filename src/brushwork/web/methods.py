"""How a job is painted: a small interface with one class per method.

``gatys`` optimises the picture (brushwork.optimize) and works with any painting; ``fast``
runs a feed-forward model trained for one painting (brushwork.apply) and is offered only
when that module and at least one model are present. The job runner only knows this
interface, so a new method is one more class here.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from PIL import Image

from brushwork.config import StylizeConfig
from brushwork.errors import ConfigError

ImageThunk = Callable[[], Image.Image]


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


class GatysMethod:
    """Gatys optimisation: slow (minutes at 512 px on a CPU), any painting, live previews."""

    name = "gatys"
    title = "Quality (Gatys)"
    lane = "gatys"
    defaults = JobOptions()

    def __init__(self, weights: str = "default"):
        self.weights = weights
        self._vgg = None
        self._lock = threading.Lock()

    def unavailable_reason(self) -> str | None:
        return None

    def models(self) -> dict[str, str]:
        return {}

    def _loss_network(self, config: StylizeConfig):
        """Load VGG once per server: it is read-only, so every job can share it."""
        from brushwork.networks.weights import load_vgg

        with self._lock:
            if self._vgg is None:
                self._vgg = load_vgg(config.model, config.weights, pooling=config.pooling, progress=False)
            return self._vgg

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        from brushwork.optimize import stylize

        if style.painting is None:
            raise ConfigError("the quality method needs a painting; pick one from the gallery or upload one")
        config = StylizeConfig(
            size=options.size,
            iterations=options.iterations,
            style_weight=options.style_weight,
            content_weight=options.content_weight,
            preserve_colors=options.preserve_colors,
            weights=self.weights,
        )
        reporter.check()
        vgg = self._loss_network(config)

        def progress(it) -> None:
            reporter.step(it.iteration, it.total_iterations, it.losses, it.image)

        return stylize(photo, style.painting, config, vgg=vgg, callback=progress)


class FastMethod:
    """A feed-forward model per style (brushwork.apply): about a second per picture.

    Offered only when ``brushwork.apply`` imports and lists at least one model. Each model is
    loaded once and then reused; runs of one model are serialised, because tiled inference
    briefly rewires the net's normalisation layers and two threads must not do that at once.
    """

    name = "fast"
    title = "Fast"
    lane = "fast"
    defaults = JobOptions(size=512, iterations=1)
    module_name = "brushwork.apply"

    def __init__(self, module_name: str | None = None) -> None:
        self.module_name = module_name or self.module_name
        self._module = None
        self._reason: str | None = None
        self._loaded: dict[str, tuple[object, threading.Lock]] = {}
        self._lock = threading.Lock()
        try:
            if importlib.util.find_spec(self.module_name) is None:
                self._reason = "fast models are not part of this installation"
            else:
                self._module = importlib.import_module(self.module_name)
        except Exception as exc:  # a half-built optional module must not take the server down
            self._reason = f"fast models could not be loaded ({type(exc).__name__}: {exc})"

    def models(self) -> dict[str, str]:
        """Model name -> title, as brushwork.apply lists them; empty when none are at hand."""
        lister = getattr(self._module, "list_models", None)
        if lister is None:
            return {}
        try:
            listed = lister()
        except Exception:
            return {}
        return {str(m.name): str(getattr(m, "title", "") or "") for m in listed if getattr(m, "name", None)}

    def unavailable_reason(self) -> str | None:
        if self._reason:
            return self._reason
        if not hasattr(self._module, "apply_model"):
            return "this version of brushwork.apply cannot paint single pictures"
        if not self.models():
            return (
                "no fast models are installed yet (train one with brushwork train, or use the quality method)"
            )
        return None

    def _model(self, name: str) -> tuple[object, threading.Lock]:
        with self._lock:
            if name not in self._loaded:
                loader = getattr(self._module, "load_stylizer", None)
                self._loaded[name] = (loader(name) if loader else name, threading.Lock())
            return self._loaded[name]

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        reason = self.unavailable_reason()
        if reason:
            raise ConfigError(reason)
        if style.fast_model is None:
            raise ConfigError("this style has no fast model; use the quality method for it")
        reporter.check()
        model, lock = self._model(style.fast_model)
        with lock:
            result = self._module.apply_model(
                model, photo, size=options.size, preserve_colors=options.preserve_colors
            )
        reporter.step(1, 1, {}, None)
        return result


def default_methods(gatys_weights: str = "default") -> dict[str, Method]:
    methods: list[Method] = [FastMethod(), GatysMethod(gatys_weights)]
    return {m.name: m for m in methods}
