"""Training jobs: the page's "Make a model of this painting", run by ``brushwork train``'s engine.

A training job is a folder ``DATA/training/<id>/`` holding ``job.json`` (its record, written atomically
at every step), the painting as PNG and ``run/``, the output folder of ``fast.train.Training`` (its
checkpoint, ``losses.csv``, plot and samples). Jobs run in a lane of their own (``jobs._Lane``, one
worker): one at a time, queued behind no painting job and holding none up, as each painting lane has
its own workers. Progress (step, total, the validation figures against the arbitrary network, the ETA)
comes from train's callback and reaches the page through the same version counter and SSE polling as a
painting job's (``routes.training``).

The photos are a server-side folder (``WebServiceConfig.train_photos``), never an upload: a page sends
a painting and a name only. When a run ends, its model, its painting and a small JSON note go to the
models folder (``WebServiceConfig.models_path``) under a style id the server chose, and the model method
and the gallery learn the new style at once (``ModelJobMethod.add``, ``Registry.add_trained``); at start-up
``trained_styles`` reads that folder back, so a finished model stays in the gallery across restarts.

A server that stops while a job trains ends it at its next step with a checkpoint (train's
``TrainingInterrupted``) and leaves the record active: the next start queues it again and it resumes
from that checkpoint (``--resume``), as it would from the last periodic one after a kill.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from PIL import Image

from brushwork.config import TrainConfig, WebServiceConfig
from brushwork.errors import BrushworkError, ConfigError, DiskFullError, ImageError
from brushwork.fileio import atomic_path, atomic_write_text, disk_errno
from brushwork.images import open_image, save_image
from brushwork.networks.weights import load_vgg
from brushwork.progress import Progress
from brushwork.web.changes import Changes, Tracked
from brushwork.web.jobs import (
    ACTIVE,
    TERMINAL,
    JobStopped,
    QueueFull,
    _Lane,
    disk_text,
    failure_text,
    new_job_id,
    stored_jobs,
    valid_job_id,
)
from brushwork.web.methods import FastModel, JobMethod
from brushwork.web.styles import ID_PATTERN, Registry, Style, slug

log = logging.getLogger("brushwork.web")

LANE = "train"
PAINTING = "painting.png"
RUN = "run"
#: The validation figures a run beats the arbitrary network (Fast) with: its style ratio under Fast's
#: (``val_style_x`` < 1) while it keeps at least this share of Fast's SSIM to the photo (``val_ssim_x``).
BETTER_SSIM_SHARE = 0.95
#: Seconds ``stop`` waits for the running step to end and its checkpoint to be written.
STOP_SECONDS = 60.0
#: A training job's credit line in the gallery.
CREDIT = "your painting, trained here"
#: What a training job that ran out of memory tells its user.
OUT_OF_MEMORY_TEXT = "out of memory while training"


class ServerStopping(KeyboardInterrupt):
    """Raised in train's callback when the server stops: ``Training.fit`` saves a checkpoint at that step
    and raises ``TrainingInterrupted`` (the next start resumes it)."""


@dataclass
class TrainingJob:
    """A training job's record; ``job.json`` stores ``STORED``, the routes show ``routes.training.view``."""

    id: str
    name: str  # the style id its model gets (chosen by the server from the user's name)
    title: str
    source: str  # the gallery style id it was made from, or "upload"
    status: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    step: int = 0
    total: int = 0
    losses: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)  # the latest figures (fast.validation.FIELDS)
    validated_at: int | None = None  # the step they were measured at
    better_from: int | None = None  # first validated step that beat Fast (BETTER_SSIM_SHARE)
    resumed_from: int | None = None  # the checkpoint's step when a restart resumed it
    error: str | None = None
    note: str | None = None
    owner: str | None = None
    # Runtime only: never stored.
    eta: float | None = field(default=None, repr=False)
    cancel_requested: bool = field(default=False, repr=False)
    version: int = field(default=0, repr=False)

    STORED = ("id", "name", "title", "source", "status", "created", "started", "finished", "step", "total",
              "losses", "validation", "validated_at", "better_from", "resumed_from", "error", "note", "owner")

    def record(self) -> dict:
        data = asdict(self)
        return {k: data[k] for k in self.STORED}

    @classmethod
    def from_record(cls, data: dict) -> TrainingJob:
        return cls(**{k: data[k] for k in cls.STORED if k in data})


def model_method(methods: dict[str, JobMethod]) -> JobMethod | None:
    """The method that paints trained models and can be given new ones (``ModelJobMethod``), if any."""
    return next((m for m in methods.values() if m.takes == "model" and hasattr(m, "add")), None)


def trained_styles(config: WebServiceConfig) -> list[tuple[FastModel, Style]]:
    """The models the page trained before (the models folder's notes): each as the model method's model
    and the gallery's style. A note whose files are gone, or that is not ours, is skipped."""
    found = []
    folder = config.models_path
    if not folder.is_dir():
        return found
    for note in sorted(folder.glob("*.json")):
        try:
            data = json.loads(note.read_text(encoding="utf-8"))
            sid, title = str(data["id"]), str(data["title"])
        except (OSError, ValueError, TypeError, KeyError):
            continue
        model, painting = folder / f"{sid}.safetensors", folder / f"{sid}.png"
        if note.stem != sid or not ID_PATTERN.match(sid) or not model.is_file():
            continue
        found.append((FastModel(sid, title, model),
                      Style(sid, title, CREDIT, painting if painting.is_file() else None, fast_model=sid)))
    return found


def _beats_fast(figures: dict[str, float]) -> bool:
    style_x, ssim_x = figures.get("val_style_x"), figures.get("val_ssim_x")
    return style_x is not None and ssim_x is not None and style_x < 1.0 and ssim_x >= BETTER_SSIM_SHARE


class TrainingManager(Tracked):
    """Owns the training jobs: submission, the one worker, cancel, progress, recovery and publishing."""

    def __init__(self, config: WebServiceConfig, methods: dict[str, JobMethod], registry: Registry,
                 train_config: TrainConfig | None = None):
        self.config = config
        self.method = model_method(methods)
        self.registry = registry
        changes = {"checkpoint_every": config.train_checkpoint_every}
        if config.train_steps is not None:
            changes["steps"] = config.train_steps
        self.train_config = (train_config or TrainConfig()).replace(**changes)
        self.root = config.data_path / "training"
        self.jobs: dict[str, TrainingJob] = {}
        self.lock = threading.Condition()
        self.changes = Changes()  # wakes the event streams (``touch``)
        self.stopping = threading.Event()
        self.lane = _Lane(LANE, 1, config.queue_size)
        self._vgg = None

    # --- what a submission needs -------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """None when a training job can be submitted here, else why not (shown as is)."""
        if self.method is None:
            return "this server paints no trained models, so it cannot make one"
        return self.photos_problem()

    def photos_problem(self) -> str | None:
        """Why the server's training photos cannot train (fewer than train's minimum readable), else None.
        Opens photos until the minimum is reached; the message names no server path."""
        # The training stack loads when training is first asked about (a server that never trains skips it).
        from brushwork.fast.data import MIN_PHOTOS, check_photo, list_photos

        try:
            files = list_photos(self.config.train_photos_path)
        except ConfigError:
            files = []
        readable = 0
        for path in files:
            with contextlib.suppress(ImageError, OSError):
                check_photo(open_image(path), path)
                readable += 1
            if readable >= MIN_PHOTOS:
                return None
        return (f"this server has {readable} readable training photo(s) and training needs at least "
                f"{MIN_PHOTOS}: start brushwork serve with --train-photos DIR, a folder of {MIN_PHOTOS} or "
                "more photos")

    def new_style_id(self, name: str) -> str:
        """A style id from the user's name that no gallery style, model file or other job has."""
        base = (slug(name) or "model")[:56]
        taken = set(self.registry.styles) | {j.name for j in self.jobs.values() if j.status not in TERMINAL}
        sid, n = base, 1
        while sid in taken or (self.config.models_path / f"{sid}.json").exists():
            n += 1
            sid = f"{base}_{n}"
        return sid

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.recover()
        self.lane.threads.append(self._start_worker())

    def _start_worker(self) -> threading.Thread:
        thread = threading.Thread(target=self._work, name=f"{LANE}-worker-{self.lane.started_threads}",
                                  daemon=True)
        self.lane.started_threads += 1
        thread.start()
        return thread

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop the worker: a running job ends its step, saves a checkpoint and stays active (resumed on
        the next start)."""
        self.stopping.set()
        with self.lock:
            self.lock.notify_all()
        for thread in self.lane.threads:
            thread.join(timeout)

    def recover(self) -> None:
        """Load the stored jobs; those left queued or running go back in the queue, oldest first (a
        running one resumes from its checkpoint)."""
        waiting = []
        for _, job in stored_jobs(self.root, TrainingJob.from_record):  # the run's temps: train's own
            if job.status in ACTIVE:
                job.status, job.eta = "queued", None
                if job.step:
                    job.note = f"the server restarted at step {job.step}; resuming from its last checkpoint"
                self._try_save(job)
                waiting.append(job)
            self.jobs[job.id] = job
        for job in sorted(waiting, key=lambda j: j.created):
            self.lane.waiting.append(job.id)

    # --- jobs ---------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        if not valid_job_id(job_id):
            raise ValueError(f"invalid job id {job_id!r}")
        return self.root / job_id

    def get(self, job_id: str) -> TrainingJob | None:
        return self.jobs.get(job_id) if valid_job_id(job_id) else None

    def submit(self, painting: Image.Image, name: str, source: str, owner: str | None = None) -> TrainingJob:
        """Store the painting and queue the job; QueueFull when the lane has no room, DiskFullError when
        the painting does not fit (nothing of the job is left)."""
        with self.lock:
            if not self.lane.has_room():
                raise QueueFull(f"the server is busy: {len(self.lane.waiting)} training job(s) waiting; "
                                "please try again later")
            job = TrainingJob(new_job_id(), self.new_style_id(name), name.strip(), source, owner=owner)
            self.lane.reserved += 1
            self.jobs[job.id] = job  # its style id is taken from now on
        try:
            folder = self.job_dir(job.id)
            folder.mkdir(parents=True)
            save_image(painting, folder / PAINTING)
            self._save(job)
        except BaseException as exc:
            with self.lock:
                self.lane.reserved -= 1
                self.jobs.pop(job.id, None)
            shutil.rmtree(self.job_dir(job.id), ignore_errors=True)
            code = disk_errno(exc, self.root) if isinstance(exc, Exception) else None
            if code is not None:
                raise DiskFullError(disk_text(code), self.root) from None
            raise
        with self.lock:
            self.lane.reserved -= 1
            self.lane.waiting.append(job.id)
            self.lock.notify_all()
        return job

    def queue_position(self, job: TrainingJob) -> int | None:
        with self.lock:
            return list(self.lane.waiting).index(job.id) + 1 if job.id in self.lane.waiting else None

    def cancel(self, job: TrainingJob) -> None:
        with self.lock:
            if job.status == "queued" and job.id in self.lane.waiting:
                self.lane.waiting.remove(job.id)
                self._finish(job, "cancelled", "cancelled before it started")
                shutil.rmtree(self.job_dir(job.id) / RUN, ignore_errors=True)
            elif job.status == "running":
                job.cancel_requested = True
                self.touch(job)

    def _save(self, job: TrainingJob) -> None:
        folder = self.job_dir(job.id)
        if folder.is_dir():
            atomic_write_text(folder / "job.json", json.dumps(job.record(), indent=1))

    def _try_save(self, job: TrainingJob) -> bool:
        try:
            self._save(job)
            return True
        except Exception as exc:  # noqa: BLE001 - the job goes on in memory; its end says why if it cannot
            log.warning("could not write the record of training job %s: %s", job.id, exc)
            return False

    def _finish(self, job: TrainingJob, status: str, error: str | None = None) -> None:
        """End ``job``; its record is on disk before anyone is told (as ``JobManager._finish``)."""
        ended = replace(job, status=status, error=error, finished=time.time())
        if not self._try_save(ended) and status == "done":
            ended.status, ended.error = "failed", disk_text()
        with self.lock:
            job.status, job.error, job.finished, job.eta = ended.status, ended.error, ended.finished, None
        self.touch(job)

    # --- the worker ---------------------------------------------------------------------------
    def _next(self) -> TrainingJob | None:
        with self.lock:
            while not self.lane.waiting and not self.stopping.is_set():
                self.lock.wait(1.0)
            if self.stopping.is_set():
                return None
            job = self.jobs[self.lane.waiting.popleft()]
            job.status, job.started, job.eta = "running", job.started or time.time(), None
            self.lane.busy += 1
            self.lane.current[threading.current_thread().name] = job.id
        self._try_save(job)
        self.touch(job)
        return job

    def _work(self) -> None:
        while not self.stopping.is_set():
            job = self._next()
            if job is None:
                return
            try:
                self._run(job)
            except Exception:  # noqa: BLE001 - _run catches a run's errors; this is the bookkeeping's
                log.exception("training job %s: could not be finished", job.id)
                if job.status in ACTIVE:
                    self._finish(job, "failed", "internal error: the job could not be finished")
            finally:
                with self.lock:
                    self.lane.busy -= 1
                    self.lane.current.pop(threading.current_thread().name, None)

    def loss_network(self):
        """train's loss network, loaded once and shared by every job (it is frozen)."""
        if self._vgg is None:
            config = self.train_config
            self._vgg = load_vgg(config.loss_network, config.loss_weights)
        return self._vgg

    def _run(self, job: TrainingJob) -> None:
        from brushwork.fast.train import (  # the training stack: see photos_problem
            Training,
            TrainingInterrupted,
            validation_figures,
        )

        folder = self.job_dir(job.id)
        run, painting, photos = folder / RUN, folder / PAINTING, self.config.train_photos_path
        resume = run.is_dir() and any(run.iterdir())

        def callback(step: Progress) -> None:
            job.step, job.total, job.eta = step.done, step.total, step.eta
            job.losses = {k: round(float(v), 6) for k, v in step.losses.items()}
            figures = validation_figures(step)
            if figures:
                job.validation = {k: round(v, 4) for k, v in figures.items()}
                job.validated_at = step.done
                if job.better_from is None and _beats_fast(figures):
                    job.better_from = step.done
            self._try_save(job)
            self.touch(job)
            if job.cancel_requested:
                raise JobStopped("cancelled", "cancelled")
            if self.stopping.is_set():
                raise ServerStopping

        try:
            training = Training(painting, photos, run, self.train_config, resume=resume,
                                vgg=self.loss_network())
            if resume and training.start:
                job.resumed_from = training.start
            job.step, job.total = training.start, training.total_steps
            self.touch(job)
            model = training.fit(callback)
            if job.cancel_requested:  # cancelled during the last step
                raise JobStopped("cancelled", "cancelled")
            self._publish(job, model, painting)
            job.note = None
            self._finish(job, "done")
            (run / "checkpoint.safetensors").unlink(missing_ok=True)  # the model is kept; this is 3x its size
        except TrainingInterrupted as exc:  # the server is stopping: the record stays active (recover)
            job.note = (f"the server stopped at step {exc.step}; it resumes from step {exc.saved_step or 0} "
                        "when the server starts again")
            self._try_save(job)
        except JobStopped as exc:
            self._finish(job, exc.status, exc.reason)
            shutil.rmtree(run, ignore_errors=True)
        except DiskFullError as exc:
            self._finish(job, "failed",
                         failure_text(exc, folder, f"training job {job.id}", OUT_OF_MEMORY_TEXT))
        except BrushworkError as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            for path, what in ((painting, "the painting"), (photos, "the training photos"), (run, "the run"),
                               (folder, "the job")):
                text = text.replace(str(path), what)
            self._finish(job, "failed", text)
        except Exception as exc:  # the job fails, the server goes on
            self._finish(job, "failed",
                         failure_text(exc, folder, f"training job {job.id}", OUT_OF_MEMORY_TEXT))

    def _publish(self, job: TrainingJob, model: Path, painting: Path) -> Style:
        """Put the model, its painting and its note in the models folder (the note last: a model is listed
        only once all three are there), then offer it: model method and gallery, no restart."""
        folder = self.config.models_path
        folder.mkdir(parents=True, exist_ok=True)
        sid = job.name
        target, picture = folder / f"{sid}.safetensors", folder / f"{sid}.png"
        with atomic_path(target) as tmp:
            shutil.copyfile(model, tmp)
        with atomic_path(picture) as tmp:
            shutil.copyfile(painting, tmp)
        note = {"id": sid, "title": job.title, "job": job.id, "steps": job.step,
                "better_from": job.better_from, "validation": job.validation, "created": time.time()}
        atomic_write_text(folder / f"{sid}.json", json.dumps(note, indent=1))
        self.method.add(FastModel(sid, job.title, target))
        return self.registry.add_trained(Style(sid, job.title, CREDIT, picture, fast_model=sid))
