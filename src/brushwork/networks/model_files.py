"""Model files of the fast networks: safetensors weights plus string metadata (format version,
architecture, training record). Versioned so that an old file keeps loading after an upgrade.

Two architectures share the format: ``TransformerNet`` (Johnson et al.; ``architecture`` holds its
``TransformerSpec``) and ``FoldedTransfer`` (Magenta's network with one style folded in;
``architecture`` is ``{"kind": "magenta"}``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from brushwork.errors import ConfigError
from brushwork.fileio import atomic_path
from brushwork.networks.arbitrary import FoldedSpec, FoldedTransfer
from brushwork.networks.transformer import TransformerNet, TransformerSpec

#: ``format`` metadata value of a brushwork TransformerNet file.
MODEL_FORMAT = "brushwork-transformer-1"


def save_transformer(path, model: TransformerNet | FoldedTransfer, metadata: dict,
                     half: bool = False) -> None:
    """Write weights (fp32, or fp16 for shipping) and string metadata atomically as safetensors."""
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    meta.update(format=MODEL_FORMAT, architecture=json.dumps(model.spec.to_dict()),
                dtype="float16" if half else "float32")
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
        tmp.chmod(0o644)  # safetensors creates its file 0600; models are meant to be shared


def read_metadata(path) -> dict[str, str]:
    """The metadata of a model file (no weights loaded)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises several types for a bad header
        raise ConfigError(f"{path}: not a safetensors model file ({exc})") from None


def load_transformer(path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, str]]:
    """Rebuild the net (a TransformerNet, or a FoldedTransfer for ``kind: magenta``) from a model file
    written by ``save_transformer``; float32, eval mode."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such model file")
    meta = read_metadata(path)
    if meta.get("format") != MODEL_FORMAT:
        raise ConfigError(f"{path}: not a brushwork TransformerNet file (no '{MODEL_FORMAT}' metadata)")
    architecture = json.loads(meta["architecture"])
    if architecture.get("kind") == FoldedSpec.kind:  # a per-style model fine-tuned from Magenta's network
        try:
            model: nn.Module = FoldedTransfer(FoldedSpec.from_dict(architecture))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: unknown architecture {architecture} ({exc})") from None
    else:
        model = TransformerNet(TransformerSpec(**architecture))
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"{path}: weights do not match the stored architecture ({exc})") from None
    return model.eval().requires_grad_(False).to(device), meta
