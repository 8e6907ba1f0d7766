"""``brushwork``: parse, dispatch, turn errors into one line and an exit code.

Every failure a user can cause ends in one line on stderr and a non-zero exit code:
2 bad input or option, 3 NaN/inf loss (last good image kept), 130 interrupted (image saved);
4 (``errors.EXIT_PARTIAL``) a run over many inputs that wrote some and skipped others (listed).

Flag typos are named by the subcommand that has the flags, with the closest one ("did you mean
--style?"), and a list of numbers (``--style-blend-weights 2 1``) ends at its last number, so an
input after it is not taken for one (``Parser``).

Start-up: the command modules import only configs and argparse at top level; each imports its
engine (and so torch, ~2 s) inside ``run``. That is deliberate: ``brushwork --help``,
``--version`` and ``models`` stay well under a second.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import signal
import sys
import warnings
from collections.abc import Sequence

from brushwork import __version__
from brushwork.cli import apply, batch, evaluate, export, models, serve, stylize, train, weights
from brushwork.errors import BrushworkDeprecationWarning, BrushworkError

PROG = "brushwork"
_python_showwarning = warnings.showwarning
#: Subcommands in the order ``--help`` lists them; each module has ``add_parser(sub)`` and ``run(args)``.
COMMANDS = (stylize, train, apply, batch, export, models, evaluate, serve, weights)


def _suggestion(word: str, candidates) -> str:
    """`` (did you mean X?)`` for the closest candidate, or nothing."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Parser(argparse.ArgumentParser):
    """argparse, made to help a newcomer (Python 3.10-3.13 argparse does neither by itself):

    * an unknown ``--flag`` is refused by the (sub)command it was given to, with that command's usage
      and the closest flag it has (``did you mean --style?``), before any missing-argument message;
      an unknown command or choice gets the closest one too;
    * an option taking a list of numbers (``nargs="+"``, int or float) stops at its last number: argparse
      would also swallow the input after it (``--style-blend-weights 2 1 photo.jpg``) and fail on
      ``invalid float value: 'photo.jpg'``, so such an option and its numbers move after the other
      arguments before parsing (options do not depend on their order).
    """

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        self._refuse_unknown_flags(args)
        return super().parse_known_args(self._numbers_last(args), namespace)

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:  # what no parser took (a short flag, a stray positional): said by the innermost command
            parser = self._innermost(namespace)
            flag = next((e.split("=", 1)[0] for e in extras if e.startswith("-")), None)
            hint = _suggestion(flag, parser._option_string_actions) if flag else ""
            parser.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return namespace

    def error(self, message: str):
        choice = re.search(r"invalid choice: '?(.*?)'? \(choose from (.*)\)$", message)
        if choice:
            options = [c.strip().strip("'\"") for c in choice.group(2).split(",")]
            message += _suggestion(choice.group(1), options)
        super().error(message)

    def _subcommands(self) -> argparse._SubParsersAction | None:
        return next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)

    def _innermost(self, namespace: argparse.Namespace) -> argparse.ArgumentParser:
        sub = self._subcommands()
        chosen = sub.choices.get(getattr(namespace, sub.dest, None) or "") if sub else None
        return chosen._innermost(namespace) if isinstance(chosen, Parser) else (chosen or self)

    def _known_flag(self, name: str) -> bool:
        if name in self._option_string_actions:
            return True
        return self.allow_abbrev and any(o.startswith(name) for o in self._option_string_actions)

    def _refuse_unknown_flags(self, args: list[str]) -> None:
        commands = self._subcommands() is not None
        for token in args:
            if token == "--" or (commands and not token.startswith("-")):
                break  # a subcommand's own flags are checked by its parser
            name = token.split("=", 1)[0]
            if name.startswith("--") and len(name) > 2 and not self._known_flag(name):
                self.error(f"unrecognized arguments: {token}{_suggestion(name, self._option_string_actions)}")

    def _number_list(self, token: str) -> bool:
        """Whether ``token`` names (or abbreviates) an option that takes a list of numbers."""
        if not token.startswith("--") or "=" in token:
            return False
        matches = {a for o, a in self._option_string_actions.items()
                   if o == token or (self.allow_abbrev and o.startswith(token))}
        exact = self._option_string_actions.get(token)
        action = exact or (matches.pop() if len(matches) == 1 else None)
        kind = getattr(action.type, "number_type", action.type) if action is not None else None
        return action is not None and action.nargs in ("+", "*") and kind in (int, float)

    def _numbers_last(self, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        kept, moved, i = [], [], 0
        while i < end:
            j = i + 1
            if self._number_list(args[i]):
                while j < end and _is_number(args[j]):
                    j += 1
                if j < end and not args[j].startswith("-"):  # an input follows the numbers: move them
                    moved += args[i:j]
                    i = j
                    continue
            kept += args[i:j]
            i = j
        return kept + moved + args[end:]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Neural style transfer on a laptop CPU.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. As the program itself (``argv`` None: the ``brushwork`` script,
    ``python -m brushwork``), a Ctrl-C that arrives once the command has returned (while Python shuts
    down: Ray, torch and the progress bar's threads) is ignored: the run is over and its code stands,
    instead of the process dying of SIGINT (rc -2) after a finished run."""
    code = _main(argv)
    if argv is None:
        with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _show_deprecation(message, category, filename, lineno, file=None, line=None) -> None:
    """A deprecated spelling (``--init fast``, ``fast:MODEL``) as one line on stderr, no source line;
    other warnings as Python shows them."""
    if issubclass(category, BrushworkDeprecationWarning):
        print(f"{PROG}: deprecated: {message}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    with warnings.catch_warnings():
        warnings.simplefilter("default", BrushworkDeprecationWarning)  # shown once each, as one line
        warnings.showwarning = _show_deprecation
        args = parser.parse_args(argv)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
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
