"""Malformed and unusual image files, as hypothesis strategies.

A ``Case`` is one input file to hand an entry point: the bytes of a (possibly broken) image and its
name, or a file-system oddity (a named pipe, a link to /dev/zero, a folder named like an image, a
sparse 2 GB file, a socket...). Families, each a few lines:

* ``image``: a valid picture in one of Pillow's writable formats and modes, at ordinary or
  degenerate sizes (1x1, 1x5000, 5000x1, 16x3000);
* ``mutated``: such a picture truncated, with flipped bytes, with another format's magic, with
  garbage appended, or cut to its magic alone;
* ``header``: a PNG/GIF/BMP whose header claims huge or zero dimensions (checksums fixed, so the
  lie reaches the decoder);
* ``exif``: EXIF orientations in and out of range, malformed EXIF blocks, broken ICC profiles;
* ``junk``: empty files, zeros, random bytes;
* ``fs``: file-system oddities and names (long, unicode, no extension, the wrong extension).
"""

from __future__ import annotations

import io
import os
import socket
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from PIL import Image

#: Format -> extension for every format Pillow writes that these tests exercise.
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif", "WEBP": ".webp",
           "TGA": ".tga", "PPM": ".ppm", "ICO": ".ico", "JPEG2000": ".jp2", "QOI": ".qoi", "PCX": ".pcx",
           "SGI": ".sgi", "IM": ".im", "DDS": ".dds", "BLP": ".blp", "MSP": ".msp", "XBM": ".xbm",
           "SPIDER": ".spi", "AVIF": ".avif", "EPS": ".eps", "PDF": ".pdf", "ICNS": ".icns", "PALM": ".palm"}
MODES = ("1", "L", "P", "RGB", "RGBA", "CMYK", "LA", "PA", "I;16", "I", "F", "YCbCr", "HSV", "LAB", "RGBX")
SIZES = ((1, 1), (2, 3), (15, 16), (16, 16), (17, 40), (40, 17), (48, 32), (64, 64), (1, 5000), (5000, 1),
         (3, 2000), (16, 3000), (300, 200))
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
         b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"qoif", b"P6\n", b"%PDF-1.4")
FS_KINDS = ("fifo", "dev_zero", "dev_urandom", "dangling_link", "folder_named_image", "socket",
            "sparse_huge", "link_to_good", "empty")
#: Names a case may carry: plain, long (up to the 255-byte limit), unicode, spaced, no extension.
NAME_STEMS = ("case", "x" * 200, "y" * 240, "z" * 249, "fotografía ü 写真", "with space", "-dash", "a.b.c")


@dataclass
class Case:
    """One input: ``data`` written under ``name``, or the file-system oddity ``fs``."""

    family: str
    name: str
    data: bytes = b""
    fs: str = ""
    note: str = ""

    def describe(self) -> str:
        size = f"{len(self.data)} B" if not self.fs else self.fs
        return f"{self.family}: {self.note} ({self.name[:40]}, {size})"


def encode(width: int, height: int, mode: str, fmt: str, seed: int, **options) -> bytes:
    """A noise picture of ``mode`` saved as ``fmt``; when the format refuses the mode, RGB, then PNG."""
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8), "RGB")
    attempts = [(mode, fmt), ("RGB", fmt), ("L", fmt), ("RGB", "PNG")]
    for m, f in attempts:
        try:
            image = rgb.convert(m) if m not in ("I;16", "I", "F") else rgb.convert("L").convert(m)
            buffer = io.BytesIO()
            image.save(buffer, format=f, **(options if f == fmt else {}))
            if buffer.tell():
                return buffer.getvalue()
        except Exception:  # noqa: BLE001, S112 - this format refuses this mode/option: next attempt
            continue
    raise AssertionError("PNG always encodes")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def header_lie(data: bytes, fmt: str, width: int, height: int) -> bytes:
    """Rewrite the stored dimensions (valid checksum) so the header promises ``width`` x ``height``."""
    if fmt == "PNG" and data[12:16] == b"IHDR":
        ihdr = struct.pack(">II", width, height) + data[24:29]
        return data[:8] + _png_chunk(b"IHDR", ihdr) + data[33:]
    if fmt == "GIF":
        return data[:6] + struct.pack("<HH", width & 0xFFFF, height & 0xFFFF) + data[10:]
    if fmt == "BMP" and len(data) > 26:
        return data[:18] + struct.pack("<ii", width & 0x7FFFFFFF, height & 0x7FFFFFFF) + data[26:]
    return data


def exif_block(orientation: int, garbage: bytes = b"") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    if garbage:
        exif[0x010E] = garbage.decode("latin-1")  # ImageDescription: arbitrary bytes
    return exif.tobytes()


_stems = st.sampled_from(NAME_STEMS)
_formats = st.sampled_from(sorted(FORMATS))
_sizes = st.one_of(st.sampled_from(SIZES), st.tuples(st.integers(1, 96), st.integers(1, 96)))


@st.composite
def image_cases(draw) -> Case:
    fmt, mode, (w, h) = draw(_formats), draw(st.sampled_from(MODES)), draw(_sizes)
    ext = FORMATS[fmt] if draw(st.integers(0, 4)) else draw(st.sampled_from([".png", ".jpg", ""]))
    data = encode(w, h, mode, fmt, draw(st.integers(0, 9)))
    return Case("image", draw(_stems) + ext, data, note=f"{fmt} {mode} {w}x{h}")


@st.composite
def mutated_cases(draw) -> Case:
    fmt, (w, h) = draw(st.sampled_from(["PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP", "JPEG2000", "QOI",
                                         "TGA", "ICO"])), draw(st.sampled_from(SIZES[:8]))
    data = bytearray(encode(w, h, draw(st.sampled_from(["RGB", "L", "P", "RGBA"])), fmt, 3))
    how = draw(st.sampled_from(["truncate", "flip", "magic", "append", "magic_only", "flip_header"]))
    if how == "truncate":
        data = data[: int(len(data) * draw(st.floats(0, 0.99)))]
    elif how in ("flip", "flip_header"):
        span = min(len(data), 64) if how == "flip_header" else len(data)
        for _ in range(draw(st.integers(1, 16))):
            data[draw(st.integers(0, span - 1))] = draw(st.integers(0, 255))
    elif how == "magic":
        magic = draw(st.sampled_from(MAGIC))
        data[: len(magic)] = magic
    elif how == "append":
        data += draw(st.binary(min_size=1, max_size=2048))
    else:
        data = data[:8]
    return Case("mutated", draw(_stems) + FORMATS[fmt], bytes(data), note=f"{fmt} {how}")


@st.composite
def header_cases(draw) -> Case:
    fmt = draw(st.sampled_from(["PNG", "GIF", "BMP"]))
    dims = draw(st.sampled_from([(0, 0), (0, 10), (100000, 1), (1, 100000), (65535, 65535),
                                 (2**31 - 1, 2**31 - 1), (30000, 30000), (9000, 9000), (1, 1)]))
    data = header_lie(encode(8, 8, "RGB", fmt, 1), fmt, *dims)
    return Case("header", draw(_stems) + FORMATS[fmt], data, note=f"{fmt} claims {dims[0]}x{dims[1]}")


@st.composite
def exif_cases(draw) -> Case:
    fmt = draw(st.sampled_from(["JPEG", "PNG", "WEBP", "TIFF"]))
    w, h = draw(st.sampled_from([(48, 32), (17, 40), (16, 16), (2, 40)]))
    kind = draw(st.sampled_from(["orientation", "garbage", "broken_block", "icc"]))
    options: dict = {}
    if kind == "orientation":
        options["exif"] = exif_block(draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 65535])))
    elif kind == "garbage":
        options["exif"] = exif_block(draw(st.integers(1, 8)), draw(st.binary(max_size=3000)))
    elif kind == "broken_block":
        options["exif"] = b"Exif\x00\x00" + draw(st.binary(min_size=0, max_size=200))
    else:
        options["icc_profile"] = draw(st.binary(min_size=1, max_size=600))
    data = encode(w, h, "RGB", fmt, 2, **options)
    return Case("exif", draw(_stems) + FORMATS[fmt], data, note=f"{fmt} {kind}")


@st.composite
def junk_cases(draw) -> Case:
    kind = draw(st.sampled_from(["empty", "zeros", "random", "text"]))
    data = {"empty": b"", "zeros": bytes(draw(st.integers(1, 4096))),
            "random": draw(st.binary(min_size=1, max_size=4096)),
            "text": b"not an image\n" * draw(st.integers(1, 50))}[kind]
    ext = draw(st.sampled_from([".png", ".jpg", ".gif", ".tif", ".webp", ""]))
    return Case("junk", draw(_stems) + ext, data, note=kind)


@st.composite
def fs_cases(draw) -> Case:
    kind = draw(st.sampled_from(FS_KINDS))
    return Case("fs", draw(_stems) + draw(st.sampled_from([".jpg", ".png"])), fs=kind, note=kind)


#: Every case; images and their mutations weigh most, as they are the likeliest inputs.
cases = st.one_of(image_cases(), image_cases(), mutated_cases(), mutated_cases(), header_cases(),
                  exif_cases(), junk_cases(), fs_cases())


def materialise(case: Case, folder: Path, good: Path) -> Path:
    """Create the case's file (or oddity) in ``folder``; ``good`` is a valid image to link to."""
    path = folder / case.name
    if not case.fs:
        path.write_bytes(case.data)
    elif case.fs == "fifo":
        os.mkfifo(path)
    elif case.fs in ("dev_zero", "dev_urandom"):
        path.symlink_to("/dev/zero" if case.fs == "dev_zero" else "/dev/urandom")
    elif case.fs == "dangling_link":
        path.symlink_to(folder / "no-such-target.png")
    elif case.fs == "folder_named_image":
        path.mkdir()
        (path / "inside.txt").write_text("a folder, not a picture")
    elif case.fs == "socket":  # bound by a relative name: socket paths are limited to 108 bytes
        path = folder / "case.sock.png"
        here = os.getcwd()
        os.chdir(folder)
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.bind(path.name)
        finally:
            os.chdir(here)
    elif case.fs == "sparse_huge":
        with open(path, "wb") as handle:
            handle.write(b"\x89PNG\r\n\x1a\n")
            handle.truncate(2 * 1024**3 + 7)  # 2 GB, no disk used
    elif case.fs == "link_to_good":
        path.symlink_to(good)
    elif case.fs == "empty":
        path.touch()
    return path
