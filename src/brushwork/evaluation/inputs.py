"""Photos and paintings of an evaluation: files or folders, read into ``Input`` records.

An unreadable file is not an error here: its ``Input`` carries the reason, and every result that
needs it becomes a failed row saying why.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from brushwork.errors import BrushworkError
from brushwork.evaluation.video import VIDEO_SUFFIXES, is_video_file, read_frames
from brushwork.images import decode_image, normalize_image, quiet_decoding, read_input_file, walk_files

#: Files taken from a folder (a file named on its own is always tried, whatever its suffix).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass
class Input:
    """One photo or painting: a still image, or the frames of an animated file; or why it is missing."""

    path: Path
    name: str
    frames: list[Image.Image] = field(default_factory=list)
    digest: str = ""
    error: str | None = None

    @property
    def image(self) -> Image.Image:
        return self.frames[0]

    @property
    def is_video(self) -> bool:
        return len(self.frames) > 1


def expand_paths(entries: Iterable[str]) -> list[Path]:
    """Files as given, folders replaced by their image files (``images.walk_files``: recursive,
    sorted, hidden files skipped); missing paths are kept, to fail later with their reason."""
    paths: list[Path] = []
    for entry in entries:
        path = Path(entry)
        if path.is_dir():
            paths += walk_files(path, IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        else:
            paths.append(path)
    return paths


def load_input(path: Path, max_frames: int) -> Input:
    """Read a file into an Input; an unreadable one carries its error instead of pixels."""
    item = Input(path=path, name=path.stem)
    try:
        data = read_input_file(path)  # regular files only, bounded: a pipe or /dev/zero never hangs us
    except BrushworkError as exc:
        item.error = str(exc)
        return item
    item.digest = hashlib.sha256(data).hexdigest()
    if is_video_file(path):  # a clip: its first max_frames frames, through FFmpeg
        try:
            item.frames = read_frames(path, max_frames)
        except BrushworkError as exc:
            item.error = str(exc)
        return item
    try:
        first = decode_image(data, name=str(path))
    except BrushworkError as exc:
        item.error = str(exc)
        return item
    item.frames = [first]
    try:
        with quiet_decoding(), Image.open(io.BytesIO(data)) as raw:
            count = getattr(raw, "n_frames", 1)  # only animated formats have frames
            for index in range(1, min(count, max_frames)):
                raw.seek(index)
                item.frames.append(normalize_image(raw.copy()))
    except Exception:  # noqa: BLE001 - a broken later frame: keep the frames that decoded
        pass
    return item


def load_inputs(entries: Iterable[str], max_frames: int) -> list[Input]:
    """Every file of ``entries``; two files named the same (in different folders) get distinct labels."""
    items = [load_input(p, max_frames) for p in expand_paths(entries)]
    seen: dict[str, int] = {}
    for item in items:
        seen[item.name] = seen.get(item.name, 0) + 1
        if seen[item.name] > 1:
            item.name = f"{item.name}-{seen[item.name]}"
    return items
