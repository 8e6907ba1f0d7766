"""File writing: atomically (a reader sees the old file or the new one, never half of one), CSV, hashes."""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from brushwork.errors import BrushworkError, DiskFullError

#: Longest file name (bytes) most file systems take; ``os.pathconf`` gives the real one when it can.
NAME_MAX = 255
#: Room a temporary name needs beyond the kept part of the target's name: ".", ".", 8 random
#: characters (mkstemp), ".tmp", and a short hash when the name has to be shortened.
_TMP_EXTRA = 1 + 1 + 8 + 4 + 9


#: errno values that mean "the disk, not the input": no space, over quota, file too large, I/O error.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
#: Bytes a probe writes (one page: a file system with no free block refuses it, an empty file it takes).
PROBE_BYTES = 4096


def existing_folder(path: str | os.PathLike) -> Path:
    """The nearest folder of ``path`` that exists (itself, or its first existing parent)."""
    folder = Path(os.path.abspath(path))
    while not folder.is_dir() and folder.parent != folder:
        folder = folder.parent
    return folder


def free_bytes(path: str | os.PathLike) -> int | None:
    """Bytes an unprivileged writer may still use on the file system holding ``path``; None if unknown."""
    try:
        usage = os.statvfs(existing_folder(path))
    except OSError:
        return None
    return usage.f_bavail * usage.f_frsize


def human_bytes(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def disk_reason(path: str | os.PathLike, code: int | None) -> str:
    """Why a write failed, for :data:`DISK_ERRNOS`: "no space left on the disk (12 KB free)"."""
    if code == errno.EIO:
        why = "an input/output error (the disk may be failing or was removed)"
    elif code == errno.EDQUOT:
        why = "over the disk quota"
    elif code == errno.EFBIG:
        why = "the file is larger than this file system takes"
    else:
        free = free_bytes(path)
        why = "no space left on the disk" + (f" ({human_bytes(free)} free)" if free is not None else "")
    return why


def disk_message(path: str | os.PathLike, code: int | None) -> str:
    """One line for a write that failed for want of space or by a failing device."""
    why = disk_reason(path, code)
    return (f"{path}: could not be written: {why}; nothing was left half-written "
            "(free some space and run it again)")


def disk_errno(exc: BaseException, path: str | os.PathLike) -> int | None:
    """The errno when ``exc`` is a disk failure (see :data:`DISK_ERRNOS`), else None. Libraries wrap
    ENOSPC their own way (torch.save: ``RuntimeError: ... file write failed``): an error other than
    an OSError counts when its text names the errno (safetensors: ``... (os error 28)``) or when the file
    system holding ``path`` has (next to) no room left."""
    if isinstance(exc, DiskFullError):
        return errno.ENOSPC
    for cause in (exc, exc.__cause__, exc.__context__):
        if isinstance(cause, OSError) and cause.errno in DISK_ERRNOS:
            return cause.errno
    if isinstance(exc, OSError) and exc.errno is not None:
        return None  # another OSError (permissions, ...): its own message
    text = str(exc)
    for code in (errno.ENOSPC, errno.EIO, errno.EDQUOT):  # safetensors: "... (os error 28)"
        if os.strerror(code) in text or f"os error {code})" in text:
            return code
    if not isinstance(exc, Exception):
        return None
    free = free_bytes(path)
    return errno.ENOSPC if free is not None and free < 4 * PROBE_BYTES else None


def disk_error(exc: BaseException, path: str | os.PathLike) -> DiskFullError | None:
    """``exc`` as one :class:`DiskFullError` naming ``path`` when it is a disk failure, else None."""
    if isinstance(exc, DiskFullError):
        return exc
    code = disk_errno(exc, path)
    return None if code is None else DiskFullError(disk_message(path, code), path)


def space_shortfall(path: str | os.PathLike, needed: int) -> str | None:
    """A warning when the file system of ``path`` has less room than ``needed`` bytes (an estimate of
    what a long run will write), else None: said before the work, not found after it."""
    free = free_bytes(path)
    if free is None or free >= needed:
        return None
    return (f"{existing_folder(path)} has {human_bytes(free)} free, and this run may write about "
            f"{human_bytes(needed)}; it will stop with an error if the disk fills up")


def name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


def check_name_length(path: Path) -> None:
    """A file name the file system cannot hold fails here, before the work, not at the rename (and
    before ``Path.is_dir()`` and friends, which raise on such names instead of answering)."""
    for part in Path(path).parts[:-1]:
        if len(os.fsencode(part)) > NAME_MAX:
            raise BrushworkError(f"{path}: a folder name in it is too long (over {NAME_MAX} bytes)")
    folder = path.parent if str(path.parent) else Path(".")
    size = len(os.fsencode(path.name))
    limit = name_max(folder) if size <= NAME_MAX and folder.is_dir() else NAME_MAX
    if size > limit:
        raise BrushworkError(f"{path}: file name too long ({size} bytes; the limit here is {limit})")


def probe_writable(folder: Path) -> None:
    """Really create (and remove) a file in ``folder``: ``os.access`` says yes to root on a
    read-only mount or in /proc, and a refusal found after an hour of training is too late."""
    try:
        fd, name = tempfile.mkstemp(prefix=".brushwork-probe.", dir=folder)
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise DiskFullError(f"output folder {folder} takes no new file: {disk_reason(folder, exc.errno)}",
                                folder) from None
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT and folder.is_dir():  # /proc, /sys: the folder is there, takes no files
            reason = "its file system does not allow new files here"
        raise BrushworkError(f"output folder {folder} is not writable ({reason})") from None
    try:  # an empty file needs no block: a full disk takes it. One page of data does not fit there.
        os.write(fd, bytes(PROBE_BYTES))
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise BrushworkError(f"output folder {folder} is not writable ({exc.strerror or exc})") from None
        raise DiskFullError(f"output folder {folder} has no room for the results: "
                            f"{disk_reason(folder, exc.errno)}", folder) from None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)


def check_output_folder(path: Path, probe: bool = False) -> None:
    """Fail early, before minutes of work, when the result could not be written.
    ``probe``: check by writing a file (up-front checks); by default only permissions are read."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        if folder.exists():
            raise BrushworkError(f"output folder {folder} is a file, not a folder")
        raise BrushworkError(f"output folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK):
        raise BrushworkError(f"output folder {folder} is not writable")
    if probe:
        probe_writable(folder)


def check_output_dir(folder: str | os.PathLike) -> Path:
    """An output *folder* (created later, with its parents): fail now if it is a file, if a part of
    its path is a file, or if the first folder that exists on its path cannot be written to."""
    folder = Path(folder)
    check_name_length(folder)
    if folder.exists() and not folder.is_dir():
        raise BrushworkError(f"{folder}: is a file; the output must be a folder (give a new name)")
    existing = folder
    while not existing.exists():
        parent = existing.parent
        if parent == existing:
            break
        existing = parent
    if not existing.is_dir():
        raise BrushworkError(f"{folder}: cannot make this folder: {existing} is a file")
    probe_writable(existing)
    return folder


#: What every command says when a result would replace a file that exists.
OVERWRITE_HINT = "add --overwrite to replace it, or give another output name"


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (hard links, symlinks and ``./`` spellings included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def replace_problem(target: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (),
                    overwrite: bool = False) -> str | None:
    """Why writing ``target`` would lose a file the user has, or None: the one rule of every command.

    An output that is one of the run's inputs (a photo, a painting, a model) is refused even with
    ``overwrite``: the result would replace what it is made from. An existing file is refused unless
    ``overwrite``. Folders and other non-files are left to the callers' own messages."""
    target = Path(target)
    for source in inputs:
        if same_file(target, source):
            return f"{target}: is one of the inputs; the result would replace it (give another output name)"
    if target.is_file() and not overwrite:
        return f"{target}: exists; {OVERWRITE_HINT}"
    return None


def check_replace(target: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (),
                  overwrite: bool = False) -> None:
    """:func:`replace_problem` as a one-line error, for a command with one result file."""
    problem = replace_problem(target, inputs, overwrite)
    if problem is not None:
        raise BrushworkError(problem)


def make_parent(path: str | os.PathLike) -> list[Path]:
    """Create a result's missing folders (the one output-folder rule: every command creates them,
    after its checks; :func:`check_output_dir` has already found the first existing one writable).
    Returns the folders it made, deepest first (for :func:`remove_partial`)."""
    folder = Path(path).parent
    made = []
    while str(folder) and not folder.is_dir() and folder.parent != folder:
        made.append(folder)
        folder = folder.parent
    if made:
        try:
            made[0].mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno in DISK_ERRNOS:
                raise DiskFullError(f"{made[0]}: cannot make this folder: {disk_reason(made[-1], exc.errno)}",
                                    made[0]) from None
            raise
    return made


def remove_partial(files: Sequence[str | os.PathLike] = (), folders: Sequence[str | os.PathLike] = ()) -> int:
    """Take back what a run that cannot finish wrote (``files``) and the folders it made (``folders``,
    deepest first; removed only when empty): a disk-full run leaves nothing partial. Returns how many
    files were removed."""
    removed = 0
    for path in files:
        with contextlib.suppress(OSError):
            Path(path).unlink()
            removed += 1
    for folder in folders:
        with contextlib.suppress(OSError):
            Path(folder).rmdir()
    return removed


def _temp_affixes(target: Path, limit: int) -> tuple[str, str]:
    """mkstemp's prefix and suffix for ``target``: its name when that fits, else a shortened stem and
    a hash of the whole name, so every temporary name stays within the ``limit`` bytes."""
    stem, suffix = target.stem, target.suffix
    if len(os.fsencode(suffix)) > 16:  # not a real extension; writers take explicit formats
        stem, suffix = target.name, ""
    room = limit - _TMP_EXTRA - len(os.fsencode(suffix))
    raw = os.fsencode(stem)
    if len(raw) <= room:
        return f".{stem}.", suffix + ".tmp"
    digest = hashlib.sha1(os.fsencode(target.name)).hexdigest()[:8]
    short = os.fsdecode(raw[:room].decode("utf-8", "ignore").encode("utf-8"))
    return f".{short}-{digest}.", suffix + ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    A write that fails for want of space or by a failing device (whatever the writer wraps it in:
    Pillow's OSError, torch's RuntimeError) becomes one :class:`DiskFullError` naming ``path``; the
    temporary file is removed first, so the old file, if any, is all there is."""
    target = Path(path)
    check_output_folder(target)
    check_name_length(target)
    folder = target.parent if str(target.parent) else Path(".")
    prefix, suffix = _temp_affixes(target, name_max(folder))
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise DiskFullError(disk_message(target, exc.errno), target) from None
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results should get normal permissions
        yield tmp
        os.replace(tmp, target)
    except Exception as exc:
        code = None if isinstance(exc, DiskFullError) else disk_errno(exc, target)  # while tmp fills it
        with contextlib.suppress(OSError):
            tmp.unlink()  # then the message says what is free without it
        if code is not None:
            raise DiskFullError(disk_message(target, code), target) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files ``atomic_path`` leaves in ``folder`` when its process is killed
    mid-write (SIGKILL runs no clean-up): a resumed run starts with no half-written file about."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(path: str | os.PathLike, rows: list[dict], columns: Sequence[str],
              line_end: str = "\r\n") -> None:
    """Rows as CSV with a header, written atomically; keys missing from a row give empty cells.
    ``line_end``: RFC 4180's CRLF by default; evaluation reports have always used plain LF."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (weights files are tens of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """``$BRUSHWORK_CACHE``, else ``$XDG_CACHE_HOME/brushwork``, else ``~/.cache/brushwork`` (weights,
    exported engine graphs, the per-machine engine choice)."""
    if os.environ.get("BRUSHWORK_CACHE"):
        return Path(os.environ["BRUSHWORK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "brushwork"
