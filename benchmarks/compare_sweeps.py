"""Two or more ``brushwork evaluate --sweep`` runs on one trade-off figure (issue 12's old vs new
defaults): each sweep value of each run becomes one labelled point of ``evaluate``'s own
tradeoff.png panels, so the runs are judged by the same ruler and drawn by the same code.

    python benchmarks/compare_sweeps.py old=/tmp/sweep_old new=/tmp/sweep_new -o docs/images/x.png
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from brushwork.evaluation.report import write_tradeoff


def read_run(name: str, folder: Path) -> list[dict]:
    """The rows of one evaluate output folder, each labelled ``name: SETTING=VALUE`` by the swept
    setting (the last one of evaluate's method label)."""
    path = folder / "results.csv"
    if not path.is_file():
        sys.exit(f"error: {path} not found: give folders written by brushwork evaluate")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        swept = row["method"].split(":", 1)[-1].rsplit(",", 1)[-1]
        row["method"] = f"{name}: {swept}"
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=FOLDER of a brushwork evaluate --sweep run")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    for spec in args.runs:
        name, sep, folder = spec.partition("=")
        if not sep:
            sys.exit(f"error: {spec!r} is not NAME=FOLDER")
        rows += read_run(name, Path(folder))
    labels = list(dict.fromkeys(row["method"] for row in rows))
    with tempfile.TemporaryDirectory() as tmp:
        drawn = write_tradeoff(Path(tmp), rows, [SimpleNamespace(label=label) for label in labels])
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(drawn, args.output)
    print(f"wrote {args.output} ({len(labels)} settings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
