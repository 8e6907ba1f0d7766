"""Synthetic motion for the temporal training term (``TrainConfig.temporal_weight``).

A feed-forward network flickers on video because it is not equivariant to small motion: moving
the photo by a pixel moves the strokes by something else. ReCoNet (Gao et al. 2018) and Gupta et al.
(2017, "Characterizing and improving stability in neural style transfer") train against that with
a loss between the output on a frame and the output on the next one, warped by the flow. Without a
video dataset, the next frame is made from the photo itself: a small random shift, rotation and zoom
(a known affine flow) plus a slight brightness change and noise. The loss is the mean square of
``affine_warp(f(x)) − f(affine_warp(x))`` over the pixels that the warp keeps inside the photo (a border of
``BORDER`` px more is left out: there the network sees the frame's edge at a different place).

Random draws come from a generator the caller seeds from (seed, step, ...), like the crops, so a
resumed run moves every photo exactly as an uninterrupted one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Largest shift in pixels (each axis), rotation in degrees and zoom (±share) of one synthetic move;
#: of the order of a video's motion between frames (the benchmark clip pans 2–3 px, zooms 1.5 %).
MAX_SHIFT = 4.0
MAX_ROTATION = 1.0
MAX_ZOOM = 0.02
#: Largest brightness gain change (±share) and the noise (standard deviation, [0, 1] pixels).
MAX_GAIN = 0.03
NOISE = 0.01
#: Pixels next to a border the warp brought in that are left out of the loss as well.
BORDER = 4


@dataclass
class SyntheticMotion:
    """One move per photo of a batch: ``theta`` [N, 2, 3] (``affine_grid``: output pixel -> source,
    normalised coordinates), brightness ``gain`` [N, 1, 1, 1] and ``noise`` [N, 3, H, W]."""

    theta: torch.Tensor
    gain: torch.Tensor
    noise: torch.Tensor

    def to(self, device: torch.device | str) -> SyntheticMotion:
        return SyntheticMotion(self.theta.to(device), self.gain.to(device), self.noise.to(device))


def affine_theta(shift: tuple[float, float], degrees: float, zoom: float, size: tuple[int, int]
                 ) -> torch.Tensor:
    """[2, 3] ``affine_grid`` matrix: output pixel p (from the centre) samples the source at
    ``R(degrees)·p / zoom + shift`` (pixels), written in the normalised coordinates of an H×W image."""
    h, w = size
    a = math.radians(degrees)
    rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64) / zoom
    to_norm = torch.diag(torch.tensor([2.0 / w, 2.0 / h], dtype=torch.float64))
    linear = to_norm @ rot @ torch.linalg.inv(to_norm)
    offset = to_norm @ torch.tensor(shift, dtype=torch.float64)
    return torch.cat([linear, offset[:, None]], dim=1).float()


def draw_motion(batch: int, size: tuple[int, int], gen: torch.Generator) -> SyntheticMotion:
    """``batch`` random moves for H×W images, every number drawn from ``gen`` (in a fixed order)."""
    u = torch.rand(batch, 5, generator=gen, dtype=torch.float64) * 2 - 1  # shift x, y, rotation, zoom, gain
    noise = torch.randn(batch, 3, *size, generator=gen) * NOISE
    theta = torch.stack([affine_theta((float(r[0]) * MAX_SHIFT, float(r[1]) * MAX_SHIFT),
                                      float(r[2]) * MAX_ROTATION, 1 + float(r[3]) * MAX_ZOOM, size)
                         for r in u])
    gain = (1 + u[:, 4] * MAX_GAIN).float().view(batch, 1, 1, 1)
    return SyntheticMotion(theta, gain, noise)


def affine_warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Images [N, C, H, W] moved by ``theta`` (bilinear; zeros where the source is outside)."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def valid_region(theta: torch.Tensor, size: tuple[int, int], border: int = BORDER) -> torch.Tensor:
    """[N, 1, H, W] bool: pixels of the moved image whose source lies inside the photo, at least
    ``border`` px away from anything the move brought in and from the frame's edge."""
    ones = torch.ones(theta.shape[0], 1, *size, dtype=theta.dtype, device=theta.device)
    inside = (affine_warp(ones, theta) > 0.999).to(theta.dtype)
    if border > 0:  # erode (a min-filter; outside the frame counts as invalid)
        padded = F.pad(inside, (border,) * 4, value=0.0)
        inside = -F.max_pool2d(-padded, 2 * border + 1, stride=1)
    return inside > 0.5


def moved_photos(photos: torch.Tensor, motion: SyntheticMotion) -> torch.Tensor:
    """The "next frame": the photos moved, their brightness changed and noise added, in [0, 1]."""
    return (affine_warp(photos, motion.theta) * motion.gain + motion.noise).clamp(0, 1)


def temporal_loss(output: torch.Tensor, moved_output: torch.Tensor, theta: torch.Tensor,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean square of ``affine_warp(output) − moved_output`` over the valid pixels and channels: 0 for a
    network whose output moves exactly as its input does."""
    if valid is None:
        valid = valid_region(theta, tuple(output.shape[-2:]))
    mask = valid.to(output.dtype)
    squared = (affine_warp(output, theta) - moved_output) ** 2 * mask
    return squared.sum() / (mask.sum() * output.shape[1]).clamp_min(1)
