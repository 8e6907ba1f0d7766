"""Regenerate the README's pictures with brushwork itself: python docs/make_readme_images.py"""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image, ImageDraw

from brushwork import StylizeConfig, open_image, save_image, stylize
from brushwork.images import resize_longest
from brushwork.networks.weights import load_vgg

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT.parent / "src" / "brushwork" / "data" / "samples"
OUT = ROOT / "images"


def labelled_strip(images: list[Image.Image], labels: list[str], height: int = 200) -> Image.Image:
    """Images side by side at one height, each with a caption underneath."""
    scaled = [im.resize((round(im.width * height / im.height), height), Image.LANCZOS) for im in images]
    strip = Image.new("RGB", (sum(im.width for im in scaled) + 8 * (len(scaled) - 1), height + 24), "white")
    draw = ImageDraw.Draw(strip)
    x = 0
    for im, label in zip(scaled, labels):
        strip.paste(im, (x, 0))
        draw.text((x + 4, height + 6), label, fill="black")
        x += im.width + 8
    return strip


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    vgg = load_vgg()
    photo = open_image(SAMPLES / "canyon.jpg")
    starry = open_image(SAMPLES / "starry_night.jpg")
    wave = open_image(SAMPLES / "great_wave.jpg")

    started = time.perf_counter()
    hero = stylize(photo, starry, StylizeConfig(size=512), vgg=vgg)  # the default command
    print(f"hero: {time.perf_counter() - started:.0f} s")
    save_image(hero, OUT / "canyon_starry_night.jpg")
    save_image(labelled_strip([photo, starry, hero], ["photo", "painting", "brushwork stylize"]),
               OUT / "tour.jpg")

    base = StylizeConfig(size=256)
    weights = [3.0, base.style_weight, 50.0]
    results = [stylize(photo, wave, base.replace(style_weight=w), vgg=vgg) for w in weights]
    save_image(labelled_strip(results, [f"--style-weight {w:g}" for w in weights], 160),
               OUT / "style_weight.jpg")

    plain = stylize(photo, wave, base, vgg=vgg)
    kept = stylize(photo, wave, base.replace(preserve_colors=True), vgg=vgg)
    blend = stylize(photo, [starry, wave], base, vgg=vgg)
    save_image(labelled_strip([resize_longest(photo, 256), plain, kept, blend],
                              ["photo", "great wave", "--preserve-colors", "starry night + great wave"], 160),
               OUT / "options.jpg")
    print(f"all: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
