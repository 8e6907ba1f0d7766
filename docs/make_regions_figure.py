"""docs/images/regions/regions.jpg: photo | mask | arbitrary network | Gatys, for 3 held-out photos with
people (``--regions auto --region person=none``: the person kept, the background painted with Starry
Night), plus 2x crops of each result at hair and hands (crops.png).

    nice -n 10 .venv/bin/python docs/make_regions_figure.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from brushwork.config import ApplyConfig, RegionConfig, StylizeConfig
from brushwork.fast.inference import load_stylizer
from brushwork.images import image_to_tensor, resize_longest
from brushwork.regions import RegionPainter, person_regions, stylize_regions

PHOTOS = Path("/work/shared/data/photos")
PAINTING = Path("/work/shared/data/styles/van_gogh_starry_night.jpg")
OUT = Path(__file__).resolve().parent / "images" / "regions"
#: photo, and a (left, top) of a 96 px box at hair or hands in the 384 px picture.
ROWS = (("skimage_astronaut", (150, 10)), ("es_scene_loc5", (60, 150)), ("gc_music_mexico", (200, 90)))
SIZE, TILE, CROP = 384, 256, 96


def main() -> None:
    regions = RegionConfig(regions="auto", region=("person=none",))
    apply = ApplyConfig(size=SIZE)
    painter = RegionPainter(load_stylizer(None, apply, styles=[PAINTING]), apply, regions)
    gatys = StylizeConfig(size=SIZE)
    painting = Image.open(PAINTING).convert("RGB")
    sheet = Image.new("RGB", (4 * TILE, len(ROWS) * TILE), "white")
    crops = Image.new("RGB", (3 * 2 * CROP, len(ROWS) * 2 * CROP), "white")
    for row, (name, (left, top)) in enumerate(ROWS):
        photo = resize_longest(Image.open(PHOTOS / f"{name}.jpg").convert("RGB"), SIZE)
        person = person_regions(image_to_tensor(photo), regions).weights[0].numpy()
        mask = Image.fromarray((person * 255).astype(np.uint8)).convert("RGB")
        fast = painter.paint(photo)
        slow = stylize_regions(photo, [painting], gatys, regions)
        for col, picture in enumerate((photo, mask, fast, slow)):
            tile = picture.copy()
            tile.thumbnail((TILE, TILE))
            sheet.paste(tile, (col * TILE + (TILE - tile.width) // 2, row * TILE + (TILE - tile.height) // 2))
        box = (left, top, left + CROP, top + CROP)
        for col, picture in enumerate((photo, fast, slow)):
            crops.paste(picture.crop(box).resize((2 * CROP, 2 * CROP), Image.NEAREST),
                        (col * 2 * CROP, row * 2 * CROP))
        print(name, "done")
    OUT.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT / "regions.jpg", quality=88)
    crops.save(OUT / "crops.png")


if __name__ == "__main__":
    main()
