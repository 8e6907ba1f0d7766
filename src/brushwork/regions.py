"""A painting per region: regions from a mask picture or found automatically (person / background).

What ``brushwork apply`` and ``brushwork stylize`` do with ``RegionConfig`` (``--mask``, ``--regions
auto``, ``--region NAME=...``, ``--feather``, ``--refine-edges``):

* **Regions.** A mask picture of any size is resized to the result (nearest neighbour, so its colours
  stay exact); each distinct colour or grey level is a region, named ``#rrggbb`` (``red``, ``white``,
  ... when it is one of the basic colours) or, in a grey mask, by its level ``0``-``255``. JPEG noise
  is merged into the nearest flat colour. ``--regions auto`` runs MediaPipe's selfie segmentation
  (:mod:`brushwork.networks.segmentation`): regions ``person`` and ``background``.
* **Soft edges.** Each region's weight map is made soft over ``feather`` pixels. With ``refine_edges``
  (the default) that is a guided filter (He et al. 2010) with the photo as guide, so the soft edge
  follows the photo's own edges: hair and outlines get a matte-like edge, not a sticker's cut. Without
  it, a Gaussian blur. Either way a pixel farther than 2 x feather from an edge keeps its region's
  weight exactly (both filters reach 2 x feather at most), so a region left as the photo is the photo.
* **Methods.** Gatys (``stylize``): spatially guided Gram matrices, one per region and layer (Gatys et
  al. 2017, "Controlling Perceptual Factors in Neural Style Transfer"): each region's features,
  weighted by its mask at that layer's size, must have its own painting's Gram matrix, so a region
  takes its painting's statistics, not a blend. The arbitrary network (``apply --style``) and the
  per-style models: each distinct setting paints the whole picture once (its own style vector and
  strength, through the fastest engine) and the results are blended through the feathered mask; the
  network's outputs, not its norm parameters: per-pixel gamma/beta in the 13 conditional norms was
  tried and gave a washed-out person (the norms' statistics are the whole picture's) at 2.9x the
  time of two blended passes, with no less of a seam. ``none`` regions are the photo.
* **Videos**, every method: ``FrameMasks`` gives each frame its regions (``auto`` found again and
  steadied along the optical flow; a mask held fixed), for ``apply`` (``RegionFrames``) and for Gatys
  (``gatys.video.GatysFrames`` with ``GuidedGatys``, each frame optimised through its own mask).

Engines report through ``warn`` callbacks (a clear warning, the whole picture still painted: a mask of
one colour, ``auto`` on a photo with no person); what cannot work is a one-line ``ConfigError`` or
``ImageError`` (an unreadable mask, a ``--region`` name the mask does not have).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from brushwork.config import MAX_REGIONS, ApplyConfig, RegionConfig, StylizeConfig
from brushwork.errors import BrushworkError, ConfigError, DiskFullError, ImageError
from brushwork.fast import engines
from brushwork.gatys import optimize
from brushwork.images import (
    MIN_SIDE,
    check_side,
    image_to_tensor,
    open_image,
    resize_longest,
    save_image,
    tensor_to_image,
)
from brushwork.losses import PerceptualObjective, content_loss, scale_of, tv_loss
from brushwork.networks.segmentation import VARIANTS, WEIGHTS_DIR, load_segmentation
from brushwork.progress import ProgressCallback, report
from brushwork.temporal import FlowEstimator, Stabilizer, motion, to_gray, warp

PERSON, BACKGROUND = "person", "background"
NONE = "none"
#: A person is "found" when this share of the picture is more person than background.
MIN_PERSON_SHARE = 0.002
#: Colours covering less than this share of a mask are noise (JPEG), merged into the nearest region.
MIN_COLOUR_SHARE = 0.001
#: Guided filter's regulariser on [0, 1] grey: edges with less contrast than ~sqrt(eps) are smoothed over.
GUIDED_EPS = 2e-3
#: The network's soft mask is stretched from [LOW, HIGH] to [0, 1] before refinement: its faint tails
#: (a few percent of "person" far into the background) would otherwise leak a painting into the photo.
PERSON_LOW, PERSON_HIGH = 0.1, 0.9
BASIC_COLOURS = {(0, 0, 0): "black", (255, 255, 255): "white", (255, 0, 0): "red", (0, 255, 0): "green",
                 (0, 0, 255): "blue", (255, 255, 0): "yellow", (0, 255, 255): "cyan",
                 (255, 0, 255): "magenta"}

Warn = Callable[[str], None]


def _inference():
    """``brushwork.fast.inference``, imported on first use: it brings onnx and onnxruntime (~0.5 s),
    which Gatys with regions (``stylize``) never needs."""
    from brushwork.fast import inference  # lazy: see the docstring

    return inference


def _ignore(message: str) -> None:
    pass


# --- settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionSetting:
    """What one region gets: ``none`` (the photo), a painting file, a model (apply), or the command's
    own painting/model (``default``); ``strength`` None = the command's own."""

    kind: str  # "default" | "none" | "painting" | "model"
    source: str | None = None
    strength: float | None = None

    @property
    def key(self) -> tuple:
        return (self.kind, self.source, self.strength)


DEFAULT = RegionSetting("default")
_MODEL_SUFFIXES = (".safetensors", ".onnx")


def parse_settings(specs: Sequence[str], allow_models: bool = True) -> dict[str, RegionSetting]:
    """``NAME=PAINTING[:STRENGTH]``, ``NAME=MODEL[:STRENGTH]`` or ``NAME=none`` -> {name: setting}."""
    out: dict[str, RegionSetting] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ConfigError(f"--region {spec!r}: give NAME=PAINTING[:STRENGTH] or NAME=none")
        if name in out:
            raise ConfigError(f"--region {name} is given twice")
        strength = None
        head, colon, tail = value.rpartition(":")
        if colon and head:
            try:
                strength = float(tail)
            except ValueError:
                pass  # a colon inside the path
            else:
                value = head
                if not 0 <= strength <= 1:
                    raise ConfigError(f"--region {spec!r}: strength must be between 0 and 1, got {tail}")
        if value.lower() == NONE:
            if strength is not None:
                raise ConfigError(f"--region {spec!r}: 'none' keeps the photo; it takes no strength")
            out[name] = RegionSetting(NONE)
            continue
        path = Path(value)
        if path.suffix.lower() in _MODEL_SUFFIXES or (not path.exists() and not path.suffix):
            if not allow_models:
                raise ConfigError(f"--region {spec!r}: stylize paints with paintings (an image file); "
                                  "models work with brushwork apply")
            out[name] = RegionSetting("model", value, strength)
            continue
        if not path.is_file():
            raise ConfigError(f"--region {spec!r}: no such painting {value}")
        out[name] = RegionSetting("painting", value, strength)
    return out


# --- masks -----------------------------------------------------------------------------------------
@dataclass
class Regions:
    """Named regions of one picture: ``weights`` [R, H, W] in [0, 1], summing to 1 at every pixel."""

    names: list[str]
    weights: torch.Tensor
    #: A short description of where they came from, for messages ("the mask m.png", "auto").
    source: str = "the mask"
    #: Every name each region answers to (a grey level, #rrggbb, a basic colour's name); default: its name.
    keys: list[set[str]] | None = None

    def index(self, name: str) -> int | None:
        return find_region(name, self.names, self.keys)


def colour_keys(rgb: tuple[int, int, int], grey: bool) -> list[str]:
    """The names a mask colour answers to, the one shown first: grey level (grey masks), then the basic
    colour's name, then #rrggbb."""
    keys = [str(rgb[0])] if grey else []
    if rgb in BASIC_COLOURS:
        keys.append(BASIC_COLOURS[rgb])
    return [*keys, "#{:02x}{:02x}{:02x}".format(*rgb)]


def find_region(name: str, names: Sequence[str], keys: Sequence[set[str]] | None) -> int | None:
    wanted = name.strip().lower()
    for i, region in enumerate(names):
        if wanted == region.lower() or (keys is not None and wanted in keys[i]):
            return i
    return None


def mask_labels(mask: Image.Image, size: tuple[int, int], name: str = "mask"
                ) -> tuple[list[list[str]], np.ndarray]:
    """Each region's names (see ``colour_keys``) and a label map [H, W] (at ``size`` = (width, height))
    of a mask picture."""
    rgb = mask.convert("RGB")
    pixels = np.asarray(rgb).reshape(-1, 3)
    grey = bool((pixels[:, 0] == pixels[:, 1]).all() and (pixels[:, 1] == pixels[:, 2]).all())
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    kept = colours[counts >= max(1, MIN_COLOUR_SHARE * len(pixels))]
    if not len(kept) or len(kept) > MAX_REGIONS:
        raise ImageError(f"{name}: {len(colours)} colours; a mask needs one flat colour per region (at most "
                         f"{MAX_REGIONS}); paint it with a hard brush and save it as PNG")
    small = rgb.resize(size, Image.NEAREST)
    flat = np.asarray(small).reshape(-1, 3).astype(np.int32)
    dist = ((flat[:, None, :] - kept[None, :, :].astype(np.int32)) ** 2).sum(-1)
    labels = dist.argmin(1).reshape(size[1], size[0])
    present = np.unique(labels)
    names = [colour_keys(tuple(int(v) for v in kept[i]), grey) for i in present]
    remap = np.zeros(len(kept), np.int64)
    remap[present] = np.arange(len(present))
    return names, remap[labels]


def box(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float = GUIDED_EPS) -> np.ndarray:
    """He et al.'s guided filter of ``p`` [H, W] by the grey ``guide`` [H, W], both float32 in [0, 1].

    Where ``p`` is constant within ``2·radius`` pixels the output equals it exactly."""
    mean_i, mean_p = box(guide, radius), box(p, radius)
    cov = box(guide * p, radius) - mean_i * mean_p
    var = box(guide * guide, radius) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box(a, radius) * guide + box(b, radius)


def coarse_guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, step: int,
                         eps: float = GUIDED_EPS) -> np.ndarray:
    """The guided filter of ``p`` (any size; resized to the grid) by ``guide`` [H, W], with its linear
    coefficients found on a grid ``step`` times coarser and upsampled (He & Sun 2015, "Fast Guided
    Filter"), clipped to [0, 1]. The output keeps the guide's full-resolution edges (``A·I + B``); only
    the coefficients are coarse. Reach: about 2·radius + 1.5·step pixels."""
    h, w = guide.shape
    size = (max(1, round(w / step)), max(1, round(h / step)))
    small = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
    r = max(1, round(radius / step))
    p = cv2.resize(p, size, interpolation=cv2.INTER_LINEAR)
    mean_i, mean_p = box(small, r), box(p, r)
    cov = box(small * p, r) - mean_i * mean_p
    a = cov / (box(small * small, r) - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    out = cv2.resize(box(a, r), (w, h), interpolation=cv2.INTER_LINEAR)
    out *= guide
    out += cv2.resize(box(b, r), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0, 1, out=out)


def refine_step(height: int, width: int, feather: float) -> int:
    """The coarse grid's step for the automatic mask's edges: the network's mask is 256 px, so a grid
    finer than ~256 px on the long side adds nothing to it; the filter keeps at least 2 grid pixels of
    radius. 1 (full resolution) below 512 px."""
    return max(1, min(max(height, width) // 256, round(feather) // 2))


def soften(weights: np.ndarray, photo: np.ndarray | None, feather: float, refine: bool) -> np.ndarray:
    """Soft edges for region weights [R, H, W] (float32): guided by the grey ``photo`` when ``refine``,
    else a Gaussian; renormalised to sum to one. ``feather`` 0 leaves them as they are."""
    if feather <= 0 or weights.shape[0] < 2:
        return weights
    radius = max(1, round(feather))
    if refine and photo is not None and weights.shape[0] == 2:
        # The filter is linear, GF(1 - p) = 1 - GF(p), so the two weights already sum to one; clipping
        # the first to [0, 1] is what the clip-and-renormalise below gives them (and half its cost).
        first = np.clip(guided_filter(photo, weights[0], radius), 0, 1).astype(np.float32, copy=False)
        return np.stack([first, 1 - first])
    if refine and photo is not None:
        out = np.stack([guided_filter(photo, w, radius) for w in weights])
    else:
        sigma = radius / 2
        out = np.stack([cv2.GaussianBlur(w, (2 * radius + 1, 2 * radius + 1), sigma,
                                         borderType=cv2.BORDER_REFLECT) for w in weights])
    out = np.clip(out, 0, None)
    total = out.sum(0, keepdims=True)
    return np.where(total > 1e-6, out / np.maximum(total, 1e-6), weights).astype(np.float32)


def _grey(photo: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] -> grey [H, W] float32 (Rec. 601 luma)."""
    r, g, b = photo[0].float().cpu().numpy()
    return np.ascontiguousarray(0.299 * r + 0.587 * g + 0.114 * b, dtype=np.float32)


def regions_from_mask(mask: Image.Image, photo: torch.Tensor, config: RegionConfig, name: str = "mask",
                      warn: Warn = _ignore) -> Regions:
    """The mask picture's regions at the photo's size [1, 3, H, W], with soft edges."""
    h, w = photo.shape[-2:]
    keys, labels = mask_labels(mask, (w, h), name)
    if len(keys) == 1:
        warn(f"{name} has one colour ({keys[0][0]}): one region, so the whole picture gets its setting")
    hard = np.stack([(labels == i).astype(np.float32) for i in range(len(keys))])
    soft = soften(hard, _grey(photo), config.feather, config.refine_edges)
    return Regions([k[0] for k in keys], torch.from_numpy(soft), f"the mask {name}", [set(k) for k in keys])


def network_input(photo: torch.Tensor) -> tuple[str, np.ndarray]:
    """The variant for this photo's shape (landscape for wide pictures) and the photo at its input size
    (NCHW float32, area-resampled)."""
    h, w = photo.shape[-2:]
    variant = "landscape" if w / h >= 1.4 else "general"
    _, ih, iw = VARIANTS[variant]
    chw = photo[0].float().cpu().numpy()  # each channel plane resized on its own: no HWC copies
    out = np.empty((1, 3, ih, iw), np.float32)
    for c in range(3):
        cv2.resize(np.ascontiguousarray(chw[c]), (iw, ih), dst=out[0, c], interpolation=cv2.INTER_AREA)
    return variant, np.clip(out, 0, 1, out=out)


@functools.cache
def _segmentation_runner(variant: str) -> Callable[[np.ndarray], np.ndarray]:
    """The network for ``variant``: its ONNX copy in onnxruntime (exported once per machine into the
    engine cache; ~10x faster than PyTorch here for this small depthwise network), else PyTorch."""
    net = load_segmentation(variant)
    try:
        tag = f"{engines.file_digest(WEIGHTS_DIR / VARIANTS[variant][0])[:24]}-selfie-{variant}"
        session = engines.cached_session(tag, lambda target: engines.onnx_graph(net, target))
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    except Exception:  # noqa: BLE001 - no onnxruntime copy: PyTorch gives the same mask, slower
        def run(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return net(torch.from_numpy(x)).numpy()
        return run


class MaskStabilizer:
    """Steadies the person's soft weight in consecutive video frames: an exponential moving average
    carried along the optical flow, ``w_t = W(w_{t−1}) + (1 − k·r)·(w_new − W(w_{t−1}))``, where ``W``
    warps the previous steady weight onto this frame along the backward flow of the network's grey input
    (DIS, ``PRESET``, both ways, at the network's 256 px), ``r`` is that flow's reliability (Ruder et
    al.'s consistency and motion-boundary tests, softened) and ``k = keep``. So a moving person keeps a
    steady mask that moves with them, and where the flow cannot be trusted (a disocclusion, a motion
    boundary, a pixel entering the frame) the frame's own mask is taken. It is applied to the final,
    edge-refined weight: the guided filter follows each frame's own noise too, and that flicker is
    steadied with the network's. A scene cut (``brushwork.temporal.is_cut``) or a new size starts
    afresh. Streaming: it keeps only the previous frame."""

    #: DIS preset: "fast" measured as steady as "medium" on a pan (0.0067 vs 0.0069) at 8 vs 18 ms.
    PRESET = "fast"

    def __init__(self, keep: float):
        if not 0 <= keep < 1:
            raise ValueError(f"mask smoothing must be in [0, 1), got {keep}")
        self.keep = keep
        self.flow = FlowEstimator(self.PRESET, side=None)
        self.cuts = 0
        self._grey: np.ndarray | None = None
        self._w: np.ndarray | None = None

    def reset(self) -> None:
        self._grey = self._w = None

    def __call__(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """``x``: the network's input [1, 3, h, w] in [0, 1]; ``weight``: the person's soft weight [H, W]
        -> the steady one."""
        grey = to_gray(x[0].transpose(1, 2, 0))
        out = weight
        if (self.keep > 0 and self._grey is not None and self._grey.shape == grey.shape
                and self._w is not None and self._w.shape == weight.shape):
            m = motion(self._grey, grey, self.flow)
            if m.cut:
                self.cuts += 1
            else:
                (height, width), (h, w) = weight.shape, grey.shape
                flow = cv2.resize(m.backward, (width, height), interpolation=cv2.INTER_LINEAR)
                flow[..., 0] *= width / w
                flow[..., 1] *= height / h
                reliable = cv2.GaussianBlur(m.reliable.astype(np.float32), (5, 5), 0)
                k = self.keep * cv2.resize(reliable, (width, height), interpolation=cv2.INTER_LINEAR)
                before = warp(self._w, flow)
                out = (before + (1 - k) * (weight - before)).astype(np.float32)
        self._grey, self._w = grey, out
        return out


def person_probability(photo: torch.Tensor) -> torch.Tensor:
    """The selfie network's person probability [H, W] for a photo [1, 3, H, W] in [0, 1] (bilinear up)."""
    variant, small = network_input(photo)
    p = _segmentation_runner(variant)(small)[0, 0]
    h, w = photo.shape[-2:]
    return torch.from_numpy(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR))


def person_regions(photo: torch.Tensor, config: RegionConfig, name: str = "the photo",
                   warn: Warn = _ignore, stabilizer: MaskStabilizer | None = None) -> Regions:
    """Regions ``person`` and ``background`` of a photo [1, 3, H, W], refined to its edges."""
    variant, small = network_input(photo)
    p = np.array(_segmentation_runner(variant)(small)[0, 0], np.float32)  # at the network's size
    p -= PERSON_LOW
    p *= 1 / (PERSON_HIGH - PERSON_LOW)
    np.clip(p, 0, 1, out=p)
    h, w = photo.shape[-2:]
    grey = _grey(photo)
    step = refine_step(h, w, config.feather)
    if config.refine_edges and config.feather > 0 and step > 1:  # 512 px and up: 8x cheaper, same look
        person = coarse_guided_filter(grey, p, max(1, round(config.feather)), step)
        weights = np.stack([person, 1 - person])
    else:
        p = cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
        weights = soften(np.stack([p, 1 - p]), grey, config.feather, config.refine_edges)
    if stabilizer is not None:  # a video's frame: steadied against the frames before
        person = stabilizer(small, weights[0])
        weights = np.stack([person, 1 - person])
    if (weights[0] > 0.5).mean() < MIN_PERSON_SHARE:
        warn(f"{name}: no person found (MediaPipe's selfie segmentation sees none); the whole picture "
             "gets the background's setting")
        weights = np.stack([np.zeros_like(weights[0]), np.ones_like(weights[0])])
    return Regions([PERSON, BACKGROUND], torch.from_numpy(weights), "auto")


class RegionSource:
    """The regions of each picture for one ``RegionConfig``: the mask file read once (and checked
    before any work), or the person found in every photo."""

    def __init__(self, config: RegionConfig):
        self.config = config
        self.mask = open_image(config.mask) if config.mask else None

    def names(self) -> tuple[list[str], list[set[str]] | None]:
        """The region names every picture will have, and the other names each answers to."""
        if self.config.regions == "auto":
            return [PERSON, BACKGROUND], None
        assert self.mask is not None
        keys, _ = mask_labels(self.mask, self.mask.size, Path(self.config.mask).name)
        return [k[0] for k in keys], [set(k) for k in keys]

    def regions(self, photo: torch.Tensor, name: str = "the photo", warn: Warn = _ignore,
                stabilizer: MaskStabilizer | None = None) -> Regions:
        if self.config.regions == "auto":
            return person_regions(photo, self.config, name, warn, stabilizer)
        assert self.mask is not None
        return regions_from_mask(self.mask, photo, self.config, Path(self.config.mask).name, warn)


def check_regions(regions: RegionConfig, allow_models: bool = True) -> None:
    """What can be checked before any work (``batch`` before Ray starts): the settings parse, their
    paintings exist, the mask reads and has every region named. Raises ConfigError or ImageError."""
    settings = parse_settings(regions.region, allow_models)
    check_names(settings, RegionSource(regions).names(), _source_name(regions))


def _source_name(regions: RegionConfig) -> str:
    return f"the mask {Path(regions.mask).name}" if regions.mask else "auto"


def check_names(settings: dict[str, RegionSetting], names: tuple[list[str], list[set[str]] | None],
                source: str) -> None:
    shown, keys = names
    unknown = [n for n in settings if find_region(n, shown, keys) is None]
    if unknown:
        listed = shown if not keys else [" = ".join(sorted(k, key=lambda s: (s.startswith("#"), s)))
                                         for k in keys]
        raise ConfigError(f"--region {unknown[0]}: {source} has no region {unknown[0]!r}; its regions are "
                          + ", ".join(listed))


def _group(regions: Regions, settings: dict[str, RegionSetting]
           ) -> dict[tuple, tuple[RegionSetting, torch.Tensor]]:
    """Regions with the same setting merged: {setting key: (setting, weights [H, W])}."""
    groups: dict[tuple, tuple[RegionSetting, torch.Tensor]] = {}
    chosen = {regions.index(name): setting for name, setting in settings.items()}
    for i in range(len(regions.names)):
        setting = chosen.get(i, DEFAULT)
        if setting.key in groups:
            groups[setting.key] = (setting, groups[setting.key][1] + regions.weights[i])
        else:
            groups[setting.key] = (setting, regions.weights[i])  # a view: never written to
    return groups


# --- apply: fast networks --------------------------------------------------------------------------
class RegionPainter:
    """``apply`` with regions: the default stylizer (the model or ``--style`` paintings) for regions not
    named, each ``--region`` setting's own stylizer (loaded once), the photo for ``none``."""

    def __init__(self, default, config: ApplyConfig, regions: RegionConfig, warn: Warn = _ignore):
        self.default = default
        self.config = config
        self.source = RegionSource(regions)
        self.settings = parse_settings(regions.region)
        check_names(self.settings, self.source.names(), _source_name(regions))
        self.warn = warn
        self._stylizers: dict[tuple, object] = {}
        for setting in self.settings.values():
            if setting.kind != NONE:
                self._stylizer(setting)  # every painting and model loads (or fails) before any work

    def _config(self, setting: RegionSetting) -> ApplyConfig:
        return self.config if setting.strength is None else self.config.replace(strength=setting.strength)

    def _stylizer(self, setting: RegionSetting):
        if setting.kind == "default":
            return self.default
        if setting.key not in self._stylizers:
            config = self._config(setting)
            if setting.kind == "painting":
                self._stylizers[setting.key] = _inference().ArbitraryStylizer([setting.source], config)
            else:
                self._stylizers[setting.key] = _inference().load_stylizer(setting.source, config)
        return self._stylizers[setting.key]

    def paint_tensor(self, x: torch.Tensor, name: str = "the photo") -> torch.Tensor:
        """One photo [1, 3, H, W] (at its final size) -> the painted picture [1, 3, H, W]."""
        return self.paint_batch([x], [self.source.regions(x, name, self.warn)])[0]

    def paint_batch(self, xs: list[torch.Tensor], regions: list[Regions]) -> list[torch.Tensor]:
        """Pictures [1, 3, H, W] with their regions -> painted; each setting's network runs on all of
        them at once (a video's frames in a batch). The blend is done in NumPy, in place: on a shared
        CPU each of PyTorch's parallel element-wise ops costs ~5-10 ms at 512 px in thread wake-ups,
        which was most of what a region added to the arbitrary path's time."""
        outs: list[np.ndarray | None] = [None] * len(xs)
        painted_all: dict[tuple, tuple[RegionSetting, list[np.ndarray | None]]] = {}
        for k, (x, found) in enumerate(zip(xs, regions)):
            for key, (setting, w) in _group(found, self.settings).items():
                if setting.kind == NONE:
                    _add_weighted(outs, k, w.numpy(), x)
                else:
                    entry = painted_all.setdefault(key, (setting, [None] * len(xs)))
                    entry[1][k] = w.numpy()
        for setting, weights in painted_all.values():
            which = [k for k, w in enumerate(weights) if w is not None and w.max() > 0]
            if not which:
                continue
            ys = _inference().stylize_images(self._stylizer(setting), [xs[k] for k in which],
                                             self._config(setting))
            for k, y in zip(which, ys):
                _add_weighted(outs, k, weights[k], y)
        results = []
        for x, out in zip(xs, outs):
            out = torch.zeros(tuple(x.shape)).numpy() if out is None else out
            results.append(torch.from_numpy(np.clip(out, 0, 1, out=out)))
        return results

    def paint(self, photo: Image.Image, name: str = "the photo") -> Image.Image:
        image = photo.convert("RGB")
        if self.config.size is not None:
            image = resize_longest(image, self.config.size)
        return tensor_to_image(self.paint_tensor(image_to_tensor(image), name))


def _add_weighted(outs: list[np.ndarray | None], k: int, weight: np.ndarray, picture: torch.Tensor) -> None:
    """``outs[k] += weight · picture`` ([H, W] times [1, 3, H, W]), in place (the first term makes it)."""
    source = picture.detach().float().cpu().numpy()
    if outs[k] is None:  # torch's own (aligned) memory: PyTorch's later ops on it ran 2x slower on NumPy's
        outs[k] = torch.empty(source.shape, dtype=torch.float32).numpy()
        np.multiply(source, weight, out=outs[k])
    else:
        outs[k] += source * weight


class FrameMasks:
    """The regions of consecutive video frames (tensors [1, 3, H, W], one size) for one ``RegionSource``:
    what every method's video shares (``RegionFrames`` for ``apply``, ``gatys.video.GatysFrames`` for
    ``stylize``), so a mask follows the frames the same way whatever paints them. ``--regions auto``: the
    person is found again in every frame and its mask steadied over time (``MaskStabilizer``,
    ``RegionConfig.mask_smoothing``); ``--mask FILE``: the mask's regions, made once at the video's size
    from its first frame, are held fixed.

    With ``measure``, ``mask_change`` records, per frame after the first, the mean absolute change of
    the first region's soft weight (the person's, with ``auto``) from the frame before: the mask's
    flicker (off by default: in PyTorch it cost ~15 ms a frame at 512 px; NumPy now, ~0.5 ms)."""

    def __init__(self, source: RegionSource, name: str = "the video", warn: Warn = _ignore,
                 measure: bool = False):
        self.source, self.name, self.warn = source, name, warn
        smoothing = source.config.mask_smoothing
        self.stabilizer = MaskStabilizer(smoothing) if smoothing > 0 else None
        self.fixed: Regions | None = None
        self.measure = measure
        self.mask_change: list[float] = []
        self.frames = 0
        self._last: np.ndarray | None = None
        self._warned = False

    def _warn_once(self, message: str) -> None:
        """The first frame with no person is named; the later ones are not (one line per video)."""
        if not self._warned:
            self._warned = True
            self.warn(message + ", and so does every later frame with no person")

    def frame_regions(self, x: torch.Tensor) -> Regions:
        """The next frame's regions (``x`` [1, 3, H, W] in [0, 1], at its final size)."""
        self.frames += 1
        if self.source.config.regions == "auto":
            found = self.source.regions(x, f"{self.name}, frame {self.frames}", self._warn_once,
                                        self.stabilizer)
        else:
            if self.fixed is None or self.fixed.weights.shape[-2:] != x.shape[-2:]:
                self.fixed = self.source.regions(x, self.name, self.warn)
            found = self.fixed
        if self.measure:
            weight = found.weights[0].numpy()
            if self._last is not None and self._last.shape == weight.shape:
                self.mask_change.append(float(np.abs(weight - self._last).mean()))
            self._last = weight
        return found


class RegionFrames(FrameMasks):
    """Paints consecutive video frames (H×W×3 uint8, one size) with regions: a ``FrameRunner`` for
    ``media.paint_video``. Each frame's regions come from ``FrameMasks``; the painted frames are
    then steadied as without regions (``ApplyConfig.temporal``, along the optical flow)."""

    def __init__(self, painter: RegionPainter, name: str = "the video", measure: bool = False):
        super().__init__(painter.source, name, painter.warn, measure)
        self.painter = painter
        self.temporal = Stabilizer(painter.config.temporal) if painter.config.temporal > 0 else None

    def run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        if not frames:
            return []
        xs = [torch.tensor(f).permute(2, 0, 1)[None].float().div_(255) for f in frames]
        outs = self.painter.paint_batch(xs, [self.frame_regions(x) for x in xs])
        arrays = [y[0].permute(1, 2, 0).numpy() for y in outs]
        if self.temporal is not None:
            arrays = [self.temporal(f, y) for f, y in zip(frames, arrays)]
        return [(np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8) for a in arrays]


# --- stylize: Gatys with guided Grams -------------------------------------------------------------
def guided_gram(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Gram matrix of ``features`` [1, C, h, w] weighted per pixel by ``weight`` [h, w]:
    ``sum_i w_i f_i f_iᵀ / (C · sum_i w_i)`` (the plain Gram when the weight is 1 everywhere)."""
    n, c, h, w = features.shape
    flat = (features * weight.sqrt()[None, None]).reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * weight.sum().clamp_min(1e-6))


def _objective_class():
    class GuidedObjective(PerceptualObjective):
        """Content + per-region guided Gram losses (+ TV): region ``r`` with weight map ``m_r`` (resized
        to each layer), its painting's Gram targets ``T_r`` and strength ``s_r`` adds
        ``area_r · s_r · sum_l w_l · mean((G_l(x; m_r) − T_r,l)²) / mean(T_r,l²)``; ``area_r`` (its
        share of the picture) keeps the push per pixel that of painting the whole picture."""

        def set_regions(self, weights: torch.Tensor, targets: list[dict[str, torch.Tensor]],
                        strengths: list[float]) -> None:
            self.region_weights = weights
            self.region_targets = targets
            self.region_strengths = strengths
            self.region_scales = [{n: scale_of(t[n]) for n in self.style_layers} for t in targets]
            self._masks: dict[tuple[int, int], torch.Tensor] = {}

        def _mask(self, size: tuple[int, int]) -> torch.Tensor:
            if size not in self._masks:
                self._masks[size] = F.interpolate(self.region_weights[None], size=size, mode="area")[0]
            return self._masks[size]

        def __call__(self, image: torch.Tensor, content: torch.Tensor | None = None
                     ) -> dict[str, torch.Tensor]:
            targets = self.content_targets if content is None else self.content_features(content)
            feats = self.vgg(image, self.layers)
            zero = image.new_zeros(())
            style = zero
            for r, (grams, strength) in enumerate(zip(self.region_targets, self.region_strengths)):
                area = float(self.region_weights[r].mean())
                if area < 1e-4 or strength <= 0:
                    continue
                term = zero
                for name, lw in zip(self.style_layers, self.style_layer_weights):
                    f = feats[name].float()
                    m = self._mask(tuple(f.shape[-2:]))[r].to(f)
                    error = torch.mean((guided_gram(f, m) - grams[name]) ** 2)
                    term = term + lw * error / self.region_scales[r][name]
                style = style + area * strength * term
            w = self.weights
            content_term = zero
            if self.content_layers:
                content_term = sum(content_loss(feats[n], targets[n]) / self._scale(targets[n])
                                   for n in self.content_layers) / len(self.content_layers)
            parts = {"content": w["content"] * content_term, "style": w["style"] * style,
                     "tv": w["tv"] * tv_loss(image) if w["tv"] > 0 else zero}
            parts["total"] = parts["content"] + parts["style"] + parts["tv"]
            return parts

    return GuidedObjective


class GuidedGatys:
    """Gatys with guided Grams for one run's region settings: the settings parsed, the mask read and its
    names checked, and each ``--region`` painting read once, before any work; then any number of
    pictures, each with its own regions (``stylize_regions``: one photo; ``gatys.video.GatysFrames``:
    a video's frames, each with that frame's mask). Regions not named in ``regions.region`` get
    ``styles`` (blended by ``config.style_blend_weights``); ``none`` regions stay the photo."""

    def __init__(self, styles: Sequence[Image.Image], regions: RegionConfig):
        self.styles = list(styles)
        self.settings = parse_settings(regions.region, allow_models=False)
        self.source = RegionSource(regions)
        check_names(self.settings, self.source.names(), _source_name(regions))
        self.paintings = {s.source: open_image(s.source) for s in self.settings.values()
                          if s.kind == "painting"}
        #: Each painting's Gram targets by (painting, size): a video's frames share them (one instance
        #: serves one loss network, as one run has).
        self._grams: dict[tuple[str, int], dict[str, torch.Tensor]] = {}

    def _painting_grams(self, objective, source: str, style_size: int, device: torch.device
                        ) -> dict[str, torch.Tensor]:
        key = (source, style_size)
        if key not in self._grams:
            picture = image_to_tensor(resize_longest(self.paintings[source], style_size), device)
            self._grams[key] = objective.style_grams([picture])
        return self._grams[key]

    def optimize_tensor(self, content: Image.Image, found: Regions, config: StylizeConfig, *, vgg=None,
                        callback: ProgressCallback | None = None, start: torch.Tensor | None = None,
                        extra_loss=None) -> torch.Tensor:
        """``content`` painted with guided Grams through ``found`` (its regions at ``config.size``) ->
        [1, 3, H, W] on the CPU, the ``none`` regions the photo. ``start`` and ``extra_loss`` as
        ``gatys.optimize.optimize_tensor`` (a video frame's warped previous result and temporal loss)."""
        final = image_to_tensor(resize_longest(content.convert("RGB"), config.size))
        groups = list(_group(found, self.settings).values())
        painted = [(s, w) for s, w in groups if s.kind != NONE]
        keep = sum((w for s, w in groups if s.kind == NONE), torch.zeros(final.shape[-2:]))
        if not painted:
            return final
        blend = list(config.style_blend_weights or [1.0] * len(self.styles))
        cls = _objective_class()
        weights = torch.stack([w for _, w in painted])

        def objective(vgg_net, cfg: StylizeConfig, content_tensor: torch.Tensor, style_size: int):
            device = content_tensor.device
            styles = [image_to_tensor(resize_longest(s, style_size), device) for s in self.styles]
            base = optimize.make_objective(vgg_net, cfg, content_tensor, styles, blend)
            guided = cls.__new__(cls)
            guided.__dict__.update(base.__dict__)
            targets = [base.style_targets if setting.kind == "default"
                       else self._painting_grams(base, setting.source, style_size, device)
                       for setting, _ in painted]
            strengths = [1.0 if setting.strength is None else setting.strength for setting, _ in painted]
            scaled = F.interpolate(weights[None], size=content_tensor.shape[-2:], mode="area")[0]
            guided.set_regions(scaled.to(device), targets, strengths)
            return guided

        result = optimize.optimize_tensor(content, self.styles, config, vgg=vgg, callback=callback,
                                          start=start, extra_loss=extra_loss,
                                          objective_factory=objective).cpu()
        keep = keep[None, None]
        return (1 - keep) * result + keep * final


def stylize_regions(content: Image.Image, styles: Sequence[Image.Image], config: StylizeConfig,
                    regions: RegionConfig, *, callback: ProgressCallback | None = None, warn: Warn = _ignore,
                    vgg=None,
                    content_name: str = "the photo") -> Image.Image:
    """Gatys optimisation of one photo with a painting per region (``GuidedGatys``); ``none`` regions stay
    the photo. Regions not named in ``regions.region`` get ``styles`` (blended by
    ``config.style_blend_weights``)."""
    guided = GuidedGatys(styles, regions)
    final = image_to_tensor(resize_longest(content.convert("RGB"), config.size))
    found = guided.source.regions(final, content_name, warn)
    return tensor_to_image(guided.optimize_tensor(content, found, config, vgg=vgg, callback=callback))


def region_inputs(regions: RegionConfig) -> list[str]:
    """The files a region run reads (never to be overwritten by its outputs)."""
    files = [regions.mask] if regions.mask else []
    for spec in regions.region:
        value = spec.partition("=")[2].strip()
        head, colon, tail = value.rpartition(":")
        path = head if colon and head and _is_number(tail) else value
        if path and os.path.isfile(path):
            files.append(path)
    return files


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return math.isfinite(float(text))


def apply_region_files(painter: RegionPainter, jobs: Sequence, progress: ProgressCallback | None = None
                       ) -> list[str]:
    """``apply_files`` with regions: each image job painted by ``painter`` and written; returns one
    message per file that could not be read, painted or written (the others still are)."""
    failures: list[str] = []
    report(progress, 0, len(jobs), "img")
    for done, job in enumerate(jobs, 1):
        try:
            image = open_image(job.source)
            check_side(image, str(job.source), painter.config.size, MIN_SIDE)
            result = painter.paint(image, str(job.source))
            job.target.parent.mkdir(parents=True, exist_ok=True)
            save_image(result, job.target)
        except (ConfigError, DiskFullError):
            raise  # a --region the picture's regions do not have, or a full disk: the run's error
        except BrushworkError as exc:
            failures.append(str(exc) if str(job.source) in str(exc) else f"{job.source}: {exc}")
        except (OSError, RuntimeError, ValueError, MemoryError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            failures.append(f"{job.source}: could not be painted ({text})")
        report(progress, done, len(jobs), "img")
    return failures


# --- the Python API: brushwork.apply and brushwork.stylize with regions ------------------------------
def apply(model, photo, *, styles=None, size: int | None = None, preserve_colors: bool | None = None,
          strength: float | None = None, config: ApplyConfig | None = None,
          regions: RegionConfig | None = None, warn: Warn | None = None) -> Image.Image:
    """Paint ``photo`` with a fast style network; exported as ``brushwork.apply``.

    Args:
        model: a loaded ``Stylizer`` (reuse it for many photos), a ``.safetensors``/``.onnx`` file,
            or a shipped style name (``brushwork models`` lists them, e.g. ``"starry-night"``);
            None with ``styles``.
        photo: a PIL image or an image file.
        styles: paintings (PIL images or files) for the arbitrary-style network (``config.network``:
            brushwork's own or Magenta's), instead of a
            model: any painting in about a second; several are blended
            (``config.style_blend_weights``).
        size: longest side of the result in pixels (default: ``config.size``, else the photo's).
        preserve_colors: keep the photo's colours (luminance-only transfer; default: the config's).
        strength: 1 = fully stylised, 0 = the photo (with ``styles``: the photo's own style;
            default: the config's).
        config: every setting (default ``ApplyConfig()``); only the keywords above that are given
            replace its values.
        regions: a painting per region (docs/regions.md): ``RegionConfig(mask="mask.png")`` (each
            flat colour of the mask picture a region) or ``RegionConfig(regions="auto")`` (``person``
            and ``background``), with ``region=("person=none", "background=great_wave.jpg:0.6")``:
            a painting file, a model or ``none`` (the photo) per region; regions not named get
            ``model``/``styles``. Also ``feather`` and ``refine_edges``. None: the whole picture.
        warn: called with a one-line warning where the picture is still painted (a mask of one
            colour, no person found); default: ignored.

    Returns:
        The painted picture (PIL RGB).

    Raises:
        ConfigError, ImageError: a ``region`` name the mask does not have, an unreadable mask.

    >>> import brushwork
    >>> picture = brushwork.apply("starry-night", "photo.jpg", size=512)  # doctest: +SKIP
    >>> picture = brushwork.apply(None, "photo.jpg", styles=["my_painting.jpg"])  # doctest: +SKIP
    >>> picture = brushwork.apply("starry-night", "photo.jpg", regions=brushwork.RegionConfig(
    ...     regions="auto", region=("person=none",)))  # doctest: +SKIP
    """
    if regions is None or not regions.active:
        return _inference().paint(model, photo, styles=styles, size=size, preserve_colors=preserve_colors,
                     strength=strength, config=config)
    given = {"size": size, "preserve_colors": preserve_colors, "strength": strength}
    config = (config or ApplyConfig()).replace(**{k: v for k, v in given.items() if v is not None})
    painter = RegionPainter(None, config, regions, warn=warn or _ignore)  # regions checked before loading
    fast = _inference()
    loaded = isinstance(model, fast.Stylizer)
    painter.default = model if loaded else fast.load_stylizer(model, config, styles=styles)
    image = photo if isinstance(photo, Image.Image) else open_image(photo)
    return painter.paint(image, "the photo" if isinstance(photo, Image.Image) else str(photo))


def stylize(content, style, config: StylizeConfig | None = None, *, regions: RegionConfig | None = None,
            warn: Warn | None = None, vgg=None, callback: ProgressCallback | None = None,
            start: torch.Tensor | None = None,
            extra_loss=None, **overrides) -> Image.Image:
    """Stylise ``content`` with one or several ``style`` images (Gatys); exported as
    ``brushwork.stylize``. Returns a PIL image.

    Args:
        content: the photo (a PIL image or a file).
        style: a painting, or several (blended by ``config.style_blend_weights``).
        config: every setting (default ``StylizeConfig()``); ``**overrides`` replace its fields.
        regions: a painting per region (docs/regions.md), painted with spatially guided Gram matrices:
            ``RegionConfig(mask="mask.png", region=("white=none", "red=great_wave.jpg"))`` or
            ``RegionConfig(regions="auto", region=("person=none",))``; regions not named get ``style``;
            ``none`` regions stay the photo. None: the whole picture. (Not with ``start`` or
            ``extra_loss``.)
        warn: called with a one-line warning where the picture is still painted; default: ignored.
        vgg, callback, start, extra_loss: as ``brushwork.gatys.optimize.stylize``.

    >>> from brushwork import stylize, StylizeConfig
    >>> result = stylize("photo.jpg", "painting.jpg", StylizeConfig(size=256))  # doctest: +SKIP
    >>> result = stylize("photo.jpg", "painting.jpg", regions=RegionConfig(
    ...     regions="auto", region=("person=none",)))  # doctest: +SKIP
    """
    if regions is None or not regions.active:
        return optimize.stylize(content, style, config, vgg=vgg, callback=callback, start=start,
                                extra_loss=extra_loss, **overrides)
    if start is not None or extra_loss is not None:
        raise ConfigError("stylize with regions takes no start picture or extra loss")
    config = config or StylizeConfig()
    if overrides:
        config = config.replace(**overrides)
    styles = [style] if isinstance(style, (Image.Image, str, os.PathLike)) else list(style)
    image = content if isinstance(content, Image.Image) else open_image(content)
    return stylize_regions(image, [s if isinstance(s, Image.Image) else open_image(s) for s in styles],
                           config, regions, callback=callback, warn=warn or _ignore, vgg=vgg,
                           content_name="the photo" if isinstance(content, Image.Image) else str(content))
