"""Image-quality numbers for comparing style transfer results: pure functions of pixel arrays.

Arrays are float ``[H, W, 3]`` in [0, 1] (``to_array`` converts a PIL image). Every metric here is
defined once, in one line of its docstring, so the README and the report can quote it verbatim.
The network-based losses live in ``ReferenceLoss``: one fixed VGG19 and fixed layers, so results
of different methods (and of Gatys runs with different settings) are measured with the same ruler.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from brushwork.images import image_to_tensor, resize_longest, resize_to
from brushwork.losses import PerceptualObjective
from brushwork.networks.weights import load_vgg
from brushwork.temporal import warp

#: Layers of the reference losses (Gatys et al.'s choice), fixed whatever a method optimises.
REFERENCE_CONTENT_LAYERS = ("relu4_2",)
REFERENCE_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: Layer groups of the style ratios: all layers, the deep ones (strokes, motifs), the lowest (palette).
STYLE_GROUPS = {"all": REFERENCE_STYLE_LAYERS, "deep": ("relu3_1", "relu4_1", "relu5_1"), "low": ("relu1_1",)}
HISTOGRAM_BINS = 8  # per channel: 8^3 = 512 joint RGB bins

#: The columns ``brushwork evaluate`` measures, in report order, each with the one-line definition
#: that the README and the report quote.
METRICS: dict[str, str] = {
    "content_loss": "relative feature error at relu4_2 of one fixed VGG19 (default weights), result vs "
                    "photo, both resized to eval-size; lower = more of the photo kept",
    "style_loss": "mean over relu1_1..relu5_1 of the relative Gram-matrix error, result vs painting, same "
                  "VGG19 at eval-size; lower = closer to the painting's textures",
    "style_ratio_all": "style error of the result / style error of the untouched photo, both to the painting "
                       "(mean relative Gram error over relu1_1..relu5_1, same VGG19 at eval-size); "
                       "1 = no more of the painting than the photo, lower = more",
    "style_ratio_deep": "the same ratio over relu3_1..relu5_1 only (strokes, motifs); lower = more of them",
    "style_ratio_low": "the same ratio at relu1_1 only (palette, fine marks); lower = more of the painting's "
                       "colours",
    "ssim": "structural similarity to the photo (scikit-image, 7x7 window, RGB); 1 = identical",
    "psnr": "peak signal-to-noise ratio to the photo in dB (10·log10(1/MSE)); inf = identical",
    "mse": "mean squared pixel difference to the photo on [0, 1] RGB",
    "hist_distance": "Hellinger distance of 8x8x8-bin RGB histograms, result vs painting; 0 = same palette",
    "seconds": "wall time of the method's call (models loaded and warmed up beforehand, not counted)",
    "peak_mem_mb": "largest rise of the process's resident memory during the call, sampled every 10 ms",
    "temporal": "videos only: mean absolute difference of consecutive stylised frames (no optical flow)",
    "warp_error": "videos only: warping error (Lai et al. 2018): mean squared difference of each result "
                  "frame and the previous one warped onto it by the input's optical flow (DIS), over pixels "
                  "whose flow passes the forward-backward check, [0, 1] RGB, averaged over frames; scene "
                  "cuts skipped; fast paths are steadied as apply does (--temporal); lower = less flicker",
    "warp_error_per_frame": "videos only: the same for the method's frames painted one by one (the baseline)",
    "warp_error_input": "videos only: the same for the input video itself (the floor flow and warping allow)",
}


def to_array(image: Image.Image) -> np.ndarray:
    """PIL image -> float64 [H, W, 3] in [0, 1]."""
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """MSE: mean squared pixel difference on [0, 1] RGB (0 = identical)."""
    _check_pair(a, b)
    return float(np.mean((a - b) ** 2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR: 10·log10(1 / MSE) in dB on [0, 1] RGB; inf for identical images, higher = closer."""
    error = mse(a, b)
    return math.inf if error == 0 else float(10.0 * math.log10(1.0 / error))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM: scikit-image structural similarity on [0, 1] RGB, 7x7 window (1 = identical, ~0 = unrelated)."""
    from skimage.metrics import structural_similarity

    _check_pair(a, b)
    side = min(a.shape[0], a.shape[1])
    window = min(7, side if side % 2 else side - 1)
    if window < 3:
        raise ValueError(f"SSIM needs images of at least 3x3 pixels, got {a.shape[1]}x{a.shape[0]}")
    return float(structural_similarity(a, b, channel_axis=2, data_range=1.0, win_size=window))


def color_histogram(image: np.ndarray, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """Joint RGB histogram with ``bins`` per channel, normalised to sum to one."""
    index = np.minimum((image * bins).astype(np.int64), bins - 1)
    flat = (index[..., 0] * bins + index[..., 1]) * bins + index[..., 2]
    counts = np.bincount(flat.ravel(), minlength=bins**3).astype(np.float64)
    return counts / counts.sum()


def histogram_distance(a: np.ndarray, b: np.ndarray, bins: int = HISTOGRAM_BINS) -> float:
    """Colour distance: Hellinger distance of 8x8x8-bin RGB histograms (0 same palette, 1 disjoint)."""
    ha, hb = color_histogram(a, bins), color_histogram(b, bins)
    overlap = float(np.sum(np.sqrt(ha * hb)))  # Bhattacharyya coefficient
    return math.sqrt(max(0.0, 1.0 - overlap))


def temporal_difference(frames: Sequence[np.ndarray], flows: Sequence[np.ndarray] | None = None) -> float:
    """Temporal consistency: mean |frame(t) - warp(frame(t-1))| (plain difference without flow; 0 = still).

    ``flows[t-1]`` is the backward flow of the pair (t-1, t), ``brushwork.temporal``'s convention:
    frame t's pixel x was at x + flow(x) in frame t-1."""
    if len(frames) < 2:
        return 0.0
    total = 0.0
    for t in range(1, len(frames)):
        previous = frames[t - 1]
        if flows is not None:
            previous = warp(previous, flows[t - 1])
        _check_pair(previous, frames[t])
        total += float(np.mean(np.abs(frames[t] - previous)))
    return total / (len(frames) - 1)


# --- network losses --------------------------------------------------------------------------------
class ReferenceLoss:
    """Content and style loss under one fixed VGG19, at one fixed evaluation size.

    Content loss: mean over the content layers of MSE(features(result), features(photo)) divided by
    the mean square of the photo's features. Style loss: mean over the style layers of
    MSE(Gram(result), Gram(painting)) divided by the mean square of the painting's Gram matrix.
    Result and photo are resized to ``size`` on the longest side (same shape), the painting too.
    """

    def __init__(self, size: int = 256, weights: str = "default", vgg=None):
        self.size = size
        self.vgg = vgg if vgg is not None else load_vgg("vgg19", weights)
        n = len(REFERENCE_STYLE_LAYERS)
        self.objective = PerceptualObjective(self.vgg, REFERENCE_CONTENT_LAYERS, REFERENCE_STYLE_LAYERS,
                                             (1 / n,) * n, scaling="relative")
        self._style_cache: dict[int, dict[str, torch.Tensor]] = {}
        self._photo_cache: dict[tuple[int, int], dict[str, float]] = {}

    def _tensor(self, image: Image.Image, size: tuple[int, int] | None = None) -> torch.Tensor:
        resized = resize_to(image, *size) if size else resize_longest(image, self.size)
        return image_to_tensor(resized)

    @torch.no_grad()
    def content_loss(self, result: Image.Image, content: Image.Image) -> float:
        target = self._tensor(content)
        output = self._tensor(result, (target.shape[-1], target.shape[-2]))
        targets = self.objective.content_features(target)
        return float(self.objective.content_term(self.objective.content_features(output), targets))

    @staticmethod
    def _key(image: Image.Image) -> int:
        return hash(image.tobytes()) ^ hash(image.size)

    def _style_grams(self, style: Image.Image) -> dict[str, torch.Tensor]:
        key = self._key(style)
        if key not in self._style_cache:
            self._style_cache[key] = self.objective.style_grams([self._tensor(style)])
        return self._style_cache[key]

    @torch.no_grad()
    def style_layer_losses(self, result: Image.Image, style: Image.Image) -> dict[str, float]:
        """The relative Gram error of each reference style layer (their mean is ``style_loss``)."""
        grams = self._style_grams(style)
        feats = self.vgg(self._tensor(result), REFERENCE_STYLE_LAYERS)
        return {n: float(self.objective.style_term({n: feats[n]}, {n: grams[n]}, layers=(n,)))
                for n in REFERENCE_STYLE_LAYERS}

    def _photo_layer_losses(self, content: Image.Image, style: Image.Image) -> dict[str, float]:
        """``style_layer_losses`` of an untouched photo, remembered: every method compared on one
        (photo, painting) pair divides by the same numbers."""
        key = (self._key(content), self._key(style))
        if key not in self._photo_cache:
            self._photo_cache[key] = self.style_layer_losses(content, style)
        return self._photo_cache[key]

    def style_measures(self, result: Image.Image, content: Image.Image, style: Image.Image
                       ) -> dict[str, float]:
        """``style_loss`` and the ``style_ratios`` of one result, from one pass over it."""
        mine = self.style_layer_losses(result, style)
        base = self._photo_layer_losses(content, style)
        ratios = {group: sum(mine[n] for n in names) / max(sum(base[n] for n in names), 1e-12)
                  for group, names in STYLE_GROUPS.items()}
        return {"style_loss": sum(mine.values()) / len(mine), **ratios}

    def style_ratios(self, result: Image.Image, content: Image.Image, style: Image.Image) -> dict[str, float]:
        """How much of the painting a result took, against the untouched photo (lower = more).

        Each value is (style error of the result) / (style error of the photo) to the painting, the
        errors being means of relative Gram errors over a layer group: ``all`` relu1_1..relu5_1,
        ``deep`` relu3_1..relu5_1 (strokes, motifs), ``low`` relu1_1 (palette, fine marks).
        """
        measures = self.style_measures(result, content, style)
        return {group: measures[group] for group in STYLE_GROUPS}

    def style_loss(self, result: Image.Image, style: Image.Image) -> float:
        layers = self.style_layer_losses(result, style)
        return sum(layers.values()) / len(layers)


# --- memory --------------------------------------------------------------------------------------
def _rss_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _release_free_memory() -> None:
    """Return freed heap to the OS, so a run's rise in resident memory is its own."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Context manager: the largest rise of this process's resident memory while it is open (bytes).

    Sampled every ``interval`` seconds by a thread; freed memory is returned to the OS first so
    earlier runs do not hide this one's allocations. ``peak`` is None where /proc is missing.
    """

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = 0
        self._max = 0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss = _rss_bytes()
            if rss is not None:
                self._max = max(self._max, rss)

    def __enter__(self) -> PeakMemory:
        _release_free_memory()
        base = _rss_bytes()
        if base is not None:
            self._base = self._max = base
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            rss = _rss_bytes()
            self._max = max(self._max, rss or 0)
            self.peak = self._max - self._base


def timed(function, *args, **kwargs):
    """(result, wall seconds, peak extra resident bytes or None) of one call."""
    with PeakMemory() as memory:
        started = time.perf_counter()
        result = function(*args, **kwargs)
        seconds = time.perf_counter() - started
    return result, seconds, memory.peak
