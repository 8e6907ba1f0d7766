"""Run a trained fast style network: PyTorch or ONNX, batched, large images in tiles.

A model is a ``.safetensors`` file written by ``brushwork train``, an ``.onnx`` file written by
``brushwork export`` (run through onnxruntime), or the name of a shipped model.

Large images are stylised in overlapping tiles blended with linear ramps, so memory stays
bounded. Instance norm makes a plain tiled run inconsistent (each tile would be normalised with
its own statistics, giving visible tone steps), so for PyTorch models the normalisation
statistics are first measured on the whole image downscaled to one tile and then frozen for
every tile: the net becomes purely local and tiles agree in their overlaps. When the image is
no larger than that measurement size the statistics are exact and tiled output equals untiled
output away from the seams.

Engines: ``ApplyConfig.engine`` (``auto``, ``torch``, ``onnx``) picks what runs the network; ``auto``
takes the fastest on this machine, measured once and cached (:mod:`brushwork.fast.engines`). A
``.safetensors`` model run by onnxruntime uses an ONNX copy exported once into the cache folder; its
tiled path (pictures above ``tile_above``) stays in PyTorch, which can freeze the norms' statistics.
The arbitrary-style network (``ApplyConfig.network``: brushwork's own or Magenta's) is exported once per
network with the style vector as an input, so a new painting costs one style prediction and no new network
(every cache of it, exported graphs, engine choices and folded networks, is keyed by the network);
loaded networks, sessions and style vectors are kept per process (bounded, least recently used first
out), for the CLI, the web app and batch alike.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import math
import os
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from brushwork.config import ApplyConfig
from brushwork.errors import ConfigError, ImageError
from brushwork.fast import engines
from brushwork.fast.engines import Choice
from brushwork.images import image_to_tensor, open_image, resize_longest, tensor_to_image, transfer_luminance
from brushwork.models import find_shipped, shipped_models
from brushwork.networks.arbitrary import FoldedTransfer, fold_style
from brushwork.networks.arbitrary_weights import (
    load_transfer_weights,
    network_file,
    predict_style,
    resolve_network,
)
from brushwork.networks.model_files import load_transformer
from brushwork.networks.transformer import pad_to_multiple, run_transformer
from brushwork.precision import arithmetic, native_bf16, use_bf16
from brushwork.progress import ProgressCallback, report

#: Smallest painting side accepted by the arbitrary-style path (its predictor sees 256x256).
MIN_PAINTING_SIDE = 32


# --- models ----------------------------------------------------------------------------------------
def resolve_model(ref: str | os.PathLike) -> Path:
    """A model file path, or the packaged file of a shipped model name."""
    path = Path(ref)
    if path.is_file():
        return path
    shipped = find_shipped(str(ref))
    if shipped is not None:
        return shipped.path
    names = [m.name for m in shipped_models()]
    close = difflib.get_close_matches(str(ref).lower().replace("_", "-"), names, n=1, cutoff=0.6)
    if close:
        raise ConfigError(f"{ref}: no such model file or shipped style; did you mean {close[0]}?")
    raise ConfigError(f"{ref}: no such model file or shipped style (shipped: {', '.join(names) or 'none'})")


def onnx_copy(model: str | os.PathLike | None = None, network: str | None = None) -> Path:
    """The ONNX file that ``--engine onnx`` runs for ``model`` (a file or shipped name; an ``.onnx``
    model is its own file), or with no model the arbitrary-style transfer network ``network`` (None: the
    default) with the style vector as an input: exported into the cache once per machine and network by
    :func:`model_session` / :func:`arbitrary_session`. The web page's Live mode sends these very files to
    the browser, so it paints with the same graphs."""
    if model is None:
        session = arbitrary_session(network=network)
    else:
        path = resolve_model(model)
        if path.suffix.lower() == ".onnx":
            return path
        session = model_session(path, load_transformer(path)[0])
    source = getattr(session, "_model_path", None)  # onnxruntime keeps the path of the file it read
    if not source:
        raise ConfigError("this onnxruntime does not say which file its session read")
    return Path(source)


class Stylizer:
    """A loaded model: ``batch(x)`` for same-sized images, ``large(x)`` for one image in tiles.

    ``name`` is the model file's name, ``runtime`` what runs it, ``meta`` the model's metadata
    (``style_image``, ``style_sha256``, ``steps``, ...) as strings, whatever the runtime.
    """

    name: str = "model"
    runtime: str = "torch"
    meta: dict[str, str]
    #: ``strength`` < 1 cross-fades the result with the photo (the arbitrary network mixes vectors).
    pixel_strength: bool = True
    #: ``ApplyConfig.stroke_size`` when the user gives none (None: paint at full size, one pass).
    default_stroke_size: int | None = None

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def large(self, x: torch.Tensor, config: ApplyConfig, progress: ProgressCallback | None = None
              ) -> torch.Tensor:
        return run_tiled(self.batch, x, config.tile_size, config.tile_overlap, progress)


# --- engines ---------------------------------------------------------------------------------------
def engine_candidates(engine: str, precision: str, device: torch.device | str = "cpu") -> list[str]:
    """What may run a network for ``ApplyConfig.engine``/``precision`` on ``device``, fastest-first
    measured among them when there are several (``auto``)."""
    if engine not in engines.ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(engines.ENGINES)}, got {engine!r}")
    cpu = torch.device(device).type == "cpu"
    if engine == "onnx":
        if not cpu:
            raise ConfigError(f"--engine onnx runs on the CPU; --device {device} needs --engine torch")
        if precision == "bf16":
            raise ConfigError("onnxruntime runs these networks in fp32: --precision bf16 needs "
                              "--engine torch")
        return ["onnx-fp32"]
    torch_engine = "torch-bf16" if use_bf16(precision, device) else "torch-fp32"
    if engine == "torch" or not cpu or precision == "bf16":
        return [torch_engine]
    return ["torch-bf16"] * (precision == "auto" and native_bf16()) + ["torch-fp32", "onnx-fp32"]


def choose_engine(config: ApplyConfig, model: str, runners: Callable[[], dict[str, Callable[[], object]]]
                  ) -> Choice:
    """The engine for ``config`` and ``model`` (a digest naming the network): the one asked for, or
    with ``auto`` the fastest candidate, from the per-machine cache or measured now by ``runners``."""
    candidates = engine_candidates(config.engine, config.precision, config.device)
    if len(candidates) == 1:
        return Choice(candidates[0], "asked" if config.engine != "auto" else "only", {})
    key = (model, config.threads, tuple(candidates), str(engines.cache_file()))
    with _LOCK:
        known = _CHOICES.get(key)
    if known is not None:  # this process asked already (the web app builds a stylizer per picture)
        return Choice(known.engine, "cached", known.ms)
    choice = engines.choose(model, config.threads, candidates, runners)
    with _LOCK:
        _CHOICES[key] = choice
    return choice


#: Loaded onnxruntime sessions, per (graph, threads): shared by every stylizer of the process.
_SESSIONS: OrderedDict[tuple, object] = OrderedDict()
_SESSIONS_KEPT = 8
_LOCK = threading.Lock()
#: Engine choices made in this process, per (model, threads, candidates, cache file).
_CHOICES: dict[tuple, Choice] = {}


def _kept(store: OrderedDict, key, build: Callable[[], object], keep: int):
    """``store[key]``, built on first use; least recently used entries beyond ``keep`` are dropped."""
    with _LOCK:
        if key in store:
            store.move_to_end(key)
            return store[key]
    value = build()
    with _LOCK:
        store[key] = value
        while len(store) > keep:
            store.popitem(last=False)
    return value


def model_session(path: Path, net: nn.Module, threads: int = 0):
    """onnxruntime session of a ``.safetensors`` model's ONNX copy (exported once per machine)."""
    tag = f"{engines.file_digest(path)[:24]}-model"

    def build(target: Path) -> None:
        engines.onnx_graph(net, target)

    return _kept(_SESSIONS, (tag, threads), lambda: engines.cached_session(tag, build, threads),
                 _SESSIONS_KEPT)


def arbitrary_digest(network: str | None = None) -> str:
    """What names an arbitrary network's weights in every cache (exported graphs, engine choices): the
    digest of its file (brushwork's safetensors, or the peer package's transfer graph for magenta), so a
    new weights file, or the other network, never meets the graph of the old one."""
    return engines.file_digest(network_file(network))  # remembered per (path, size, mtime)


def arbitrary_session(threads: int = 0, network: str | None = None):
    """onnxruntime session of the transfer network ``network`` (None: the default) with the style vector
    as a second input (exported once per machine and network from our float module): one session serves
    every painting. The cache file is named by the network and its file's digest."""
    network = resolve_network(network)
    tag = f"{arbitrary_digest(network)[:24]}-arbitrary-{network}-cin"

    def build(target: Path) -> None:
        engines.arbitrary_graph(target, network=network)

    return _kept(_SESSIONS, (tag, threads), lambda: engines.cached_session(tag, build, threads),
                 _SESSIONS_KEPT)


def _run_session(session, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
    padded, (h, w) = pad_to_multiple(x.float().cpu())
    feeds = {"image": padded.numpy()}
    if style is not None:
        feeds["style"] = style.float().cpu().reshape(1, style.shape[-1]).numpy()  # one style per call
    y = session.run(None, feeds)[0]
    return torch.from_numpy(y)[..., :h, :w].clamp(0, 1)


class TorchStylizer(Stylizer):
    """A ``.safetensors`` model (a TransformerNet or a folded Magenta network) run by the engine that
    ``engine`` names (see :func:`engine_candidates`; ``runtime`` says which ran: ``torch fp32``,
    ``torch bf16``, ``onnxruntime fp32``).

    On CPUs with bfloat16 units PyTorch can run the convolutions in bf16 (autocast; instance norm stays
    fp32): measured 2x faster at 640x360 on an AMX CPU, mean change 0.002 per pixel. Tiled pictures
    always run in PyTorch (frozen norm statistics; see the module docstring).
    """

    def __init__(self, path: Path, device: str = "cpu", threads: int = 0, precision: str = "fp32",
                 engine: str = "torch"):
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.threads = threads
        self.net, self.meta = load_transformer(path, self.device)
        self.name = path.name
        self.path = Path(path)
        self.session = None
        config = ApplyConfig(device=device, threads=threads, precision=precision, engine=engine)
        self._set_engine(choose_engine(config, "" if engine != "auto" else engines.file_digest(path),
                                       self._probes))

    def _set_engine(self, choice: Choice) -> None:
        if choice.engine == "onnx-fp32" and self.session is None:
            try:
                self.session = self._session()
            except Exception as exc:  # noqa: BLE001 - export or onnxruntime failed
                if choice.how == "asked":
                    raise ConfigError(f"{self.name}: cannot run in onnxruntime "
                                      f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                                      ) from None
                choice = Choice("torch-fp32", "fallback", choice.ms)  # a cached choice that fails now
        if choice.engine != "onnx-fp32":
            self.session = None
        self.choice = choice
        self.bf16 = choice.engine == "torch-bf16"
        self.runtime = choice.runtime

    def _session(self):
        return model_session(self.path, self.net, self.threads)

    def _torch(self, x: torch.Tensor, bf16: bool) -> torch.Tensor:
        with torch.no_grad(), arithmetic(bf16):
            return run_transformer(self.net, x.to(self.device)).float().cpu()

    def _probes(self) -> dict[str, Callable[[], object]]:
        """The micro-benchmark's runners, one per candidate, on one :data:`engines.PROBE_SHAPE` picture."""
        x = torch.rand(engines.PROBE_SHAPE)
        runners: dict[str, Callable[[], object]] = {
            "torch-fp32": lambda: self._torch(x, False), "torch-bf16": lambda: self._torch(x, True)}
        try:
            self.session = self._session()
            runners["onnx-fp32"] = lambda: _run_session(self.session, x, self._probe_style())
        except Exception:  # noqa: BLE001 - no ONNX copy (export or onnxruntime failed): not a candidate
            pass
        return runners

    def _probe_style(self) -> torch.Tensor | None:
        """The style vector a probe feeds the session: None for a model's own graph."""
        return None

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        if self.session is not None:
            return _run_session(self.session, x)
        return self._torch(x, self.bf16)

    @torch.no_grad()
    def large(self, x: torch.Tensor, config: ApplyConfig, progress: ProgressCallback | None = None
              ) -> torch.Tensor:
        return self._large(self.net, x, config, progress)

    def _large(self, net: nn.Module, x: torch.Tensor, config: ApplyConfig,
               progress: ProgressCallback | None = None) -> torch.Tensor:
        """Tiles through ``net`` in PyTorch with its norms' statistics frozen from a downscaled copy."""
        small = x
        if max(x.shape[-2:]) > config.stats_size:
            small = image_to_tensor(resize_longest(tensor_to_image(x), config.stats_size))
        stats: list = []
        with torch.no_grad():
            with _instance_norm_stats(net, stats, capture=True), arithmetic(self.bf16):
                net(pad_to_multiple(small.to(self.device))[0])

            def tile(piece: torch.Tensor) -> torch.Tensor:
                with arithmetic(self.bf16):
                    return run_transformer(net, piece.to(self.device)).float().cpu()

            with _instance_norm_stats(net, stats, capture=False):
                return run_tiled(tile, x, config.tile_size, config.tile_overlap, progress)


class OnnxStylizer(Stylizer):
    """An ``.onnx`` file (``brushwork export --onnx``) run by onnxruntime on the CPU; the graph takes
    any H, W that are multiples of 4 (we pad)."""

    runtime = "onnxruntime fp32"
    choice = Choice("onnx-fp32", "asked", {})

    def __init__(self, path: Path, threads: int = 0):
        try:
            self.session = engines.onnx_session(path, threads)
        except Exception as exc:
            raise ConfigError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from None
        self.input = self.session.get_inputs()[0].name
        self.meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.name = path.name

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = pad_to_multiple(x.float())
        y = self.session.run(None, {self.input: padded.numpy()})[0]
        return torch.from_numpy(y)[..., :h, :w].clamp(0, 1)


#: Style vectors of the paintings seen, by pixel digest; and folded networks, by vector and device.
_VECTORS: OrderedDict[tuple, torch.Tensor] = OrderedDict()
VECTORS_KEPT = 256
_FOLDED: OrderedDict[tuple, FoldedTransfer] = OrderedDict()
FOLDED_KEPT = 16


def style_vector(painting: Image.Image) -> torch.Tensor:
    """A painting's style vector [1, 100], remembered per process (by the pixels' digest; the
    :data:`VECTORS_KEPT` most recently used), so a web app, a batch or an evaluation that sees one
    painting many times predicts it once."""
    rgb = painting.convert("RGB")
    key = (rgb.size, hashlib.sha1(rgb.tobytes()).hexdigest())
    return _kept(_VECTORS, key, lambda: predict_style(rgb), VECTORS_KEPT)


def folded_network(vector: torch.Tensor, device: torch.device | str = "cpu", network: str | None = None
                   ) -> FoldedTransfer:
    """The transfer network ``network`` (None: the default) with ``vector`` folded in, frozen; the
    :data:`FOLDED_KEPT` most recently used are kept (per network, vector and device), so a painting seen
    again reuses its network and the other network never serves it. Shared: do not train it in place."""
    network = resolve_network(network)
    key = (network, hashlib.sha1(vector.detach().float().cpu().numpy().tobytes()).hexdigest(), str(device))

    def build() -> FoldedTransfer:
        return fold_style(load_transfer_weights(network), vector).eval().requires_grad_(False).to(device)

    return _kept(_FOLDED, key, build, FOLDED_KEPT)


class ArbitraryStylizer(TorchStylizer):
    """Any painting, no training: the arbitrary-style network ``config.network`` (brushwork's own or
    Magenta's) given the paintings' style vectors (Magenta's predictor for both).

    Several paintings are mixed by ``config.style_blend_weights`` (their vectors' weighted mean).
    ``config.strength`` works on the vector, as in Magenta: ``s·painting + (1−s)·photo's own vector``,
    so a half-strength picture is still painted (lighter), not a cross-fade with the photo. Through
    onnxruntime the vector is an input of one shared session; through PyTorch the style is folded into
    a plain network, kept per vector (again per photo when strength < 1). Constructing one is cheap:
    the vectors, networks and sessions are shared per process.
    """

    pixel_strength = False
    #: Its strokes were learnt at 256–384 px: at 1024 px direct it takes far less of the painting.
    default_stroke_size = 512

    def __init__(self, paintings: Sequence[Image.Image | str | os.PathLike], config: ApplyConfig):
        if not paintings:
            raise ConfigError("give at least one painting (--style PAINTING)")
        blend = config.style_blend_weights or (1.0,) * len(paintings)
        if len(blend) != len(paintings):
            raise ConfigError(f"{len(blend)} style blend weights for {len(paintings)} paintings")
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = torch.device(config.device)
        self.threads = config.threads
        self.network = resolve_network(config.network)
        # A missing or damaged file: its one line before any work, whatever engine runs it (cached per
        # process; a load takes milliseconds).
        load_transfer_weights(self.network)
        images = [p if isinstance(p, Image.Image) else open_image(p) for p in paintings]
        names = [Path(p).name if not isinstance(p, Image.Image) else f"painting{i + 1}"
                 for i, p in enumerate(paintings)]
        for name, image in zip(names, images):
            if min(image.size) < MIN_PAINTING_SIDE:
                raise ImageError(f"{name}: a painting of {image.width}x{image.height} pixels is too small to "
                                 f"show a style; give one at least {MIN_PAINTING_SIDE} px on each side")
        vectors = torch.cat([style_vector(im) for im in images])
        weights = torch.tensor(blend, dtype=vectors.dtype)[:, None] / sum(blend)
        self.vector = (weights * vectors).sum(0, keepdim=True)
        self.strength = config.strength
        self.name = "+".join(Path(n).stem for n in names)
        self.meta = {"style_image": names[0], "paintings": ",".join(names), "kind": "arbitrary",
                     "network": self.network}
        self.session = None
        digest = arbitrary_digest(self.network) if config.engine == "auto" else ""
        model = f"arbitrary:{self.network}:{digest}" if digest else ""
        self._set_engine(choose_engine(config, model, self._probes))
        self.runtime = f"{self.choice.runtime} (arbitrary, {self.network} network)"  # apply prints it

    @property
    def net(self) -> FoldedTransfer:
        """The paintings' (blended) style folded into a plain network (built on first use, shared)."""
        return folded_network(self.vector, self.device, self.network)

    def _session(self):
        return arbitrary_session(self.threads, self.network)

    def _probe_style(self) -> torch.Tensor:
        return self.vector  # the arbitrary graph takes the style vector as an input

    def vector_for(self, photo: torch.Tensor) -> torch.Tensor:
        """The style vector for one photo [1,3,H,W]: the paintings', moved toward the photo's own."""
        if self.strength >= 1:
            return self.vector
        return self.strength * self.vector + (1 - self.strength) * predict_style(photo)

    def _folded_for(self, photo: torch.Tensor) -> nn.Module:
        if self.strength >= 1:
            return self.net
        return fold_style(load_transfer_weights(self.network), self.vector_for(photo)).eval().requires_grad_(
            False).to(self.device)

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        if self.session is not None:
            if self.strength >= 1:
                return _run_session(self.session, x, self.vector)
            return torch.cat([_run_session(self.session, p[None], self.vector_for(p[None])) for p in x])
        if self.strength >= 1:
            return self._torch(x, self.bf16)
        with torch.no_grad(), arithmetic(self.bf16):
            return torch.cat([run_transformer(self._folded_for(p[None]), p[None].to(self.device))
                              .float().cpu() for p in x])

    @torch.no_grad()
    def large(self, x: torch.Tensor, config: ApplyConfig, progress: ProgressCallback | None = None
              ) -> torch.Tensor:
        # A network of its own: tiling rewires its norms, and the shared one may be running in another
        # thread (the web app paints several pictures at once). Folding is cheap beside a tiled picture.
        net = fold_style(load_transfer_weights(self.network), self.vector_for(x)).eval().requires_grad_(False)
        return self._large(net.to(self.device), x, config, progress)


def load_stylizer(ref: str | os.PathLike | None = None, config: ApplyConfig | None = None, *,
                  styles: Sequence[Image.Image | str | os.PathLike] | None = None) -> Stylizer:
    """The model ``ref`` (a file or a shipped name) or, with ``styles``, the arbitrary-style network
    for those paintings; ready to run with ``config``'s device, threads, engine and style settings
    (``stylizer.runtime`` names the engine that runs it, ``stylizer.choice`` how it was chosen)."""
    config = config or ApplyConfig()
    if styles:
        if ref is not None:
            raise ConfigError("give a model or paintings (--style), not both")
        return ArbitraryStylizer(styles, config)
    if ref is None:
        raise ConfigError("give a model (a file or shipped name) or a painting with --style")
    path = resolve_model(ref)
    if path.suffix.lower() == ".onnx":
        if config.engine == "torch":
            raise ConfigError(f"{path.name}: an ONNX file runs in onnxruntime; give the .safetensors model "
                              "for --engine torch")
        return OnnxStylizer(path, config.threads)
    return TorchStylizer(path, config.device, config.threads, config.precision, config.engine)


# --- tiles -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _instance_norm_stats(net: nn.Module, stats: list, capture: bool) -> Iterator[None]:
    """Capture each InstanceNorm's per-channel mean/var, or run every InstanceNorm with frozen ones."""
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]

    def make(i: int, module: nn.InstanceNorm2d):
        def forward(self, x):
            if capture:
                stats.append((x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True)))
                mean, var = stats[-1]
            else:
                mean, var = stats[i]
            y = (x - mean) * torch.rsqrt(var + self.eps)
            return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

        return types.MethodType(forward, module)

    for i, m in enumerate(norms):
        m.forward = make(i, m)
    try:
        yield
    finally:
        for m in norms:
            del m.forward


def tile_spans(length: int, tile: int, overlap: int, align: int = 4) -> list[tuple[int, int]]:
    """(start, end) of tiles covering ``length``, neighbours sharing about ``overlap`` pixels.

    Starts are multiples of ``align`` (the net's downsampling factor): a tile shifted by any other
    amount sees a different stride-2 sampling grid and gives a different picture.
    """
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    stride = (length - tile) / (count - 1)
    starts = [int(round(i * stride)) // align * align for i in range(count)]
    return [(s, min(s + tile, length) if i < count - 1 else length) for i, s in enumerate(starts)]


def _ramp(length: int, start: int, size: int, overlap: int) -> torch.Tensor:
    """Blend weights along one side of a tile.

    At an edge that borders another tile, the outer half of the overlap gets weight 0 (it is
    only context, distorted by the padding at the tile's edge) and the inner half rises linearly,
    so neighbouring tiles cross-fade where both are already far from their own edges.
    """
    w = torch.ones(size)
    if overlap >= 2:
        half = overlap / 2
        edge = ((torch.arange(overlap, dtype=torch.float32) + 0.5 - half) / half).clamp(0, 1)
        if start > 0:
            w[:overlap] = torch.minimum(w[:overlap], edge)
        if start + size < length:
            w[-overlap:] = torch.minimum(w[-overlap:], edge.flip(0))
    return w


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int,
              progress: ProgressCallback | None = None) -> torch.Tensor:
    """Apply ``fn`` to overlapping tiles of ``x`` [1, 3, H, W] and blend the results seamlessly.

    ``progress`` hears ``Progress(done, total, "tile")`` after each tile."""
    _, c, h, w = x.shape
    out = torch.zeros(1, c, h, w)
    total = torch.zeros(1, 1, h, w)
    rows, cols = tile_spans(h, tile, overlap), tile_spans(w, tile, overlap)
    done = 0
    for top, bottom in rows:
        for left, right in cols:
            th, tw = bottom - top, right - left
            piece = fn(x[..., top:bottom, left:right]).float().cpu()
            weight = _ramp(h, top, th, overlap)[:, None] * _ramp(w, left, tw, overlap)[None, :]
            out[..., top:top + th, left:left + tw] += piece * weight
            total[..., top:top + th, left:left + tw] += weight
            done += 1
            report(progress, done, len(rows) * len(cols), "tile")
    return out / total


# --- images ----------------------------------------------------------------------------------------
def finish(stylized: torch.Tensor, original: torch.Tensor, config: ApplyConfig,
           pixel_strength: bool = True) -> torch.Tensor:
    """Colour preservation, then blending with the original (``--strength``, unless the stylizer
    applied it itself)."""
    if config.preserve_colors:
        stylized = torch.cat([transfer_luminance(s[None], o[None]) for s, o in zip(stylized, original)])
    if config.strength < 1 and pixel_strength:
        stylized = config.strength * stylized + (1 - config.strength) * original
    return stylized.clamp(0, 1)


def stylize_images(stylizer: Stylizer, images: list[torch.Tensor], config: ApplyConfig,
                   progress: ProgressCallback | None = None) -> list[torch.Tensor]:
    """Stylise [1,3,H,W] tensors: large ones in tiles, the rest batched by size.

    ``progress`` hears ``Progress(done, len(images), "img")`` as images are finished."""
    results: list[torch.Tensor | None] = [None] * len(images)
    groups: dict[tuple, list[int]] = {}
    done = 0
    stroke = config.stroke_size if config.stroke_size is not None else stylizer.default_stroke_size
    if stroke != config.stroke_size:
        config = config.replace(stroke_size=stroke)
    for i, x in enumerate(images):
        if config.stroke_size and x.shape[-2] * x.shape[-1] > config.stroke_size ** 2:
            results[i] = finish(_at_stroke_size(stylizer, x, config), x, config, stylizer.pixel_strength)
            done += 1
            report(progress, done, len(images), "img")
        elif _needs_tiles(x, config):
            results[i] = finish(stylizer.large(x, config), x, config, stylizer.pixel_strength)
            done += 1
            report(progress, done, len(images), "img")
        else:
            groups.setdefault(tuple(x.shape), []).append(i)
    for indices in groups.values():
        for k in range(0, len(indices), config.batch_size):
            chunk = indices[k:k + config.batch_size]
            x = torch.cat([images[i] for i in chunk])
            y = finish(stylizer.batch(x), x, config, stylizer.pixel_strength)
            for j, i in enumerate(chunk):
                results[i] = y[j:j + 1]
            done += len(chunk)
            report(progress, done, len(images), "img")
    return results  # type: ignore[return-value]


def _needs_tiles(x: torch.Tensor, config: ApplyConfig) -> bool:
    return x.shape[-2] * x.shape[-1] > config.tile_above * 1e6


def _one(stylizer: Stylizer, x: torch.Tensor, config: ApplyConfig) -> torch.Tensor:
    """One image [1,3,H,W] straight through the network (in tiles when large)."""
    return stylizer.large(x, config) if _needs_tiles(x, config) else stylizer.batch(x)


def _at_stroke_size(stylizer: Stylizer, x: torch.Tensor, config: ApplyConfig) -> torch.Tensor:
    """Paint a large picture with the strokes it would get at ``config.stroke_size``: at the size
    whose *area* is ``stroke_size``² (a 1600x300 panorama is painted at 1182x222 with stroke size 512,
    not at 512x96 as by its long side, where the mountain dissolves; a square picture as before).

    A feed-forward network paints strokes of a fixed size in pixels, so a 2048 px photo painted
    directly gets strokes a quarter of their size at 512 px: crisp, but far less of the painting
    (measured: style ratio 0.61 at 1024 px direct against 0.09 for the peer at 384 px upscaled, on
    one pair). So the structure and colours are painted at the stroke size and upscaled,
    and ``config.detail`` of the high frequencies of a full-size pass are added back: the strokes
    keep their size relative to the picture and the result is not soft.

    The full-size pass costs (area / stroke area) times the painting itself, so it runs only above
    ``config.detail_above`` times the stroke area. Below that the upscale is at most 2x a side and
    the picture is sharp without it: at 1024x512 (1.4x a side), on 6 held-out photos x 2 paintings,
    the mean Laplacian is 2.4x the peer's without the pass (bicubic upscale), and the pass took the
    arbitrary path from 1.2x to 2.8x the peer's time (benchmarks/README.md, bench_engines).
    """
    h, w = x.shape[-2:]
    scale = config.stroke_size / math.sqrt(h * w)
    small = F.interpolate(x, size=(max(8, round(h * scale)), max(8, round(w * scale))), mode="area")
    coarse = _one(stylizer, small, config)
    if config.detail > 0 and h * w > config.detail_above * config.stroke_size ** 2:
        # up(coarse) + d·(fine − up(down(fine))) = up(coarse − d·down(fine)) + d·fine: upsampling is
        # linear, so one upsample serves both (at 1024 px that halves the resampling time).
        fine = _one(stylizer, x, config)
        coarse = coarse - config.detail * F.interpolate(fine, size=small.shape[-2:], mode="area")
        return (_upsample(coarse, (h, w)) + config.detail * fine).clamp(0, 1)
    return _upsample(coarse, (h, w)).clamp(0, 1)


def _upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic: with no full-size detail pass (``detail_above``) the upscale alone carries the
    strokes' edges. At 1024x512 on 6 held-out photos x 2 paintings it gave 2.44x the peer's mean
    Laplacian against 1.99x for bilinear, at the same style ratio; it costs ~9 ms there against 2 ms."""
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def stylize_image(stylizer: Stylizer, image: Image.Image, config: ApplyConfig) -> Image.Image:
    """One PIL image through a loaded model: resized to ``config.size`` when set, then
    ``preserve_colors`` and ``strength`` applied; returns a PIL image of the (resized) size."""
    image = image.convert("RGB")
    if config.size is not None:
        image = resize_longest(image, config.size)
    return tensor_to_image(stylize_images(stylizer, [image_to_tensor(image)], config)[0])


def paint(model: Stylizer | str | os.PathLike | None, photo: Image.Image | str | os.PathLike, *,
          styles: Sequence[Image.Image | str | os.PathLike] | None = None, size: int | None = None,
          preserve_colors: bool | None = None, strength: float | None = None,
          config: ApplyConfig | None = None) -> Image.Image:
    """Paint ``photo`` with a fast style network, the whole picture with one style.

    ``brushwork.apply`` (``regions.apply``) is this with a style per region; its docstring documents
    the arguments. Only the keywords that are given replace ``config``'s values.
    """
    given = {"size": size, "preserve_colors": preserve_colors, "strength": strength}
    config = (config or ApplyConfig()).replace(**{k: v for k, v in given.items() if v is not None})
    stylizer = model if isinstance(model, Stylizer) else load_stylizer(model, config, styles=styles)
    image = photo if isinstance(photo, Image.Image) else open_image(photo)
    return stylize_image(stylizer, image, config)
