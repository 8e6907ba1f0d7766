"""The region flags of ``apply`` and ``stylize`` (``RegionConfig``): --mask, --regions auto, --region
NAME=VALUE (repeatable), --feather, --refine-edges; and how their warnings are shown."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from brushwork.cli.flags import add_config_arguments, config_from_args
from brushwork.config import RegionConfig


def add_region_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    group = parser.add_argument_group("regions", "a painting per region (docs/regions.md)")
    add_config_arguments(group, RegionConfig, skip=("region", *skip))
    field = next(f for f in dataclasses.fields(RegionConfig) if f.name == "region")
    group.add_argument("--region", dest="region", action="extend", nargs="+", metavar="NAME=VALUE",
                       default=argparse.SUPPRESS, help=field.metadata["help"])


def region_config(args: argparse.Namespace) -> RegionConfig:
    return config_from_args(RegionConfig, args)


def warn(message: str) -> None:
    """An engine's warning: one line on stderr (the result is still written)."""
    print(f"warning: {message}", file=sys.stderr)
