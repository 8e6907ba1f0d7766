"""Jobs: stored on disk, run by bounded worker pools, cancellable, recoverable after a restart.

Each job is a folder ``DATA/jobs/<id>/`` holding ``job.json`` (its record, written
atomically on every change of status), the inputs as PNG, the latest preview and the result.
A restart reloads the records: finished results stay downloadable, and jobs that were
queued or running when the server stopped are marked failed with the reason.

A job with regions keeps their settings in its record (``regions``: ``methods.RegionOptions``), its
mask picture as ``mask.png`` (as sent: a page's drawing) and a copy of each region's gallery painting
(``region<i>.png``), so it runs, and can be painted again, from its folder alone.

A video job (``kind == "video"``) keeps the uploaded video until it has run, its first frame as the
photo, the latest painted frame as the preview and an MP4 as the result; its progress counts frames.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import json
import logging
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from PIL import Image

from brushwork.config import WebServiceConfig
from brushwork.errors import BrushworkError, DiskFullError
from brushwork.fileio import (
    atomic_path,
    atomic_write_text,
    disk_errno,
    free_bytes,
    probe_writable,
    remove_stale_temps,
)
from brushwork.images import open_image, save_image
from brushwork.progress import Progress
from brushwork.web.changes import Changes, Tracked
from brushwork.web.methods import (
    OLD_METHOD_NAMES,
    JobMethod,
    JobOptions,
    RegionOptions,
    StyleInput,
)

log = logging.getLogger("brushwork.web")

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class JobStatus(StrEnum):
    """A job's status: the one list (the API schema, ``job.json`` and the page's /vocabulary.js use it)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
TERMINAL = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)
INTERRUPTED = "interrupted: the server stopped before this job finished; please submit it again"
#: Files a job folder may hold; nothing else is ever read from one.
FILES = {
    "photo": "photo.png",
    "painting": "painting.png",
    "second_painting": "painting2.png",
    "preview": "preview.jpg",
    "result": "result.png",
    "video": "input.video",
    "result_video": "result.mp4",
    "mask": "mask.png",
}
#: A region's painting (a gallery style's picture), by the index of its setting in ``RegionOptions.region``.
REGION_PAINTING = "region{}.png"
#: Seconds between the preview frames a video job writes.
VIDEO_PREVIEW_SECONDS = 1.0
#: Seconds between the supervisor's looks at the worker threads (a dead one is replaced).
SUPERVISE_SECONDS = 0.5
#: Seconds a measurement of the data folder's writability is reused by /api/health.
WRITABLE_CHECK_SECONDS = 2.0
#: Below this many bytes free in the data folder, submissions are refused with 507 before any upload
#: is read (one page: no file can grow there).
MIN_FREE_BYTES = 4096


def disk_text(code: int | None = None) -> str:
    """What a user is told when the server's disk cannot take a job's files (no server path in it)."""
    if code == errno.EIO:
        return "the server could not store this job's files (a disk error); please try again later"
    return "the server's disk is full, so this job's files could not be stored; please try again later"


OUT_OF_MEMORY = "out of memory; try a smaller size"


def failure_text(exc: BaseException, folder: Path, what: str, out_of_memory: str) -> str:
    """What a job that raised ``exc`` (not a BrushworkError: its callers word those) tells its user,
    with no server path: a full or failing disk (``folder`` is the job's), running out of memory, or an
    internal error, which is logged with its traceback. Painting and training jobs share it."""
    if isinstance(exc, DiskFullError):
        log.warning("%s: %s", what, exc)
        return disk_text(errno.EIO if "input/output" in str(exc) else None)
    if isinstance(exc, MemoryError):
        return out_of_memory
    code = disk_errno(exc, folder)
    if code is not None:
        return disk_text(code)
    log.error("%s failed", what, exc_info=exc)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"internal error: {text}"


class QueueFull(BrushworkError):
    """More jobs than the queue holds: the API answers 429."""


class JobStopped(Exception):
    """Raised inside a running job when it is cancelled or over its time limit."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def new_job_id() -> str:
    return uuid.uuid4().hex


def valid_job_id(job_id: str) -> bool:
    """Ids are 32 hex digits: nothing else can reach the file system (no ``..``, no slashes)."""
    return bool(JOB_ID.match(job_id))


@dataclass
class Job:
    """A job's record; ``to_json`` is what the API returns and ``job.json`` stores."""

    id: str
    method: str
    style: str
    style_title: str
    options: dict
    status: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    iteration: int = 0
    total: int = 0
    losses: dict = field(default_factory=dict)
    preview: int = 0  # preview version; bumps with each new preview image
    error: str | None = None
    width: int = 0
    height: int = 0
    fast_model: str | None = None
    second_style: str | None = None  # gallery id or "upload" of a blended second painting
    kind: str = "image"  # or "video": the photo is a video's first frame, the result an MP4
    owner: str | None = None  # exposed servers: a hash of the submitting browser's token (web.security)
    note: str | None = None  # why it stopped before ``total`` ("converged at step N of M: ...")
    regions: dict | None = None  # RegionOptions.to_dict(): what a page needs to paint it again
    warning: str | None = None  # painted, but not as asked ("no person found": the whole picture)
    # Runtime only: never stored.
    eta: float | None = field(default=None, repr=False)  # seconds left, from the live rate
    work: float = field(default=0.0, repr=False)  # megapixel-steps done, when the method says (Gatys)
    cancel_requested: bool = field(default=False, repr=False)
    version: int = field(default=0, repr=False)

    STORED = (
        "id",
        "method",
        "style",
        "style_title",
        "options",
        "status",
        "created",
        "started",
        "finished",
        "iteration",
        "total",
        "losses",
        "preview",
        "error",
        "width",
        "height",
        "fast_model",
        "second_style",
        "kind",
        "owner",
        "note",
        "regions",
        "warning",
    )

    @property
    def result_kind(self) -> str:
        """The FILES entry of this job's result."""
        return "result_video" if self.kind == "video" else "result"

    def record(self) -> dict:
        data = asdict(self)
        return {k: data[k] for k in self.STORED}

    @classmethod
    def from_record(cls, data: dict) -> Job:
        job = cls(**{k: data[k] for k in cls.STORED if k in data})
        job.method = OLD_METHOD_NAMES.get(job.method, job.method)  # a record written before the rename
        return job


class _Reporter:
    """The bridge from a running method to its job: progress, previews, cancel, time limit."""

    def __init__(self, manager: JobManager, job: Job, deadline: float):
        self.manager = manager
        self.job = job
        self.deadline = deadline
        self.last_preview = 0.0
        self.first_step: tuple[float, int] | None = None  # (monotonic time, iteration) of the first step

    def check(self) -> None:
        if self.job.cancel_requested:
            raise JobStopped("cancelled", "cancelled")
        if self.manager.stopping.is_set():
            raise JobStopped("failed", INTERRUPTED)
        if time.monotonic() > self.deadline:
            limit = self.manager.config.job_time_limit
            raise JobStopped(
                "failed",
                f"stopped after {limit:g} s, the time limit per job; try a smaller size or fewer iterations",
            )

    def warn(self, message: str) -> None:
        """The engines' one-line warnings (``brushwork.regions``): kept in the record, shown by the page."""
        job = self.job
        job.warning = message if not job.warning else f"{job.warning}; {message}"
        self.manager.touch(job)

    def step(self, progress: Progress) -> None:
        """One step of the method (``web.methods.Reporter``): the job's progress, ETA, note and preview."""
        job, iteration, total, eta = self.job, progress.done, progress.total, progress.eta
        if progress.width:  # this step's picture size (Gatys' scales differ), for the measured speed
            job.work += progress.width * progress.height / 1e6
        now = time.monotonic()
        if self.first_step is None:
            self.first_step = (now, iteration)
        elif eta is None and total and iteration > self.first_step[1]:
            # The live rate since the first step (its warm-up left out): a video's frames, or any method
            # that gives no estimate of its own.
            started, first = self.first_step
            eta = (total - iteration) * (now - started) / (iteration - first)
        job.eta = None if eta is None else round(max(0.0, eta), 1)
        if progress.message:
            job.note = progress.message
        every = self.manager.config.preview_every
        if job.kind == "video":  # steps are batches of frames: a preview a second, and the last frame
            due = time.monotonic() - self.last_preview >= VIDEO_PREVIEW_SECONDS or iteration >= (total or 0)
        else:
            due = iteration % every == 0 or iteration == 1
        if progress.has_image and due:
            self.last_preview = time.monotonic()
            picture = progress.image
            with atomic_path(self.manager.job_dir(job.id) / FILES["preview"]) as tmp:
                picture.save(tmp, format="JPEG", quality=85)
            job.preview += 1
        job.iteration, job.total = iteration, max(total or job.total, iteration)  # a video may not say
        job.losses = {k: float(v) for k, v in progress.losses.items()}
        self.manager.touch(job)
        self.check()


class _Lane:
    """One method family's bounded queue and its worker threads."""

    def __init__(self, name: str, workers: int, capacity: int):
        self.name = name
        self.workers = workers
        self.capacity = capacity
        self.waiting: collections.deque[str] = collections.deque()
        self.busy = 0
        self.reserved = 0
        self.threads: list[threading.Thread] = []
        #: worker thread name -> the id of the job it runs (what the supervisor fails if it dies)
        self.current: dict[str, str] = {}
        self.restarts = 0
        self.started_threads = 0

    def has_room(self) -> bool:
        idle = self.workers - self.busy
        return len(self.waiting) + self.reserved < self.capacity + max(0, idle)


T = TypeVar("T")


def stored_jobs(root: Path, from_record: Callable[[dict], T]) -> Iterator[tuple[Path, T]]:
    """``(record path, job)`` of every readable ``root/ID/job.json`` whose id matches its folder, oldest
    id first; an unreadable record is logged and skipped, and a record write cut short by a kill (a
    stray temporary file of ``fileio.atomic_path``) is removed. Painting and training jobs share it."""
    for record in sorted(root.glob("*/job.json")):
        if not valid_job_id(record.parent.name):
            continue
        try:
            job = from_record(json.loads(record.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("skipping unreadable job record %s: %s", record, exc)
            continue
        if getattr(job, "id", None) != record.parent.name:
            continue
        remove_stale_temps(record.parent)
        yield record, job


class JobManager(Tracked):
    """Owns every job: submission, the worker pools, cancellation, clean-up and recovery."""

    def __init__(self, config: WebServiceConfig, methods: dict[str, JobMethod]):
        self.config = config
        self.methods = methods
        self.root = config.data_path / "jobs"
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Condition()
        self.changes = Changes()  # wakes the event streams (``touch``)
        self.stopping = threading.Event()
        workers = {"gatys": config.gatys_workers, "fast": config.fast_workers}
        self.lanes: dict[str, _Lane] = {}
        for method in methods.values():
            if method.lane not in self.lanes:
                self.lanes[method.lane] = _Lane(method.lane, workers.get(method.lane, 1), config.queue_size)
        self._janitor: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None
        #: Measured seconds per iteration per megapixel of each method (for the page's estimate).
        self.speed: dict[str, float] = {}
        #: The last failed write of the job store (for /api/health), and the last writability probe.
        self.write_error: str | None = None
        self._writable: tuple[float, str | None] = (-1e9, None)

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.recover()
        self.cleanup()
        for lane in self.lanes.values():
            for _ in range(lane.workers):
                lane.threads.append(self._start_worker(lane))
        self._janitor = threading.Thread(target=self._janitor_loop, name="janitor", daemon=True)
        self._janitor.start()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def _start_worker(self, lane: _Lane) -> threading.Thread:
        name = f"{lane.name}-worker-{lane.started_threads}"
        thread = threading.Thread(target=self._work, args=(lane,), name=name, daemon=True)
        lane.started_threads += 1
        thread.start()
        return thread

    def _supervise(self) -> None:
        """Replace any worker thread that died (the loop in ``_work`` catches everything, so this is the
        second line: a bug there, or a thread killed some other way), failing the job it held."""
        while not self.stopping.wait(SUPERVISE_SECONDS):
            for lane in self.lanes.values():
                for index, thread in enumerate(lane.threads):
                    if thread.is_alive() or self.stopping.is_set():
                        continue
                    log.error("worker %s stopped; starting another", thread.name)
                    with self.lock:
                        job = self.jobs.get(lane.current.pop(thread.name, ""))
                        if job is not None and job.status in ACTIVE:
                            lane.busy = max(0, lane.busy - 1)
                            self._finish(job, "failed", "internal error: the worker running this job stopped")
                    lane.threads[index] = self._start_worker(lane)
                    lane.restarts += 1

    def stop(self, timeout: float = 10.0) -> None:
        """Stop workers; running jobs end at their next iteration and are marked interrupted."""
        self.stopping.set()
        with self.lock:
            self.lock.notify_all()
        deadline = time.monotonic() + timeout
        for lane in self.lanes.values():
            for thread in lane.threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            for job in self.jobs.values():
                if job.status in ACTIVE:
                    self._finish(job, "failed", INTERRUPTED)

    def recover(self) -> None:
        """Load stored jobs; any left queued or running by a previous server failed with a reason."""
        for folder in self.root.iterdir():
            if folder.is_dir() and valid_job_id(folder.name) and not (folder / "job.json").exists():
                shutil.rmtree(folder, ignore_errors=True)  # a submission cut short: nothing to keep
        for record, job in stored_jobs(self.root, Job.from_record):
            if job.status in ACTIVE:
                job.status, job.error, job.finished = "failed", INTERRUPTED, time.time()
                self._save(job)
                (record.parent / FILES["video"]).unlink(missing_ok=True)  # a video it will not paint
            if job.status == "done" and not (record.parent / FILES[job.result_kind]).is_file():
                job.status, job.error = "failed", "the result file is missing"
                self._save(job)
            self.jobs[job.id] = job

    # --- files --------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        if not valid_job_id(job_id):
            raise ValueError(f"invalid job id {job_id!r}")
        return self.root / job_id

    def file(self, job_id: str, kind: str) -> Path | None:
        path = self.job_dir(job_id) / FILES[kind]
        return path if path.is_file() else None

    def _save(self, job: Job) -> None:
        folder = self.job_dir(job.id)
        if folder.is_dir():
            try:
                atomic_write_text(folder / "job.json", json.dumps(job.record(), indent=1))
            except DiskFullError as exc:
                self.write_error = str(exc)
                raise
            self.write_error = None

    def _try_save(self, job: Job) -> bool:
        """``_save``, for the bookkeeping of jobs already accepted: a record that cannot be written is
        logged and the job goes on in memory (a restart marks it interrupted); never raises."""
        try:
            self._save(job)
            return True
        except Exception as exc:  # noqa: BLE001 - a full disk, a failing one: the worker must go on
            if not isinstance(exc, DiskFullError):
                self.write_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("could not write the record of job %s: %s", job.id, exc)
            return False

    # --- health -------------------------------------------------------------------------------
    def free_bytes(self) -> int | None:
        return free_bytes(self.root)

    def disk_full(self) -> bool:
        """Too little room for any upload (``MIN_FREE_BYTES``): submissions get 507 before reading."""
        free = self.free_bytes()
        return free is not None and free < MIN_FREE_BYTES

    def writable(self) -> str | None:
        """None when the job store takes a file (probed with a page of data, at most every
        ``WRITABLE_CHECK_SECONDS``), else why not."""
        when, problem = self._writable
        if time.monotonic() - when >= WRITABLE_CHECK_SECONDS:
            try:
                probe_writable(self.root)
                problem = None
            except BrushworkError as exc:
                problem = str(exc)
            except OSError as exc:  # pragma: no cover - the folder vanished
                problem = str(exc)
            self._writable = (time.monotonic(), problem)
        return problem

    def health(self) -> dict:
        """What /api/health adds to the lanes: the live workers, the free space, whether it can write."""
        problem = self.writable()
        alive = sum(t.is_alive() for lane in self.lanes.values() for t in lane.threads)
        wanted = sum(lane.workers for lane in self.lanes.values())
        return {
            "workers_alive": alive,
            "workers": wanted,
            "restarts": sum(lane.restarts for lane in self.lanes.values()),
            "free_bytes": self.free_bytes(),
            "writable": problem is None,
            "problem": problem or (None if alive == wanted else f"{wanted - alive} worker(s) not running"),
        }

    # --- submission ---------------------------------------------------------------------------
    def submit(
        self,
        method: str,
        style_id: str,
        style_title: str,
        style: StyleInput,
        photo: Image.Image,
        options: JobOptions,
        second_style: str | None = None,
        video: bytes | None = None,
        frames: int = 0,
        owner: str | None = None,
        regions: RegionOptions | None = None,
        mask: Image.Image | None = None,
        region_paintings: dict[int, Image.Image] | None = None,
    ) -> Job:
        """Store the inputs and queue the job; QueueFull when its lane has no room. With ``video``
        (the upload's bytes; ``photo`` is then its first frame and ``frames`` its declared count) the
        job paints the video. With ``regions``: its ``mask`` picture (source ``mask``) and the gallery
        paintings of its region settings (by their index) are stored too."""
        lane = self.lanes[self.methods[method].lane]
        job = Job(
            id=new_job_id(),
            method=method,
            style=style_id,
            style_title=style_title,
            options=options.to_dict(),
            fast_model=style.fast_model,
            second_style=second_style,
            kind="image" if video is None else "video",
            total=frames,
            owner=owner,
            regions=regions.to_dict() if regions is not None else None,
        )
        with self.lock:
            if not lane.has_room():
                raise QueueFull(self.busy_message(method))
            lane.reserved += 1  # hold the place during the slow disk writes
        try:
            folder = self.job_dir(job.id)
            folder.mkdir(parents=True)
            _store_inputs(folder, photo, style, video, mask, region_paintings or {})
            self._save(job)
        except BaseException as exc:
            with self.lock:
                lane.reserved -= 1
            shutil.rmtree(self.job_dir(job.id), ignore_errors=True)
            code = disk_errno(exc, self.root) if isinstance(exc, Exception) else None
            if code is not None:  # a full or failing disk: the API answers 507
                self.write_error = str(exc).splitlines()[0] if str(exc) else "no space left"
                raise DiskFullError(disk_text(code), self.root) from None
            raise
        with self.lock:
            lane.reserved -= 1
            self.jobs[job.id] = job
            lane.waiting.append(job.id)
            self.lock.notify_all()
        return job

    def has_room(self, method: str) -> bool:
        with self.lock:
            return self.lanes[self.methods[method].lane].has_room()

    def busy_message(self, method: str) -> str:
        lane = self.lanes[self.methods[method].lane]
        return (
            f"the server is busy: {lane.busy} {method} job(s) running and {len(lane.waiting)} waiting; "
            "please try again in a minute"
        )

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id) if valid_job_id(job_id) else None

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to start; None once it runs."""
        lane = self.lanes.get(self.methods[job.method].lane) if job.method in self.methods else None
        with self.lock:
            if lane is None or job.id not in lane.waiting:
                return None
            return list(lane.waiting).index(job.id) + 1

    def cancel(self, job: Job) -> None:
        with self.lock:
            if job.status == "queued":
                for lane in self.lanes.values():
                    if job.id in lane.waiting:
                        lane.waiting.remove(job.id)
                self._finish(job, "cancelled", "cancelled before it started")
            elif job.status == "running":
                job.cancel_requested = True
                self.touch(job)

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        """End ``job``: its record is on disk before anyone is told (a client that sees "done" finds
        the job's folder complete, with no record still being written)."""
        ended = replace(job, status=status, error=error, finished=time.time())
        saved = self._try_save(ended)
        if not saved and status == "done":  # a result whose record cannot say "done"
            ended.status, ended.error = "failed", disk_text()
            with contextlib.suppress(OSError):
                (self.job_dir(job.id) / FILES[job.result_kind]).unlink()
        if ended.status == "done" and job.started and job.total and job.width and job.kind == "image":
            # Seconds per megapixel-step: each step counted at its own size where the method says it
            # (a Gatys job's coarse scales are a quarter of the pixels), else at the result's size.
            work = job.work or job.total * job.width * job.height / 1e6
            rate = (ended.finished - job.started) / work
            old = self.speed.get(job.method)
            self.speed[job.method] = rate if old is None else 0.5 * old + 0.5 * rate
        with self.lock:
            job.status, job.error, job.finished = ended.status, ended.error, ended.finished
        self.touch(job)

    def stats(self) -> dict:
        """Per lane: workers, jobs running, waiting, capacity. "running" counts jobs by their status,
        as clients see them (a worker is still busy for a moment after its job is marked done)."""
        with self.lock:
            running = collections.Counter(
                self.methods[j.method].lane for j in self.jobs.values()
                if j.status == "running" and j.method in self.methods
            )
            return {
                name: {
                    "workers": lane.workers,
                    "running": running[name],
                    "waiting": len(lane.waiting),
                    "capacity": lane.capacity,
                }
                for name, lane in self.lanes.items()
            }

    # --- workers ------------------------------------------------------------------------------
    def _next(self, lane: _Lane) -> Job | None:
        with self.lock:
            while not lane.waiting and not self.stopping.is_set():
                self.lock.wait(1.0)
            if self.stopping.is_set():
                return None
            job = self.jobs[lane.waiting.popleft()]
            job.status, job.started = "running", time.time()
            if not self._try_save(job):  # its record cannot be written: neither could its result
                self._finish(job, "failed", disk_text())
                return False
            lane.busy += 1
            lane.current[threading.current_thread().name] = job.id
            self.touch(job)
            return job

    def _work(self, lane: _Lane) -> None:
        """A worker's loop: it survives anything a job or the disk throws (each job ends failed with
        the reason); the supervisor replaces it should it die all the same."""
        while not self.stopping.is_set():
            try:
                job = self._next(lane)
            except Exception:  # noqa: BLE001 - never let bookkeeping kill the worker
                log.exception("worker %s: could not take the next job", threading.current_thread().name)
                time.sleep(0.1)
                continue
            if job is None:
                return
            if job is False:
                continue
            try:
                self._run(job)
            except Exception:  # noqa: BLE001 - _run catches a job's errors; this is the job store's
                log.exception("job %s: could not be finished", job.id)
                if job.status in ACTIVE:
                    job.status, job.finished = "failed", time.time()
                    job.error = "internal error: the job could not be finished"
                    self.touch(job)
            except BaseException:  # SystemExit and the like end the thread (the supervisor replaces it)
                if job.status in ACTIVE:
                    self._finish(job, "failed", "internal error: the worker running this job stopped")
                raise
            finally:
                with self.lock:
                    lane.busy -= 1
                    lane.current.pop(threading.current_thread().name, None)
                    self.lock.notify_all()
                with contextlib.suppress(Exception):
                    self.cleanup()

    def _run(self, job: Job) -> None:
        method = self.methods[job.method]
        folder = self.job_dir(job.id)
        reporter = _Reporter(self, job, time.monotonic() + self.config.job_time_limit)
        try:
            photo = open_image(folder / FILES["photo"])
            paintings = [folder / FILES[kind] for kind in ("painting", "second_painting")]
            painting, second = (open_image(p) if p.is_file() else None for p in paintings)
            options = JobOptions(**job.options)
            style = StyleInput(painting, job.fast_model, second, self._regions(job, method))
            if job.kind == "video":
                self._run_video(job, method, style, options, reporter)
            else:
                result = method.run(photo, style, options, reporter)
                reporter.check()  # a job cancelled during its last step ends cancelled, not done
                save_image(result, folder / FILES["result"])
                job.width, job.height = result.size
            self._finish(job, "done")
        except JobStopped as exc:
            self._finish(job, exc.status, exc.reason)
        except BrushworkError as exc:  # a DiskFullError (a preview or the result that did not fit): no path
            self._finish(job, "failed", failure_text(exc, folder, f"job {job.id}", OUT_OF_MEMORY)
                         if isinstance(exc, DiskFullError) else str(exc))
        except Exception as exc:  # the job fails, the server goes on
            self._finish(job, "failed", failure_text(exc, folder, f"job {job.id}", OUT_OF_MEMORY))
        finally:
            (folder / FILES["video"]).unlink(missing_ok=True)  # the upload has served its purpose

    def _regions(self, job: Job, method: JobMethod):
        """The engines' RegionConfig of a job with regions (its stored files), else None."""
        if not job.regions:
            return None
        folder = self.job_dir(job.id)
        if method.takes == "model":  # the region named "default" with a strength: the job's model
            model_ref = getattr(method, "model_ref", None)
            default = str(model_ref(job.fast_model)) if model_ref and job.fast_model else None
        else:
            default = str(folder / FILES["painting"])
        return RegionOptions.from_dict(job.regions).engine_config(
            folder / FILES["mask"], lambda i: folder / REGION_PAINTING.format(i), default)

    def _run_video(self, job: Job, method: JobMethod, style: StyleInput, options: JobOptions,
                   reporter: _Reporter) -> None:
        """Paint the stored video into the MP4 result (written whole or not at all). The engine's
        errors name the file; users see "the video" instead of a path on the server."""
        folder = self.job_dir(job.id)
        source, target = folder / FILES["video"], folder / FILES["result_video"]
        try:
            frames = method.run_video(source, target, style, options, reporter, self.config.max_video_frames)
        except BrushworkError as exc:
            text = str(exc).splitlines()[0].replace(f"{source}: ", "").replace(str(source), "the video")
            text = text.replace(str(target), "the result")
            raise BrushworkError(text) from None
        reporter.check()
        job.iteration = job.total = frames
        job.width, job.height = _video_size(target)

    # --- clean-up -----------------------------------------------------------------------------
    def _janitor_loop(self) -> None:
        while not self.stopping.wait(600):
            self.cleanup()

    def cleanup(self, now: float | None = None) -> list[str]:
        """Delete finished jobs past the age limit, then the oldest until under the size cap."""
        now = time.time() if now is None else now
        max_age = self.config.max_age_hours * 3600
        removed: list[str] = []
        with self.lock:
            finished = sorted(
                (j for j in self.jobs.values() if j.status in TERMINAL), key=lambda j: j.finished or j.created
            )
        for job in finished:
            if now - (job.finished or job.created) > max_age:
                removed.append(self._delete(job))
        sizes = (
            {p.name: _folder_size(p) for p in self.root.iterdir() if p.is_dir()} if self.root.is_dir() else {}
        )
        total = sum(sizes.values())
        for job in finished:
            if total <= self.config.max_data_bytes:
                break
            if job.id not in removed:
                total -= sizes.get(job.id, 0)
                removed.append(self._delete(job))
        return removed

    def delete(self, job: Job) -> bool:
        """Delete a finished job, its record and its files (the page's history); False while it runs."""
        with self.lock:
            if job.status not in TERMINAL or self.jobs.get(job.id) is not job:
                return False
            self.jobs.pop(job.id, None)
            self.lock.notify_all()
        shutil.rmtree(self.job_dir(job.id), ignore_errors=True)
        return True

    def _delete(self, job: Job) -> str:
        with self.lock:
            self.jobs.pop(job.id, None)
        shutil.rmtree(self.job_dir(job.id), ignore_errors=True)
        return job.id


def _store_inputs(folder: Path, photo: Image.Image, style: StyleInput, video: bytes | None,
                  mask: Image.Image | None, region_paintings: dict[int, Image.Image]) -> None:
    """A new job's input files in its ``folder`` (``FILES``, ``REGION_PAINTING``)."""
    save_image(photo, folder / FILES["photo"])
    if video is not None:
        with atomic_path(folder / FILES["video"]) as tmp:
            tmp.write_bytes(video)
    if style.painting is not None:
        save_image(style.painting, folder / FILES["painting"])
    if style.second_painting is not None:
        save_image(style.second_painting, folder / FILES["second_painting"])
    if mask is not None:
        save_image(mask, folder / FILES["mask"])
    for index, picture in region_paintings.items():
        save_image(picture, folder / REGION_PAINTING.format(index))


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _video_size(path: Path) -> tuple[int, int]:
    """(width, height) of a video file's first video stream, from its header."""
    import av

    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return context.width, context.height
