"""The held-out split of issue 21 (``heldout.json``): paintings and photos no training run may see.

    python benchmarks/heldout.py FOLDER   # FOLDER/{train_photos,heldout_photos,train_styles,heldout_styles}

makes folders of symbolic links into ``../shared/data`` (nothing is copied), for ``brushwork train --data
FOLDER/train_photos --val-data FOLDER/heldout_photos`` and for ``benchmarks/train_arbitrary.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SPLIT = json.loads((Path(__file__).with_name("heldout.json")).read_text())
HELDOUT_PAINTINGS: tuple[str, ...] = tuple(SPLIT["paintings"])
HELDOUT_PHOTOS: tuple[str, ...] = tuple(SPLIT["photos"])


def files(kind: str, held_out: bool, data: Path = DATA) -> list[Path]:
    """Sorted files of ``data/kind`` (``photos`` or ``styles``) in (or out of) the held-out split."""
    names = set(HELDOUT_PHOTOS if kind == "photos" else HELDOUT_PAINTINGS)
    every = sorted(p for p in (data / kind).iterdir() if p.is_file() and not p.name.startswith("."))
    return [p for p in every if (p.stem in names) == held_out]


def make_folders(root: Path, data: Path = DATA) -> dict[str, Path]:
    """Folders of links: train_photos, heldout_photos, train_styles, heldout_styles."""
    made = {}
    for kind, label in (("photos", "photos"), ("styles", "styles")):
        for held_out in (False, True):
            folder = root / f"{'heldout' if held_out else 'train'}_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for path in files(kind, held_out, data):
                link = folder / path.name
                if not link.exists():
                    link.symlink_to(path.resolve())
            made[folder.name] = folder
    return made


if __name__ == "__main__":
    for name, folder in make_folders(Path(sys.argv[1])).items():
        print(f"{name}: {len(list(folder.iterdir()))} files in {folder}")
