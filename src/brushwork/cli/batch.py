"""``brushwork batch``: stylise a whole photo collection on Ray Data, on this machine or a cluster
(``brushwork.batch``). Re-running the same command finishes an interrupted batch: outputs that exist
are kept, only the missing ones are painted, and ``OUT/batch_report.csv`` lists every input."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from brushwork.cli.flags import add_config_arguments, config_from_args
from brushwork.cli.regions import add_region_arguments, region_config
from brushwork.config import ApplyConfig, BatchConfig
from brushwork.errors import BrushworkError, ConfigError, DiskFullError, PartialSuccess

#: BatchConfig's fields: where an ApplyConfig field has the same name (``engine``: Ray's local|ray, not
#: the network's runtime), the batch's flag is the one offered, and the ApplyConfig keeps its default.
_BATCH_FIELDS = frozenset(f.name for f in dataclasses.fields(BatchConfig))
#: ApplyConfig fields that make no sense for a batch (threads follow --cpus-per-worker; no videos).
_SKIPPED_APPLY = ("threads", "video_crf",
                  *sorted(_BATCH_FIELDS & {f.name for f in dataclasses.fields(ApplyConfig)}))
#: Failures named on stderr; the rest are in the report.
_SHOWN_FAILURES = 10
#: Where Ray's own output goes (its warnings, logs, "(raylet)" lines), in the output folder; not with -q.
RAY_LOG = "ray.log"


class BatchInterrupted(BrushworkError):
    """Ctrl-C: finished outputs stay, the report says what is pending, the same command resumes."""

    exit_code = 130


def add_parser(sub) -> None:
    p = sub.add_parser(
        "batch", help="stylise a whole photo collection on Ray (this machine or a cluster), resumably",
        usage="brushwork batch INPUT -o OUT_DIR (--model NAME|FILE | --style PAINTING | --gatys PAINTING) "
              "[--engine local|ray] [--address auto|ray://HOST:PORT] [--workers N] [options]",
        description="INPUT is a folder (walked recursively, its layout kept under OUT_DIR) or a manifest "
        "(.csv with a header, or .jsonl) with an 'input' column and optional output, model, style, gatys, "
        "size, strength, preserve_colors, stroke_size, detail, seed, network, mask, region and feather "
        "columns. "
        "--mask/--regions auto/--region give every input regions (a manifest row's own columns first). "
        "Ray Data runs a pool of actors that load the model once each and write their outputs "
        "atomically; outputs that already exist are skipped, so re-running after a crash or Ctrl-C only "
        "does what is missing. "
        "OUT_DIR/batch_report.csv lists every input. A model, painting or manifest that cannot work is "
        "refused in one line before Ray starts; Ray's own messages go to OUT_DIR/ray.log. "
        "Needs Ray: pip install \".[cluster]\" in a brushwork clone.")
    p.add_argument("input", metavar="INPUT",
                   help="a folder of photos, one photo, or a manifest (.csv/.jsonl)")
    p.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    paint = p.add_mutually_exclusive_group()
    paint.add_argument("--model", metavar="NAME|FILE",
                       help="a shipped style (brushwork models), a .safetensors or an .onnx model")
    paint.add_argument("--style", metavar="PAINTING",
                       help="any painting, through the arbitrary-style network")
    paint.add_argument("--gatys", metavar="PAINTING",
                       help="Gatys optimisation towards this painting: one photo per actor at a time "
                       "(minutes each; one actor per node's CPUs unless --cpus-per-worker)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help=f"no progress bar, and Ray's own messages are dropped (without -q they go to "
                   f"OUT_DIR/{RAY_LOG})")
    add_config_arguments(p, BatchConfig)
    add_config_arguments(p, ApplyConfig, skip=_SKIPPED_APPLY)
    add_region_arguments(p, skip=("mask_smoothing",))  # every input's regions; a manifest row's own first
    p.set_defaults(run=run)


def _painting(args: argparse.Namespace):
    """What paints every row a manifest does not paint otherwise; None when no flag names it."""
    from brushwork.batch.plan import KIND_OF_COLUMN, Painting, resolve_ref

    for flag, kind in KIND_OF_COLUMN.items():  # --model, --style (the arbitrary network), --gatys
        if getattr(args, flag):
            return Painting(kind, resolve_ref(kind, getattr(args, flag), Path.cwd()))
    return None


def _named(row: dict) -> str:
    """A failure line that names its file: the reason, after the input as the user gave it unless the
    reason already starts with it."""
    reason, source = str(row["reason"] or "failed"), str(row["input"])
    return reason if reason.startswith(source) else f"{source}: {reason}"


def _summary(result) -> str:
    c = result.counts
    rate = c["done"] / result.seconds if result.seconds else 0.0
    how = f"{result.workers} worker(s) x {result.cpus_per_worker} CPU" if result.workers else "no workers"
    return (f"{c['done']} painted, {c['skipped']} skipped (already there), {c['failed']} failed"
            + (f", {c['pending']} pending" if c["pending"] else "")
            + f" of {len(result.rows)} in {result.seconds:.1f} s ({how}, {rate:.2f} img/s); "
            f"report: {result.report}")


def run(args: argparse.Namespace) -> int:
    from brushwork.batch.cluster import require_ray

    require_ray()  # before any planning: one line saying how to install it
    from brushwork.batch.checks import check_networks, check_plan, output_bytes
    from brushwork.batch.plan import gatys_config, plan_batch
    from brushwork.batch.run import run_batch
    from brushwork.cli.disk import warn_space
    from brushwork.cli.progress import ProgressBar
    from brushwork.cli.ray_output import ray_output
    from brushwork.config import StylizeConfig
    from brushwork.fileio import check_output_dir

    batch = config_from_args(BatchConfig, args)
    apply = config_from_args(ApplyConfig, argparse.Namespace(**{k: v for k, v in vars(args).items()
                                                                if k not in _BATCH_FIELDS}))
    stylize = StylizeConfig(size=apply.size) if apply.size else StylizeConfig()
    stylize = gatys_config(batch.gatys_options, stylize) if batch.gatys_options else stylize
    painting = _painting(args)
    if batch.gatys_options and (painting is None or painting.kind != "gatys"):
        raise ConfigError("--gatys-options go with --gatys PAINTING")
    regions = region_config(args)
    if regions.active:  # a corrupt mask or a region it does not have: one line, before Ray starts
        from brushwork.regions import check_regions

        check_regions(regions, allow_models=painting is None or painting.kind != "gatys")
    items = plan_batch(args.input, args.output, painting, apply, stylize, regions)
    if not items:
        raise ConfigError(f"{args.input}: no input files found")
    check_plan(items, painting)  # before Ray starts: an unknown model or a bad painting, in one line
    check_networks(items, apply.network)  # and a missing or damaged arbitrary-network file
    check_output_dir(args.output)  # and an output folder that takes no file (its ray.log first)
    warn_space(args.output, output_bytes(items, apply.size))  # a warning: the estimate may be wrong
    log = None if args.quiet else Path(args.output) / RAY_LOG
    try:
        with ray_output(log) as terminal, ProgressBar(quiet=args.quiet, unit="img", file=terminal) as bar:
            result = run_batch(items, args.output, batch, apply, stylize, painting, progress=bar)
    except KeyboardInterrupt:
        raise BatchInterrupted(f"interrupted; finished outputs are kept and {args.output}/batch_report.csv "
                               "lists what is pending: run the same command again to resume") from None
    print(_summary(result))
    return _outcome(result, log)


def _outcome(result, log: Path | None) -> int:
    """The warnings and failures of a finished run on stderr, and its exit (an error for a cluster that
    failed part-way, a full disk, nothing painted or some inputs failed)."""
    from brushwork.batch.cluster import ClusterError
    from brushwork.batch.worker import WARNING

    warned = [r for r in result.rows if r["status"] == "done" and str(r["reason"]).startswith(WARNING)]
    for row in warned[:_SHOWN_FAILURES]:
        print(str(row["reason"]), file=sys.stderr)  # "warning: <input>: ..." (painted all the same)
    if len(warned) > _SHOWN_FAILURES:
        print(f"  ... and {len(warned) - _SHOWN_FAILURES} more warnings (see the report)", file=sys.stderr)
    failed = [r for r in result.rows if r["status"] == "failed"]
    for row in failed[:_SHOWN_FAILURES]:
        print(f"  failed: {_named(row)}", file=sys.stderr)
    if len(failed) > _SHOWN_FAILURES:
        print(f"  ... and {len(failed) - _SHOWN_FAILURES} more (see the report)", file=sys.stderr)
    if result.error:
        where = f"; Ray's messages are in {log}" if log is not None else ""
        raise ClusterError(f"the cluster failed part-way ({result.error}); {result.counts['pending']} "
                           f"input(s) pending: run the same command again to resume{where}")
    if result.full:  # the disk filled up: its own exit code, whatever else happened
        raise DiskFullError(f"{len(failed)} output(s) could not be written, the disk is full or failing "
                            f"({result.full}); run the same command again once there is room")
    finished = result.counts["done"] + result.counts["skipped"]
    if failed and not finished:
        raise BrushworkError("no input could be painted")
    if failed:
        raise PartialSuccess(f"{len(failed)} of {len(result.rows)} input(s) failed (listed above and in "
                             f"{result.report})", [r["reason"] for r in failed])
    return 0
