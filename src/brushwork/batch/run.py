"""Drive a batch: plan rows -> ``ray.data`` -> a pool of ``StylizeActor`` -> result rows -> the report.

The pipeline is Ray Data's: ``from_items`` holds the plan, ``map_batches`` runs ``StylizeActor`` as a
fixed actor pool (``ActorPoolStrategy``) with ``num_cpus`` per actor, and the driver streams the
result rows back (``iter_rows``) to report progress. A worker that dies is restarted by Ray and its
batch retried (``max_task_retries``); since every output path is fixed by the plan and written
atomically, a retry re-writes nothing that was finished and never writes a second copy.
``batch_report.csv`` lists every input (done, skipped, failed with its reason, pending when the run
was stopped), its time and its worker; it is written even when the run ends early.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from brushwork.batch.checks import check_outputs, check_plan
from brushwork.batch.cluster import plan_actors, ray_session
from brushwork.batch.plan import Item, Painting
from brushwork.batch.worker import RESULT_COLUMNS, StylizeActor, reason_of
from brushwork.config import ApplyConfig, BatchConfig, StylizeConfig
from brushwork.errors import BrushworkError
from brushwork.fileio import make_parent, write_csv
from brushwork.progress import ProgressCallback, report

REPORT_NAME = "batch_report.csv"
STATUSES = ("done", "skipped", "failed", "pending")


@dataclass
class BatchResult:
    """What a batch did: one row per input (sorted as planned), where the report is, how it ran."""

    rows: list[dict]
    report: Path
    seconds: float
    workers: int = 0
    cpus_per_worker: int = 0
    #: Seconds from the start until the first result came back (Ray start-up and model loading).
    first_result: float = 0.0
    #: Result rows Ray returned twice for one input (0 by construction; kept to prove it).
    duplicates: int = 0
    #: Temporary files of killed writers removed after the run.
    temp_removed: int = 0
    error: str = ""
    #: The first failed row's reason when the disk filled up (or failed) during the run, else "".
    full: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counted = Counter(r["status"] for r in self.rows)
        self.counts = {s: counted.get(s, 0) for s in STATUSES}


def _row(item: Item, status: str, reason: str) -> dict:
    return {"index": item.index, "input": item.source, "output": item.target, "status": status,
            "reason": reason, "seconds": 0.0, "worker": "", "painting": item.painting.label, "finished": ""}


def remove_temporaries(items: list[Item]) -> int:
    """Delete the hidden temporary files (``atomic_path``'s ``.STEM.*SUFFIX.tmp``) that a killed
    writer left beside the outputs; called when no writer of this run is left."""
    expected: dict[Path, set[str]] = {}
    for item in (i for i in items if i.target):
        target = Path(item.target)
        expected.setdefault(target.parent, set()).add(f".{target.stem}.")
    removed = 0
    for folder, prefixes in expected.items():
        if not folder.is_dir():
            continue
        for path in folder.glob(".*.tmp"):
            if any(path.name.startswith(p) for p in prefixes):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _whole_nodes(items: list[Item]) -> bool:
    return any(i.painting.kind == "gatys" for i in items)


def _pipeline(ray, items: list[Item], workers: int, cpus: int, config: BatchConfig, batch_size: int,
              actor_kwargs: dict):
    """The Ray Data pipeline: the plan's rows through a fixed pool of ``StylizeActor``.

    Two batches in flight per actor keep it busy without piling the queue onto the first actor to
    start. Retries of a batch whose worker died are capped (Ray's default is forever, so one photo
    that kills its worker would loop); Ray 2.60 takes the cap only as a deprecated remote argument."""
    dataset = ray.data.from_items([i.to_row() for i in items])
    options = {"batch_size": batch_size, "batch_format": "numpy", "num_cpus": cpus,
               "compute": ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=2),
               "fn_constructor_kwargs": actor_kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return dataset.map_batches(StylizeActor, **options, max_restarts=-1,
                                       max_task_retries=config.max_retries)
        except TypeError:  # a Ray that dropped the remote arguments: its default retry policy
            return dataset.map_batches(StylizeActor, **options)


def run_batch(items: list[Item], output_dir: str | Path, config: BatchConfig | None = None,
              apply: ApplyConfig | None = None, stylize: StylizeConfig | None = None,
              default: Painting | None = None, progress: ProgressCallback | None = None,
              on_row: Callable[[dict], None] | None = None) -> BatchResult:
    """Paint ``items`` (from ``plan_batch``) on Ray and write ``OUT/batch_report.csv``.

    ``default`` is loaded by every actor as it starts (rows with their own painting load theirs on
    first use). ``progress`` hears ``Progress(finished, total, "img")`` with ``img_s`` (painted per
    second) and ``eta_s``; ``on_row`` gets each result row as it arrives. Ctrl-C and a cluster failure
    still write the report (unfinished inputs as ``pending``) before the exception propagates.
    Before Ray starts, every painting of the plan is loaded once in this process (``checks``): a
    ``default`` that does not load raises its one-line ``BrushworkError`` and nothing is written.
    """
    config, apply, stylize = config or BatchConfig(), apply or ApplyConfig(), stylize or StylizeConfig()
    check_plan(items, default)  # before Ray starts: a painting that does not load is one line
    out = Path(output_dir)
    there = check_outputs(items, out, config.overwrite)  # an unwritable output: one line, no Ray
    make_parent(out / REPORT_NAME)
    rows: dict[int, dict] = {i.index: _row(i, "failed", i.error) for i in items if i.error}
    rows.update({i.index: _row(i, "skipped", "output exists") for i in items if i.index in there})
    todo = [i for i in items if i.index not in rows]  # nothing left: Ray is not started at all
    started, wall = time.perf_counter(), time.time()
    result = BatchResult([], out / REPORT_NAME, 0.0)
    report(progress, len(rows), len(items), "img")
    try:
        if todo:
            with ray_session(config) as ray:
                workers, cpus = plan_actors(ray, config, _whole_nodes(todo), len(todo))
                result.workers, result.cpus_per_worker = workers, cpus
                dataset = _pipeline(ray, todo, workers, cpus, config, apply.batch_size, {
                    "apply": apply, "stylize": stylize, "default": default, "threads": cpus,
                    "overwrite": config.overwrite, "started": wall})
                _collect(dataset.iter_rows(), rows, len(items), result, started, progress, on_row)
    except BrushworkError:  # Ray missing or unreachable, too many workers asked for: the user's to fix
        raise
    except Exception as exc:  # a cluster that fails part-way: keep what finished, report the rest
        result.error = reason_of(exc)
    finally:
        for item in items:
            rows.setdefault(item.index, _row(item, "pending", result.error or "not finished"))
        result.rows = [rows[i.index] for i in items]
        result.__post_init__()
        result.seconds = time.perf_counter() - started
        result.temp_removed = remove_temporaries(items)
        result.full = _full_disk(result.rows)
        write_csv(result.report, result.rows, [c for c in RESULT_COLUMNS if c != "index"], line_end="\n")
    return result


def _collect(arriving, rows: dict[int, dict], total: int, result: BatchResult, started: float,
             progress: ProgressCallback | None, on_row: Callable[[dict], None] | None) -> None:
    """Take each result row as the workers send it: into ``rows``, with the rate and ETA reported."""
    painted = 0
    for row in arriving:
        row = {c: row[c] for c in RESULT_COLUMNS}
        row["index"] = int(row["index"])
        if not result.first_result:
            result.first_result = time.perf_counter() - started
        result.duplicates += row["index"] in rows
        rows[row["index"]] = row
        painted += row["status"] == "done"
        elapsed = time.perf_counter() - started
        rate = painted / elapsed if elapsed > 0 else 0.0
        report(progress, len(rows), total, "img", img_s=round(rate, 2),
               eta_s=round((total - len(rows)) / rate) if rate > 0 else -1)
        if on_row is not None:
            on_row(row)


def _full_disk(rows: list[dict]) -> str:
    """The first row that failed because the disk is full or failing (``fileio.disk_message``), or ""."""
    return next((r["reason"] for r in rows if r["status"] == "failed" and "could not be written: " in
                 str(r["reason"]) and ("no space left" in str(r["reason"]) or "input/output error" in
                                       str(r["reason"]) or "quota" in str(r["reason"]))), "")
