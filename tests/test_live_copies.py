"""Live copies (issue 24): the shipped models and brushwork's arbitrary network in the faster shape the
browser paints with (5x5 convolutions at full size, zero padding, 4 residual blocks), loadable by every
front end under their own names (``NAME-live``, ``--network brushwork-live``), so ``brushwork apply``
paints what Live paints; old model files keep Magenta's shape; a damaged shape is one line, never a
traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from brushwork.cli import main
from brushwork.errors import ConfigError, WeightsError
from brushwork.models import ARBITRARY_LIVE_FILE, find_shipped, shipped_models
from brushwork.networks import arbitrary_weights
from brushwork.networks.arbitrary import (
    LIVE_SHAPE,
    MAGENTA_SHAPE,
    ArbitraryTransfer,
    FoldedSpec,
    FoldedTransfer,
    TrunkShape,
    fold_style,
)
from brushwork.networks.model_files import load_transformer, save_transformer

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "brushwork" / "data" / "samples"


def _flops(net: torch.nn.Module, *inputs: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        net(*inputs)
    return counter.get_total_flops()


def test_the_live_shape_is_cheaper_and_keeps_the_size():
    x = torch.rand(1, 3, 60, 84)
    full, live = FoldedTransfer().eval(), FoldedTransfer(FoldedSpec(shape=LIVE_SHAPE)).eval()
    assert live.trunk.contract[0].kernel_size == (5, 5) and live.trunk.expand[2].kernel_size == (5, 5)
    assert len(live.trunk.residual) == 4 and len(live.norms) == 11 and len(full.norms) == 13
    assert live.trunk.contract[0].padding_mode == "zeros" and full.trunk.contract[0].padding_mode == "reflect"
    assert live(x).shape == full(x).shape == x.shape
    assert _flops(live, x) < 0.75 * _flops(full, x)  # 0.69: a block fewer, smaller edge kernels
    for bad in ({"edge_kernel": 4}, {"residual_blocks": 6}, {"padding": "circular"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrunkShape(**bad)


def test_folding_keeps_the_shape_of_the_network():
    net = ArbitraryTransfer(LIVE_SHAPE).eval()
    vector = torch.randn(1, 100)
    folded = fold_style(net, vector).eval()
    assert folded.spec == FoldedSpec(shape=LIVE_SHAPE)
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x, vector), atol=1e-5, rtol=0)


def test_model_files_record_the_shape_and_old_files_keep_magentas(tmp_path):
    live = FoldedTransfer(FoldedSpec(shape=LIVE_SHAPE))
    save_transformer(tmp_path / "live.safetensors", live, {"steps": "1"})
    save_transformer(tmp_path / "full.safetensors", FoldedTransfer(), {"steps": "1"})
    with safe_open(str(tmp_path / "full.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["architecture"]) == {"kind": "magenta"}  # as every earlier file
    with safe_open(str(tmp_path / "live.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["architecture"]) == {"kind": "magenta", "edge_kernel": 5,
                                                            "residual_blocks": 4, "padding": "zeros"}
    loaded, _ = load_transformer(tmp_path / "live.safetensors")
    assert loaded.spec.shape == LIVE_SHAPE
    assert load_transformer(tmp_path / "full.safetensors")[0].spec.shape == MAGENTA_SHAPE
    # a shape this version cannot build is one line naming the file
    tensors = load_file(str(tmp_path / "live.safetensors"))
    with safe_open(str(tmp_path / "live.safetensors"), framework="pt") as f:
        meta = dict(f.metadata())
    meta["architecture"] = json.dumps({"kind": "magenta", "edge_kernel": 11})
    save_file(tensors, str(tmp_path / "odd.safetensors"), metadata=meta)
    with pytest.raises(ConfigError, match="odd.safetensors: unknown architecture"):
        load_transformer(tmp_path / "odd.safetensors")


def test_every_shipped_model_has_its_live_copy_under_its_name():
    models = shipped_models()
    assert models and all(m.live is not None for m in models), [m.name for m in models if m.live is None]
    copy = find_shipped("starry-night-live")
    assert copy is not None and copy.path == models[0].live.path and copy.live is None
    assert find_shipped("starry_night_live") == copy
    assert find_shipped("nothing-live") is None
    net, meta = load_transformer(copy.path)
    assert net.spec.shape == LIVE_SHAPE and meta["live_of"] == "starry-night"
    assert copy.name not in {m.name for m in models}  # the galleries list each painting once


def test_the_arbitrary_live_network_loads_by_name_and_a_damaged_one_is_one_line(tmp_path, monkeypatch):
    assert ARBITRARY_LIVE_FILE.is_file()
    net = arbitrary_weights.load_transfer_weights("brushwork-live")
    assert net.trunk.shape == LIVE_SHAPE
    assert arbitrary_weights.load_transfer_weights("brushwork").trunk.shape == MAGENTA_SHAPE
    bad = tmp_path / "brushwork-live.safetensors"
    with safe_open(str(ARBITRARY_LIVE_FILE), framework="pt") as f:
        meta = dict(f.metadata())
    tensors = load_file(str(ARBITRARY_LIVE_FILE))
    save_file(tensors, str(bad), metadata={k: v for k, v in meta.items() if k != "shape"})  # Magenta's
    with pytest.raises(WeightsError, match="brushwork-live.safetensors: .*(missing|shape).*network magenta"):
        arbitrary_weights.brushwork_state_dict(bad)
    save_file(tensors, str(bad), metadata={**meta, "shape": '{"residual_blocks": 0}'})
    with pytest.raises(WeightsError, match="brushwork-live.safetensors: its shape .* cannot be built"):
        arbitrary_weights.brushwork_state_dict(bad)


@pytest.mark.slow
def test_apply_paints_with_the_live_copies(tmp_path):
    photo = tmp_path / "photo.png"
    Image.open(SAMPLES / "canyon.jpg").convert("RGB").resize((96, 64)).save(photo)
    outputs = {}
    runs = {"full": ["starry-night"], "live": ["starry-night-live"],
            "arbitrary": ["--style", str(SAMPLES / "great_wave.jpg"), "--network", "brushwork-live"]}
    for name, args in runs.items():
        target = tmp_path / f"{name}.png"
        assert main(["apply", *args, str(photo), "-o", str(target), "-q"]) == 0
        outputs[name] = np.asarray(Image.open(target).convert("RGB"), np.float64)
    assert np.abs(outputs["full"] - outputs["live"]).mean() > 0.5  # another network ...
    assert np.abs(outputs["live"] - np.asarray(Image.open(photo), np.float64)).mean() > 10  # ... painting
