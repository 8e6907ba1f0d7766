"""Motion between video frames: optical flow, occlusions, scene cuts, warping, the warping error.

Pure numpy + OpenCV (no torch), used by fast video (``brushwork.fast.video``) and by ``evaluate``.
Frames are ``[H, W, 3]`` arrays: uint8, or float in [0, 1].

Conventions: ``backward`` flow is defined on frame t's pixels and points to where that pixel was in
frame t−1 (``prev(x + backward(x)) ≈ cur(x)``), so the previous frame is brought onto the current
one by *backward warping* (``warp(prev, backward)``, cv2.remap). ``forward`` flow is the reverse
(frame t−1 → t). Flow is DIS (Kroeger et al. 2016, ``cv2.DISOpticalFlow``) on grey frames, computed
at a reduced size (``FLOW_SIDE``; measured: as accurate after the upscale, several times faster).

A pixel's flow is *reliable* when forward and backward agree and it is not on a motion boundary
(Ruder et al. 2016, "Artistic style transfer for videos", eq. 6–7); pixels that leave the frame
are unreliable. A *scene cut* is a pair where few pixels are reliable, or where even the reliable
ones do not match after warping.

The warping error (Lai et al. 2018, "Learning blind video temporal consistency") of a stylised
video: for each t, the flow of the *input* frames t → t−1 warps output t−1 onto output t; the mean
squared difference over reliable pixels (and the three channels, [0, 1] RGB) is averaged over t.
The same number for the input video itself is its floor (flow and warping are never perfect).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

#: DIS presets by name; "medium" at half size measured 0.16 px end-point error on a 640x360 pan
#: in 7 ms (full size: 0.10 px in 30 ms; "fast" at half size 0.27 px in 2.4 ms).
PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
DEFAULT_PRESET = "medium"
#: Longest side (px) at which flow is computed; larger frames are shrunk first and the flow scaled up.
FLOW_SIDE = 320
#: Scene cut: fewer than this share of the frame's pixels have a reliable flow...
CUT_RELIABLE = 0.35
#: ... or the reliable pixels of the warped previous input differ from the current by more than this
#: (mean absolute difference of grey values in [0, 1]; a good flow leaves ~0.01-0.03).
CUT_DIFFERENCE = 0.12


def to_gray(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 or float in [0, 1] -> [H, W] uint8 grey (what DIS takes)."""
    if frame.dtype != np.uint8:
        frame = np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def to_float(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 or float -> float32 in [0, 1]."""
    return frame.astype(np.float32) / 255 if frame.dtype == np.uint8 else frame.astype(np.float32)


class FlowEstimator:
    """Dense optical flow between grey frames: DIS at ``preset``, computed at most ``side`` px long."""

    def __init__(self, preset: str = DEFAULT_PRESET, side: int | None = FLOW_SIDE):
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r} (one of {', '.join(PRESETS)})")
        self.dis = cv2.DISOpticalFlow_create(PRESETS[preset])
        self.side = side

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Flow [H, W, 2] (dx, dy) on ``src``'s pixels with ``src(x) ≈ dst(x + flow(x))``."""
        h, w = src.shape
        scale = 1.0 if not self.side or max(h, w) <= self.side else self.side / max(h, w)
        if scale == 1.0:
            return self.dis.calc(src, dst, None)
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        small = self.dis.calc(cv2.resize(src, size, interpolation=cv2.INTER_AREA),
                              cv2.resize(dst, size, interpolation=cv2.INTER_AREA), None)
        flow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / size[0]
        flow[..., 1] *= h / size[1]
        return flow


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y) as float32 maps, made once per frame size (read-only)."""
    if (h, w) not in _GRIDS:
        if len(_GRIDS) > 8:
            _GRIDS.clear()
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs.flags.writeable = ys.flags.writeable = False
        _GRIDS[(h, w)] = (xs, ys)
    return _GRIDS[(h, w)]


def _gradient_energy(flow: np.ndarray) -> np.ndarray:
    """|∇u|² + |∇v|² by central differences (cv2: several times faster than np.gradient)."""
    total = np.zeros(flow.shape[:2], np.float32)
    for c in range(2):
        channel = np.ascontiguousarray(flow[..., c])
        for dx, dy in ((1, 0), (0, 1)):
            g = cv2.Sobel(channel, cv2.CV_32F, dx, dy, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
            total += g * g
    return total


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: ``out(x) = image(x + flow(x))`` (bilinear; outside the frame: nearest edge).

    The package's one warp of frames: ``flow`` [H, W, 2] (dx, dy) is a backward flow (see the module
    docstring), defined on the output's pixels; ``fast.motion.affine_warp`` moves tensors instead."""
    flow = np.asarray(flow, dtype=np.float32)  # OpenCV's maps are float32
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def reliable_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """bool [H, W] on frame t: the flow to t−1 is trustworthy (Ruder et al.'s two tests, plus the frame).

    Disocclusion: ``|b + f̃|² > 0.01(|b|² + |f̃|²) + 0.5`` with ``f̃(x) = forward(x + b(x))``; motion
    boundary: ``|∇b_x|² + |∇b_y|² > 0.01|b|² + 0.002``; and ``x + b(x)`` must lie inside frame t−1.
    """
    h, w = backward.shape[:2]
    xs, ys = _grid(h, w)
    sx, sy = xs + backward[..., 0], ys + backward[..., 1]
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    ftilde = cv2.remap(forward, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    b2 = cv2.magnitude(backward[..., 0], backward[..., 1]) ** 2
    f2 = cv2.magnitude(ftilde[..., 0], ftilde[..., 1]) ** 2
    total = backward + ftilde
    consistent = cv2.magnitude(total[..., 0], total[..., 1]) ** 2 <= 0.01 * (b2 + f2) + 0.5
    boundary = _gradient_energy(backward) > 0.01 * b2 + 0.002
    return inside & consistent & ~boundary


@dataclass
class Motion:
    """What one frame pair (t−1, t) tells: ``backward`` flow, ``reliable`` pixels, whether it is a cut."""

    backward: np.ndarray
    reliable: np.ndarray
    cut: bool

    @property
    def reliable_share(self) -> float:
        return float(self.reliable.mean())


def motion(prev_gray: np.ndarray, cur_gray: np.ndarray, flow: FlowEstimator) -> Motion:
    """Flow both ways between two grey frames, the reliable pixels, and the scene-cut verdict."""
    backward = flow(cur_gray, prev_gray)
    forward = flow(prev_gray, cur_gray)
    reliable = reliable_mask(backward, forward)
    return Motion(backward, reliable, is_cut(prev_gray, cur_gray, backward, reliable))


def is_cut(prev_gray: np.ndarray, cur_gray: np.ndarray, backward: np.ndarray, reliable: np.ndarray) -> bool:
    """A new shot: too few reliable pixels, or the reliable ones do not match once warped."""
    if reliable.mean() < CUT_RELIABLE:
        return True
    warped = warp(prev_gray, backward).astype(np.float32)
    difference = np.abs(warped - cur_gray.astype(np.float32))[reliable].mean() / 255
    return bool(difference > CUT_DIFFERENCE)


def pair_error(prev: np.ndarray, cur: np.ndarray, m: Motion) -> float:
    """Warping error of one pair: mean squared difference of ``cur`` and ``warp(prev)`` over reliable
    pixels and channels ([0, 1] RGB); NaN when no pixel is reliable."""
    if not m.reliable.any():
        return math.nan
    warped = warp(to_float(prev), m.backward)
    return float(((to_float(cur) - warped) ** 2)[m.reliable].mean())


def motions(frames: Iterable[np.ndarray], flow: FlowEstimator | None = None) -> Iterator[Motion]:
    """The ``Motion`` of each consecutive pair of ``frames`` (one fewer than frames), streamed."""
    flow = flow or FlowEstimator()
    previous = None
    for frame in frames:
        gray = to_gray(frame)
        if previous is not None:
            yield motion(previous, gray, flow)
        previous = gray


def warping_errors(inputs: list[np.ndarray], outputs: list[np.ndarray],
                   moves: list[Motion] | None = None) -> list[float]:
    """Per pair t = 1..n−1: warping error of ``outputs`` under the flow of ``inputs`` (NaN at cuts).

    ``moves`` (from ``motions(inputs)``) may be passed to share the flow between several outputs."""
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} input frames but {len(outputs)} output frames")
    moves = list(motions(inputs)) if moves is None else moves
    return [math.nan if m.cut else pair_error(outputs[t], outputs[t + 1], m) for t, m in enumerate(moves)]


def mean_error(errors: Iterable[float]) -> float:
    """The video's warping error: the mean over pairs that are not cuts (NaN if none)."""
    values = [e for e in errors if not math.isnan(e)]
    return float(np.mean(values)) if values else math.nan


class Stabilizer:
    """Blends the previous *stylised* frame, warped by the input's flow, into each new one.

    ``out_t = (1 − s·m)·styled_t + s·m·warp(out_{t−1})``, ``m`` the reliable mask (softened over a
    few pixels so occlusion borders leave no seam), ``s`` = ``strength``. A scene cut (or the first
    frame) starts afresh: ``out_t = styled_t``. Streaming: it keeps only the previous frame.
    """

    def __init__(self, strength: float, flow: FlowEstimator | None = None):
        if not 0 <= strength < 1:
            raise ValueError(f"temporal strength must be in [0, 1), got {strength}")
        self.strength = strength
        self.flow = flow or FlowEstimator()
        self._gray: np.ndarray | None = None
        self._out: np.ndarray | None = None
        self.cuts = 0
        self.last: Motion | None = None

    def reset(self) -> None:
        self._gray = self._out = None

    def __call__(self, frame: np.ndarray, styled: np.ndarray) -> np.ndarray:
        """The stable version (float32 [H, W, 3] in [0, 1]) of ``styled``, the stylised ``frame``."""
        styled = to_float(styled)
        if self.strength == 0:
            return styled
        gray = to_gray(frame)
        out = styled
        if self._gray is not None and self._gray.shape == gray.shape:
            m = self.last = motion(self._gray, gray, self.flow)
            if m.cut:
                self.cuts += 1
            else:
                weight = cv2.GaussianBlur(m.reliable.astype(np.float32), (5, 5), 0)[..., None] * self.strength
                out = (1 - weight) * styled + weight * warp(self._out, m.backward)
        self._gray, self._out = gray, out
        return out
