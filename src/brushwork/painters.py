"""Painters: one object per way of painting a picture, the one way into the engines for the front ends
(``brushwork apply``, batch's workers, ``brushwork evaluate`` and the web app).

A painter is built once with its settings, loads what it needs in its constructor (so nothing
heavy happens while a result is being timed) and then paints any number of pictures::

    painter = GatysPainter(StylizeConfig(size=256, iterations=100))
    result = painter.paint(photo, painting, callback=lambda step: print(step.done, step.total))

    model = ModelPainter("starry-night", ApplyConfig(size=512))   # its painting is built in
    result = model.paint(photo)

    anything = ArbitraryPainter(ApplyConfig(size=512, strength=0.8))  # any painting, ~1 s
    result = anything.paint(photo, [painting, another_painting])

Every painter has ``uses_style`` (False when its painting is built into the network), ``paint``,
``warm_up`` (one tiny run, so one-off costs are not counted against the first real one) and
``replace(**changes)`` (the same loaded networks with other per-picture settings). The feed-forward
painters also have ``paint_video`` (``brushwork.media.paint_video``: streamed, steadied by
``config.temporal``, audio kept), whose steps count frames and show the latest one; ``ModelPainter``
paints whole files too (``paint_files``: folders of photos in batches, as ``apply`` does) and
batches of tensors (``paint_tensors``). Progress comes as ``brushwork.progress.Progress`` records, as
from every engine: the CLI draws them as bars, the web app turns them into job progress and previews,
evaluation ignores them. A new method is one more class here that follows the ``Painter`` protocol.

The VGG loss networks are cached once per process (``loss_network``): Gatys painters, evaluation's
reference losses and every web job share one read-only copy per (model, weights, pooling, device).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import torch
from PIL import Image

from brushwork.config import ApplyConfig, StylizeConfig
from brushwork.errors import ConfigError, ImageError, deprecated
from brushwork.fast.inference import ArbitraryStylizer, load_stylizer, stylize_image, stylize_images
from brushwork.fast.media import apply_files, apply_video
from brushwork.fast.video import FrameStylizer
from brushwork.gatys.optimize import stylize
from brushwork.media import FrameRunner, MediaJob
from brushwork.networks.arbitrary_weights import load_transfer_weights
from brushwork.networks.vgg import VGGFeatures
from brushwork.networks.weights import load_vgg
from brushwork.progress import Progress, ProgressCallback

#: Pictures of the warm-up runs: a flat photo and a flat painting, small enough to take no time.
_WARM_PHOTO = ((64, 48), (120, 90, 60))
_WARM_PAINTING = ((64, 64), (30, 60, 200))


class Painter(Protocol):
    """What evaluation and the web app need from a method; see the module docstring."""

    #: False when the painting is built into the painter (a fast model): ``paint`` ignores ``style``.
    uses_style: bool

    def paint(self, content: Image.Image, style: Image.Image | None = None, *,
              callback: ProgressCallback | None = None) -> Image.Image: ...

    def warm_up(self) -> None: ...


# --- video (the fast painters) -----------------------------------------------------------------------
class _WatchedFrames:
    """What paints a video's frames for ``paint_video``: the fast network steadied by the flow
    (``fast.video.FrameStylizer``), run under ``lock`` one batch at a time (so other pictures of a
    shared model get their turn), keeping the latest result for previews and refusing frames past
    ``max_frames`` (a container's frame count can lie; the decoder stops here)."""

    def __init__(self, inner, lock: threading.Lock | None, max_frames: int | None):
        self.inner, self.lock, self.max_frames = inner, lock, max_frames
        self.count = 0
        self.latest = None

    def run(self, frames: list) -> list:
        if self.max_frames is not None and self.count + len(frames) > self.max_frames:
            raise ImageError(f"the video has more than {self.max_frames} frames, the limit")
        with self.lock or contextlib.nullcontext():
            results = self.inner.run(frames)
        self.count += len(frames)
        if results:
            self.latest = results[-1]
        return results


@dataclass(frozen=True)
class _VideoWatch:
    """Who hears a video's progress (``callback``: each record, with the latest frame as its picture),
    the most frames allowed, and what paints them instead of the steadied network (``frames``: e.g.
    ``regions.RegionFrames``)."""

    callback: ProgressCallback | None = None
    max_frames: int | None = None
    frames: FrameRunner | None = None


def _paint_video(stylizer, config: ApplyConfig, source: Path, target: Path, lock: threading.Lock | None,
                 watch: _VideoWatch) -> int:
    """Stylise the video ``source`` into ``target`` (its suffix picks the container); returns frames.
    Steps count frames (``total`` None while the container does not say) and render the latest one."""
    watched = _WatchedFrames(watch.frames or FrameStylizer(stylizer, config), lock, watch.max_frames)

    def progress(step: Progress) -> None:
        if watch.callback is not None:
            frame = watched.latest  # this step's frame, made into a picture only if a listener asks
            render = None if frame is None or not step.done else functools.partial(Image.fromarray, frame)
            watch.callback(replace(step, render=render))

    return apply_video(stylizer, Path(source), Path(target), config, progress=progress, frames=watched)


# --- the one VGG cache ------------------------------------------------------------------------------
_loss_network_lock = threading.Lock()


@functools.cache
def _cached_loss_network(model: str, weights: str, pooling: str, device: str) -> VGGFeatures:
    return load_vgg(model, weights, pooling=pooling, device=device)


def loss_network(model: str = "vgg19", weights: str = "default", pooling: str = "max",
                 device: str = "cpu") -> VGGFeatures:
    """The frozen VGG for these settings, loaded once per process and shared by every caller.

    It is read-only (eval mode, no gradients on its weights), so threads may use it at once. The
    lock makes concurrent first calls load it once; a failed load is not cached (the next call retries).
    """
    with _loss_network_lock:
        return _cached_loss_network(model, weights, pooling, str(device))


# --- Gatys ---------------------------------------------------------------------------------------
class GatysPainter:
    """Gatys optimisation (``brushwork.gatys.optimize.stylize``) with one ``StylizeConfig``; any painting."""

    uses_style = True

    def __init__(self, config: StylizeConfig | None = None):
        self.config = config or StylizeConfig()
        c = self.config
        self.vgg = loss_network(c.model, c.weights, c.pooling, c.device)

    def replace(self, **changes) -> GatysPainter:
        """The same settings with ``changes`` (StylizeConfig fields); the loss network is shared."""
        return GatysPainter(self.config.replace(**changes))

    def paint(self, content: Image.Image, style: Image.Image | None = None, *,
              callback: ProgressCallback | None = None) -> Image.Image:
        if style is None:
            raise ConfigError("Gatys optimisation needs a painting to take the style from")

        return stylize(content, style, self.config, vgg=self.vgg, callback=callback)

    def warm_up(self) -> None:
        tiny = self.replace(size=32, iterations=2, multiscale=False, save_every=0)
        tiny.paint(Image.new("RGB", *_WARM_PHOTO), Image.new("RGB", *_WARM_PAINTING))


# --- trained per-painting models ------------------------------------------------------------------
class ModelPainter:
    """A trained feed-forward network (``.safetensors``, ``.onnx`` or a shipped name); its painting is
    built in. With ``paintings`` (and no model), the arbitrary-style network with those paintings
    folded in once: one style for many pictures (``apply --style``, batch's workers).
    The model is loaded once, in the constructor; ``replace`` gives painters with other
    per-picture settings (size, preserve_colors, strength) that share it. Calls are serialised per
    loaded model: tiled inference briefly rewires the net's normalisation layers, so two threads must
    not run one model at once (different models run in parallel).
    """

    uses_style = False

    def __init__(self, model: str | os.PathLike | None, config: ApplyConfig | None = None, *,
                 paintings: Sequence[Image.Image | str | os.PathLike] | None = None):
        self.model = model
        self.config = config or ApplyConfig()
        self.stylizer = (load_stylizer(model, self.config) if paintings is None
                         else load_stylizer(model, self.config, styles=paintings))
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.stylizer.name

    @property
    def runtime(self) -> str:
        """The engine that runs the network (PyTorch fp32/bf16, onnxruntime)."""
        return self.stylizer.runtime

    @property
    def meta(self) -> dict[str, str]:
        """The model's metadata as written by ``brushwork train`` (style_image, steps, ...)."""
        return dict(self.stylizer.meta)

    @property
    def style_image(self) -> str | None:
        """File name of the painting the model was trained on, if it recorded one."""
        return self.stylizer.meta.get("style_image") or None

    @property
    def style_sha256(self) -> str | None:
        """SHA-256 of that painting's file, if recorded: identifies it whatever it is called now."""
        return self.stylizer.meta.get("style_sha256") or None

    def replace(self, **changes) -> ModelPainter:
        """Other per-picture settings (ApplyConfig fields); the loaded model and its lock are shared."""
        twin = copy.copy(self)
        twin.config = self.config.replace(**changes)
        return twin

    def paint(self, content: Image.Image, style: Image.Image | None = None, *,
              callback: ProgressCallback | None = None) -> Image.Image:
        """Paint ``content`` (resized to ``config.size`` when set); ``style`` is ignored (built in)."""
        with self._lock:
            result = stylize_image(self.stylizer, content, self.config)
        if callback is not None:
            callback(Progress(1, 1, "img"))
        return result

    def paint_video(self, source: str | os.PathLike, target: str | os.PathLike, *,
                    callback: ProgressCallback | None = None, max_frames: int | None = None,
                    frames: FrameRunner | None = None) -> int:
        """Paint a video file into ``target`` (frames counted in the steps); returns its frames.
        ``frames`` paints them instead of the steadied network (regions)."""
        watch = _VideoWatch(callback, max_frames, frames)
        return _paint_video(self.stylizer, self.config, Path(source), Path(target), self._lock, watch)

    def paint_files(self, jobs: Sequence[MediaJob], *, progress: ProgressCallback | None = None) -> list[str]:
        """Paint image jobs (``media.plan_jobs``) in batches and write each result, as ``apply`` does;
        returns one message per file that could not be read, painted or written."""
        with self._lock:
            return apply_files(self.stylizer, list(jobs), self.config, progress)

    def paint_tensors(self, images: list[torch.Tensor],
                      config: ApplyConfig | None = None) -> list[torch.Tensor]:
        """Paint photos already loaded (``media.load_photo``) in one batch, with ``config`` (default:
        the painter's); the results are tensors [1, 3, H, W] in [0, 1]."""
        with self._lock:
            return stylize_images(self.stylizer, images, config or self.config)

    def warm_up(self) -> None:
        self.replace(size=None).paint(Image.new("RGB", *_WARM_PHOTO))


def __getattr__(name: str):
    """``FastPainter``, the old name of ``ModelPainter`` (from when "fast" also named this method):
    still there for one release, with the deprecation warning every old spelling gives."""
    if name == "FastPainter":
        deprecated("painters.FastPainter", "painters.ModelPainter")
        return ModelPainter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the arbitrary-style network ------------------------------------------------------------------
class ArbitraryPainter:
    """The arbitrary-style network ``config.network`` (brushwork's own or Magenta's): any painting (or a
    blend of several) in about a second.

    ``style`` is one painting or a sequence of them (mixed by ``config.style_blend_weights``);
    ``config.strength`` mixes in the photo's own style vector. The network's weights are loaded once
    per process and shared; each call folds its own style, so threads may paint at once.
    """

    uses_style = True

    def __init__(self, config: ApplyConfig | None = None):
        self.config = config or ApplyConfig()
        load_transfer_weights(self.config.network)  # load now, not inside a timed or user-facing call

    def replace(self, **changes) -> ArbitraryPainter:
        """Other per-picture settings (ApplyConfig fields: size, strength, style_blend_weights, ...)."""
        return ArbitraryPainter(self.config.replace(**changes))

    def paint(self, content: Image.Image, style: Image.Image | Sequence[Image.Image] | None = None, *,
              callback: ProgressCallback | None = None) -> Image.Image:
        if style is None:
            raise ConfigError("the arbitrary-style network needs a painting to take the style from")
        paintings = [style] if isinstance(style, Image.Image) else list(style)
        stylizer = ArbitraryStylizer(paintings, self.config)
        result = stylize_image(stylizer, content, self.config)
        if callback is not None:
            callback(Progress(1, 1, "img"))
        return result

    def paint_video(self, source: str | os.PathLike, target: str | os.PathLike,
                    style: Image.Image | Sequence[Image.Image] | None = None, *,
                    callback: ProgressCallback | None = None, max_frames: int | None = None) -> int:
        """Paint a video file into ``target`` with ``style`` (as ``paint``); returns its frames."""
        if style is None:
            raise ConfigError("the arbitrary-style network needs a painting to take the style from")
        paintings = [style] if isinstance(style, Image.Image) else list(style)
        stylizer = ArbitraryStylizer(paintings, self.config)
        watch = _VideoWatch(callback, max_frames)
        return _paint_video(stylizer, self.config, Path(source), Path(target), None, watch)

    def warm_up(self) -> None:
        self.replace(size=None).paint(Image.new("RGB", *_WARM_PHOTO), Image.new("RGB", *_WARM_PAINTING))
