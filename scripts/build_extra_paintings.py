"""Build extra style paintings from the Debian package gcompris-qt-data (public-domain artworks).

It fetches the package with ``apt-get download``, unpacks it with ``dpkg-deb -x`` and reads the Qt
resource files (``usr/share/gcompris-qt/rcc/*.rcc``) with PySide6 (``QResource.registerResource``,
``QFile``, ``QImage``). Paintings that GCompris ships whole are re-encoded; jigsaw puzzles are put back
together from their pieces, each centred on the position its activity's ``board/*.qml`` gives (as
the babymatch engine draws them). Each painting is written as ``<artist>_<title>.jpg``, JPEG quality
92, longest side at most 1024 px (never enlarged), and one Markdown table row per painting is
printed for ``docs/data/EXTRA_PAINTINGS.md``.

Only the paintings listed in ``PAINTINGS`` are taken: the ones not already in the shared styles
set (``/work/shared/data/SOURCES.md``). Needs PySide6 (with its Qt image plugins, webp included) in
any virtualenv, plus ``apt-get`` and ``dpkg-deb``; it never imports brushwork:

    python -m venv /tmp/harvest/venv && /tmp/harvest/venv/bin/pip install PySide6  # or PySide6-Essentials
    /tmp/harvest/venv/bin/python scripts/build_extra_paintings.py --out runs/styles_extra
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QFile, QIODevice, QRect, QResource, Qt
from PySide6.QtGui import QColor, QImage, QPainter

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "gcompris-qt-data"
RCC_DIR = Path("usr/share/gcompris-qt/rcc")
MAX_SIDE = 1024
QUALITY = 92
BLEED_PX = 2
BLEED = [(dx, dy) for dx in range(-BLEED_PX, BLEED_PX + 1) for dy in range(-BLEED_PX, BLEED_PX + 1)
         if dx or dy]


@dataclass(frozen=True)
class Painting:
    """One artwork: where it lies in the package and what it is called."""

    file: str  # output stem, artist_title
    artwork: str  # artist, title (date)
    activity: str  # rcc file stem and activity folder
    source: str  # an image, or a board qml to assemble, relative to the activity's resource/
    licence: str  # the licence debian/copyright gives these files

    @property
    def resource(self) -> str:
        return f":/gcompris/src/activities/{self.activity}/resource/{self.source}"


PAINTINGS = [
    Painting("arcimboldo_the_librarian", "Giuseppe Arcimboldo, The Librarian (c. 1566)",
             "paintings", "board/board3_0.qml", "GPL-3+"),
    Painting("hokusai_woman_holding_a_fan", "Katsushika Hokusai, Woman Holding a Fan",
             "paintings", "board/board5_0.qml", "GPL-3+"),
    Painting("hiroshige_benzaiten_shrine_inokashira_snow",
             "Utagawa Hiroshige, The Benzaiten Shrine at Inokashira in Snow (woodblock print)",
             "paintings", "board/board8_0.qml", "GPL-3+"),
    Painting("bellini_pesaro_altarpiece_detail",
             "Giovanni Bellini, Pesaro Altarpiece (Pala di Pesaro), detail: the landscape behind the throne",
             "paintings", "board/board15_0.qml", "GPL-3+"),
    Painting("renoir_girls_at_the_piano", "Pierre-Auguste Renoir, Girls at the Piano (1892)",
             "paintings", "board/board18_0.qml", "GPL-3+"),
    Painting("cassatt_summertime", "Mary Cassatt, Summertime (1894)",
             "paintings", "board/board21_0.qml", "GPL-3+"),
    Painting("gauguin_arearea", "Paul Gauguin, Arearea (1892)",
             "babyshapes", "board/board7_0.qml", "GPL-3"),
    Painting("bruegel_the_peasant_wedding", "Pieter Bruegel the Elder, The Peasant Wedding (c. 1567)",
             "babyshapes", "board/board7_1.qml", "GPL-3"),
    Painting("van_gogh_the_night_cafe", "Vincent van Gogh, The Night Café (1888)",
             "details", "image/Van_Gogh_The_Night_Cafe_background.webp", "GPL-3"),
]


def run(cmd: list[str], cwd: Path) -> str:
    """Run a command, failing loudly; returns its stdout."""
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def fetch_package(work: Path, deb: Path | None) -> tuple[Path, str]:
    """Download (unless given) and unpack the .deb; returns the unpacked root and the version."""
    if deb is None:
        run(["apt-get", "download", PACKAGE], work)
        deb = sorted(work.glob(f"{PACKAGE}_*.deb"))[-1]
    root = work / "extracted"
    run(["dpkg-deb", "-x", str(deb.resolve()), str(root)], work)
    version = run(["dpkg-deb", "-f", str(deb.resolve()), "Version"], work).strip()
    return root, version


def register(root: Path, activity: str, done: set[str]) -> None:
    """Map one activity's .rcc into the ':/' resource tree (once)."""
    if activity in done:
        return
    rcc = root / RCC_DIR / f"{activity}.rcc"
    if not QResource.registerResource(str(rcc)):
        raise RuntimeError(f"cannot register {rcc}")
    done.add(activity)


def read_text(path: str) -> str:
    """Read a text file from the registered resources."""
    f = QFile(path)
    if not f.open(QIODevice.OpenModeFlag.ReadOnly):
        raise FileNotFoundError(path)
    try:
        return bytes(f.readAll().data()).decode("utf-8")
    finally:
        f.close()


def read_image(path: str) -> QImage:
    """Decode an image from the registered resources as premultiplied ARGB."""
    image = QImage(path)
    if image.isNull():
        raise FileNotFoundError(path)
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def parse_board(text: str) -> tuple[str, list[dict[str, str]]]:
    """A board qml's instruction and its items (dicts of the quoted keys: pixmapfile, x, y, ...)."""
    found = re.search(r'instruction:\s*qsTr\("([^"]*)"\)', text)
    items = []
    for block in re.findall(r"\{[^{}]*\}", text):
        fields = dict(re.findall(r'"(\w+)"\s*:\s*"?([^",\n}]+?)"?\s*(?:,|\n|$)', block))
        if "pixmapfile" in fields:
            items.append(fields)
    return (found.group(1) if found else ""), items


def blank(width: int, height: int) -> QImage:
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    return image


def assemble(base: str, items: list[dict[str, str]]) -> QImage:
    """Draw the board: its background (an image, or an svg's width x height) then each piece, centred
    at (x * width, y * height) at its own size. A jigsaw (svg background) is cropped to its pieces,
    and each piece is first drawn shifted by up to BLEED_PX px underneath the others, so that the
    1-2 px seams and soft edges between neighbours show neighbouring paint instead of white."""
    background = next(i for i in items if i.get("type") == "SHAPE_BACKGROUND_IMAGE")
    jigsaw = background["pixmapfile"].endswith(".svg")
    if jigsaw:
        canvas = blank(int(background["width"]), int(background["height"]))
    else:
        canvas = read_image(base + background["pixmapfile"])
    placed = [place(read_image(base + i["pixmapfile"]), i, canvas) for i in items if "type" not in i]
    painter = QPainter(canvas)
    for dx, dy in (BLEED if jigsaw else []) + [(0, 0)]:
        for rect, image in placed:
            painter.drawImage(rect.left() + dx, rect.top() + dy, image)
    painter.end()
    if not jigsaw:
        return canvas
    crop = QRect()
    for rect, _ in placed:
        crop = crop.united(rect)
    return canvas.copy(crop.intersected(canvas.rect()))


def place(image: QImage, piece: dict[str, str], canvas: QImage) -> tuple[QRect, QImage]:
    """The piece's rectangle on the canvas: centred at (x * width, y * height), at its own size."""
    left = round(float(piece["x"]) * canvas.width() - image.width() / 2)
    top = round(float(piece["y"]) * canvas.height() - image.height() / 2)
    return QRect(left, top, image.width(), image.height()), image


def transparent_share(image: QImage) -> float:
    """Fraction of (sampled) pixels left transparent: holes between misplaced pieces."""
    step = max(1, min(image.width(), image.height()) // 200)
    samples = [image.pixelColor(x, y).alpha() < 128
               for y in range(0, image.height(), step) for x in range(0, image.width(), step)]
    return sum(samples) / len(samples)


def flatten(image: QImage) -> QImage:
    """On white, RGB, longest side at most MAX_SIDE."""
    out = QImage(image.size(), QImage.Format.Format_RGB32)
    out.fill(QColor("white"))
    painter = QPainter(out)
    painter.drawImage(0, 0, image)
    painter.end()
    if max(out.width(), out.height()) > MAX_SIDE:
        out = out.scaled(MAX_SIDE, MAX_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
    return out


def build(painting: Painting) -> tuple[QImage, str, str]:
    """The painting's image, its path for the table and a note on how it was made."""
    if not painting.source.endswith(".qml"):
        return read_image(painting.resource), painting.resource, "whole image"
    base = painting.resource.rsplit("/board/", 1)[0] + "/"
    instruction, items = parse_board(read_text(painting.resource))
    pieces = [i["pixmapfile"] for i in items if "type" not in i]
    backgrounds = [i["pixmapfile"] for i in items if i.get("type") and not i["pixmapfile"].endswith(".svg")]
    path = f"{base}{os.path.commonprefix(pieces)}*.webp (+ {painting.source})"
    note = f"reassembled from {len(pieces)} pieces"
    note += "".join(f" over {b.split('/')[-1]}" for b in backgrounds)
    return assemble(base, items), path, f'GCompris: "{instruction}"; {note}'


def table_row(painting: Painting, path: str, note: str, image: QImage) -> str:
    rcc = RCC_DIR / f"{painting.activity}.rcc"
    return (f"| {painting.file}.jpg | {painting.artwork} | {PACKAGE} | `{rcc} -> {path}` "
            f"| {painting.licence} | {note}; {image.width()}x{image.height()} px; artwork public domain |")


def build_all(work: Path, deb: Path | None, out_dir: Path) -> None:
    """Fetch and unpack the package in work, write every painting to out_dir, print the table rows."""
    root, version = fetch_package(work, deb)
    print(f"{PACKAGE} {version}", file=sys.stderr)
    registered: set[str] = set()
    for painting in PAINTINGS:
        register(root, painting.activity, registered)
        image, path, note = build(painting)
        if (holes := transparent_share(image)) > 0.01:
            print(f"warning: {painting.file}: {holes:.1%} left transparent", file=sys.stderr)
        out = flatten(image)
        if not out.save(str(out_dir / f"{painting.file}.jpg"), "JPEG", QUALITY):
            raise RuntimeError(f"cannot write {painting.file}.jpg")
        print(table_row(painting, path, note, out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "styles_extra", help="output folder")
    parser.add_argument("--deb", type=Path, help=f"an already downloaded {PACKAGE} .deb (skips apt-get)")
    parser.add_argument("--work", type=Path, help="where to download and unpack (default: a temp folder)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        build_all(args.work, args.deb, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="gcompris-") as work:
            build_all(Path(work), args.deb, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
