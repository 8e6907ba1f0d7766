"""Flags from config dataclasses, and configs from parsed flags: a default is written once, in
``brushwork.config``, and every command's flags and help follow from it."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence

#: How a value of each type is named in an error ("size must be a whole number, got 'big'").
EXPECTED = {int: "a whole number", float: "a number"}


def number_type(kind: type):
    """argparse ``type=`` for int or float whose error names the type in words (argparse's own says
    "invalid int value"); ``number_type`` marks it for the parser (numeric lists end at a non-number)."""

    def convert(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {EXPECTED[kind]}, got {text!r}") from None

    convert.__name__ = kind.__name__
    convert.number_type = kind  # type: ignore[attr-defined]
    return convert


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, skip: Sequence[str] = ()) -> None:
    """One flag per dataclass field, typed from its annotation, helped from its metadata."""
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        hint = hints[f.name]
        args = typing.get_args(hint)
        non_none = [a for a in args if a is not type(None)]
        optional = type(None) in args
        base = non_none[0] if optional and len(non_none) == 1 else hint
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata.get("help", "")
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS}
        origin = typing.get_origin(base)
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is typing.Literal:
            kwargs["choices"] = typing.get_args(base)
        elif origin is tuple:
            item = typing.get_args(base)[0]
            kwargs.update(nargs="+", type=number_type(item) if item in EXPECTED else item)
        elif base in EXPECTED:
            kwargs["type"] = number_type(base)
        elif base is str:
            kwargs["type"] = base
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        kwargs["help"] = f"{help_text} (default: {shown})" if shown is not None else help_text
        parser.add_argument(_flag(f.name), **kwargs)


def config_from_args(config_cls: type, args: argparse.Namespace):
    """The config with every flag the user gave; the rest keep the dataclass defaults."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = tuple(value)
    return config_cls(**values)


def add_overwrite_flag(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``, the same for every command that writes files (see fileio.replace_problem)."""
    from brushwork.config import OVERWRITE_HELP

    parser.add_argument("--overwrite", action="store_true",
                        help=OVERWRITE_HELP + "; without it an existing output is refused")
