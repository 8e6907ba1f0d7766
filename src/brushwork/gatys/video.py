"""Gatys video (Ruder et al. 2016, "Artistic style transfer for videos"): each frame optimised in turn.

Stylising every frame on its own flickers: the optimiser lands in a different local minimum each
time, so strokes jump. Ruder et al. tie frame t to the previous *result* moved onto it by the
optical flow of the *input* frames: the optimisation starts from that warped result, and a temporal
loss ``w · mean(c · (x − warp(out_{t−1}))²)`` (``c`` the reliable-flow mask of
``brushwork.temporal``, ``w`` = ``config.temporal_weight``) keeps reliable pixels where they were.
Occluded pixels and pixels leaving the frame are free; a scene cut starts afresh (``config.init``).

With regions (``RegionConfig``: ``--mask FILE`` or ``--regions auto``), each frame is optimised with
the guided Grams of ``regions.GuidedGatys`` through that frame's own mask, which follows the frames as
in ``apply`` (``regions.FrameMasks``: found again and steadied along the flow, or a fixed mask); the
``none`` regions are the frame itself, and the temporal loss and the warped start tie the composited
result to the next frame as without regions.

Decoding, encoding, frame rate, audio and the checks for corrupt or truncated videos are
``brushwork.media``'s (``paint_video``, shared with the fast engine), which streams: one frame is
decoded, optimised and encoded at a time, and only the previous frame is kept. Progress goes to a
callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from brushwork.config import RegionConfig, StylizeConfig
from brushwork.gatys.optimize import loss_network_for, optimize_tensor
from brushwork.media import Encoding, paint_video
from brushwork.networks.vgg import VGGFeatures
from brushwork.progress import Progress, ProgressCallback
from brushwork.regions import FrameMasks, GuidedGatys
from brushwork.temporal import FlowEstimator, motion, to_gray, warp

Warn = Callable[[str], None]


@dataclass
class GatysVideoStats:
    """What a run did: frames written, scene cuts that restarted the optimisation, wall seconds."""

    frames: int = 0
    cuts: int = 0
    iterations: int = 0
    seconds: float = 0.0


class TemporalLoss:
    """``weight · mean(mask · (image − warped)²)`` at whatever scale the optimiser is working at
    (a multi-scale run calls it with the small picture first: target and mask are resized to it)."""

    def __init__(self, warped: torch.Tensor, mask: torch.Tensor, weight: float):
        self.weight = weight
        self._targets: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {
            tuple(warped.shape[-2:]): (warped, mask)}
        self._full = (warped, mask)

    def _at(self, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        if size not in self._targets:
            warped, mask = self._full
            self._targets[size] = (F.interpolate(warped, size=size, mode="bilinear", align_corners=False),
                                   F.interpolate(mask, size=size, mode="area"))
        return self._targets[size]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        warped, mask = self._at(tuple(image.shape[-2:]))
        return self.weight * (mask * (image - warped) ** 2).mean()


def _to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """H×W×C float in [0, 1] -> [1, C, H, W]."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1)[None].to(device)


class GatysFrames:
    """Paints consecutive frames (H×W×3 uint8, one size) with Gatys, each tied to the one before.

    The loss network is loaded on the first frame (so a bad video fails before it), then shared.
    ``progress`` hears ``Progress(frames_done, total, "frame", info=…)`` after every iteration.
    ``regions`` (active): a painting per region in every frame; its settings, mask and paintings are
    checked here, before any frame (``ConfigError``/``ImageError``), and ``warn`` hears its warnings
    (a mask of one colour; no person, once a video), ``name`` naming the video in them."""

    def __init__(self, styles: Sequence[Image.Image], config: StylizeConfig, *,
                 vgg: VGGFeatures | None = None, progress: ProgressCallback | None = None,
                 total: int | None = None, regions: RegionConfig | None = None,
                 warn: Warn | None = None, name: str = "the video"):
        self.styles, self.config, self.vgg = list(styles), config, vgg
        self.progress, self.total = progress, total
        self.guided: GuidedGatys | None = None
        self.masks: FrameMasks | None = None
        if regions is not None and regions.active:
            self.guided = GuidedGatys(self.styles, regions)
            self.masks = FrameMasks(self.guided.source, name, warn or (lambda message: None))
        self.flow = FlowEstimator()
        self.stats = GatysVideoStats()
        self._gray: np.ndarray | None = None
        self._out: np.ndarray | None = None  # the previous result, float [H, W, 3] in [0, 1]

    def _load_vgg(self) -> VGGFeatures:
        if self.vgg is None:
            self.vgg = loss_network_for(self.config)
        return self.vgg

    def _tie(self, gray: np.ndarray) -> tuple[torch.Tensor | None, TemporalLoss | None]:
        """The warped previous result (the start) and the temporal loss, or (None, None) for a
        first frame, a scene cut, or ``temporal_weight`` 0 (each frame on its own)."""
        if self.config.temporal_weight <= 0 or self._gray is None or self._gray.shape != gray.shape:
            return None, None
        m = motion(self._gray, gray, self.flow)
        if m.cut:
            self.stats.cuts += 1
            return None, None
        device = torch.device(self.config.device)
        warped = _to_tensor(warp(self._out, m.backward), device)
        mask = _to_tensor(m.reliable.astype(np.float32)[..., None], device)
        return warped, TemporalLoss(warped, mask, self.config.temporal_weight)

    def _listen(self, step: Progress) -> None:
        """A step of the frame being optimised, told as frames of the video (losses, scale, picture kept)."""
        self.stats.iterations += 1
        if self.progress is not None:
            info = {"frame": self.stats.frames + 1, "it": step.done,
                    **{k: round(v, 4) for k, v in step.losses.items() if k in ("total", "extra")}}
            self.progress(replace(step, done=self.stats.frames, total=self.total, unit="frame", info=info))

    def paint(self, frame: np.ndarray) -> np.ndarray:
        """One frame's result, H×W×3 uint8 (the frame's size)."""
        started = time.perf_counter()
        gray = to_gray(frame)
        start, extra = self._tie(gray)
        h, w = frame.shape[:2]
        config = self.config.replace(size=max(h, w))
        picture = Image.fromarray(frame)
        if self.guided is None or self.masks is None:
            result = optimize_tensor(picture, self.styles, config, vgg=self._load_vgg(),
                                    callback=self._listen, start=start, extra_loss=extra)
        else:  # this frame's mask (found and steadied, or the fixed one) guides its Grams
            found = self.masks.frame_regions(_to_tensor(frame / 255, torch.device("cpu")))
            result = self.guided.optimize_tensor(picture, found, config, vgg=self._load_vgg(),
                                                callback=self._listen, start=start, extra_loss=extra)
        out = result[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
        self._gray, self._out = gray, out
        self.stats.frames += 1
        self.stats.seconds += time.perf_counter() - started
        return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)

    def run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return [self.paint(f) for f in frames]


def _frame_count(source: Path) -> int | None:
    """The declared number of frames, for the progress total (None when unknown or unreadable)."""
    try:
        with av.open(str(source)) as container:
            return container.streams.video[0].frames or None
    except Exception:  # noqa: BLE001 - apply_video reports an unreadable video with its message
        return None


def stylize_video(source: str | Path, styles: Sequence[Image.Image], target: str | Path,
                  config: StylizeConfig, *, vgg: VGGFeatures | None = None, crf: int | None = None,
                  progress: ProgressCallback | None = None, regions: RegionConfig | None = None,
                  warn: Warn | None = None) -> GatysVideoStats:
    """Stylise the video ``source`` into ``target`` (written atomically; frame rate and audio kept),
    the longest side at ``config.size``. Bad input raises ``ImageError`` with a one-line message.
    ``regions``: a painting per region, the mask following the frames (see ``GatysFrames``); a bad
    mask or setting raises before the video is opened.

    ``progress`` hears ``Progress(frames_done, total, "frame")``, with iteration and losses in
    ``info`` while a frame is being optimised."""
    source, target = Path(source), Path(target)
    encoding = Encoding(size=config.size, batch_size=1, **({"crf": crf} if crf is not None else {}))
    frames = GatysFrames(styles, config, vgg=vgg, progress=progress, total=_frame_count(source),
                         regions=regions, warn=warn, name=str(source))
    paint_video(source, target, frames, encoding, progress=progress)
    return frames.stats
