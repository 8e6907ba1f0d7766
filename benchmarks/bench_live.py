"""Live mode in headless Chromium (WASM backend): frame rate, load time and memory over a long run.

    nice -n 10 .venv/bin/python benchmarks/bench_live.py                 # 10-minute memory run
    nice -n 10 .venv/bin/python benchmarks/bench_live.py --minutes 2 --seconds 10
    runs/quiet .venv/bin/python benchmarks/bench_live.py --part rates    # then --part memory

The real ``brushwork serve`` and Debian's Chromium with a fake camera (a y4m pan over a held-out photo,
tests/support/live.py): 640x480 for the 320x240 case, 640x360 for 640x360. Figures are camera to
screen: painted frames shown per second, automatic resolution drop off, stabiliser on (the default)
unless the row says otherwise. Load time: from navigation to the page's load event, and from pressing
Live camera to the first painted frame (runtime import, WebAssembly compile, model download, session,
camera), first visit (empty cache) and again (browser cache). Memory: Chromium's processes' PSS summed,
every 15 s. The machine is shared: os.getloadavg() is recorded beside every figure. Writes
benchmarks/results/live.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.live import camera_args, camera_clip, chromium_rss  # noqa: E402
from support.web import CHROMIUM, serve_cli  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import describe  # noqa: E402

#: What the browser part runs on, whatever the CPU has.
WASM_NOTE = "onnxruntime-web's WebAssembly build uses 128-bit SIMD whatever the CPU has"

RESULTS = ROOT / "benchmarks" / "results" / "live.json"


def until(page, condition: str, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = page.evaluate(f"() => {condition}")
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {condition}")


def status(page) -> dict:
    return page.evaluate("() => window.brushworkLive.status()")


def open_live(context, url: str) -> tuple[object, dict]:
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    loaded = time.perf_counter()
    page.click("#live-open")
    until(page, "window.brushworkLive && window.brushworkLive.status().frames >= 1")
    first = time.perf_counter()
    # The page's own marks (ms from navigation): Live opened, runtime imported, camera on, first
    # network ready, first frame painted.
    marks = {k: round(v) for k, v in status(page)["marks"].items()}
    return page, {"page_s": round(loaded - start, 3), "open_to_first_frame_s": round(first - loaded, 3),
                  "total_s": round(first - start, 3), "marks_ms": marks, "load": os.getloadavg()}


def rate(page, style: str, side: int, steady: float, seconds: float) -> dict:
    page.evaluate(f"() => window.brushworkLive.selectStyle('{style}')")
    until(page, f"window.brushworkLive.status().style === '{style}'")
    page.evaluate(f"() => {{ window.brushworkLive.setResolution({side}, false); "
                  f"window.brushworkLive.setSteady({steady}); }}")
    time.sleep(3)  # the first frames at a new size
    page.evaluate("() => window.brushworkLive.resetProfile()")
    before, start = status(page)["frames"], time.perf_counter()
    time.sleep(seconds)
    after = status(page)
    frames = after["frames"] - before
    return {"style": style, "size": f"{after['width']}x{after['height']}", "steady": steady,
            "fps": round(frames / (time.perf_counter() - start), 2), "frames": frames,
            "network_ms": round(after["runMs"], 1), "stabiliser_ms": round(after["steadyMs"], 1),
            "threads": after["threads"], "isolated": after["isolated"], "num_threads": after["numThreads"],
            "profile_ms": after["profile"], "load": os.getloadavg()}


#: The network alone in the page's runtime (no camera, no loop): each size's session.run, median of
#: `reps` after two warm-up runs, and with the dimensions fixed at session creation
#: (freeDimensionOverrides) to see whether a fixed shape helps.
INFERENCE_JS = """
async ([url, sizes, reps, fixed]) => {
  const ort = await import('/static/ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/static/ort/';
  ort.env.wasm.numThreads = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const out = {isolated: self.crossOriginIsolated, num_threads: ort.env.wasm.numThreads};
  for (const [w, h] of sizes) {
    const opts = {executionProviders: ['wasm'], graphOptimizationLevel: 'all'};
    if (fixed) opts.freeDimensionOverrides = {batch: 1, height: h, width: w};
    const session = await ort.InferenceSession.create(bytes.slice(), opts);
    const data = new Float32Array(3 * w * h).map((_, i) => (i % 251) / 251);
    const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, h, w])};
    const times = [];
    for (let k = 0; k < reps + 2; k++) {
      const t = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t);
    }
    times.splice(0, 2);
    times.sort((a, b) => a - b);
    out[`${w}x${h}`] = {median_ms: +times[times.length >> 1].toFixed(1), min_ms: +times[0].toFixed(1)};
    await session.release();
  }
  return out;
}
"""
SIZES = [[320, 240], [640, 360]]


def inference_alone(context, url: str, reps: int = 10) -> dict:
    """session.run alone in the browser (dynamic and fixed shapes) and in native onnxruntime (Python,
    2 threads, MLAS picks AVX-512 kernels here) for the shipped model and its Live copy (what the page
    paints with): the floor under the page's rate."""
    import numpy as np
    import onnxruntime as ort

    from brushwork.fast.inference import onnx_copy

    page = context.new_page()
    page.goto(url)
    full, live = "/api/live/models/starry_night.onnx", "/api/live/models/starry_night.onnx?live=true"
    result = {"browser": page.evaluate(INFERENCE_JS, [full, SIZES, reps, False]),
              "browser_fixed_shape": page.evaluate(INFERENCE_JS, [full, SIZES, reps, True]),
              "browser_live_copy": page.evaluate(INFERENCE_JS, [live, SIZES, reps, False])}
    page.close()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    natives = (("native_onnxruntime_ms", "starry-night"), ("native_live_copy_ms", "starry-night-live"))
    for key, name in natives:
        session = ort.InferenceSession(str(onnx_copy(name)), options, providers=["CPUExecutionProvider"])
        native = {}
        for w, h in SIZES:
            x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
            times = []
            for _ in range(reps + 2):
                start = time.perf_counter()
                session.run(None, {"image": x})
                times.append((time.perf_counter() - start) * 1000)
            native[f"{w}x{h}"] = round(float(np.median(times[2:])), 1)
        result[key] = native
    result["load"] = os.getloadavg()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the memory run")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds each frame-rate row is timed")
    parser.add_argument("--part", choices=("all", "rates", "memory"), default="all",
                        help="rates: load time and frame rates only; memory: the long run only (each keeps "
                             "the other's figures already in the JSON)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    result: dict = {"cpu": {**describe(), "note": WASM_NOTE}, "chromium": CHROMIUM,
                    "load_start": os.getloadavg(), "rows": []}
    if args.part != "all" and RESULTS.is_file():
        kept = json.loads(RESULTS.read_text())
        keep = (("memory", "memory_date") if args.part == "rates"
                else ("rows", "load_time", "inference_alone", "date", "load_start"))
        result.update({k: kept[k] for k in keep if k in kept})
    rates, memory = args.part in ("all", "rates"), args.part in ("all", "memory")
    if rates:
        result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if memory:
        result["memory_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(result["cpu"]))
    with tempfile.TemporaryDirectory() as tmp, serve_cli(Path(tmp) / "data", timeout=60) as url, \
            sync_playwright() as playwright:
        for size, side in (((640, 480), 320), ((640, 360), 640))[:2 if rates else 1]:
            # 30 fps: faster than the page paints, so the camera never holds the frame rate down
            clip = camera_clip(Path(tmp) / f"clip{size[1]}.y4m", size=size, frames=60, fps=30)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=camera_args(clip))
            context = browser.new_context()
            page, load = open_live(context, url)
            if rates and side == 320:
                result["load_time"] = {"first_visit": load}
                page.close()  # nothing else painting while the network is timed alone
                result["inference_alone"] = inference_alone(context, url)
                print("inference alone", json.dumps(result["inference_alone"]))
                page, again = open_live(context, url)  # the runtime and the model from the browser cache
                result["load_time"]["cached"] = again
                print("load", json.dumps(result["load_time"]))
            for style, steady in (("model:starry_night", 0.7), ("model:starry_night", 0.0),
                                  ("painting:starry_night", 0.7)) if rates else ():
                row = rate(page, style, side, steady, args.seconds)
                result["rows"].append(row)
                print(json.dumps(row))
            if memory and side == 320:  # the long run: the defaults (stabiliser on, automatic drop on)
                page.evaluate("() => { window.brushworkLive.setResolution(320, true); "
                              "window.brushworkLive.setSteady(0.7); }")
                samples, start = [], time.perf_counter()
                while time.perf_counter() - start < args.minutes * 60:
                    s = status(page)
                    heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : 0")
                    pss = round(chromium_rss() / 2**20, 1)
                    samples.append({"t": round(time.perf_counter() - start, 1), "pss_mb": pss,
                                    "js_heap_mb": round(heap / 2**20, 1), "frames": s["frames"],
                                    "size": f"{s['width']}x{s['height']}", "load": os.getloadavg()[0]})
                    print(json.dumps(samples[-1]))
                    time.sleep(15)
                after_minute = [x["pss_mb"] for x in samples if x["t"] >= 60] or [samples[-1]["pss_mb"]]
                result["memory"] = {"minutes": args.minutes, "samples": samples,
                                    "first_after_1_min_mb": after_minute[0],
                                    "max_after_1_min_mb": max(after_minute),
                                    "growth_after_1_min": round(max(after_minute) / after_minute[0] - 1, 3)}
                print("memory", json.dumps({k: v for k, v in result["memory"].items() if k != "samples"}))
            browser.close()
    result["load_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
