"""Where Ray's own output goes while a command runs on Ray: a log file, or nowhere with ``--quiet``.

Ray's options reach only part of what it prints: ``log_to_driver=False`` keeps the workers' output
off the terminal and ``logging_level`` quiets its Python loggers (``brushwork.batch.cluster`` sets
both), but the raylet's error messages (the ``(raylet) ...`` lines) are printed to ``sys.stdout`` by a
thread of the driver whatever the options, and Ray's C++ core in this process writes its warnings
(``core_worker.cc: ...``) straight to file descriptor 2. So for the length of the Ray session the
process's stdout and stderr *descriptors* point at the log; brushwork's own progress bar draws on
a copy of the terminal's stderr (``terminal``), and everything brushwork prints after the session
(the summary, one-line errors) reaches the terminal as always.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def _descriptor(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


@contextlib.contextmanager
def ray_output(log: Path | None) -> Iterator[TextIO]:
    """Send everything written to this process's stdout and stderr descriptors to ``log`` (appended,
    under a dated header), or to nowhere when ``log`` is None; yields a stream on the terminal's
    stderr for the progress bar. Python streams that are not those descriptors (pytest's ``capsys``)
    are left alone."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    target = os.open(str(log) if log is not None else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     0o644)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal_fd = os.dup(saved[2]) if _descriptor(sys.stderr) == 2 else None
    terminal = (os.fdopen(terminal_fd, "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None),
                          errors="replace") if terminal_fd is not None else sys.stderr)
    if log is not None:
        os.write(target, f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} brushwork {' '.join(sys.argv[1:])}\n"
                 .encode(errors="replace"))
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield terminal
    finally:
        for stream in (sys.stdout, sys.stderr):  # Ray's buffered text belongs in the log too
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[1], 1)
        os.dup2(saved[2], 2)
        for fd in (target, *saved.values()):
            os.close(fd)
        if terminal is not sys.stderr:
            with contextlib.suppress(Exception):
                terminal.close()
