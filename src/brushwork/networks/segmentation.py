"""MediaPipe's selfie segmentation network (person vs background) in PyTorch, and its shipped weights.

Pure architecture plus one loader. The weights are MediaPipe's (Apache-2.0), converted once from the
``.tflite`` files inside the PyPI wheel ``mediapipe==0.10.14`` by ``scripts/convert_selfie_segmentation.py``
and shipped as fp16 safetensors in ``brushwork/models/segmentation/`` with their NOTICE.

Why converted weights are shipped instead of reading the wheel at run time: the wheel is 36 MB for two
250 kB files, is built for one Python (cp311) and a few platforms, pulls in mediapipe's own dependencies
(OpenCV contrib, protobuf, jax on newer releases), and later mediapipe wheels ship no ``.tflite`` at all,
so a run-time dependency would pin every user to one old wheel just to read 0.5 MB. Reading a flatbuffer
at run time would also need the ``tflite`` parser. The converted files are the same fp16 numbers the
``.tflite`` stores (its constants are fp16 already), so nothing is lost, and the parity against the
reference interpreter LiteRT is tested (``tests/test_segmentation.py``).

Architecture (read from the graph; the two files differ only in their input size)
-------------------------------------------------------------------------------------------
NHWC in the graph, NCHW here. Input RGB in [0, 1], 256x256 (``selfie_segmentation.tflite``, "general")
or 144x256 (H x W, ``selfie_segmentation_landscape.tflite``); the network is fully convolutional with
global pools, so other sizes run, but the masks are only checked at those two. Output: the person's
probability per pixel, at the input's size (sigmoid of a 2x2 stride-2 transposed convolution).

* Encoder (MobileNetV3-small-like): a 3x3 stride-2 conv 3->16 + hard-swish, then 8 bottlenecks
  (1x1 expand -> depthwise kxk -> [squeeze-excite] -> 1x1 project, + identity when the shape allows):
  ``BOTTLENECKS`` below. Convolutions use TensorFlow "SAME" padding (``SameConv``).
* Head (LR-ASPP): ``relu(conv1x1(x)) * sigmoid(conv1x1(mean(x)))`` at 1/16, bilinear x2, conv1x1.
* Decoder: three stages at 1/8, 1/4 and 1/2, each fusing the encoder's skip ``s`` with the upsampled
  ``y``: ``g = sigmoid(conv(relu(conv(mean(s + y)))))``, ``t = s·g + y``, ``t = relu(conv1x1(t))``,
  ``t = t + relu(depthwise3x3(t))``; then (not after the last) bilinear x2 (half-pixel centres, as the
  graph's RESIZE_BILINEAR) and a 1x1 conv to the next skip's channels.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from brushwork.errors import WeightsError
from brushwork.networks.arbitrary import SameConv

#: Folder of the converted weights (and their NOTICE) inside the package.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "models" / "segmentation"
#: The two variants: name -> (weights file, input height, input width).
VARIANTS = {
    "general": ("selfie_segmentation.safetensors", 256, 256),
    "landscape": ("selfie_segmentation_landscape.safetensors", 144, 256),
}
STEM = 16
#: Bottlenecks: (in, expanded, out, kernel, stride, activation, squeeze-excite width or 0).
BOTTLENECKS = (
    (16, 16, 16, 3, 2, "relu", 8),
    (16, 72, 24, 3, 2, "relu", 0),
    (24, 88, 24, 3, 1, "relu", 0),
    (24, 96, 32, 5, 2, "hswish", 24),
    (32, 128, 32, 5, 1, "hswish", 32),
    (32, 128, 32, 5, 1, "hswish", 32),
    (32, 96, 32, 5, 1, "hswish", 24),
    (32, 96, 32, 5, 1, "hswish", 24),
)
HEAD = 128
#: Decoder stages: (channels of the skip it fuses, channels after its 1x1 conv to the next stage or 0).
DECODER = ((24, 16), (16, 16), (16, 0))


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    return F.hardswish(x) if name == "hswish" else F.relu(x)


class SqueezeExcite(nn.Module):
    """``x · sigmoid(expand(relu(reduce(mean(x)))))``, per channel."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, width, 1)
        self.expand = nn.Conv2d(width, channels, 1)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, kernel: int, stride: int, act: str, se: int):
        super().__init__()
        self.act = act
        self.expand = SameConv(cin, hidden, 1)
        self.depthwise = SameConv(hidden, hidden, kernel, stride, groups=hidden)
        self.se = SqueezeExcite(hidden, se) if se else None
        self.project = SameConv(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def convs(self) -> list[nn.Conv2d]:
        se = [self.se.reduce, self.se.expand] if self.se is not None else []
        return [self.expand, self.depthwise, *se, self.project]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _act(self.act, self.depthwise(_act(self.act, self.expand(x))))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class DecoderStage(nn.Module):
    def __init__(self, channels: int, out: int):
        super().__init__()
        self.gate = SqueezeExcite(channels, channels)
        self.mix = nn.Conv2d(channels, channels, 1)
        self.depthwise = SameConv(channels, channels, 3, groups=channels)
        self.to_next = nn.Conv2d(channels, out, 1) if out else None

    def convs(self) -> list[nn.Conv2d]:
        return [self.gate.reduce, self.gate.expand, self.mix, self.depthwise,
                *([self.to_next] if self.to_next is not None else [])]

    def forward(self, skip: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = skip * self.gate.gate(skip + y) + y
        t = F.relu(self.mix(t))
        t = t + F.relu(self.depthwise(t))
        if self.to_next is not None:
            t = self.to_next(_up(t))
        return t


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class SelfieSegmentation(nn.Module):
    """Photo [N, 3, H, W] RGB in [0, 1] -> person probability [N, 1, H, W] (H, W multiples of 16)."""

    def __init__(self):
        super().__init__()
        self.stem = SameConv(3, STEM, 3, 2)
        self.blocks = nn.ModuleList(Bottleneck(*spec) for spec in BOTTLENECKS)
        last = BOTTLENECKS[-1][2]
        self.head = nn.Conv2d(last, HEAD, 1)
        self.head_gate = nn.Conv2d(last, HEAD, 1)
        self.head_out = nn.Conv2d(HEAD, DECODER[0][0], 1)
        self.decoder = nn.ModuleList(DecoderStage(c, out) for c, out in DECODER)
        self.segment = nn.ConvTranspose2d(DECODER[-1][0], 1, 2, stride=2)

    def convs(self) -> list[nn.Module]:
        """Every convolution in the order the ``.tflite`` graph runs them (what the converter maps)."""
        out: list[nn.Module] = [self.stem]
        for block in self.blocks:
            out += block.convs()
        out += [self.head, self.head_gate, self.head_out]
        for stage in self.decoder:
            out += stage.convs()
        return [*out, self.segment]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 16 or w % 16:
            raise ValueError(f"input sides must be multiples of 16, got {h}x{w}")
        x1 = F.hardswish(self.stem(x))
        skips = []
        x = x1
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in (0, 2):  # 1/4 and 1/8: the decoder's skips
                skips.append(x)
        y = F.relu(self.head(x)) * torch.sigmoid(self.head_gate(x.mean((2, 3), keepdim=True)))
        y = self.head_out(_up(y))
        for stage, skip in zip(self.decoder, (skips[1], skips[0], x1)):
            y = stage(skip, y)
        return torch.sigmoid(self.segment(y))


@functools.cache
def load_segmentation(variant: str = "general") -> SelfieSegmentation:
    """The network with its shipped weights (fp16 on disk, fp32 here), frozen; loaded once per process.

    Shared and read-only: threads may run it at once."""
    from safetensors.torch import load_file

    if variant not in VARIANTS:
        raise ValueError(f"unknown segmentation variant {variant!r}; choose {', '.join(VARIANTS)}")
    path = WEIGHTS_DIR / VARIANTS[variant][0]
    if not path.is_file():
        raise WeightsError(f"the person segmentation weights are missing ({path}); reinstall brushwork")
    net = SelfieSegmentation()
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)
