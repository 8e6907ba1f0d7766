"""``make fuzz``'s "faults" entry: the disk fills at random points of each command (issue 27).

One real tmpfs (``mount -t tmpfs``: root only; otherwise the entry is skipped with the reason) is the
output disk. For each entry point (``stylize`` with ``--save-every``, ``apply`` on a folder,
``train``, ``export``) a first run on the empty disk measures what it writes; then, at each point, the
disk is emptied, filled with ``dd`` and given back a random number of pages between none and a little
more than that, so the disk fills somewhere in the run (or, near the top, not at all). Each run must:

* exit 0 (it fitted) or 5 (``EXIT_DISK``), never a traceback, an internal error or another code;
* on exit 5, print exactly one ``brushwork: error:`` line, which says the disk is full;
* leave nothing partial: no temporary file, no probe, no empty folder, no file that does not decode or
  load; on exit 5 nothing at all but a training run's whole checkpoint (then the line says
  ``--resume``); on exit 0 the complete result.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fuzz.harness import Assets, _call, _decodes

ENTRY = "faults"
POINTS = ("stylize", "apply", "train", "export")
FAILURES = ("traceback", "hang", "bad_exit", "unclear_error", "partial_output")
PAGE = 4096
FILLER = "filler.bin"
#: Seconds a run may take (the slowest, train, takes a few on a loaded 2-core machine).
TIMEOUT = 120.0

_STYLIZE = ["--size", "32", "--iterations", "6", "--save-every", "1", "--weights", "random",
            "--no-multiscale", "-q", "--content-layers", "relu2_1", "--style-layers", "relu1_1", "relu2_1"]
_TRAIN = ["--recipe", "johnson", "--val-photos", "0", "--steps", "3", "--image-size", "32",
          "--batch-size", "1", "--width", "4", "--res-blocks", "0", "--loss-weights", "random",
          "--style-layers", "relu1_2", "relu2_1", "-q", "--sample-every", "1", "--checkpoint-every", "1"]


class NoTmpfs(Exception):
    """No tmpfs can be mounted here (not root, or no mount namespace): the entry is skipped."""


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise NoTmpfs(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); "
                      "the faults entry needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _empty(disk: Path) -> None:
    for p in disk.iterdir():
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _fill(disk: Path, leave: int) -> None:
    filler = disk / FILLER
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4096"], capture_output=True)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))


def _used(disk: Path) -> int:
    return sum(p.stat().st_size for p in disk.rglob("*") if p.is_file() and p.name != FILLER)


@dataclass
class Point:
    entry: str
    leave: int
    outcome: str
    rc: int | None
    message: str
    seconds: float


@dataclass
class Figures:
    points: list[Point] = field(default_factory=list)
    skipped: str = ""


def _argv(entry: str, disk: Path, work: Path, assets: Assets) -> list[str]:
    if entry == "stylize":
        return ["stylize", str(assets.good), str(assets.painting), "-o", str(disk / "out" / "x.png"),
                *_STYLIZE]
    if entry == "apply":
        return ["apply", str(assets.model), str(work / "photos"), "-o", str(disk / "out"), "-q",
                "--engine", "torch"]
    if entry == "train":
        return ["train", str(assets.painting), "--data", str(work / "photos"), "-o", str(disk / "run"),
                *_TRAIN]
    if entry == "export":
        return ["export", str(assets.model), "--onnx", str(disk / "out" / "m.onnx")]
    raise ValueError(entry)


def _left(disk: Path) -> list[Path]:
    return sorted(p for p in disk.rglob("*") if p.name != FILLER)


def _partial(entry: str, rc: int | None, err: str, disk: Path) -> str:
    """What a run left that it should not have, in words ("" when nothing)."""
    left = _left(disk)
    temp = [p for p in left if p.name.endswith(".tmp") or p.name.startswith(".brushwork-probe")]
    if temp:
        return f"temporary files left: {[p.name for p in temp]}"
    empty = [p for p in left if p.is_dir() and not any(p.iterdir())]
    if empty:
        return f"empty folders left: {[str(p.relative_to(disk)) for p in empty]}"
    files = [p for p in left if p.is_file()]
    broken = [p for p in files if p.suffix in (".png", ".jpg") and not _decodes(p)]
    broken += [p for p in files if p.suffix in (".safetensors", ".onnx") and not _loads(p)]
    if broken:
        return f"broken files left: {[str(p.relative_to(disk)) for p in broken]}"
    resumable = entry == "train" and "--resume" in err and (disk / "run" / "checkpoint.safetensors").is_file()
    if rc == 5 and files and not resumable and entry != "apply":  # apply's finished results are whole
        return f"exit 5 but files left: {[str(p.relative_to(disk)) for p in files][:6]}"
    if rc == 0 and entry in ("stylize", "export") and not files:
        return "exit 0 but no result"
    return ""


def _loads(path: Path) -> bool:
    try:
        if path.suffix == ".onnx":
            import onnx

            onnx.load(str(path))
        else:
            from safetensors.torch import load_file

            load_file(str(path))
        return True
    except Exception:  # noqa: BLE001 - whatever the loader raises, the file is not whole
        return False


def _classify(entry: str, rc, err: str, exc, disk: Path) -> tuple[str, str]:
    from fuzz.harness import Hang, _error_lines

    lines = [ln for ln in _error_lines(err) if not ln.startswith("brushwork: warning:")]
    if isinstance(exc, Hang):
        return "hang", "no answer within the time limit"
    if exc is not None or "Traceback (most recent call last)" in err:
        return "traceback", err.strip().splitlines()[-1] if err.strip() else repr(exc)
    if rc not in (0, 5):
        return "bad_exit", f"exit {rc}: {' | '.join(lines)[:300]}"
    if rc == 5 and (len(lines) != 1 or not lines[0].startswith("brushwork: error:")
                    or "no space left" not in lines[0]):
        return "unclear_error", " | ".join(lines)[:300]
    if problem := _partial(entry, rc, err, disk):
        return "partial_output", problem
    return ("ok" if rc == 0 else "disk_full"), (lines[0] if lines else "")


def fuzz_faults(points: int, root: Path, assets: Assets, seed: int = 0,
                entries: tuple[str, ...] = POINTS, size: str = "4m") -> Figures:
    """``points`` runs of each entry point with the disk filled at random points (see the module)."""
    import numpy as np
    from PIL import Image

    rng = random.Random(seed)
    work = root / "work"
    photos = work / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed)
    for i in range(8):  # train needs 8 photos; apply paints them all
        Image.fromarray((pixels.random((40, 48, 3)) * 255).astype(np.uint8)).save(photos / f"p{i}.png")
    figures = Figures()
    try:
        with tmpfs(root / "disk", size) as disk:
            for entry in entries:
                _empty(disk)
                rc, err, exc = _call(_argv(entry, disk, work, assets), TIMEOUT)
                if rc != 0:
                    raise AssertionError(f"{entry} does not run on an empty disk: {err.strip()[-300:]}")
                need = _used(disk)
                for _ in range(points):
                    _empty(disk)
                    leave = rng.randrange(0, need + need // 4 + 4 * PAGE + 1) // PAGE * PAGE
                    _fill(disk, leave)
                    started = time.perf_counter()
                    rc, err, exc = _call(_argv(entry, disk, work, assets), TIMEOUT)
                    outcome, message = _classify(entry, rc, err, exc, disk)
                    figures.points.append(Point(entry, leave, outcome, rc, message,
                                                round(time.perf_counter() - started, 2)))
                _empty(disk)
    except NoTmpfs as exc:
        figures.skipped = str(exc)
    return figures


def summary(figures: Figures) -> dict:
    """Counts per entry point (tried, ok, disk_full, each failure), the slowest run, the failures."""
    if figures.skipped:
        return {"skipped": figures.skipped}
    rows: dict[str, dict] = {}
    for p in figures.points:
        row = rows.setdefault(p.entry, {"tried": 0, "ok": 0, "disk_full": 0, **dict.fromkeys(FAILURES, 0),
                                        "slowest_s": 0.0})
        row["tried"] += 1
        row[p.outcome] += 1
        row["slowest_s"] = max(row["slowest_s"], p.seconds)
    failures = [asdict(p) for p in figures.points if p.outcome in FAILURES]
    return {"entry_points": rows, "failures": failures[:50]}
