"""Time to quality: how long brushwork's default `stylize` takes to paint as well as the peer's
300-step run, on real photo × painting pairs (``peer_runs.PAIRS``).

For each pair at each size:

* the peer (`pastiche`, 300 L-BFGS steps, its own defaults) runs once and is cached
  (``peer_runs.py``): its picture and peak memory; its wall time is taken in this run, next to
  ours, as start-up + 300 x its median step from a short run (``peer_runs.peer_timing``): a full
  run of pastiche does a fixed number of equal steps, and a cached time from hours earlier would
  compare two different loads;
* brushwork's default command (``brushwork stylize PHOTO PAINTING -o OUT --size S``) runs as a
  child process: wall time from process start to saved result, peak memory (``wait4``);
* a *trace* run of the same default optimisation in this process measures the reference losses
  (``brushwork.metrics.ReferenceLoss``: one fixed VGG19, as in ``brushwork evaluate``) of the
  current picture every few steps, with the clock stopped while measuring; the time to quality is
  the optimisation time until the picture's reference style loss is at most the peer's and its
  content loss at most 1.1x the peer's (Gatys-style runs trade the two against each other).

Quality is measured as `brushwork evaluate` does: VGG losses at its eval size (256 px), SSIM at the
result's size. Targets (issue 12): default wall time <= 0.25x the
peer's, deep-layer style ratio <= 1.1x the peer's, SSIM to the photo >= 0.9x the peer's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import peer_runs

ROOT = Path(__file__).resolve().parents[1]
CONTENT_SLACK = 1.1
TRACE_EVERY = 10


def quality(result_path: Path | str, pair: tuple[str, str], size: int, ruler) -> dict:
    """Reference numbers of one picture (as ``brushwork evaluate`` computes them)."""
    from PIL import Image

    from brushwork import metrics
    from brushwork.images import open_image, resize_longest, resize_to

    content_path, style_path = peer_runs.pair_paths(pair)
    content = resize_longest(open_image(content_path), size)
    style = open_image(style_path)
    result = Image.open(result_path).convert("RGB")
    if result.size != content.size:
        result = resize_to(result, *content.size)
    measures = ruler.style_measures(result, content, style)
    return {"content_loss": ruler.content_loss(result, content), "style_loss": measures["style_loss"],
            "style_ratio_deep": measures["deep"], "style_ratio_all": measures["all"],
            "ssim": metrics.ssim(metrics.to_array(result), metrics.to_array(content))}


def ours_path(pair: tuple[str, str], size: int) -> Path:
    """Where brushwork's default picture of ``pair`` at ``size`` is kept (beside the peer's cache)."""
    return ROOT / "benchmarks" / ".cache" / f"ours_{peer_runs.pair_name(pair)}_{size}.png"


#: ``python -m brushwork ARGS`` that prints its own peak RSS last on stderr (``peer_runs.PEAK_KB``:
#: this process holds the reference VGG and a traced run, and wait4's ru_maxrss made every pair read
#: ~1155 MB where the CLI alone peaks at ~840).
CLI_WITH_PEAK = peer_runs.PEAK_KB + """
import atexit, runpy, sys
atexit.register(lambda: print("VmHWM_KB", peak_kb(), file=sys.stderr))
sys.argv[0] = "brushwork"
runpy.run_module("brushwork", run_name="__main__", alter_sys=True)
"""


def run_default(pair: tuple[str, str], size: int, out: Path, threads: int, extra: list[str]) -> dict:
    """brushwork's default command as a user runs it: wall time and peak memory of the process."""
    content, style = peer_runs.pair_paths(pair)
    cmd = [sys.executable, "-c", CLI_WITH_PEAK, "stylize", str(content), str(style), "-o", str(out),
           "--size", str(size), "--quiet", "--overwrite", *extra]
    env = peer_runs.child_env(threads)
    env["PYTHONPATH"] = str(ROOT / "src")
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"brushwork stylize failed: {done.stderr[-1500:]}")
    peak_kb = int(done.stderr.strip().splitlines()[-1].split()[-1])
    return {"wall_s": wall, "peak_mb": peak_kb / 1024, "says": done.stdout.strip()}


def trace(pair: tuple[str, str], size: int, peer_q: dict, ruler, threads: int, overrides: dict) -> dict:
    """Optimisation time (measurement excluded) until the picture matches the peer's quality."""
    import torch

    from brushwork.config import StylizeConfig
    from brushwork.gatys.optimize import stylize
    from brushwork.images import open_image

    torch.set_num_threads(threads)
    content, style = (open_image(p) for p in peer_runs.pair_paths(pair))
    clock = {"spent": 0.0, "since": time.perf_counter(), "reached": None, "steps": 0}
    points: list[dict] = []

    def callback(it) -> None:
        now = time.perf_counter()
        clock["spent"] += now - clock["since"]
        clock["steps"] += 1
        if clock["steps"] % TRACE_EVERY == 0 or it.converged:
            with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
                it.image.save(tmp.name)
                q = quality(tmp.name, pair, size, ruler)
            points.append({"step": clock["steps"], "scale": it.scale, "seconds": clock["spent"], **q})
            if clock["reached"] is None and it.scale + 1 == it.scales and reached(q, peer_q):
                clock["reached"] = clock["spent"]
        clock["since"] = time.perf_counter()

    stylize(content, style, StylizeConfig(size=size, **overrides), callback=callback)
    return {"time_to_quality_s": clock["reached"], "optimise_s": clock["spent"], "steps": clock["steps"],
            "points": points}


def reached(q: dict, peer_q: dict) -> bool:
    return (q["style_loss"] <= peer_q["style_loss"]
            and q["content_loss"] <= CONTENT_SLACK * peer_q["content_loss"])


def measure(sizes: list[int], threads: int = 2, pairs: list[int] | None = None, do_trace: bool = True,
            extra: list[str] | None = None, overrides: dict | None = None, timed_peer: bool = True
            ) -> list[dict]:
    """One row per (pair, size): the peer's run, brushwork's default command, and the trace."""
    from brushwork.config import EvaluateConfig
    from brushwork.metrics import ReferenceLoss

    ruler = ReferenceLoss(size=EvaluateConfig().eval_size)  # the ruler of `brushwork evaluate`
    rows = []
    for size in sizes:
        for i in pairs if pairs is not None else range(len(peer_runs.PAIRS)):
            pair = peer_runs.PAIRS[i]
            peer = peer_runs.peer_run(pair, size, threads=threads)
            peer_q = quality(ROOT / peer["image"], pair, size, ruler)
            if timed_peer:  # its time under the same load as ours, minutes apart
                timing = peer_runs.peer_timing(pair, size, threads=threads)
                peer = {**peer, "cached_wall_s": peer["wall_s"], **timing}
                peer["wall_s"] = peer["wall_s_estimated"]
            out = ours_path(pair, size)
            ours = run_default(pair, size, out, threads, extra or [])
            ours_q = quality(out, pair, size, ruler)
            row = {"pair": peer_runs.pair_name(pair), "size": size, "peer": {**peer, **peer_q},
                   "brushwork": {**ours, **ours_q, "image": str(out.relative_to(ROOT))},
                   "time_ratio": ours["wall_s"] / peer["wall_s"],
                   "memory_ratio": ours["peak_mb"] / peer["peak_mb"] if peer.get("peak_mb") else None,
                   "deep_ratio_vs_peer": ours_q["style_ratio_deep"] / peer_q["style_ratio_deep"],
                   "ssim_vs_peer": ours_q["ssim"] / peer_q["ssim"], "load_avg": os.getloadavg()}
            if do_trace:
                row["trace"] = trace(pair, size, peer_q, ruler, threads, overrides or {})
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "trace"}, default=str), file=sys.stderr)
    return rows


def measure_time(size: int, threads: int = 2, pairs: list[int] | None = None,
                 peer_quality: dict[str, dict] | None = None, extra: list[str] | None = None) -> list[dict]:
    """Time only, where the peer's full run is too long to cache (1024 px: over an hour here):
    brushwork's default command against the peer's start-up + 300 x its median step, timed now.

    With ``peer_quality`` (pair name -> the reference numbers of the peer's 300-step picture, from an
    earlier full run: its picture is deterministic, so its quality does not change between runs),
    our picture's quality is measured too and compared with it."""
    from brushwork.config import EvaluateConfig
    from brushwork.metrics import ReferenceLoss

    ruler = ReferenceLoss(size=EvaluateConfig().eval_size) if peer_quality else None
    rows = []
    for i in pairs if pairs is not None else range(len(peer_runs.PAIRS)):
        pair = peer_runs.PAIRS[i]
        name = peer_runs.pair_name(pair)
        peer = peer_runs.peer_timing(pair, size, steps=4, threads=threads)
        out = ours_path(pair, size)
        ours = run_default(pair, size, out, threads, extra or [])
        row = {"pair": name, "size": size, "peer": peer, "brushwork": ours,
               "time_ratio": ours["wall_s"] / peer["wall_s_estimated"], "load_avg": os.getloadavg()}
        if peer_quality and name in peer_quality:
            ours.update(quality(out, pair, size, ruler), image=str(out.relative_to(ROOT)))
            peer_q = peer_quality[name]
            peer.update({k: peer_q[k] for k in ("style_ratio_deep", "ssim", "style_ratio_all")})
            row["deep_ratio_vs_peer"] = ours["style_ratio_deep"] / peer_q["style_ratio_deep"]
            row["ssim_vs_peer"] = ours["ssim"] / peer_q["ssim"]
        rows.append(row)
        print(json.dumps(rows[-1], default=str), file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| pair | size | pastiche 300 steps | brushwork default | ratio | time to peer quality | "
             "deep style ratio (ours / peer) | SSIM (ours / peer) | peak MB (ours / peer) |",
             "|---|---:|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        p, b = r["peer"], r["brushwork"]
        ttq = (r.get("trace") or {}).get("time_to_quality_s")
        ttq_s = f"{ttq:.0f} s ({ttq / p['wall_s']:.2f}x)" if ttq is not None else (
            "not reached" if "trace" in r else "–")
        mem = f"{b['peak_mb']:.0f} / {p['peak_mb']:.0f}" if p.get("peak_mb") else f"{b['peak_mb']:.0f} / –"
        lines.append(
            f"| {r['pair']} | {r['size']} | {p['wall_s']:.0f} s | {b['wall_s']:.0f} s | "
            f"{r['time_ratio']:.2f} | "
            f"{ttq_s} | {b['style_ratio_deep']:.3f} / {p['style_ratio_deep']:.3f} "
            f"({r['deep_ratio_vs_peer']:.2f}x) | {b['ssim']:.3f} / {p['ssim']:.3f} "
            f"({r['ssim_vs_peer']:.2f}x) | "
            f"{mem} |")
    return "\n".join(lines)


def gallery(rows: list[dict], out: Path, width: int = 384) -> Path:
    """Photo, the peer's 300-step picture and brushwork's default, one row per pair: the pictures
    the table's numbers are about, to be looked at side by side."""
    from PIL import Image, ImageDraw

    from brushwork.images import open_image, resize_longest

    tiles = []
    for r in rows:
        pair = next(p for p in peer_runs.PAIRS if peer_runs.pair_name(p) == r["pair"])
        photo = resize_longest(open_image(peer_runs.pair_paths(pair)[0]), r["size"])
        pictures = [photo, Image.open(ROOT / r["peer"]["image"]), Image.open(r["brushwork"]["image"])]
        height = round(width * photo.height / photo.width)
        tiles.append([im.convert("RGB").resize((width, height), Image.LANCZOS) for im in pictures])
    gap, top = 4, 24
    sheet_height = top + sum(row[0].height + gap for row in tiles) - gap
    sheet = Image.new("RGB", (3 * width + 2 * gap, sheet_height), "white")
    draw = ImageDraw.Draw(sheet)
    for k, label in enumerate(["photo", "pastiche, 300 steps", "brushwork default"]):
        draw.text((k * (width + gap) + 4, 6), label, fill="black")
    y = top
    for row in tiles:
        for k, tile in enumerate(row):
            sheet.paste(tile, (k * (width + gap), y))
        y += row[0].height + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=88)
    return out
