"""What ``brushwork train PAINTING --data PHOTOS -o OUT`` costs on this CPU with its defaults, and when
its model beats the arbitrary-style network on that painting.

1. ``run``: the CLI with its defaults (the only extra flag, ``--val-data``, names the held-out photos to
   validate on instead of a share of ``--data``; it changes no training setting), under ``nice -n 5``,
   on a painting and photos of ``heldout.json``'s held-out split, training on the other 403 photos.
   The load average is sampled every 30 s beside it (the machine is shared: wall times are pessimistic).
2. ``measure``: the final model and the arbitrary-style network (``brushwork apply --style``'s picture,
   one pass at 512 px) on all 30 held-out photos at 512 px (fp32, reference caffe VGG19): style ratio
   (all layers, deep) and grey SSIM; target: all-layer ratio <= 0.9x the arbitrary network's, SSIM
   >= 0.95x.
3. ``plot``: the validation curve of the run (losses.csv: 8 held-out photos) against minutes, as PNG.

    python benchmarks/bench_train_cpu.py run --painting van_gogh_church_at_auvers --out /tmp/bench_train
    python benchmarks/bench_train_cpu.py measure --out /tmp/bench_train \
        --json benchmarks/results/train_cpu.json
    python benchmarks/bench_train_cpu.py plot --out /tmp/bench_train \
        --png docs/images/fast/train_cpu_curve.png
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from heldout import DATA, HELDOUT_PAINTINGS, files, make_folders  # noqa: E402
from machine import describe  # noqa: E402

from brushwork.fast.engines import cpu_model  # noqa: E402


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    split = make_folders(out / "split")
    painting = DATA / "styles" / f"{args.painting}.jpg"
    if args.painting not in HELDOUT_PAINTINGS:
        raise SystemExit(f"{args.painting} is not one of the held-out paintings {HELDOUT_PAINTINGS}")
    model_dir = out / "model"
    if model_dir.exists() and not args.resume:
        shutil.rmtree(model_dir)
    cmd = ["nice", "-n", "5", sys.executable, "-m", "brushwork", "train", str(painting),
           "--data", str(split["train_photos"]), "--val-data", str(split["heldout_photos"]),
           "-o", str(model_dir), *args.extra] + (["--resume"] if args.resume else [])
    loads: list[tuple[float, float]] = []
    done = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not done.wait(30):
            loads.append((time.perf_counter() - started, os.getloadavg()[0]))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    code = subprocess.call(cmd)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    import torch

    record = {"command": " ".join(cmd), "returncode": code, "wall_s": wall, "cpu": cpu_model(),
              "machine": describe(),
              "cpu_s": usage.ru_utime + usage.ru_stime,
              "torch_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "precision": "fp32 (training has no bf16 path)",
              "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
              "load_average_1min": [round(v, 2) for _, v in loads],
              "load_mean": sum(v for _, v in loads) / max(1, len(loads))}
    (out / "run.json").write_text(json.dumps(record, indent=1))
    print(json.dumps({k: v for k, v in record.items() if k != "load_average_1min"}, indent=1))
    return code


def measure(args: argparse.Namespace) -> int:
    import torch

    from brushwork.fast.inference import load_stylizer, paint
    from brushwork.fast.validation import grey_ssim
    from brushwork.images import open_image, resize_longest
    from brushwork.metrics import ReferenceLoss

    torch.set_num_threads(2)
    out = Path(args.out)
    record = json.loads((out / "run.json").read_text())
    model = out / "model" / "model.safetensors"
    painting = Path(record["command"].split(" train ")[1].split(" --data")[0])
    ref = ReferenceLoss(size=args.size)
    style = open_image(painting)
    ours = load_stylizer(str(model))
    from brushwork.config import ApplyConfig

    arbitrary = load_stylizer(None, ApplyConfig(), styles=[painting])
    rows = []
    for path in files("photos", held_out=True):
        photo = resize_longest(open_image(path), args.size)
        row = {"photo": path.stem}
        for label, stylizer in (("model", ours), ("arbitrary", arbitrary)):
            result = paint(stylizer, photo).convert("RGB").resize(photo.size)
            ratios = ref.style_ratios(result, photo, style)
            row.update({f"{label}_all": ratios["all"], f"{label}_deep": ratios["deep"],
                        f"{label}_ssim": grey_ssim(result, photo)})
        rows.append(row)
        print(row, flush=True)
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if k != "photo"}
    result = {"painting": painting.name, "photos": len(rows), "size": args.size, "mean": mean,
              "all_x": mean["model_all"] / mean["arbitrary_all"],
              "deep_x": mean["model_deep"] / mean["arbitrary_deep"],
              "ssim_x": mean["model_ssim"] / mean["arbitrary_ssim"], "run": record, "rows": rows,
              "steps": ours.meta.get("steps")}
    result["target_met"] = result["all_x"] <= 0.9 and result["ssim_x"] >= 0.95
    print(json.dumps({k: v for k, v in result.items() if k not in ("rows", "run")}, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def plot(args: argparse.Namespace) -> int:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(args.out)
    source = Path(args.losses) if args.losses else out / "model" / "losses.csv"
    rows = [r for r in csv.DictReader(source.open()) if r.get("val_style_x")]
    minutes = [float(r["elapsed_s"]) / 60 for r in rows]
    if args.csv:
        keep = ("step", "elapsed_s", "cpu_s", "val_style", "val_deep", "val_ssim", "val_style_x",
                "val_ssim_x")
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keep, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0] + minutes, [1] + [float(r["val_style_x"]) for r in rows], "o-", color="C2",
            label="style ratio / arbitrary network's (lower = more of the painting)")
    ax.plot([0] + minutes, [1] + [float(r["val_ssim_x"]) for r in rows], "o-", color="C0",
            label="SSIM / arbitrary network's")
    ax.axhline(0.9, color="C2", linestyle=":", label="target: style ratio <= 0.9x")
    ax.axhline(0.95, color="C0", linestyle=":", label="target: SSIM >= 0.95x")
    ax.set_xlabel("minutes of wall time (shared 2-core CPU, nice 5)")
    ax.set_title("brushwork train with its defaults: 8 held-out photos at 512 px", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--painting", default=HELDOUT_PAINTINGS[0])
    r.add_argument("--out", required=True)
    r.add_argument("--resume", action="store_true")
    r.add_argument("extra", nargs="*", help="more brushwork train flags (after --)")
    r.set_defaults(func=run)
    m = sub.add_parser("measure")
    m.add_argument("--out", required=True)
    m.add_argument("--size", type=int, default=512)
    m.add_argument("--json")
    m.set_defaults(func=measure)
    q = sub.add_parser("plot")
    q.add_argument("--out", required=True)
    q.add_argument("--png", required=True)
    q.add_argument("--csv")
    q.add_argument("--losses", help="the run's losses.csv (default: OUT/model/losses.csv)")
    q.set_defaults(func=plot)
    args = p.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
