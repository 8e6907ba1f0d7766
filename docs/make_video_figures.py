"""The figures of docs/fast.md's Video section, from benchmarks/bench_video.py's results.

    python benchmarks/bench_video.py && python docs/make_video_figures.py

Writes docs/images/video/strip.jpg (the benchmark's strip of frames) and flicker.png (warping error
over time, and the strength trade-off).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "images" / "video"


def main() -> None:
    data = json.loads((RESULTS / "video.json").read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    Image.open(RESULTS / "video_strip.png").convert("RGB").save(OUT / "strip.jpg", quality=88)
    q = data["quality"]
    default = data["default_temporal"]
    rows = {r["strength"]: r for r in q["rows"]}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [2, 1]})
    t = range(1, q["frames"])
    for label, series, style in (("input (floor)", q["floor_errors"], ":"),
                                 ("per-frame (--temporal 0)", rows[0.0]["errors"], "--"),
                                 (f"temporal (--temporal {default})", rows[default]["errors"], "-")):
        left.plot(t, [math.nan if v is None else v for v in series], style, marker=".", label=label)
    left.set_xlabel("frame t (gaps: the two scene cuts)")
    left.set_ylabel("warping error of t against t-1")
    left.set_yscale("log")
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8)
    strengths = sorted(rows)
    errors = [rows[s]["error_vs_per_frame"] for s in strengths]
    right.plot(errors, [rows[s]["ratio_vs_per_frame"] for s in strengths], "o-")
    for s in strengths:
        right.annotate(f"{s:g}", (rows[s]["error_vs_per_frame"], rows[s]["ratio_vs_per_frame"]), fontsize=8,
                       textcoords="offset points", xytext=(4, 4))
    right.axvline(0.5, color="grey", lw=0.8, ls=":")
    right.axhline(1.1, color="grey", lw=0.8, ls=":")
    right.set_xlabel("warping error / per-frame")
    right.set_ylabel("style ratio / per-frame (higher = less painting)")
    right.set_title("--temporal strength", fontsize=9)
    right.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT / "flicker.png", dpi=100)


if __name__ == "__main__":
    main()
