"""Copies of a trained model for other runtimes: ONNX (onnxruntime, any H and W) and fp16 safetensors."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import onnx
import torch

from brushwork.fast.inference import resolve_model
from brushwork.fileio import atomic_path
from brushwork.networks.model_files import load_transformer, save_transformer

#: Model metadata copied into the ONNX file (readable through onnxruntime's custom_metadata_map).
ONNX_METADATA = ("style_image", "steps", "architecture", "loss_network", "date")


def export_onnx(model: str | os.PathLike, target: str | os.PathLike, opset: int = 17) -> Path:
    """ONNX graph with dynamic batch, height and width (multiples of 4), metadata copied."""
    path = resolve_model(model)
    net, meta = load_transformer(path)
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


def export_half(model: str | os.PathLike, target: str | os.PathLike) -> Path:
    """fp16 copy of a model file (half the size; what the package ships)."""
    net, meta = load_transformer(resolve_model(model))
    keep = {k: v for k, v in meta.items() if k not in ("format", "architecture", "dtype")}
    save_transformer(target, net, keep, half=True)
    return Path(target)
