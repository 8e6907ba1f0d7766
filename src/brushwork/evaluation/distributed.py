"""The evaluation grid on Ray actors: ``brushwork evaluate --engine local|ray``.

Every actor builds the same plan the driver built (same inputs, same methods, same order: the plan
is deterministic) and loads the reference VGG19 and the methods' networks once; the driver sends job
numbers with what each job is (a worker that sees other files, e.g. without shared storage, fails
those rows rather than measuring something else) and collects the rows in plan order. Results go to
the same cache as an inline run (``OUT/cache``, written atomically), so an inline run, a Ray run and
a resumed run of either share every finished result. Times are measured on the actor that made the
result: compare them only between results made with the same ``--workers`` and CPUs per actor.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from pathlib import Path

import torch

from brushwork.batch.cluster import plan_actors, ray_session
from brushwork.config import BatchConfig, EvaluateConfig
from brushwork.evaluation.inputs import load_inputs
from brushwork.evaluation.jobs import EvaluationJob, base_row, job_key, plan_jobs, run_job
from brushwork.evaluation.methods import expand_methods, parse_method
from brushwork.metrics import ReferenceLoss
from brushwork.painters import loss_network
from brushwork.progress import ProgressCallback, report


def absolute(config: EvaluateConfig) -> EvaluateConfig:
    """Paths as every node sees them on shared storage (actors do not share the driver's cwd)."""
    def resolve(paths: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(Path(p).resolve()) for p in paths)

    return config.replace(contents=resolve(config.contents), styles=resolve(config.styles),
                          output=str(Path(config.output).resolve()))


def _plain(value):
    return float(value) if isinstance(value, (int, float)) else str(value)


def describe(job: EvaluationJob) -> str:
    """Which method, photo and painting a job is: the driver's and the actor's plans must agree."""
    return f"{job.method.spec} | {job.content.name} x {job.style_name}"


class EvaluateActor:
    """A callable class for ``Dataset.map_batches``: one evaluation worker, networks loaded once."""

    def __init__(self, config: EvaluateConfig, threads: int):
        torch.set_num_threads(max(1, threads))
        self.config = config.replace(threads=max(1, threads))
        methods = [parse_method(s, self.config) for s in expand_methods(self.config)]
        contents = load_inputs(config.contents, config.max_frames)
        styles = load_inputs(config.styles, 1) if config.styles else []
        self.jobs = plan_jobs(contents, styles, methods)
        self.reference = ReferenceLoss(config.eval_size, config.reference_weights,
                                       vgg=loss_network("vgg19", config.reference_weights))
        self.cache = Path(config.output) / "cache"

    def __call__(self, batch: dict[str, typing.Any]) -> dict[str, list]:
        results = []
        for index, what in zip(batch["index"], batch["job"]):
            job = self.jobs[int(index)] if int(index) < len(self.jobs) else None
            if job is None or describe(job) != what:
                row = {"status": "failed", "reason": "this worker sees other inputs than the driver "
                       "(put photos, paintings and models on storage every node shares)"}
                if job is not None:
                    row = {**base_row(job, job_key(job, self.config)), **row}
                results.append(json.dumps({"row": row, "computed": False}, default=_plain))
                continue
            before = (self.cache / f"{job_key(job, self.config)}.json").is_file()
            row = run_job(job, self.config, self.reference, self.cache)
            results.append(json.dumps({"row": row, "computed": row["status"] == "ok" and not before},
                                      default=_plain))
        return {"index": [int(i) for i in batch["index"]], "result": results}


def run_on_ray(jobs: list[EvaluationJob], config: EvaluateConfig,
               progress: ProgressCallback | None = None,
               on_row: Callable[[dict], None] | None = None) -> tuple[list[dict], int]:
    """Rows of ``jobs`` (in plan order) made by a pool of ``EvaluateActor``; and how many were computed
    rather than read from the cache. By default one actor per node, using all its CPUs."""
    config = absolute(config)
    batch = BatchConfig(engine="local" if config.engine == "local" else "ray", address=config.address,
                        workers=config.workers)
    rows: dict[int, dict] = {}
    computed = 0
    report(progress, 0, len(jobs), "result")
    with ray_session(batch) as ray:
        workers, cpus = plan_actors(ray, batch, whole_node=not config.workers, items=len(jobs))
        plan = ray.data.from_items([{"index": i, "job": describe(j)} for i, j in enumerate(jobs)])
        dataset = plan.map_batches(
            EvaluateActor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus,
            fn_constructor_kwargs={"config": config, "threads": cpus})
        for record in dataset.iter_rows():
            result = json.loads(record["result"])
            rows[int(record["index"])] = result["row"]
            computed += bool(result["computed"])
            job = jobs[int(record["index"])]
            report(progress, len(rows), len(jobs), "result", describe(job))
            if on_row is not None:
                on_row(result["row"])
    return [rows[i] for i in range(len(jobs))], computed
