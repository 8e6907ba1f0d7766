"""Per-region measures of ``brushwork evaluate`` (``--mask FILE`` or ``--regions auto``): the all-layer
style ratio and the SSIM of each result measured inside each region of its photo, as columns
``style_ratio_all_REGION`` and ``ssim_REGION`` of results.csv.

* **Regions** are the photo's, found as ``apply`` finds them (``brushwork.regions``: the mask's flat
  colours resized to the result, or the person / background of MediaPipe's selfie segmentation), with
  hard edges (no feather): a pixel is measured in the region it belongs to.
* **Style ratio inside a region**: ``style_ratio_all`` (the result's style error / the untouched
  photo's, to the painting, relu1_1..relu5_1 of the reference VGG19 at eval-size) with each layer's Gram
  matrix taken over the region only: the guided Gram ``sum_i m_i f_i f_iᵀ / (C·sum_i m_i)``, ``m`` the
  region's weight resized to the layer (Gatys et al. 2017). With one region covering the picture it is
  ``style_ratio_all`` exactly.
* **SSIM inside a region**: the mean of scikit-image's SSIM map (7x7, RGB) over the region's pixels
  (less the border of half a window that ``ssim`` leaves out too).
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from brushwork.config import EvaluateConfig, RegionConfig
from brushwork.images import image_to_tensor, resize_to
from brushwork.losses import scale_of
from brushwork.metrics import REFERENCE_STYLE_LAYERS, ReferenceLoss, to_array
from brushwork.regions import RegionSource, guided_gram

#: The measures taken per region, each a column ``NAME_REGION``.
REGION_METRICS = ("style_ratio_all", "ssim")


def region_config(config: EvaluateConfig) -> RegionConfig | None:
    """The regions evaluate measures in (hard edges), or None without ``mask``/``regions``."""
    if not (config.mask or config.regions):
        return None
    return RegionConfig(mask=config.mask, regions=config.regions, feather=0.0, refine_edges=False)


def slug(name: str) -> str:
    """A region's part of a column name: ``person``, ``white``, ``#ff8000`` -> ``ff8000``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "region"


def region_names(regions: RegionConfig) -> list[str]:
    """Every region a photo can have (the mask's colours, or person and background); checks the mask."""
    return RegionSource(regions).names()[0]


def region_columns(names: list[str]) -> list[str]:
    return [f"{metric}_{slug(name)}" for name in names for metric in REGION_METRICS]


def _ssim_map(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's SSIM map (mean over RGB) and where ``ssim`` averages it (the map less a border of
    half a window), so the regions' SSIMs weighted by their areas there are the picture's SSIM."""
    from skimage.metrics import structural_similarity

    side = min(a.shape[0], a.shape[1])
    window = min(7, side if side % 2 else side - 1)
    _, full = structural_similarity(a, b, channel_axis=2, data_range=1.0, win_size=window, full=True)
    inside = np.zeros(full.shape[:2], np.float32)
    pad = (window - 1) // 2
    inside[pad:full.shape[0] - pad, pad:full.shape[1] - pad] = 1
    return full.mean(-1), inside


def _layer_errors(reference: ReferenceLoss, image: torch.Tensor, weight: torch.Tensor,
                  grams: dict[str, torch.Tensor]) -> dict[str, float]:
    feats = reference.vgg(image, REFERENCE_STYLE_LAYERS)
    errors = {}
    for name in REFERENCE_STYLE_LAYERS:
        f = feats[name].float()
        m = F.interpolate(weight[None, None], size=f.shape[-2:], mode="area")[0, 0].to(f)
        errors[name] = float(torch.mean((guided_gram(f, m) - grams[name]) ** 2) / scale_of(grams[name]))
    return errors


@torch.no_grad()
def measure_regions(result: Image.Image, photo: Image.Image, style: Image.Image | None,
                    regions: RegionConfig, reference: ReferenceLoss) -> dict[str, float]:
    """``{style_ratio_all_REGION, ssim_REGION}`` of one result for each region of its photo (NaN for a
    region the photo does not have, and the style ratio without a painting)."""
    source = RegionSource(regions)
    photo = resize_to(photo.convert("RGB"), *result.size)
    found = source.regions(image_to_tensor(photo))
    row = {c: math.nan for c in region_columns(source.names()[0])}
    out, base = to_array(result), to_array(photo)
    ssim_map, inside = _ssim_map(out, base)
    result_t, photo_t = reference._tensor(result), reference._tensor(photo)
    small = F.interpolate(found.weights[None], size=result_t.shape[-2:], mode="area")[0]
    grams = reference._style_grams(style) if style is not None else None
    for r, name in enumerate(found.names):
        weight = found.weights[r].numpy() * inside
        if weight.sum() < 1:
            continue
        row[f"ssim_{slug(name)}"] = float((ssim_map * weight).sum() / weight.sum())
        if grams is not None and float(small[r].sum()) > 0:
            mine = _layer_errors(reference, result_t, small[r], grams)
            before = _layer_errors(reference, photo_t, small[r], grams)
            row[f"style_ratio_all_{slug(name)}"] = sum(mine.values()) / max(sum(before.values()), 1e-12)
    return row
