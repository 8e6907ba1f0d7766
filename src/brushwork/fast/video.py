"""Stable video with any fast path: frames stylised in small batches, then made temporally steady.

Each stylised frame is blended with the previous *result*, moved onto it by the optical flow of the
*input* frames, where that flow is reliable (``brushwork.temporal.Stabilizer``; ``config.temporal``
is the blend's share, 0 = every frame on its own). The network runs on a batch of frames at once
(the blend only needs the previous result, which is ready by then), so batching stays; only the
previous frame is kept, so memory does not grow with the length of the video.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from brushwork.config import ApplyConfig
from brushwork.fast.inference import Stylizer, stylize_images
from brushwork.temporal import Stabilizer


@dataclass
class VideoStats:
    """What a run did: frames, scene cuts found, and seconds in the network vs in flow + blending."""

    frames: int = 0
    cuts: int = 0
    network_seconds: float = 0.0
    temporal_seconds: float = 0.0


def _to_tensor(frame: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 -> [1, 3, H, W] float in [0, 1]."""
    return torch.tensor(frame).permute(2, 0, 1)[None].float().div_(255)  # a copy: PIL arrays are read-only


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


class FrameStylizer:
    """Stylises consecutive frames (H×W×3 uint8, all one size) in order, keeping them steady.

    ``run(frames)`` takes the next few frames of the video and returns their results (uint8), so a
    caller can decode, stylise and encode a batch at a time. ``reset()`` before an unrelated clip.
    """

    def __init__(self, stylizer: Stylizer, config: ApplyConfig):
        self.stylizer, self.config = stylizer, config
        self.stabilizer = Stabilizer(config.temporal) if config.temporal > 0 else None
        self.stats = VideoStats()

    def reset(self) -> None:
        if self.stabilizer is not None:
            self.stabilizer.reset()

    def run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        if not frames:
            return []
        started = time.perf_counter()
        styled = stylize_images(self.stylizer, [_to_tensor(f) for f in frames], self.config)
        arrays = [y[0].permute(1, 2, 0).numpy() for y in styled]
        middle = time.perf_counter()
        if self.stabilizer is not None:
            arrays = [self.stabilizer(f, y) for f, y in zip(frames, arrays)]
            self.stats.cuts = self.stabilizer.cuts
        results = [_to_uint8(a) for a in arrays]
        self.stats.network_seconds += middle - started
        self.stats.temporal_seconds += time.perf_counter() - middle
        self.stats.frames += len(frames)
        return results


def stylize_frames(stylizer: Stylizer, frames: Iterable[np.ndarray], config: ApplyConfig,
                   stats: VideoStats | None = None) -> Iterator[np.ndarray]:
    """Results of ``frames`` (H×W×3 uint8, one size), streamed ``config.batch_size`` at a time.

    ``stats`` (if given) is filled in as frames go by."""
    worker = FrameStylizer(stylizer, config)
    if stats is not None:
        worker.stats = stats
    pending: list[np.ndarray] = []
    for frame in frames:
        pending.append(frame)
        if len(pending) >= config.batch_size:
            yield from worker.run(pending)
            pending = []
    yield from worker.run(pending)
