"""Live's stabiliser: warping error and style ratio of the browser's frames, stabiliser off and on.

The page paints a fake camera (a pan over a held-out photo, tests/support/live.py) with the Live copy
of a shipped model; ``brushwork.trace(n)`` hands back, for each of n frames, the camera frame, the
network's painting of it (the stabiliser off) and what was shown (on), so both are measured on the same
frames. Warping error: ``brushwork.temporal.warping_errors`` (the project's measure, flow of the
camera frames); style ratio: the reference VGG19's all-layer ratio to the painting (lower is more
painting). The issue's target (24): error on <= 0.5x off, style ratio at most 10 % worse.

    python benchmarks/bench_live_steady.py --sides 160 320 --repeats 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_live import status, until  # noqa: E402
from machine import describe, header  # noqa: E402
from support.live import camera_args, camera_clip, data_url_image  # noqa: E402
from support.web import CHROMIUM, serve_cli  # noqa: E402

from brushwork.metrics import ReferenceLoss  # noqa: E402
from brushwork.temporal import mean_error, warping_errors  # noqa: E402

#: What paints the frames: the page's runtime, whatever the CPU has.
ENGINE = "onnxruntime-web WebAssembly (128-bit SIMD, 2 threads), fp32, in Chromium"
RESULTS = ROOT / "benchmarks" / "results" / "live_steady.json"
SAMPLES = ROOT / "src" / "brushwork" / "data" / "samples"
STYLES = {"model:starry_night": SAMPLES / "starry_night.jpg", "model:great_wave": SAMPLES / "great_wave.jpg"}


def trace(page, count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    items = page.evaluate(f"() => window.brushworkLive.trace({count})")
    return [tuple(data_url_image(i[k]) for k in ("input", "painted", "output")) for i in items]


def figures(frames, painting: Image.Image, reference: ReferenceLoss) -> dict:
    """Warping error and mean style ratio of the painted (off) and shown (on) frames."""
    inputs = [f[0] for f in frames]
    out = {}
    for name, index in (("off", 1), ("on", 2)):
        outputs = [f[index] for f in frames]
        ratios = [reference.style_ratios(Image.fromarray(o), Image.fromarray(i), painting)["all"]
                  for i, o in zip(inputs, outputs)]
        out[name] = {"warping_error": mean_error(warping_errors(inputs, outputs)),
                     "style_ratio": float(np.mean(ratios))}
    out["error_x"] = out["on"]["warping_error"] / out["off"]["warping_error"]
    out["style_x"] = out["on"]["style_ratio"] / out["off"]["style_ratio"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[160, 320])
    parser.add_argument("--steady", type=float, nargs="+", default=[0.7], help="stabiliser strengths")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.15],
                        help="fine band's share of the blend (live.js HIGH_SHARE)")
    parser.add_argument("--passes", type=int, nargs="+", default=[1],
                        help="passes of the blur that splits off the smooth band (live.js LOW_PASSES)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=14)
    parser.add_argument("--styles", nargs="+", choices=sorted(STYLES), default=list(STYLES))
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(header(engine=ENGINE))
    reference = ReferenceLoss(256)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, serve_cli(Path(tmp) / "data", timeout=60) as url, \
            sync_playwright() as playwright:
        clip = camera_clip(Path(tmp) / "clip.y4m")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=camera_args(clip))
        page = browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
        page.goto(url)
        page.click("#live-open")
        until(page, "window.brushworkLive && window.brushworkLive.status().frames >= 3")
        for style in args.styles:
            painting = Image.open(STYLES[style]).convert("RGB")
            page.evaluate(f"() => window.brushworkLive.selectStyle('{style}')")
            until(page, f"window.brushworkLive.status().style === '{style}'")
            for side in args.sides:
                page.evaluate(f"() => window.brushworkLive.setResolution({side}, false)")
                # a trace begun before the new size is painted would mix two sizes
                until(page, f"Math.max(window.brushworkLive.status().width, "
                            f"window.brushworkLive.status().height) === {side}")
                for steady, share, passes in itertools.product(args.steady, args.shares, args.passes):
                    page.evaluate(f"() => window.brushworkLive.setSteady({steady}, {share}, {passes})")
                    runs = [figures(trace(page, args.frames), painting, reference)
                            for _ in range(args.repeats)]
                    row = {"style": style, "side": side, "steady": steady, "share": share, "passes": passes,
                           "size": f"{status(page)['width']}x{status(page)['height']}",
                           "error_x": [round(r["error_x"], 3) for r in runs],
                           "style_x": [round(r["style_x"], 3) for r in runs], "runs": runs}
                    row["met"] = [e <= 0.5 and s <= 1.10 for e, s in zip(row["error_x"], row["style_x"])]
                    rows.append(row)
                    print(f"{style:20s} {row['size']:>8s} steady {steady:.2f} share {share:.2f} "
                          f"passes {passes}: "
                          f"error {statistics.median(row['error_x']):.2f}x {row['error_x']}, "
                          f"style {statistics.median(row['style_x']):.3f}x {row['style_x']}, "
                          f"met {sum(row['met'])}/{len(row['met'])}", flush=True)
        browser.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    record = {"cpu": describe(), "engine": ENGINE, "date": when, "frames": args.frames, "rows": rows}
    args.json.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
