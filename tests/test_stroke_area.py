"""Stroke size follows the picture's area, not its long side (issue 21): a 1600x300 panorama keeps its
structure instead of being painted at 512x96."""

from __future__ import annotations

import torch

from brushwork.config import ApplyConfig
from brushwork.fast.inference import Stylizer, stylize_images


class Recorder(Stylizer):
    """A stand-in network that remembers the sizes it paints at (and returns the picture)."""

    default_stroke_size = 512

    def __init__(self):
        self.meta, self.sizes = {}, []

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        return x


def _sizes(h: int, w: int, **config) -> list[tuple[int, int]]:
    net = Recorder()
    (out,) = stylize_images(net, [torch.rand(1, 3, h, w)], ApplyConfig(**config))
    assert out.shape[-2:] == (h, w)
    return net.sizes


def test_panorama_is_painted_at_the_stroke_size_area():
    # 1600x300 = 0.48 MP: painted at 512^2 = 0.26 MP of area (1182x222); by the long side it was
    # 512x96, where a mountain is a few strokes. Under 4x the stroke area (detail_above) in that one
    # pass, upscaled; with the full-size detail pass when asked, or for a picture over 4x the area.
    (coarse,) = _sizes(300, 1600)
    assert abs(coarse[0] * coarse[1] - 512 * 512) < 0.01 * 512 * 512 and coarse == (222, 1182)
    assert _sizes(300, 1600, detail_above=1.0) == [(222, 1182), (300, 1600)]
    assert _sizes(1024, 2048) == [(362, 724), (1024, 2048)]  # 2.1 MP: 8x the stroke area
    assert _sizes(1600, 300)[0] == (1182, 222)  # a tall picture the same way
    # A square picture as before (1024 -> 512); one under 512^2 of area in one pass at full size,
    # even when its long side is over 512.
    assert _sizes(1024, 1024)[0] == (512, 512)
    assert _sizes(300, 800) == [(300, 800)]
    assert _sizes(300, 1600, stroke_size=0) == [(300, 1600)]
