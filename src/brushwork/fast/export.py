"""Copies of a trained model for other runtimes: ONNX (onnxruntime, any H and W) and fp16 safetensors."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from brushwork.config import ApplyConfig
from brushwork.fast.inference import ArbitraryStylizer, resolve_model
from brushwork.fileio import atomic_path
from brushwork.networks.model_files import load_transformer, save_transformer

#: Model metadata copied into the ONNX file (readable through onnxruntime's custom_metadata_map).
ONNX_METADATA = ("style_image", "paintings", "steps", "architecture", "loss_network", "date")


def export_style_model(paintings: Sequence[str | os.PathLike], blend: Sequence[float] | None = None
                       ) -> tuple[torch.nn.Module, dict[str, str]]:
    """Magenta's network with the paintings' (blended) style folded in, and its metadata: what
    ``export_onnx``/``export_half`` write for ``brushwork export --style``."""
    stylizer = ArbitraryStylizer(paintings, ApplyConfig(style_blend_weights=tuple(blend) if blend else None))
    return stylizer.net, {**stylizer.meta, "steps": "0"}


def _model(model: str | os.PathLike | tuple[torch.nn.Module, dict[str, str]]):
    return model if isinstance(model, tuple) else load_transformer(resolve_model(model))


def export_onnx(model: str | os.PathLike | tuple[torch.nn.Module, dict[str, str]], target: str | os.PathLike,
                opset: int = 17) -> Path:
    """ONNX graph with dynamic batch, height and width, metadata copied. ``model``: a file, a shipped
    name, or a (network, metadata) pair such as ``export_style_model`` returns."""
    net, meta = _model(model)
    target = Path(target)
    dummy = torch.rand(1, 3, 64, 64)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (dummy,), str(tmp), dynamo=False, input_names=["image"],
                          output_names=["stylized"], dynamic_axes={"image": axes, "stylized": axes},
                          opset_version=opset)
        proto = onnx.load(str(tmp))
        for key in ONNX_METADATA:
            if key in meta:
                proto.metadata_props.add(key=key, value=meta[key])
        proto.metadata_props.add(key="note", value="RGB [0,1] in, H and W multiples of 4; clamp output")
        onnx.save(proto, str(tmp))
    return target


def export_half(model: str | os.PathLike | tuple[torch.nn.Module, dict[str, str]],
                target: str | os.PathLike) -> Path:
    """fp16 copy of a model (half the size; what the package ships)."""
    net, meta = _model(model)
    keep = {k: v for k, v in meta.items() if k not in ("format", "architecture", "dtype")}
    save_transformer(target, net, keep, half=True)
    return Path(target)
