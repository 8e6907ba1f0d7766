"""Synthetic video clips with known motion, made from a still photo: pans, zooms and cuts.

A *pan* moves a virtual camera across the photo by ``(dx, dy)`` px a frame, so the true backward
flow (frame t -> t−1) is ``(dx, dy)`` everywhere; a *zoom* scales about the centre by ``factor`` a
frame, so the true backward flow at x is ``(x − c)(1/factor − 1)``. Frames are RGB uint8 arrays.
Used by the tests, ``benchmarks/bench_video.py`` and the docs' figures.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PHOTOS = Path("/work/shared/data/photos")
#: Photos with texture everywhere (flow is well defined) used when a test wants a real photo.
DEFAULT_PHOTOS = ("cv_building.jpg", "cv_baboon.jpg", "cv_board.jpg", "cv_butterfly.jpg")


def load_photo(name: str = DEFAULT_PHOTOS[0], fallback_seed: int = 0) -> np.ndarray:
    """A photo from the shared data as RGB uint8; a smooth random picture when it is not there."""
    path = PHOTOS / name
    if path.is_file():
        return np.asarray(Image.open(path).convert("RGB"))
    rng = np.random.default_rng(fallback_seed)
    small = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
    return cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)


def _view(photo: np.ndarray, size: tuple[int, int], cx: float, cy: float, scale: float) -> np.ndarray:
    """The ``size`` (w, h) window of ``photo`` centred at (cx, cy) in photo pixels, ``scale`` photo px
    per frame px, sampled bilinearly."""
    w, h = size
    matrix = np.float32([[scale, 0, cx - scale * (w - 1) / 2], [0, scale, cy - scale * (h - 1) / 2]])
    return cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _base_scale(photo: np.ndarray, size: tuple[int, int], margin: float) -> float:
    """Photo px per frame px so the frame plus ``margin`` of travel fits in the photo."""
    w, h = size
    return min(photo.shape[1] / (w * (1 + margin)), photo.shape[0] / (h * (1 + margin)))


def pan(photo: np.ndarray, frames: int, size: tuple[int, int] = (96, 64), dx: float = 1.5,
        dy: float = 0.5) -> list[np.ndarray]:
    """Camera moving (dx, dy) frame px a frame: true backward flow = (dx, dy) everywhere."""
    w, h = size
    margin = 2 * max(abs(dx) * frames / w, abs(dy) * frames / h) + 0.05
    scale = _base_scale(photo, size, margin)
    cx0 = photo.shape[1] / 2 - dx * scale * (frames - 1) / 2
    cy0 = photo.shape[0] / 2 - dy * scale * (frames - 1) / 2
    return [_view(photo, size, cx0 + t * dx * scale, cy0 + t * dy * scale, scale) for t in range(frames)]


def zoom(photo: np.ndarray, frames: int, size: tuple[int, int] = (96, 64), factor: float = 1.02
         ) -> list[np.ndarray]:
    """Camera zooming in by ``factor`` a frame about the centre."""
    scale = _base_scale(photo, size, 0.05)
    cx, cy = photo.shape[1] / 2, photo.shape[0] / 2
    return [_view(photo, size, cx, cy, scale / factor ** t) for t in range(frames)]


def zoom_flow(size: tuple[int, int], factor: float) -> np.ndarray:
    """True backward flow of ``zoom``: x in frame t was at c + (x − c)/factor in frame t−1."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return np.stack([(xs - cx) * (1 / factor - 1), (ys - cy) * (1 / factor - 1)], axis=-1)


def with_cut(first: list[np.ndarray], second: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Two shots one after the other, and the index of the first frame of the second."""
    return first + second, len(first)


def write_video(path: Path, frames: list[np.ndarray], fps: int = 12, audio: bool = False,
                codec: str | None = None) -> None:
    """Frames to a video file (H.264 for .mp4/.mkv/.mov, VP9 for .webm), with a 440 Hz tone if asked."""
    import av

    fmt = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm", ".avi": "avi"}[path.suffix]
    codec = codec or {"webm": "libvpx-vp9", "avi": "mpeg4"}.get(fmt, "libx264")
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            v.options = {"crf": "12", "preset": "veryfast"}
        a = None
        if audio:
            a = out.add_stream("libopus" if fmt == "webm" else "aac", rate=48000)
            a.layout = "mono"
        for frame in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        if a is not None:
            samples = round(48000 * Fraction(len(frames), fps))
            t = np.arange(samples) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            chunk = 1024
            for start in range(0, samples, chunk):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + chunk]),
                                                   format="flt", layout="mono")
                frame.sample_rate, frame.pts = 48000, start
                for p in a.encode(frame):
                    out.mux(p)
            for p in a.encode(None):
                out.mux(p)


def read_video(path: Path) -> tuple[list[np.ndarray], float, int]:
    """(frames as RGB uint8, average frame rate, number of audio streams)."""
    import av

    with av.open(str(path)) as c:
        rate = float(c.streams.video[0].average_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return frames, rate, len(c.streams.audio)
