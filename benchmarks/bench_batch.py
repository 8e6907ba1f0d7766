"""``brushwork batch`` on Ray Data against the plain ``brushwork apply`` loop: images/s, Ray's overhead
per image and start-up, and a projection to a million photos on N nodes.

Photos: ``--photos`` (200) centre crops of the shared photo set (/work/shared/data/photos, cycled with
different crops when there are fewer), 512x384 px, written once to a cache folder. Model: the shipped
per-style ``starry-night`` (PyTorch), at the photos' own size (512 px). Runs, each in a fresh child
process (its own torch threads, its own Ray), in this order:

* ``apply 1 thread``: what ``brushwork apply starry-night DIR -o OUT --threads 1`` runs
  (``load_stylizer`` + ``plan_jobs`` + ``apply_files``): the peer;
* ``batch 1 actor``: ``run_batch`` with ``--engine local --workers 1 --cpus-per-worker 1`` (one
  torch thread), from ``ray.init`` to the report;
* ``batch 2 actors``: the same with ``--workers 2``;
* ``apply 2 threads``: the apply loop with torch's default 2 threads, for reference.

Wall = from the start of the engine call to the last output (apply: model load included; batch:
``ray.init``, actor start-up and model loads included); Python and torch import are outside both.
Steady images/s = the rate between the first and the last finished image (start-up excluded; for
batch, by the actors' finishing times, since rows reach the driver in bursts). Ray's
overhead per image = 1/steady(batch 1 actor) - 1/steady(apply 1 thread); its start-up = wall -
photos/steady. Prints a table and writes benchmarks/results/batch.json.

    python benchmarks/bench_batch.py                 # 200 photos (~4 min on a quiet 2-core machine)
    python benchmarks/bench_batch.py --photos 40     # quicker, under load
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "batch.json"
PHOTOS = Path(os.environ.get("BRUSHWORK_PHOTOS", "/work/shared/data/photos"))
MODEL = "starry-night"
SIZE = (512, 384)
RUNS = {"apply 1 thread": ("apply", 1, 1), "batch 1 actor": ("batch", 1, 1),
        "batch 2 actors": ("batch", 2, 1), "apply 2 threads": ("apply", 1, 2)}
NODE_COUNTS = (1, 10, 100)
NODE_CORES = (2, 16)


def make_photos(folder: Path, count: int) -> Path:
    """``count`` 512x384 crops of the shared photos (a different crop each time a photo repeats)."""
    from PIL import Image

    if len(list(folder.glob("*.png"))) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sources = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for i in range(count):
        image = Image.open(sources[i % len(sources)]).convert("RGB")
        turn = i // len(sources)
        w, h = image.size
        scale = max(SIZE[0] / w, SIZE[1] / h) * (1 + 0.15 * turn)
        image = image.resize((max(SIZE[0], round(w * scale)), max(SIZE[1], round(h * scale))))
        left = (image.width - SIZE[0]) * (turn % 3) // 2
        top = (image.height - SIZE[1]) // 2
        image.crop((left, top, left + SIZE[0], top + SIZE[1])).save(folder / f"photo_{i:04d}.png")
    return folder


# --- children ----------------------------------------------------------------------------------------
def child(kind: str, workers: int, threads: int, photos: Path, out: Path) -> dict:
    """One measured run in this (fresh) process; returns its timings."""
    import torch

    torch.set_num_threads(threads)
    from brushwork.config import ApplyConfig, BatchConfig

    stamps: list[tuple[float, int]] = []
    config = ApplyConfig(threads=threads)
    start = time.perf_counter()
    if kind == "apply":
        from brushwork.fast.inference import load_stylizer
        from brushwork.fast.media import apply_files
        from brushwork.media import plan_jobs

        stylizer = load_stylizer(MODEL, config)
        jobs = plan_jobs([str(photos)], out)
        out.mkdir(parents=True, exist_ok=True)
        failures = apply_files(stylizer, jobs, config,
                               progress=lambda e: stamps.append((time.perf_counter(), e.done)))
        done = len(jobs) - len(failures)
    else:
        from brushwork.batch.plan import Painting, plan_batch
        from brushwork.batch.run import run_batch

        painting = Painting("model", MODEL)
        items = plan_batch(photos, out, painting, config)
        result = run_batch(items, out, BatchConfig(engine="local", workers=workers, cpus_per_worker=threads),
                           config, default=painting)
        done = result.counts["done"]
        # Rows reach the driver in bursts; the actors' own finishing times give the steady rate.
        offset = time.time() - time.perf_counter()
        finished = sorted(float(r["finished"]) - offset for r in result.rows if r["status"] == "done")
        stamps = [(t, n) for n, t in enumerate(finished, 1)]
    wall = time.perf_counter() - start
    stamps = [(t, n) for t, n in stamps if n > 0]
    (t0, n0), (t1, n1) = stamps[0], stamps[-1]
    steady = (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")
    return {"done": done, "wall_s": wall, "images_per_s": done / wall, "steady_images_per_s": steady,
            "first_result_s": t0 - start}


def run_child(kind: str, workers: int, threads: int, photos: Path, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, __file__, "--child", kind, str(workers), str(threads), str(photos), str(out)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"{kind} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


# --- report ------------------------------------------------------------------------------------------
def projection(per_image_s: float, startup_s: float, efficiency: float) -> list[dict]:
    """Wall time for 1 M photos on N nodes of C cores, one single-thread actor per core, scaling per
    core with the measured 2-actor efficiency (on paper: storage and scheduling limits not modelled)."""
    rows = []
    for cores in NODE_CORES:
        for nodes in NODE_COUNTS:
            seconds = startup_s + 1_000_000 * per_image_s / (nodes * cores * efficiency)
            rows.append({"nodes": nodes, "cores_per_node": cores, "hours": seconds / 3600})
    return rows


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--child":
        kind, workers, threads, photos, out = sys.argv[2:]
        print("RESULT", json.dumps(child(kind, int(workers), int(threads), Path(photos), Path(out))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / f"brushwork-bench-batch-{args.photos}"
    photos = make_photos(cache / "photos", args.photos)
    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for name in args.runs:
        kind, workers, threads = RUNS[name]
        out = cache / "out" / name.replace(" ", "_")
        shutil.rmtree(out, ignore_errors=True)
        results[name] = run_child(kind, workers, threads, photos, out)
        print(f"{name}: {results[name]}", flush=True)
    load_after = os.getloadavg()

    base = results.get("apply 1 thread")
    print(f"\n{args.photos} photos, 512x384, model {MODEL}; load average before {load_before[0]:.1f}, "
          f"after {load_after[0]:.1f} (1 min)\n")
    print("| run | wall s | images/s | vs apply 1 thread | steady images/s | vs apply | first result s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ratio = r["images_per_s"] / base["images_per_s"] if base else float("nan")
        steady = r["steady_images_per_s"] / base["steady_images_per_s"] if base else float("nan")
        r.update(ratio_vs_apply=ratio, steady_ratio_vs_apply=steady)
        print(f"| {name} | {r['wall_s']:.1f} | {r['images_per_s']:.2f} | {ratio:.2f}x | "
              f"{r['steady_images_per_s']:.2f} | {steady:.2f}x | {r['first_result_s']:.1f} |")
    summary: dict = {}
    one, two = results.get("batch 1 actor"), results.get("batch 2 actors")
    if one and two:
        summary["two_vs_one_actor"] = two["images_per_s"] / one["images_per_s"]
        summary["two_vs_one_actor_steady"] = two["steady_images_per_s"] / one["steady_images_per_s"]
        print(f"\n2 actors vs 1: {summary['two_vs_one_actor']:.2f}x end to end, "
              f"{summary['two_vs_one_actor_steady']:.2f}x steady")
    if one and base:
        per_image = 1 / one["steady_images_per_s"]
        overhead = per_image - 1 / base["steady_images_per_s"]
        startup = one["wall_s"] - args.photos * per_image
        summary.update(ray_overhead_per_image_s=overhead, ray_startup_s=startup, per_image_s=per_image)
        print(f"Ray overhead per image: {overhead * 1000:+.0f} ms (of {per_image * 1000:.0f} ms); "
              f"fixed start-up (ray.init, actor, model): {startup:.1f} s")
        if two:
            efficiency = min(1.0, summary["two_vs_one_actor_steady"] / 2)
            summary["projection"] = projection(per_image, startup, efficiency)
            print(f"\n1 M photos at 512 px ({per_image * 1000:.0f} ms per image per core, "
                  f"parallel efficiency {efficiency:.2f}):\n")
            print("| nodes | cores per node | hours |\n|---:|---:|---:|")
            for p in summary["projection"]:
                print(f"| {p['nodes']} | {p['cores_per_node']} | {p['hours']:.1f} |")
    record = {"photos": args.photos, "size": list(SIZE), "model": MODEL, "runs": results, "summary": summary,
              "load_average_before": load_before, "load_average_after": load_after,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=1))
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
