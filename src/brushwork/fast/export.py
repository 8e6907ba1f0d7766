"""Copies of a trained model for other runtimes: ONNX (onnxruntime, any H and W) and fp16 safetensors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from brushwork.config import ApplyConfig
from brushwork.fast.engines import arbitrary_graph, onnx_graph
from brushwork.fast.inference import ArbitraryStylizer, resolve_model
from brushwork.networks.model_files import load_transformer, save_transformer

#: Model metadata copied into the ONNX file (readable through onnxruntime's custom_metadata_map).
ONNX_METADATA = ("style_image", "paintings", "steps", "architecture", "loss_network", "date", "network")


def export_style_model(paintings: Sequence[str | os.PathLike], blend: Sequence[float] | None = None,
                       network: str | None = None) -> tuple[torch.nn.Module, dict[str, str]]:
    """The arbitrary-style network ``network`` (None: the default) with the paintings' (blended) style
    folded in, and its metadata (``network`` names the one it started from): what
    ``export_onnx``/``export_half`` write for ``brushwork export --style``."""
    config = ApplyConfig(style_blend_weights=tuple(blend) if blend else None, engine="torch")
    stylizer = ArbitraryStylizer(paintings, config if network is None else config.replace(network=network))
    return stylizer.net, {**stylizer.meta, "steps": "0"}


def _model(model: str | os.PathLike | tuple[torch.nn.Module, dict[str, str]]):
    return model if isinstance(model, tuple) else load_transformer(resolve_model(model))


def export_onnx(model: str | os.PathLike | tuple[torch.nn.Module, dict[str, str]], target: str | os.PathLike,
                opset: int = 17) -> Path:
    """ONNX graph with dynamic batch, height and width, metadata copied. ``model``: a file, a shipped
    name, or a (network, metadata) pair such as ``export_style_model`` returns."""
    net, meta = _model(model)
    keep = {key: meta[key] for key in ONNX_METADATA if key in meta}
    keep["note"] = "RGB [0,1] in, H and W multiples of 4; clamp output"
    return onnx_graph(net, target, keep, opset)


def export_arbitrary_onnx(target: str | os.PathLike, opset: int = 17, network: str | None = None) -> Path:
    """The arbitrary-style network ``network`` (None: the default) as ONNX with the style vector as a
    second input (``image``, ``style`` [N or 1, 100]): what ``--engine onnx`` runs for ``apply --style``."""
    return arbitrary_graph(target, opset, network)


def export_half(model: str | os.PathLike | tuple[torch.nn.Module, dict[str, str]],
                target: str | os.PathLike) -> Path:
    """fp16 copy of a model (half the size; what the package ships)."""
    net, meta = _model(model)
    keep = {k: v for k, v in meta.items() if k not in ("format", "architecture", "dtype")}
    save_transformer(target, net, keep, half=True)
    return Path(target)
