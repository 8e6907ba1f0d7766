"""TransformerNet: architecture, any-size inference, model files."""

from __future__ import annotations

import pytest
import torch

from brushwork.errors import ConfigError
from brushwork.networks.model_files import load_transformer, read_metadata, save_transformer
from brushwork.networks.transformer import (
    TransformerNet,
    TransformerSpec,
    count_parameters,
    pad_to_multiple,
    run_transformer,
)


def test_default_net_is_johnsons_size():
    # 9x9 conv 32, stride-2 convs 64/128, 5 residual blocks of 128, upsample convs 64/32, 9x9 to RGB.
    assert count_parameters(TransformerNet()) == pytest.approx(1.68e6, rel=0.01)


def test_slim_net_is_smaller_and_same_shape():
    slim = TransformerNet(TransformerSpec(width=16, res_blocks=3))
    assert count_parameters(slim) < count_parameters(TransformerNet()) / 4
    x = torch.rand(2, 3, 32, 48)
    assert slim(x).shape == x.shape


def test_channel_plan_round_trips(tmp_path):
    spec = TransformerSpec(channels=(32, 32, 32, 8, 4))
    net = TransformerNet(spec).eval()
    assert net(torch.rand(1, 3, 16, 20)).shape == (1, 3, 16, 20)
    assert count_parameters(net) < count_parameters(TransformerNet(TransformerSpec(16, 3)))
    save_transformer(tmp_path / "m.safetensors", net, {})
    assert load_transformer(tmp_path / "m.safetensors")[0].spec.plan == (32, 32, 32, 8, 4)
    assert "channels" not in TransformerSpec().to_dict()
    with pytest.raises(ConfigError):
        TransformerSpec(channels=(32, 32, 32, 8))


def test_edge_kernel_shrinks_the_full_resolution_convolutions(tmp_path):
    plan = (8, 16, 32, 8, 4)
    nine = TransformerNet(TransformerSpec(res_blocks=3, channels=plan))
    five = TransformerNet(TransformerSpec(res_blocks=3, channels=plan, edge_kernel=5)).eval()
    assert five.down[0][0][1].kernel_size == (5, 5) and five.out[1].kernel_size == (5, 5)
    # 9x9 -> 5x5 on both edge convs: (81 - 25) * (3*8 + 4*3) fewer weights.
    assert count_parameters(nine) - count_parameters(five) == 56 * (3 * 8 + 4 * 3)
    x = torch.rand(1, 3, 20, 24)
    assert five(x).shape == x.shape
    save_transformer(tmp_path / "m.safetensors", five, {})
    loaded = load_transformer(tmp_path / "m.safetensors")[0]
    assert loaded.spec.edge_kernel == 5 and torch.equal(loaded(x), five(x))
    assert "edge_kernel" not in TransformerSpec().to_dict()  # older readers see the same file
    with pytest.raises(ConfigError, match="edge-kernel"):
        TransformerSpec(edge_kernel=4)


def test_no_transposed_convolutions_and_reflection_padding():
    net = TransformerNet(TransformerSpec(8, 1))
    kinds = {type(m).__name__ for m in net.modules()}
    assert "ConvTranspose2d" not in kinds
    assert {"ReflectionPad2d", "InstanceNorm2d"} <= kinds


@pytest.mark.parametrize("size", [(17, 23), (32, 32), (5, 9)])
def test_any_size_is_padded_and_cropped_back(size):
    torch.manual_seed(0)
    net = TransformerNet(TransformerSpec(8, 1)).eval()
    x = torch.rand(1, 3, *size)
    y = run_transformer(net, x)
    assert y.shape == x.shape
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    padded, old = pad_to_multiple(x)
    assert old == size and padded.shape[-2] % 4 == 0 and padded.shape[-1] % 4 == 0


def test_spec_validation():
    with pytest.raises(ConfigError):
        TransformerSpec(width=2)
    with pytest.raises(ConfigError):
        TransformerSpec(res_blocks=-1)


@pytest.mark.parametrize("half", [False, True])
def test_model_file_round_trip(tmp_path, half):
    torch.manual_seed(1)
    net = TransformerNet(TransformerSpec(8, 2)).eval()
    path = tmp_path / "m.safetensors"
    save_transformer(path, net, {"style_image": "x.jpg", "steps": 7}, half=half)
    loaded, meta = load_transformer(path)
    assert loaded.spec == net.spec
    assert meta["style_image"] == "x.jpg" and meta["steps"] == "7"
    assert read_metadata(path)["dtype"] == ("float16" if half else "float32")
    x = torch.rand(1, 3, 24, 24)
    tol = 2e-2 if half else 1e-6
    assert torch.allclose(loaded(x), net(x), atol=tol)


def test_loading_a_non_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors at all")
    with pytest.raises(ConfigError, match="not a safetensors"):
        load_transformer(bad)
    with pytest.raises(ConfigError, match="no such model"):
        load_transformer(tmp_path / "missing.safetensors")
