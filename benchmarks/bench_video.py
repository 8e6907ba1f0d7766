"""Stable fast video: speed, flicker (warping error), style kept, and memory over long clips.

The peer is brushwork's own per-frame path (``--temporal 0``, what ``apply`` did before), run in
the same process on the same frames; the floor is the input video's own warping error.

* **Clip**: three shots made from real photos with known motion (tests/support/clips.py): a pan, a
  zoom and a diagonal pan, joined by two scene cuts, ``--frames`` frames each at 640x360, 24 fps.
* **Speed**: ``apply_video`` end to end (decode, network, flow + blend, H.264 encode) with the
  default ``--temporal`` and with ``--temporal 0``; frames per second, and the share of the time
  spent in flow + blending (``fast.video.VideoStats``).
* **Flicker and style**: the warping error (Lai et al. 2018; ``brushwork.temporal``) of the stylised
  frames (before encoding), temporal vs per-frame vs the input; the style ratio of the reference
  VGG19 (``brushwork.metrics.ReferenceLoss``, as ``evaluate``) on every 4th frame, temporal vs
  per-frame; and the same for a sweep of strengths (the network's outputs are shared).
* **Memory**: peak RSS (VmHWM) of a fresh process stylising a synthetic 1280x720 clip of
  ``--short`` and ``--long`` seconds at ``--memory-fps`` (``apply_video`` with the defaults).

Writes benchmarks/results/video.json and a strip of frames (input / per-frame / temporal / their
frame-to-frame change) to benchmarks/results/video_strip.png.

    python benchmarks/bench_video.py                       # reference run (~15 min here)
    python benchmarks/bench_video.py --frames 8 --no-memory  # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.clips import load_photo, pan, read_video, with_cut, write_video, zoom  # noqa: E402

STYLES = ROOT.parent / "shared" / "data" / "styles"
SIZE = (640, 360)


def make_clip(frames: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    shots = [pan(load_photo("cv_building.jpg"), frames, size, dx=3.0, dy=0.8),
             zoom(load_photo("cv_baboon.jpg"), frames, size, factor=1.015),
             pan(load_photo("cv_butterfly.jpg"), frames, size, dx=-2.0, dy=-1.5)]
    clip, _ = with_cut(shots[0], shots[1])
    clip, _ = with_cut(clip, shots[2])
    return clip


def speed(model: str, source: Path, temporal: float, threads: int) -> dict:
    from brushwork import media
    from brushwork.config import ApplyConfig
    from brushwork.fast.inference import load_stylizer
    from brushwork.fast.media import apply_video

    config = ApplyConfig(temporal=temporal, threads=threads)
    stylizer = load_stylizer(model, config)
    seen: list = []
    original = media._FrameWriter.__init__

    def spy(self, *args, **kwargs):  # keep a handle on the writer to read its stats afterwards
        original(self, *args, **kwargs)
        seen.append(self)

    media._FrameWriter.__init__ = spy
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started, cpu = time.perf_counter(), time.process_time()
            count = apply_video(stylizer, source, Path(tmp) / "out.mp4", config)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        media._FrameWriter.__init__ = original
    stats = seen[0].frames.stats
    # On a shared machine wall time depends on the neighbours; CPU seconds / threads is the wall time
    # the run would take alone (the work is the same), so both are kept.
    return {"temporal": temporal, "frames": count, "seconds": seconds, "fps": count / seconds,
            "cpu_s": cpu, "fps_from_cpu": count / (cpu / threads), "load_avg": os.getloadavg()[0],
            "network_s": stats.network_seconds, "temporal_s": stats.temporal_seconds,
            "temporal_share": stats.temporal_seconds / seconds, "cuts": stats.cuts}


def quality(model: str, frames: list[np.ndarray], strengths: list[float], default: float, eval_every: int,
            eval_size: int, strip_path: Path) -> dict:
    from PIL import Image

    from brushwork import temporal as T
    from brushwork.config import ApplyConfig
    from brushwork.fast.inference import load_stylizer
    from brushwork.fast.video import stylize_frames
    from brushwork.metrics import ReferenceLoss

    stylizer = load_stylizer(model)
    painting = Image.open(STYLES / stylizer.meta["style_image"]).convert("RGB")
    reference = ReferenceLoss(eval_size)
    styled = list(stylize_frames(stylizer, frames, ApplyConfig(temporal=0)))
    started = time.perf_counter()
    moves = list(T.motions(frames))
    flow_s = (time.perf_counter() - started) / len(moves)
    floor_errors = T.warping_errors(frames, frames, moves)
    measured = sorted(set(range(0, len(frames), eval_every)))

    def ratio(outs: list[np.ndarray]) -> float:
        return float(np.mean([reference.style_ratios(Image.fromarray(outs[i]), Image.fromarray(frames[i]),
                                                     painting)["all"] for i in measured]))

    rows = []
    outputs = {}
    for strength in sorted({0.0, default, *strengths}):
        if strength == 0:
            outs = styled
        else:
            stab = T.Stabilizer(strength)
            outs = [(np.clip(stab(f, s), 0, 1) * 255 + 0.5).astype(np.uint8) for f, s in zip(frames, styled)]
        errors = T.warping_errors(frames, outs, moves)
        rows.append({"strength": strength, "warping_error": T.mean_error(errors), "style_ratio": ratio(outs),
                     "errors": errors})
        outputs[strength] = outs
    base = rows[0]
    for row in rows:
        row["error_vs_per_frame"] = row["warping_error"] / base["warping_error"]
        row["ratio_vs_per_frame"] = row["style_ratio"] / base["style_ratio"]
    save_strip(frames, outputs[0.0], outputs[default], moves, strip_path)
    return {"model": model, "frames": len(frames), "cuts_found": sum(m.cut for m in moves),
            "input_floor": T.mean_error(floor_errors), "floor_errors": floor_errors,
            "flow_ms_per_pair": flow_s * 1000, "eval_frames": measured, "rows": rows}


def save_strip(frames, plain, steady, moves, path: Path, start: int = 4, count: int = 5) -> None:
    """Rows: input, per-frame, temporal, then |change after warping| of per-frame and temporal (x2.5)."""
    from PIL import Image

    from brushwork import temporal as T

    def change(outs, t):
        m = moves[t - 1]
        diff = np.abs(T.to_float(outs[t]) - T.warp(T.to_float(outs[t - 1]), m.backward)).mean(-1)
        return np.repeat((np.clip(diff * 2.5, 0, 1) * 255 * m.reliable)[..., None], 3, -1).astype(np.uint8)

    ts = range(start, start + count)
    rows = [[frames[t] for t in ts], [plain[t] for t in ts], [steady[t] for t in ts],
            [change(plain, t) for t in ts], [change(steady, t) for t in ts]]
    h, w = frames[0].shape[:2]
    scale = 0.5
    tile = (int(w * scale), int(h * scale))
    sheet = Image.new("RGB", (tile[0] * count + 4 * (count - 1), tile[1] * len(rows) + 4 * (len(rows) - 1)),
                      "white")
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            sheet.paste(Image.fromarray(image).resize(tile, Image.Resampling.LANCZOS),
                        (c * (tile[0] + 4), r * (tile[1] + 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


MEMORY_CHILD = """
import resource, sys, time
from pathlib import Path
from brushwork.config import ApplyConfig
from brushwork.fast.inference import load_stylizer
from brushwork.fast.media import apply_video
config = ApplyConfig(threads=int(sys.argv[4]))
stylizer = load_stylizer(sys.argv[1], config)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
n = apply_video(stylizer, Path(sys.argv[2]), Path(sys.argv[3]), config)
print(n, time.perf_counter() - started, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def memory(model: str, seconds: float, fps: int, threads: int, workdir: Path) -> dict:
    frames_n = int(seconds * fps)
    photo = load_photo("cv_building.jpg")
    source = workdir / f"clip_{int(seconds)}s.mp4"
    # a slow pan back and forth over the photo: every frame differs, the flow is real
    cycle = pan(photo, 48, (1280, 720), dx=2.0, dy=0.5)
    write_video_lazy(source, (cycle[i % 96 if i % 96 < 48 else 95 - i % 96] for i in range(frames_n)), fps)
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, model, str(source), str(workdir / "out.mp4"),
                          str(threads)], capture_output=True, text=True, check=True)
    n, took, before, peak = out.stdout.split()
    return {"seconds_of_video": seconds, "fps": fps, "frames": int(n), "wall_s": float(took),
            "rss_before_model_run_mb": int(before) / 1024, "peak_rss_mb": int(peak) / 1024}


def write_video_lazy(path: Path, frames, fps: int) -> None:
    """Like clips.write_video, but from an iterator (a long clip never sits in memory)."""
    import av

    with av.open(str(path), "w", format="mp4") as out:
        v = None
        for frame in frames:
            if v is None:
                v = out.add_stream("libx264", rate=fps)
                v.height, v.width = frame.shape[:2]
                v.pix_fmt, v.options = "yuv420p", {"crf": "18", "preset": "veryfast"}
            for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="starry-night", help="a shipped per-style model (brushwork models)")
    p.add_argument("--frames", type=int, default=24, help="frames per shot (three shots)")
    p.add_argument("--strengths", type=float, nargs="*", default=[0.2, 0.3, 0.4, 0.5, 0.7])
    p.add_argument("--eval-every", type=int, default=4)
    p.add_argument("--eval-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=2, help="speed runs per setting (best kept)")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--memory-only", action="store_true", help="only the memory runs (written to -o)")
    p.add_argument("--short", type=float, default=10)
    p.add_argument("--long", type=float, default=120)
    p.add_argument("--memory-fps", type=int, default=2,
                   help="frame rate of the memory clips (the frame count, not the rate, is what could grow)")
    p.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "video.json"))
    args = p.parse_args()

    import torch

    from brushwork.config import ApplyConfig

    torch.set_num_threads(args.threads)
    default = ApplyConfig().temporal
    frames = make_clip(args.frames)
    result: dict = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
                    "size": list(SIZE), "default_temporal": default}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "clip.mp4"
        write_video(source, frames, fps=24, audio=True)
        decoded, _, _ = read_video(source)
        runs = []
        if args.memory_only:
            args.reps = 0
        for _ in range(args.reps):
            for temporal in (default, 0.0):
                runs.append(speed(args.model, source, temporal, args.threads))
        if not args.memory_only:
            best = {t: max((r for r in runs if r["temporal"] == t), key=lambda r: r["fps_from_cpu"])
                    for t in (default, 0.0)}
            ratio = best[default]["fps_from_cpu"] / best[0.0]["fps_from_cpu"]
            result["speed"] = {"temporal_on": best[default], "temporal_off": best[0.0],
                               "fps_ratio_on_vs_off": ratio, "runs": runs}
            strip = ROOT / "benchmarks" / "results" / "video_strip.png"
            result["quality"] = quality(args.model, decoded, args.strengths, default, args.eval_every,
                                        args.eval_size, strip)
        if not args.no_memory:
            result["memory"] = [memory(args.model, s, args.memory_fps, args.threads, Path(tmp))
                                for s in (args.short, args.long)]
            result["memory_ratio_long_vs_short"] = (result["memory"][1]["peak_rss_mb"]
                                                    / result["memory"][0]["peak_rss_mb"])
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    print_tables(result)
    return 0


def print_tables(r: dict) -> None:
    if "speed" in r:
        print_speed_quality(r)
    if "memory" in r:
        print("\n### Memory (1280x720)\n")
        print("| video s | fps | frames | wall s | peak RSS MB |")
        print("|---:|---:|---:|---:|---:|")
        for m in r["memory"]:
            print(f"| {m['seconds_of_video']:.0f} | {m['fps']} | {m['frames']} | {m['wall_s']:.0f} | "
                  f"{m['peak_rss_mb']:.0f} |")
        print(f"\npeak RSS ratio long/short: {r['memory_ratio_long_vs_short']:.3f}")


def print_speed_quality(r: dict) -> None:
    s = r["speed"]
    size = f"{r['size'][0]}x{r['size'][1]}"
    print(f"\n### Speed at {size}, {r['threads']} threads, model {r['quality']['model']}\n")
    print("| --temporal | frames | fps (wall) | fps (CPU s / threads) | flow + blend | load | cuts |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for key in ("temporal_on", "temporal_off"):
        x = s[key]
        print(f"| {x['temporal']} | {x['frames']} | {x['fps']:.2f} | {x['fps_from_cpu']:.2f} | "
              f"{x['temporal_share']:.1%} | {x['load_avg']:.1f} | {x['cuts']} |")
    print(f"\nfps ratio on/off: {s['fps_ratio_on_vs_off']:.2f}")
    q = r["quality"]
    print(f"\n### Flicker and style ({q['frames']} frames, {q['cuts_found']} cuts found; input floor "
          f"{q['input_floor']:.5f}; flow {q['flow_ms_per_pair']:.1f} ms a pair, both ways)\n")
    print("| --temporal | warping error | x per-frame | x input floor | style ratio | x per-frame |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in q["rows"]:
        print(f"| {row['strength']} | {row['warping_error']:.5f} | {row['error_vs_per_frame']:.2f} | "
              f"{row['warping_error'] / q['input_floor']:.2f} | {row['style_ratio']:.3f} | "
              f"{row['ratio_vs_per_frame']:.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
