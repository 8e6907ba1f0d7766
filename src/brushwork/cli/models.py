"""``brushwork models``: list the shipped fast-style models.

Needs no torch: the registry and each file's safetensors header are enough, so the listing
starts as fast as ``--help``.
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="list the shipped fast-style models")
    m.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from safetensors import safe_open

    from brushwork.models import shipped_models

    models = shipped_models()
    if not models:
        print("no shipped models in this installation")
        return 0
    for m in models:
        with safe_open(str(m.path), framework="numpy") as f:  # the header only; no weights are read
            meta = dict(f.metadata() or {})
        size = m.path.stat().st_size / 1e6
        print(f"{m.name:20s} {meta.get('steps', '?'):>6s} steps  {size:4.1f} MB  {m.about}")
    return 0
