"""VGG16 / VGG19 feature extractors with the layer names people use (``relu4_2``).

Only the convolutional part is built, and a forward pass stops at the deepest layer asked
for, so a style loss up to ``relu4_1`` never pays for block 5. Inputs are always RGB in
[0, 1]; each model converts them to what its weights were trained on (``preprocessing``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from brushwork.errors import ConfigError

#: Convolutions per block (blocks 1–5) and their widths.
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)

# Input conventions of the two families of published weights.
_IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
_CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
PREPROCESSINGS = ("caffe", "imagenet")


def preprocess(image: torch.Tensor, preprocessing: str) -> torch.Tensor:
    """RGB [0,1] -> the input convention of the weights. Returns a new tensor, never in place.

    caffe:    BGR, 0–255, minus the per-channel ImageNet mean (no std division).
    imagenet: RGB, 0–1, minus mean and divided by std (torchvision's convention).
    """
    if preprocessing == "caffe":
        return image.flip(1) * 255.0 - _CAFFE_MEAN_BGR.to(image)
    if preprocessing == "imagenet":
        return (image - _IMAGENET_MEAN.to(image)) / _IMAGENET_STD.to(image)
    raise ConfigError(f"unknown preprocessing {preprocessing!r}; choose from {PREPROCESSINGS}")


def layer_names(arch: str) -> list[str]:
    """All layer names of ``arch`` in order: conv1_1, relu1_1, conv1_2, ..., pool5."""
    if arch not in BLOCKS:
        raise ConfigError(f"unknown model {arch!r}; choose from {', '.join(BLOCKS)}")
    names = []
    for block, count in enumerate(BLOCKS[arch], start=1):
        for i in range(1, count + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def conv_names(arch: str) -> list[str]:
    return [name for name in layer_names(arch) if name.startswith("conv")]


def parameter_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """State-dict key -> shape, without allocating or initialising any weights."""
    with torch.device("meta"):
        return {key: tuple(t.shape) for key, t in VGGFeatures(arch).state_dict().items()}


class VGGFeatures(nn.Module):
    """The convolutional part of VGG; ``forward(image, layers)`` returns the named activations."""

    def __init__(self, arch: str = "vgg19", pooling: str = "max", preprocessing: str = "caffe"):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ConfigError(f"unknown pooling {pooling!r}; choose max or avg")
        if preprocessing not in PREPROCESSINGS:
            raise ConfigError(f"unknown preprocessing {preprocessing!r}")
        self.arch = arch
        self.pooling = pooling
        self.preprocessing = preprocessing
        self.names = layer_names(arch)
        in_channels = 3
        for block, count in enumerate(BLOCKS[arch], start=1):
            for i in range(1, count + 1):
                self.add_module(
                    f"conv{block}_{i}", nn.Conv2d(in_channels, WIDTHS[block - 1], 3, padding=1)
                )
                in_channels = WIDTHS[block - 1]

    def truncate_(self, layers: Iterable[str]) -> VGGFeatures:
        """Drop every convolution after the deepest of ``layers``: a loss up to relu5_1 never
        runs conv5_2..conv5_4, so their weights (28 MB for VGG19) need not be held at all."""
        layers = set(layers)
        self.check_layers(layers)
        last = max(self.names.index(name) for name in layers)
        for name in self.names[last + 1:]:
            if name.startswith("conv"):
                delattr(self, name)
        self.names = self.names[: last + 1]
        return self

    def channels_last_(self) -> VGGFeatures:
        """Keep weights and activations channels-last (NHWC): oneDNN then convolves without
        reordering every activation to its blocked layout and back (~7 % per Gatys step here)."""
        return self.to(memory_format=torch.channels_last)

    def check_layers(self, layers: Iterable[str]) -> None:
        unknown = [name for name in layers if name not in self.names]
        if unknown:
            raise ConfigError(
                f"unknown layer {unknown[0]!r} for {self.arch}; layers are named like "
                f"conv1_1, relu4_2, pool3 (valid: {', '.join(n for n in self.names if 'relu' in n)})"
            )

    def forward(self, image: torch.Tensor, layers: Iterable[str],
                taps: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None
                ) -> dict[str, torch.Tensor]:
        """The activations at ``layers``; ``taps[name]`` (optional) replaces the activation at
        ``name`` before the network continues from it (a loss computed in line, see losses)."""
        wanted = set(layers)
        taps = taps or {}
        self.check_layers(wanted | set(taps))
        last = max(self.names.index(name) for name in wanted | set(taps))
        # In-place ReLU halves activation memory; only unsafe when a conv output is kept.
        inplace = not any(name.startswith("conv") for name in wanted | set(taps))
        # Weights stored in bf16 (see weights.load_vgg) take bf16 inputs, with or without autocast.
        x = preprocess(image, self.preprocessing).to(self.conv1_1.weight.dtype)
        if self.conv1_1.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # see channels_last_
        features: dict[str, torch.Tensor] = {}
        for name in self.names[: last + 1]:
            if name.startswith("conv"):
                x = getattr(self, name)(x)
            elif name.startswith("relu"):
                x = F.relu(x, inplace=inplace)
            elif self.pooling == "max":
                x = F.max_pool2d(x, 2, 2, ceil_mode=False)
            else:
                x = F.avg_pool2d(x, 2, 2, ceil_mode=False)
            if name in taps:
                x = taps[name](x)
            if name in wanted:
                features[name] = x
        return features
