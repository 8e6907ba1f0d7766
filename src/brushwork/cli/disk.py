"""Free space, said before a long run: a warning on stderr when the disk looks too small for what the
run will write (the engines' estimates; ``fileio.space_shortfall``). The run still starts: an estimate
is not a refusal, and a disk that does fill up ends the run with one ``DiskFullError`` line (exit 5)."""

from __future__ import annotations

import os
import sys

from brushwork.fileio import space_shortfall


def warn_space(folder: str | os.PathLike, needed: int) -> bool:
    """Print one warning line when ``folder``'s file system has under ``needed`` bytes free."""
    problem = space_shortfall(folder, needed)
    if problem:
        print(f"brushwork: warning: {problem}", file=sys.stderr)
    return problem is not None
