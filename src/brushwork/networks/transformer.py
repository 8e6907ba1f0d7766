"""TransformerNet of Johnson et al., "Perceptual Losses for Real-Time Style Transfer" (2016).

One forward pass paints a photo in the one style the net was trained on. Architecture
(defaults = the paper's, with the usual fixes): 9x9 conv (width), two 3x3 stride-2 convs
(2·width, 4·width), ``res_blocks`` residual blocks of 4·width, two upsample-then-convolve
stages (2·width, width) and a 9x9 conv to RGB. Reflection padding everywhere (no dark borders)
and instance norm (Ulyanov et al.), nearest-neighbour upsampling followed by a convolution
instead of transposed convolutions (no checkerboard artefacts, Odena et al. 2016).

Input and output are RGB in [0, 1]; the output is not squashed during training (a sigmoid or
tanh saturates and slows learning) and is clamped when turned into an image. Height and width
should be multiples of 4 (``pad_to_multiple`` does that); any size works in one call of
``run_transformer``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from brushwork.errors import ConfigError

#: The net halves the size twice, so sides must be multiples of this.
SIZE_MULTIPLE = 4


@dataclass(frozen=True)
class TransformerSpec:
    """The shape of a TransformerNet; stored in model metadata so a file rebuilds its net."""

    width: int = 32
    res_blocks: int = 5
    #: Explicit channel plan (9x9 conv, stride-2 conv, stride-2 conv = residual width, upsample 1,
    #: upsample 2); None = (w, 2w, 4w, 2w, w) from ``width``. A narrow upsampling path such as
    #: (32, 32, 32, 8, 4) puts little work at full resolution (the Magenta networks do this).
    channels: tuple[int, int, int, int, int] | None = None
    #: Kernel of the first and the last convolution, the two that run at full resolution on only
    #: 3 colour channels (9 in the paper). On a CPU they dominate a narrow net's time; 5 is ~3x cheaper.
    edge_kernel: int = 9

    def __post_init__(self) -> None:
        if not 4 <= self.width <= 256:
            raise ConfigError(f"width must be between 4 and 256, got {self.width}")
        if not 0 <= self.res_blocks <= 32:
            raise ConfigError(f"res-blocks must be between 0 and 32, got {self.res_blocks}")
        if self.edge_kernel not in (1, 3, 5, 7, 9):
            raise ConfigError(f"edge-kernel must be 1, 3, 5, 7 or 9, got {self.edge_kernel}")
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
            if len(self.channels) != 5 or not all(1 <= c <= 512 for c in self.channels):
                raise ConfigError(f"channels must be 5 numbers between 1 and 512, got {self.channels}")

    @property
    def plan(self) -> tuple[int, int, int, int, int]:
        w = self.width
        return self.channels or (w, 2 * w, 4 * w, 2 * w, w)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if self.channels is None:
            del data["channels"]  # files stay readable by the simpler spec
        else:
            data["channels"] = list(self.channels)
        if self.edge_kernel == 9:
            del data["edge_kernel"]
        return data


class ConvLayer(nn.Sequential):
    """Reflection pad + conv: same-size output for stride 1, no zero border to learn around."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


class ConvNormReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(ConvLayer(cin, cout, kernel, stride), nn.InstanceNorm2d(cout, affine=True),
                         nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """conv-IN-ReLU-conv-IN plus identity (He et al.; no ReLU after the sum, as in Gross & Wilber)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormReLU(channels, channels, 3),
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then conv-IN-ReLU: checkerboard-free upsampling."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ConvNormReLU(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformerNet(nn.Module):
    def __init__(self, spec: TransformerSpec | None = None):
        super().__init__()
        self.spec = spec or TransformerSpec()
        c1, c2, c3, u1, u2 = self.spec.plan
        self.down = nn.Sequential(
            ConvNormReLU(3, c1, self.spec.edge_kernel),
            ConvNormReLU(c1, c2, 3, stride=2),
            ConvNormReLU(c2, c3, 3, stride=2),
        )
        self.res = nn.Sequential(*(ResidualBlock(c3) for _ in range(self.spec.res_blocks)))
        self.up = nn.Sequential(Upsample(c3, u1), Upsample(u1, u2))
        self.out = ConvLayer(u2, 3, self.spec.edge_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [0, 1] -> [N, 3, H, W], roughly [0, 1] (unclamped); H, W multiples of 4."""
        return self.out(self.up(self.res(self.down(x))))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pad_to_multiple(x: torch.Tensor, multiple: int = SIZE_MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflection-pad the bottom/right so H and W are multiples of ``multiple``; returns the old size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


@torch.no_grad()
def run_transformer(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``model`` on any-sized images: pad to a multiple of 4, crop back, clamp to [0, 1]."""
    padded, (h, w) = pad_to_multiple(x)
    return model(padded)[..., :h, :w].clamp(0, 1)
