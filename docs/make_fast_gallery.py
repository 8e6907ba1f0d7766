"""Regenerate the shipped-styles gallery: python docs/make_fast_gallery.py [PHOTO...]

One row per shipped model: the painting it was trained on, then its output at 512 px for each
photo (straight from ``brushwork.fast.inference.paint``, the public ``brushwork.apply``); a first
row shows the photos themselves.
With ``--losses NAME=CSV ...`` it also draws each model's loss plot (images/fast/NAME_loss_plot.png)
from its training run's losses CSV (``docs/train_styles_gpu.py unpack`` writes them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from brushwork.fast.checkpoint import read_losses
from brushwork.fast.inference import load_stylizer, paint
from brushwork.fast.report import plot_losses
from brushwork.models import shipped_models
from brushwork.networks.model_files import read_metadata

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "images" / "fast"
DATA = ROOT.parent.parent / "shared" / "data"
SAMPLES = ROOT.parent / "src" / "brushwork" / "data" / "samples"
#: Photos no shipped model was trained on (docs/train_styles_gpu.py holds them out).
PHOTOS = [DATA / "photos" / f"{stem}.jpg" for stem in
          ("gc_details_toureiffel", "visp_solvay_conference_1927", "es_water9", "es_canyon03")]
HEIGHT = 200
GAP = 6


def fit(image: Image.Image, height: int = HEIGHT) -> Image.Image:
    return image.convert("RGB").resize((round(image.width * height / image.height), height), Image.LANCZOS)


def gallery(rows: list[tuple[str, list[Image.Image]]]) -> Image.Image:
    """Rows of equal-height tiles with a label above each row."""
    label_h = 18
    width = max(sum(t.width for t in tiles) + GAP * (len(tiles) - 1) for _, tiles in rows)
    sheet = Image.new("RGB", (width, len(rows) * (HEIGHT + label_h + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for label, tiles in rows:
        draw.text((4, y + 3), label, fill="black")
        x = 0
        for tile in tiles:
            sheet.paste(tile, (x, y + label_h))
            x += tile.width + GAP
        y += HEIGHT + label_h + GAP
    return sheet


def plot_run(name: str, csv_path: Path) -> None:
    """The loss plot of a shipped model's training run, titled with its recipe."""
    import json

    meta = read_metadata(next(m.path for m in shipped_models() if m.name == name))
    config = json.loads(meta["config"])
    title = (f"{name}: from Magenta's network, {config['loss_scaling']} losses, style weight "
             f"{config['style_weight']:g}, lr {config['lr']:g}, {config['image_size']} px, "
             f"batch {config['batch_size']}")
    plot_losses(OUT / f"{name}_loss_plot.png", read_losses(csv_path, int(meta["steps"])), title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path, default=PHOTOS)
    parser.add_argument("--losses", nargs="*", default=[], metavar="NAME=CSV",
                        help="a shipped model's training losses CSV")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    photos = [Image.open(p).convert("RGB") for p in args.photos]
    blank = Image.new("RGB", (HEIGHT, HEIGHT), "white")
    rows = [("photos (brushwork apply STYLE PHOTO --size 512 below)", [blank] + [fit(p) for p in photos])]
    for model in shipped_models():
        stylizer = load_stylizer(model.name)
        meta = stylizer.meta
        painting = DATA / "styles" / meta["style_image"]
        first = fit(Image.open(painting)) if painting.is_file() else blank
        outputs = [fit(paint(stylizer, p, size=512)) for p in photos]
        rows.append((f"{model.name}: {meta['style_image']}", [first] + outputs))
        print(f"{model.name} done")
    gallery(rows).save(OUT / "gallery.jpg", quality=88)
    for spec in args.losses:
        name, csv_path = spec.split("=", 1)
        plot_run(name, Path(csv_path))
    print(f"wrote {OUT / 'gallery.jpg'}")


if __name__ == "__main__":
    main()
