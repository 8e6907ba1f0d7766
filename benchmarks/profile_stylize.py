"""Where a Gatys step's time goes: convolution, Gram matrices, pooling/ReLU, optimiser, copying.

Runs a few L-BFGS (or Adam) steps of brushwork's optimisation at one size under torch.profiler,
after warm-up, and groups the operators' self CPU time into shares. Convolution (oneDNN, forward
and input-gradient) is the part at the limit of the CPU: the rest is what an implementation can
still shave.

    python benchmarks/profile_stylize.py --size 512 --optimizer lbfgs --precision auto
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RESULTS = ROOT / "benchmarks" / "results" / "profile_stylize.json"

#: Operator name fragments -> category (first match wins).
CATEGORIES = (
    ("convolution", ("convolution", "conv2d", "mkldnn")),
    ("gram (bmm)", ("bmm", "baddbmm", "matmul", "mm")),
    ("pooling", ("pool",)),
    ("relu", ("relu", "threshold", "clamp_min")),
    ("optimiser (L-BFGS/Adam maths)", ("dot", "lerp", "addcmul", "addcdiv", "sqrt", "_foreach")),
    ("copy / fill / layout", ("copy", "fill", "zero", "clone", "contiguous", "empty", "cat", "flip")),
    ("elementwise (losses, sums)", ("add", "sub", "mul", "div", "pow", "sum", "mean", "neg", "abs")),
)


def category(name: str) -> str:
    low = name.lower()
    for label, fragments in CATEGORIES:
        if any(f in low for f in fragments):
            return label
    return "other"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam"])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from brushwork.config import StylizeConfig
    from brushwork.gatys.optimize import stylize

    samples = ROOT / "src" / "brushwork" / "data" / "samples"
    config = StylizeConfig(size=args.size, optimizer=args.optimizer, iterations=2 + args.steps,
                           multiscale=False, precision=args.precision)
    state = {"n": 0, "prof": None, "t": 0.0}

    def callback(it) -> None:
        state["n"] += 1
        if state["n"] == 2:  # after warm-up: profile the next steps
            state["prof"] = profile(activities=[ProfilerActivity.CPU])
            state["prof"].__enter__()
            state["t"] = time.perf_counter()

    stylize(samples / "canyon.jpg", samples / "starry_night.jpg", config, callback=callback)
    wall = time.perf_counter() - state["t"]
    state["prof"].__exit__(None, None, None)
    shares: dict[str, float] = defaultdict(float)
    for event in state["prof"].key_averages():
        if event.key.startswith(("aten::", "mkldnn")):
            shares[category(event.key)] += event.self_cpu_time_total / 1e6
    total = sum(shares.values())
    print(f"| share of operator time ({args.size} px, {args.optimizer}, {args.precision}, "
          f"{args.steps} steps, {wall / args.steps:.2f} s/step) | seconds/step | % |\n|---|---:|---:|")
    rows = sorted(shares.items(), key=lambda kv: -kv[1])
    for label, seconds in rows:
        print(f"| {label} | {seconds / args.steps:.3f} | {100 * seconds / total:.1f} |")
    out = {"size": args.size, "optimizer": args.optimizer, "precision": args.precision, "steps": args.steps,
           "threads": args.threads,
           "wall_s_per_step": wall / args.steps, "load_avg": os.getloadavg(),
           "shares": {k: v / args.steps for k, v in rows}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    name = RESULTS.with_name(f"profile_stylize_{args.size}_{args.optimizer}_{args.precision}.json")
    name.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
