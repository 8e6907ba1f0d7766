"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from brushwork.errors import BrushworkError


def check_output_folder(path: Path) -> None:
    """Fail early, before minutes of work, when the result could not be written."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise BrushworkError(f"output folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK):
        raise BrushworkError(f"output folder {folder} is not writable")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    target = Path(path)
    check_output_folder(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=target.suffix + ".tmp", dir=target.parent or "."
    )
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results should get normal permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
