"""Errors a user can act on. The CLI prints their message on one line and exits non-zero.

Exit codes (docs/reliability.md): 0 everything done; 1 an unexpected failure (e.g. out of memory);
2 bad input or option, nothing written; 3 NaN/inf loss (last good image kept); ``EXIT_PARTIAL`` (4)
some inputs done and some skipped (each named on stderr and in the summary); ``EXIT_DISK`` (5) a
result could not be written: the disk is full or failing (ENOSPC, EDQUOT, EIO); 130 interrupted.
"""

from __future__ import annotations

import warnings

#: Exit code of a run over many inputs that wrote some results but skipped others (unreadable,
#: too small, not a regular file, ...). 2 is argparse's and ours for "nothing done"; 4 lets a
#: script tell "all done" (0) from "done except the files listed on stderr" (4).
EXIT_PARTIAL = 4
#: Exit code of a run stopped because a file could not be written: no space left (ENOSPC, EDQUOT,
#: EFBIG) or an I/O error (EIO). Nothing half-written is left; free space and run it again.
EXIT_DISK = 5


class BrushworkError(Exception):
    """Base class: anything raised as this is the user's to fix, never a bug."""

    exit_code = 2


class ImageError(BrushworkError):
    """A file that cannot be read or written as an image."""


class WeightsError(BrushworkError):
    """Weights that cannot be found, downloaded, verified or loaded."""


class ConfigError(BrushworkError):
    """An option value that makes no sense (unknown layer, negative weight, ...)."""


class StoppedEarly(BrushworkError):
    """An optimisation that ended before its last iteration; carries the last good image."""

    def __init__(self, message: str, image=None, iteration: int = 0):
        super().__init__(message)
        self.image = image
        self.iteration = iteration


class NonFiniteLossError(StoppedEarly):
    """The loss became NaN or infinite; ``image`` is the last one with a finite loss."""

    exit_code = 3


class StylizeInterrupted(StoppedEarly):
    """Ctrl-C during optimisation; ``image`` is the result reached so far."""

    exit_code = 130


class PartialSuccess(BrushworkError):
    """A run over many inputs that finished some and skipped others; ``skipped`` says why, one
    line per input. Raised (or its ``exit_code`` returned) after the good results are written."""

    exit_code = EXIT_PARTIAL

    def __init__(self, message: str, skipped: list[str] | None = None):
        super().__init__(message)
        self.skipped = list(skipped or ())


class DiskFullError(BrushworkError):
    """A write failed for want of space (ENOSPC, EDQUOT, EFBIG) or because the device failed (EIO).

    Its own class and exit code (``EXIT_DISK``): not the user's input, not a bug, and the cure is the
    same for every command (free space, or another disk). Raised by ``fileio.atomic_path``, which
    removes its temporary file first, so nothing half-written is left under any name."""

    exit_code = EXIT_DISK

    def __init__(self, message: str, path=None):
        super().__init__(message)
        self.path = path


class BrushworkDeprecationWarning(DeprecationWarning):
    """An old spelling that still works for one release (``fast:MODEL``, ``--init fast``): the CLI
    shows these, and only these, as one line."""


def deprecated(old: str, new: str) -> None:
    """Warn that ``old`` is now spelled ``new`` (one message shape for every renamed word)."""
    warnings.warn(f"{old} is now {new}; the old spelling goes in the next release",
                  BrushworkDeprecationWarning, stacklevel=3)
