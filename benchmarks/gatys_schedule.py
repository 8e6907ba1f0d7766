"""Gatys steps, not seconds: where the default schedule's steps go and what each one buys.

On a shared CPU wall seconds move with the load, but steps do not: a run is deterministic, so the
step at which a scale's loss stops falling, and the step at which the picture matches the peer's
300-step quality, are the same on every machine. For each pair (``peer_runs.PAIRS``) this runs one
Gatys optimisation with ``--tolerance 0`` (every step of the schedule runs) and records per step:
the scale, the total loss, its wall and CPU time and ``os.getloadavg()``; every ``--every`` steps
and at the end of each scale, with the clock stopped, the reference quality of the picture (the
ruler of ``brushwork evaluate``, as in ``time_to_quality.py``). The peer's step at the same size is
timed in the same run (``peer_runs.peer_timing``), so per-step cost is a ratio under one load.

From one trace, ``stops`` says where the tolerance rule would stop each scale for several
tolerances, and the quality at those steps says what stopping there costs.

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 nice -n 5 python benchmarks/gatys_schedule.py \\
        --precision fp32 --schedule 100 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import peer_runs
import time_to_quality as ttq

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "gatys_schedule.json"
#: The peer's 300-step reference quality per pair (a time-to-quality result, its pictures cached then).
PEER_QUALITY = ROOT / "benchmarks" / "results" / "bench_stylize_ttq.json"
TOLERANCES = (1e-3, 2e-3, 3e-3, 5e-3, 1e-2)


def stops(totals_by_scale: list[list[float]], window: int) -> dict[str, list[int | None]]:
    """Per tolerance, the step of each scale at which ``optimize.converged`` would stop it."""
    from brushwork.gatys.optimize import converged

    out = {}
    for tol in TOLERANCES:
        out[f"{tol:g}"] = [next((k for k in range(1, len(t) + 1) if converged(t[:k], tol, window)), None)
                           for t in totals_by_scale]
    return out


def trace_pair(pair, size: int, schedule: list[int], every: int, precision: str, threads: int,
               ruler, peer_q: dict | None, overrides: dict) -> dict:
    import torch

    from brushwork.config import StylizeConfig
    from brushwork.gatys.optimize import stylize
    from brushwork.images import open_image

    torch.set_num_threads(threads)
    content, style = (open_image(p) for p in peer_runs.pair_paths(pair))
    steps: list[dict] = []
    points: list[dict] = []
    clock = {"since": time.perf_counter(), "cpu": time.process_time()}

    def callback(it) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        steps.append({"step": it.done, "scale": it.scale, "total": it.losses["total"],
                      "wall_s": round(now - clock["since"], 4), "cpu_s": round(cpu - clock["cpu"], 4),
                      "load": os.getloadavg()[0]})
        in_scale = sum(1 for s in steps if s["scale"] == it.scale)
        if in_scale % every == 0 or in_scale == schedule[it.scale] or it.converged:
            with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
                it.image.save(tmp.name)
                q = ttq.quality(tmp.name, pair, size, ruler)
            if peer_q:
                q["deep_vs_peer"] = q["style_ratio_deep"] / peer_q["style_ratio_deep"]
                q["ssim_vs_peer"] = q["ssim"] / peer_q["ssim"]
            points.append({"step": it.done, "scale": it.scale, "in_scale": in_scale, **q})
            print(json.dumps({"progress": points[-1], "total": it.losses["total"]}, default=str),
                  file=sys.stderr, flush=True)
        clock["since"], clock["cpu"] = time.perf_counter(), time.process_time()

    config = StylizeConfig(size=size, precision=precision, tolerance=0.0, **overrides)
    # The schedule as given, scale by scale (the default rule only halves from the first scale).
    object.__setattr__(config, "iterations_per_scale", lambda scales: list(schedule[:scales]))
    started = time.perf_counter()
    picture = stylize(content, style, config, callback=callback)
    wall = time.perf_counter() - started
    out = ROOT / "benchmarks" / ".cache" / f"schedule_{peer_runs.pair_name(pair)}_{size}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out)
    by_scale = [[s["total"] for s in steps if s["scale"] == k] for k in range(len(schedule))]
    from brushwork.config import TOLERANCE_WINDOW
    return {"steps": steps, "points": points, "stops": stops(by_scale, TOLERANCE_WINDOW), "wall_s": wall,
            "image": str(out.relative_to(ROOT))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--schedule", type=int, nargs="+", default=[100, 50], help="steps per scale")
    p.add_argument("--pairs", type=int, nargs="+", default=None)
    p.add_argument("--every", type=int, default=10, help="quality every N steps of a scale")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peer-steps", type=int, default=3, help="peer steps timed per pair (0: none)")
    p.add_argument("--peer-quality", type=Path, default=PEER_QUALITY,
                   help="the peer's 300-step reference quality per pair (a time-to-quality result)")
    p.add_argument("--set", nargs="*", default=[], help="StylizeConfig overrides FIELD=VALUE (JSON values)")
    p.add_argument("-o", "--output", type=Path, default=OUT)
    args = p.parse_args(argv)

    import torch

    from brushwork.config import EvaluateConfig
    from brushwork.metrics import ReferenceLoss

    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
        if isinstance(overrides[key], list):
            overrides[key] = tuple(overrides[key])
    peer_rows = {r["pair"]: r["peer"] for r in json.loads(args.peer_quality.read_text())["rows"]
                 if r["size"] == args.size} if args.peer_quality.exists() else {}
    ruler = ReferenceLoss(size=EvaluateConfig().eval_size)
    rows = []
    for i in args.pairs if args.pairs is not None else range(len(peer_runs.PAIRS)):
        pair = peer_runs.PAIRS[i]
        name = peer_runs.pair_name(pair)
        row = {"pair": name, "size": args.size, "schedule": args.schedule, "precision": args.precision,
               "overrides": overrides, "load_before": os.getloadavg()}
        row.update(trace_pair(pair, args.size, args.schedule, args.every, args.precision, args.threads,
                              ruler, peer_rows.get(name), overrides))
        if args.peer_steps:
            row["peer_timing"] = peer_runs.peer_timing(pair, args.size, steps=args.peer_steps + 1,
                                                       threads=args.threads)
        row["load_after"] = os.getloadavg()
        rows.append(row)
        last = row["points"][-1]
        deep, ssim = last.get("deep_vs_peer", float("nan")), last.get("ssim_vs_peer", float("nan"))
        print(f"{name}: {len(row['steps'])} steps, {row['wall_s']:.0f} s; stops {row['stops']}; "
              f"end deep x{deep:.2f} ssim x{ssim:.2f}",
              file=sys.stderr, flush=True)
        result = {"benchmark": "gatys_schedule", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                  "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"), "threads": args.threads,
                  "peer_quality_from": str(args.peer_quality.relative_to(ROOT)), "rows": rows}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
