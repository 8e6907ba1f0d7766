"""Does training with ``--temporal-weight`` lower flicker at equal style? Fine-tuned models compared.

The peer is the same fine-tune without the term (``--temporal-weight 0``: same start, seed, photos,
crops and steps), so any difference is the term's. Each model paints the clip of
``benchmarks/bench_video.py`` (three shots over real photos with known motion, two scene cuts;
640x360) frame by frame, in fp32, and then:

* **per-frame** (``--temporal 0``): the network's own flicker;
* **blended** (``--temporal`` at its default, 0.3): what ``apply`` gives on video.

For each: the warping error (Lai et al. 2018, ``brushwork.temporal``; lower = steadier) and the
reference style ratio (VGG19, as ``evaluate``; lower = more of the painting) on every
``--eval-every``-th frame, both also as ratios to the peer's. ``--models`` may add more rows (the
shipped model, say). Writes benchmarks/results/temporal_training.json and, side by side, a crop of
one frame of each model (per-frame) next to how much it changed since the previous frame, to
benchmarks/results/temporal_training_frames.png (rows: input, then the models in order).

    python benchmarks/bench_temporal_training.py --models w0=runs/w0/model.safetensors \\
        w30=runs/w30/model.safetensors shipped=starry-night --peer w0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_video import STYLES, make_clip  # noqa: E402


def _apply_config():
    """Per-frame settings (the blend is applied here, by ``temporal.Stabilizer``)."""
    from brushwork.config import ApplyConfig

    config = ApplyConfig(temporal=0.0)
    fields = {f.name for f in dataclasses.fields(config)}
    # fp32: the network's own behaviour (bf16 autocast, where the CPU has it, adds its own noise)
    return config.replace(precision="fp32") if "precision" in fields else config


def measure(label: str, model: str, frames: list[np.ndarray], moves, blend: float, eval_every: int,
            eval_size: int, reference) -> tuple[dict, list[np.ndarray]]:
    """Warping error and style ratio of one model, per-frame and blended; and its per-frame output."""
    from PIL import Image

    from brushwork import temporal as T
    from brushwork.fast.inference import load_stylizer
    from brushwork.fast.video import stylize_frames

    stylizer = load_stylizer(model, _apply_config())
    painting = Image.open(STYLES / stylizer.meta["style_image"]).convert("RGB")
    started = time.perf_counter()
    plain = list(stylize_frames(stylizer, frames, _apply_config()))
    seconds = time.perf_counter() - started
    stab = T.Stabilizer(blend)
    blended = [(np.clip(stab(f, s), 0, 1) * 255 + 0.5).astype(np.uint8) for f, s in zip(frames, plain)]
    measured = list(range(0, len(frames), eval_every))

    def ratio(outs: list[np.ndarray]) -> float:
        return float(np.mean([reference.style_ratios(Image.fromarray(outs[i]), Image.fromarray(frames[i]),
                                                     painting)["all"] for i in measured]))

    row = {"label": label, "model": str(model), "temporal_weight": stylizer.meta.get("temporal_weight", "0"),
           "steps": stylizer.meta.get("steps"), "network_s_per_frame": seconds / len(frames)}
    for name, outs in (("per_frame", plain), ("blended", blended)):
        row[name] = {"warping_error": T.mean_error(T.warping_errors(frames, outs, moves)),
                     "style_ratio": ratio(outs)}
    return row, plain


def side_by_side(frames: list[np.ndarray], outputs: dict[str, list[np.ndarray]], moves, t: int,
                 path: Path) -> None:
    """One row per model at full size (a 320x200 crop of frame ``t``): its per-frame output, then how
    much it changed against frame t−1 warped onto it (x4; black where the flow is not reliable).
    The input crop heads the left column."""
    from PIL import Image

    from brushwork import temporal as T

    crop = (slice(100, 300), slice(200, 520))
    m = moves[t - 1]

    def change(outs: list[np.ndarray]) -> np.ndarray:
        diff = np.abs(T.to_float(outs[t]) - T.warp(T.to_float(outs[t - 1]), m.backward)).mean(-1)
        return np.repeat((np.clip(diff * 4, 0, 1) * 255 * m.reliable)[..., None], 3, -1).astype(np.uint8)

    rows = [np.concatenate([frames[t][crop], np.full_like(frames[t][crop], 255)], 1)]
    rows += [np.concatenate([outs[t][crop], change(outs)[crop]], 1) for outs in outputs.values()]
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    sheet = np.concatenate([x for row in rows for x in (row, gap)][:-1], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", required=True, metavar="LABEL=MODEL",
                   help="model files or shipped names, each with a label")
    p.add_argument("--peer", help="label of the row the others are compared with (default: the first)")
    p.add_argument("--frames", type=int, default=24, help="frames per shot (three shots)")
    p.add_argument("--eval-every", type=int, default=4)
    p.add_argument("--eval-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frame", type=int, default=None,
                   help="frame shown side by side (default: one of the pan; >= 1)")
    p.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "temporal_training.json"))
    args = p.parse_args()

    import torch

    from brushwork import temporal as T
    from brushwork.config import ApplyConfig
    from brushwork.metrics import ReferenceLoss

    torch.set_num_threads(args.threads)
    models = dict(item.split("=", 1) for item in args.models)
    peer = args.peer or next(iter(models))
    blend = ApplyConfig().temporal
    frames = make_clip(args.frames)
    moves = list(T.motions(frames))
    reference = ReferenceLoss(args.eval_size)
    rows, outputs = [], {}
    for label, model in models.items():
        row, outputs[label] = measure(label, model, frames, moves, blend, args.eval_every, args.eval_size,
                                      reference)
        rows.append(row)
    base = next(r for r in rows if r["label"] == peer)
    for row in rows:
        for name in ("per_frame", "blended"):
            row[name]["error_vs_peer"] = row[name]["warping_error"] / base[name]["warping_error"]
            row[name]["ratio_vs_peer"] = row[name]["style_ratio"] / base[name]["style_ratio"]
    frame = max(1, args.frame if args.frame is not None else args.frames // 2)
    side_by_side(frames, outputs, moves, frame, Path(args.output).with_name("temporal_training_frames.png"))
    result = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
              "frames": len(frames), "cuts_found": sum(m.cut for m in moves), "blend": blend, "peer": peer,
              "input_floor": T.mean_error(T.warping_errors(frames, frames, moves)),
              "eval_frames": list(range(0, len(frames), args.eval_every)), "shown_frame": frame, "rows": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    print_table(result)
    return 0


def print_table(r: dict) -> None:
    print(f"\n### Temporal training term ({r['frames']} frames at 640x360, {r['cuts_found']} cuts; "
          f"input floor {r['input_floor']:.5f}; peer: {r['peer']})\n")
    print("| model | --temporal-weight | blend | warping error | x peer | style ratio | x peer |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in r["rows"]:
        for name, blend in (("per_frame", 0.0), ("blended", r["blend"])):
            x = row[name]
            print(f"| {row['label']} | {row['temporal_weight']} | {blend} | {x['warping_error']:.5f} | "
                  f"{x['error_vs_peer']:.2f} | {x['style_ratio']:.3f} | {x['ratio_vs_peer']:.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
