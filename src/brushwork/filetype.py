"""What a file is, from its first bytes: the one rule for "video or picture" everywhere.

Every place that sends an input one way or the other (``brushwork apply`` and ``stylize``, batch
planning, evaluation inputs, the web upload) asks :func:`sniff_bytes` / :func:`sniff_file`, so a
JPEG named ``clip.mp4`` and an MP4 named ``photo.jpg`` go where their bytes say.

The choice, and why: a JPEG named ``clip.mp4`` is **painted as the picture it is**, not refused.
The user gave us a file and asked for it to be painted; the name is most often a slip (a saved
thumbnail, a renamed download), every image viewer and browser opens it by its bytes, and the web
upload already judged uploads by their bytes. Refusing would only make the user rename a file we
know how to read. What the name does still decide is the *result's* name where one is derived
(``apply`` into a folder): a result is never written under a name that lies about it, so the
painted ``clip.mp4`` becomes ``clip_STYLE.jpg`` (:attr:`FileType.suffix`). Where the user named
the result (``-o out.mp4`` for a JPEG), the mismatch is refused in one line that says what the
input really is.

Bytes we do not recognise (a corrupt or empty file, a format not listed here, an unreadable file)
are :data:`UNKNOWN`: then the name decides, as before, so a broken ``clip.mp4`` is still refused
as "not a readable video".
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

#: Bytes read from the start of a file: enough for every signature below (EBML's DocType included).
HEAD_BYTES = 64


@dataclass(frozen=True)
class FileType:
    """``kind``: ``"image"`` (a still picture), ``"gif"`` (a GIF: a picture or an animation),
    ``"video"`` (a video container) or ``""`` (unknown: the name decides). ``name``: what it is, in
    words ("a JPEG image"); ``suffix``: the extension a file of this type is given."""

    kind: str
    name: str = ""
    suffix: str = ""

    @property
    def known(self) -> bool:
        return bool(self.kind)


UNKNOWN = FileType("")

#: (leading bytes, format, extension) of the still-image formats we read (brushwork.images.INPUT_FORMATS).
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG", ".jpg"), (b"\x89PNG\r\n\x1a\n", "PNG", ".png"), (b"BM", "BMP", ".bmp"),
    (b"II*\x00", "TIFF", ".tif"), (b"MM\x00*", "TIFF", ".tif"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000", ".png"), (b"\xffO\xffQ", "JPEG 2000", ".png"),
    (b"qoif", "QOI", ".png"), (b"8BPS", "PSD", ".png"), (b"icns", "ICNS", ".png"), (b"DDS ", "DDS", ".png"),
)
#: Top-level boxes an MP4/MOV file starts with (ISO base media file format).
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def sniff_bytes(head: bytes) -> FileType:
    """The type of a file from its first bytes (:data:`HEAD_BYTES` are enough)."""
    for magic, fmt, suffix in _IMAGE_SIGNATURES:
        if head.startswith(magic):
            return FileType("image", f"a {fmt} image", suffix)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileType("image", "a WebP image", ".webp")
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return FileType("image", "an AVIF image", ".png")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return FileType("gif", "a GIF", ".gif")
    if head[4:8] in _MP4_BOXES:
        return FileType("video", "an MP4/MOV video", ".mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or WebM by its DocType
        return (FileType("video", "a WebM video", ".webm") if b"webm" in head
                else FileType("video", "a Matroska video", ".mkv"))
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return FileType("video", "an AVI video", ".avi")
    return UNKNOWN


def sniff_file(path: str | os.PathLike) -> FileType:
    """:func:`sniff_bytes` of a file's first bytes; :data:`UNKNOWN` for a file that cannot be read
    or is no regular file (opened non-blocking, so a named pipe never hangs; its reader says why)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return UNKNOWN
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return UNKNOWN
        return sniff_bytes(os.read(fd, HEAD_BYTES))
    except OSError:
        return UNKNOWN
    finally:
        os.close(fd)
