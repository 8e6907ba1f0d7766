"""Which engine runs a fast network on this machine, and the settings that keep it fast on a busy CPU.

Candidates (``ApplyConfig.engine``: ``auto``, ``torch`` or ``onnx``):

* ``torch-fp32``: PyTorch eager, oneDNN convolutions.
* ``torch-bf16``: the same under bf16 autocast; a candidate only where the CPU multiplies bfloat16 in
  hardware (:func:`brushwork.precision.native_bf16`; elsewhere it is emulated and many times slower).
* ``onnx-fp32``: the network exported to ONNX (once per machine, kept in the cache folder) and run by
  onnxruntime, which fuses the instance norms, paddings and ReLUs that PyTorch runs one by one.

onnxruntime int8 is not a candidate. The peer's graphs are int8, but onnxruntime's u8s8 convolution
kernels saturate at int16 on AVX2 CPUs without VNNI (see ``predictor_session`` in
:mod:`brushwork.networks.arbitrary_weights`): a quantised picture would look different on a laptop
from the one on a server, and the 2/255 bound on the mean pixel change was not shown to hold.

``auto`` times the candidates once on a 512 px picture (:data:`PROBE_SHAPE`; under a second) and keeps
the winner in ``<cache>/engines.json``, keyed by the CPU (model, flags, oneDNN/ATen ISA limits), the
torch and onnxruntime versions, the thread count and the model file's SHA-256. A cache that is
unreadable, of another format or names an unknown engine is measured again and rewritten, never an
error. This module imports neither torch nor onnxruntime at import time, so ``brushwork models`` can
show a cached choice as fast as ``--help``.

Threads on a shared CPU: PyTorch's OpenMP threads spin-wait between parallel regions, and when another
process holds a core the spinning thread steals the time its partner needs: measured here (2 threads,
a second process busy on both cores) a 512 px pass went from 0.3 s to 1.5-3.4 s. :func:`quiet_openmp`
makes them sleep instead (``OMP_WAIT_POLICY=PASSIVE``); it must run before torch is imported, so the
package's ``__init__`` calls it. onnxruntime's own pool is told not to spin either
(``session.intra_op.allow_spinning = 0``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from brushwork.fileio import atomic_path, atomic_write_text, cache_dir, sha256_file

#: ``ApplyConfig.engine`` values.
ENGINES = ("auto", "torch", "onnx")
#: What can run a network (see the module docstring).
CANDIDATES = ("torch-fp32", "torch-bf16", "onnx-fp32")
#: Version of the cache file's layout; another version is measured again.
CACHE_FORMAT = 1
CACHE_NAME = "engines.json"
#: Entries kept in the cache (oldest dropped): one per model, machine setting and thread count.
CACHE_ENTRIES = 128
#: The micro-benchmark's input: one 512 px landscape picture, [N, C, H, W].
PROBE_SHAPE = (1, 3, 256, 512)
#: Timed runs of each candidate, interleaved, after one warm-up; the median decides.
PROBE_REPS = 3
#: A candidate this many times slower than the fastest after a round is not timed again.
DROP_RATIO = 1.5
#: How long a process waits for another one's measurement of the same machine before measuring anyway
#: (a measurement takes 1-3 s; a holder that hangs never blocks a run).
LOCK_WAIT_S = 60.0
#: OpenMP settings applied before torch loads, unless the user set them (see :func:`quiet_openmp`).
OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


def quiet_openmp(environ: dict | None = None) -> bool:
    """Make OpenMP threads sleep, not spin, between parallel regions (``OMP_WAIT_POLICY=PASSIVE``;
    ``KMP_BLOCKTIME=0`` for Intel's runtime), unless the variables are set already.

    Only effective before torch is imported (OpenMP reads them once, when it loads): returns whether
    torch was still unloaded. ``BRUSHWORK_OPENMP=default`` leaves OpenMP's own defaults.
    """
    environ = os.environ if environ is None else environ
    if environ.get("BRUSHWORK_OPENMP", "") == "default":
        return False
    for key, value in OPENMP_DEFAULTS.items():
        environ.setdefault(key, value)
    return "torch" not in sys.modules


def ort_options(threads: int = 0):
    """onnxruntime session options for our CPU sessions: ``threads`` intra-op threads (0: its default),
    one inter-op thread, quiet logs, and no spin-waiting (it costs a busy machine more than it saves)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


# --- the machine -----------------------------------------------------------------------------------
def _cpuinfo() -> tuple[str, str]:
    """CPU model name and feature flags (Linux ``/proc/cpuinfo``; elsewhere what ``platform`` knows)."""
    model, flags = "", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = " ".join(sorted(value.split()))
                if model and flags:
                    break
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def cpu_model() -> str:
    return _cpuinfo()[0]


#: The CPU features that decide which kernels run (AVX2 laptops against AVX-512/AMX servers).
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16")


def cpu_features() -> list[str]:
    """Which of ``SPEED_FLAGS`` this CPU has, for benchmarks' headers."""
    flags = set(_cpuinfo()[1].split())
    return [f for f in SPEED_FLAGS if f in flags]


def _version(package: str) -> str:
    from importlib import metadata  # not at import time: the package's __init__ imports this module

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def resolved_threads(threads: int) -> int:
    """``ApplyConfig.threads`` as a count: 0 is the runtimes' default, one thread per core."""
    return threads or os.cpu_count() or 1


def fingerprint(threads: int = 0) -> dict[str, str | int]:
    """What an engine's speed depends on besides the model: CPU, ISA limits, versions, threads."""
    model, flags = _cpuinfo()
    return {"cpu": model, "flags": hashlib.sha1(flags.encode()).hexdigest()[:16],
            "machine": platform.machine(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", ""),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "torch": _version("torch"), "onnxruntime": _version("onnxruntime"),
            "threads": resolved_threads(threads)}


_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a model file, remembered per (path, size, mtime) for the process."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


# --- the cache -------------------------------------------------------------------------------------
def cache_file() -> Path:
    return cache_dir() / CACHE_NAME


def entry_key(model: str, threads: int = 0) -> str:
    """Cache key of one model (its digest, or a name such as ``arbitrary:<digest>``) on this machine."""
    text = json.dumps({"model": model, **fingerprint(threads)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def read_cache(path: Path | None = None) -> dict[str, dict]:
    """The cache's entries; {} for a missing, unreadable or foreign file (it is rewritten later)."""
    path = path or cache_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not isinstance(
            data.get("entries"), dict):
        return {}
    return {k: v for k, v in data["entries"].items() if _valid(v)}


def _valid(entry) -> bool:
    return isinstance(entry, dict) and entry.get("engine") in CANDIDATES and isinstance(entry.get("ms"), dict)


def cached_engine(model: str, threads: int = 0) -> dict | None:
    """The stored measurement of ``model`` on this machine (``engine``, ``ms`` per candidate, ...)."""
    return read_cache().get(entry_key(model, threads))


def store(model: str, threads: int, entry: dict) -> None:
    """Add one measurement to the cache (best effort: a read-only cache folder is not an error)."""
    path = cache_file()
    entries = read_cache(path)
    entries.pop(entry_key(model, threads), None)
    entries[entry_key(model, threads)] = entry
    while len(entries) > CACHE_ENTRIES:
        entries.pop(next(iter(entries)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"format": CACHE_FORMAT, "entries": entries}, indent=1) + "\n")
    except OSError:
        pass


# --- choosing --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """The engine that runs a model: ``engine`` (a :data:`CANDIDATES` name), how it was chosen
    (``asked`` by ``--engine``/``--precision``, ``measured`` now, ``cached`` from an earlier
    measurement, ``only`` candidate left) and the micro-benchmark's milliseconds per candidate."""

    engine: str
    how: str
    ms: dict[str, float]

    @property
    def runtime(self) -> str:
        """How ``apply`` and ``models`` name it: ``onnxruntime fp32``, ``torch bf16``, ..."""
        kind, precision = self.engine.split("-")
        return f"{'onnxruntime' if kind == 'onnx' else 'torch'} {precision}"

    def describe(self) -> str:
        timing = ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(self.ms.items(), key=lambda kv: kv[1]))
        return f"{self.runtime}, {self.how}" + (f" ({timing} at {PROBE_SHAPE[3]} px)" if timing else "")


def measure(runners: dict[str, Callable[[], object]], reps: int = PROBE_REPS) -> dict[str, float]:
    """Median milliseconds of each runner: one warm-up each, then up to ``reps`` rounds in turn (so every
    candidate sees the same background load). After each round a candidate whose best time is more
    than :data:`DROP_RATIO` times the leader's is dropped (its figure so far is kept), so a clear
    loser costs two runs, not ``reps`` + 1. A runner that raises is left out."""
    alive = {}
    for name, run in runners.items():
        try:
            run()
            alive[name] = run
        except Exception:  # noqa: BLE001 - a candidate that cannot run is simply not chosen
            continue
    times: dict[str, list[float]] = {name: [] for name in alive}
    for _ in range(reps):
        for name, run in alive.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
        lead = min(min(times[name]) for name in alive)
        alive = {name: run for name, run in alive.items() if min(times[name]) <= DROP_RATIO * lead}
        if len(alive) == 1:
            break
    return {name: 1000 * sorted(t)[len(t) // 2] for name, t in times.items()}


@contextlib.contextmanager
def measuring_lock(wait_s: float = LOCK_WAIT_S):
    """Held while one process of this machine measures: Ray actors, web workers and ``apply`` started
    together would otherwise each race the engines at once (slowing each other's timings) and could
    settle on different ones, e.g. bf16 in one actor and fp32 in the next, so one run's pictures
    differed by ~1/500 depending on which actor painted them. Best effort: no lock where the cache
    folder cannot be written or the OS has no ``flock``."""
    try:
        import fcntl
    except ImportError:  # Windows: measure unlocked
        yield
        return
    path = Path(f"{cache_file()}.lock")  # beside the cache file, wherever that is
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - held across the yield
    except OSError:
        yield
        return
    with handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        yield  # closing the file releases the lock


def _cached_choice(model: str, threads: int, candidates: list[str]) -> Choice | None:
    entry = cached_engine(model, threads)
    if entry is not None and entry["engine"] in candidates and set(candidates) <= set(entry["ms"]):
        return Choice(entry["engine"], "cached", {k: float(v) for k, v in entry["ms"].items()})
    return None


def choose(model: str, threads: int, candidates: Iterable[str],
           runners: Callable[[], dict[str, Callable[[], object]]]) -> Choice:
    """The fastest of ``candidates`` for ``model`` on this machine: from the cache, else measured with
    ``runners()`` (built only when needed) and stored, by one process of the machine at a time (see
    :func:`measuring_lock`; the others then read its answer). Never raises for a bad cache."""
    candidates = [c for c in candidates if c in CANDIDATES]
    if len(candidates) == 1:
        return Choice(candidates[0], "only", {})
    known = _cached_choice(model, threads, candidates)
    if known is not None:
        return known
    with measuring_lock():
        return _cached_choice(model, threads, candidates) or _measure_and_store(
            model, threads, candidates, runners)


def _measure_and_store(model: str, threads: int, candidates: list[str],
                       runners: Callable[[], dict[str, Callable[[], object]]]) -> Choice:
    built = {name: run for name, run in runners().items() if name in candidates}
    ms = measure(built)
    if not ms:
        return Choice(candidates[0], "fallback", {})
    engine = min(ms, key=ms.get)
    store(model, threads, {"engine": engine, "ms": {k: round(v, 2) for k, v in ms.items()},
                           "model": model, "fingerprint": fingerprint(threads),
                           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    return Choice(engine, "measured", ms)


def cached_runtime(path: str | os.PathLike, threads: int = 0) -> str | None:
    """What ``--engine auto`` runs a ``.safetensors`` model with on this machine, if measured already
    (``onnxruntime fp32`` ...), else None; reads only the cache (no torch)."""
    if Path(path).suffix.lower() == ".onnx":
        return "onnxruntime fp32"
    try:
        entry = cached_engine(file_digest(path), threads)
    except OSError:
        return None
    return Choice(entry["engine"], "cached", {}).runtime if entry else None


# --- exported copies -------------------------------------------------------------------------------
def graph_path(tag: str) -> Path:
    """Where the ONNX copy ``tag`` (a model digest and what was exported) is kept in the cache."""
    return cache_dir() / "engines" / f"{tag}-torch{_version('torch')}.onnx"


def write_onnx(net, target: str | os.PathLike, example: tuple, input_names: list[str],
               output_names: list[str], dynamic_axes: dict, meta: dict[str, str] | None = None,
               opset: int = 17) -> Path:
    """``net`` traced on ``example`` into an ONNX file (written atomically), ``meta`` as metadata."""
    import warnings

    import onnx
    import torch

    target = Path(target)
    # Eval first: torch.onnx.export puts the module back in the mode it found it in, recursively, so a
    # fresh wrapper (training by default) around a shared, cached network would leave that network in
    # training mode for every later user of the cache.
    net.eval()
    # Autocast off: a graph traced inside a caller's bf16 region would keep its casts, and the copy is
    # kept for every later session on this machine.
    with atomic_path(target) as tmp, warnings.catch_warnings(), torch.no_grad(), \
            torch.autocast("cpu", enabled=False):
        warnings.simplefilter("ignore")
        torch.onnx.export(net, example, str(tmp), dynamo=False, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes, opset_version=opset)
        if meta:
            proto = onnx.load(str(tmp))
            for key, value in meta.items():
                proto.metadata_props.add(key=key, value=value)
            onnx.save(proto, str(tmp))
    return target


def onnx_session(path: str | os.PathLike | bytes, threads: int = 0):
    """An onnxruntime CPU session of a file (or serialised graph) with :func:`ort_options`."""
    import onnxruntime as ort

    source = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(source, ort_options(threads), providers=["CPUExecutionProvider"])


def cached_session(tag: str, build: Callable[[Path], object], threads: int = 0):
    """A session of the ONNX copy ``tag``, exported by ``build(path)`` the first time on this machine
    and read from the cache after that. A copy onnxruntime cannot load is exported again; a cache
    folder that cannot be written gets a copy in a temporary folder."""
    path = graph_path(tag)
    if path.is_file():
        try:
            return onnx_session(path, threads)
        except Exception:  # noqa: BLE001 - a damaged copy is rebuilt below
            pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        build(path)
    except OSError:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="brushwork-engine-")) / path.name
        build(path)
    return onnx_session(path, threads)


#: Dynamic axes of an exported picture: any batch, height and width.
PICTURE_AXES = {0: "batch", 2: "height", 3: "width"}


def onnx_graph(net, target: str | os.PathLike, meta: dict[str, str] | None = None, opset: int = 17) -> Path:
    """A picture-to-picture network (TransformerNet, FoldedTransfer) as ONNX: input ``image``, output
    ``stylized``, dynamic batch, height and width."""
    import torch

    return write_onnx(net, target, (torch.rand(1, 3, 64, 64),), ["image"], ["stylized"],
                      {"image": PICTURE_AXES, "stylized": PICTURE_AXES}, meta, opset)


def arbitrary_graph(target: str | os.PathLike, opset: int = 17, network: str | None = None) -> Path:
    """The arbitrary-style transfer network ``network`` (``brushwork`` or ``magenta``; None: the default)
    as ONNX with two inputs, ``image`` [N, 3, H, W] and ``style`` [1, 100] (one style vector for the
    batch), so one graph serves every painting; the style maps feed the instance norms' scale and bias
    (:class:`~brushwork.networks.arbitrary.OneStyleTransfer`). The network's name is in the metadata."""
    import torch

    # lazy: torch and onnx stay out of the engine cache's import (`brushwork models` starts in 0.1 s)
    from brushwork.networks.arbitrary import STYLE_DIM, OneStyleTransfer
    from brushwork.networks.arbitrary_weights import load_transfer_weights, resolve_network

    network = resolve_network(network)
    example = (torch.rand(1, 3, 64, 64), torch.rand(1, STYLE_DIM))
    axes = {"image": PICTURE_AXES, "stylized": PICTURE_AXES}
    meta = {"note": f"RGB [0,1] and one style vector [1, 100] in; the {network} arbitrary-style transfer "
                    "network", "network": network}
    return write_onnx(OneStyleTransfer(load_transfer_weights(network)), target, example, ["image", "style"],
                      ["stylized"], axes, meta, opset)
