"""``brushwork``: parse, dispatch, turn errors into one line and an exit code.

Every failure a user can cause ends in one line on stderr and a non-zero exit code:
2 bad input or option, 3 NaN/inf loss (last good image kept), 130 interrupted (image saved);
4 (``errors.EXIT_PARTIAL``) a run over many inputs that wrote some and skipped others (listed).

Start-up: the command modules import only configs and argparse at top level; each imports its
engine (and so torch, ~2 s) inside ``run``. That is deliberate: ``brushwork --help``,
``--version`` and ``models`` stay well under a second.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from brushwork import __version__
from brushwork.cli import apply, batch, evaluate, export, models, serve, stylize, train, weights
from brushwork.errors import BrushworkError

PROG = "brushwork"
#: Subcommands in the order ``--help`` lists them; each module has ``add_parser(sub)`` and ``run(args)``.
COMMANDS = (stylize, train, apply, batch, export, models, evaluate, serve, weights)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Neural style transfer on a laptop CPU.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrushworkError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # `brushwork models | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    except MemoryError:
        _error("out of memory; try a smaller --size")
        return 1
    except RuntimeError as exc:
        if os.environ.get("BRUSHWORK_DEBUG"):
            raise
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "memory" in text.lower() or "alloc" in text.lower():
            _error(f"out of memory ({text}); try a smaller --size")
        else:
            _error(f"{text} (set BRUSHWORK_DEBUG=1 for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
