"""The web upload entry point of the fuzz: every case POSTed to ``/api/jobs`` of a real ``brushwork
serve`` (a subprocess on a free loopback port, started once), as the photo (with a gallery style) or,
every fourth case, as the painting (with a good photo); the cheapest method (``fast``, Magenta's
network) at 64 px, so the pictures that are accepted are painted in a fraction of a second.

What a client sends for a case: a regular file's bytes (a link's target's); a device's or a sparse
2 GB file's first bytes, 1 MB more than the server's per-file limit (no client sends an endless
body: the slow and endless ones are tests/test_web_reliability.py's); for what cannot be read (a
pipe, a socket, a folder, a dangling link) an empty part under the case's name. The name is sent as
the part's file name, so long, unicode and extension-less names reach the server too.

Outcomes, as the CLI harness names them (``harness.OUTCOMES``):

* ``ok``: the job is accepted and ends ``done`` with a result that decodes as a PNG;
* ``clean_error``: a 4xx whose JSON ``detail`` is one line naming the upload ("the photo ...", "the
  painting ..."), or an accepted job that ends ``failed`` with such a line;
* failures: ``traceback`` (a 5xx, a traceback in the server's log, a job failed as "internal
  error", the server process dying), ``hang`` (no answer, or no end of the job, within the time
  limit; ``/api/health`` not answering after the case), ``partial_output`` (in the server's job
  folder: a temporary file, a folder without its ``job.json``, a file that is not one of the job's,
  an image or record that does not decode; a ``done`` job without a readable result),
  ``changed_existing`` (a job finished before the fuzz had its result or record changed),
  ``unclear_error`` (any other refusal: no JSON detail, several lines, not naming the upload).

Throughout the run a thread asks ``/api/health`` every half second; its latencies and failures are
part of the figures.
"""

from __future__ import annotations

import collections
import io
import json
import os
import shutil
import stat
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from fuzz.generators import Case, materialise
from fuzz.harness import TIMEOUT, Assets, Result, each_case

ENTRY = "web_upload"
#: A gallery style with a painting (the ``fast`` method reads it), the method, the output size.
STYLE, METHOD, SIZE = "starry_night", "arbitrary", "64"
#: Every PAINTING_EVERY-th case is sent as the painting, the others as the photo.
PAINTING_EVERY = 4
#: Small per-file limit, so a device's or a 2 GB file's upload costs 3 MB, not 21.
UPLOAD_MB = 2
SERVER_ARGS = ("--gatys-weights", "random", "--max-upload-mb", str(UPLOAD_MB), "--max-size", "128")
JOB_FILES = {"job.json", "photo.png", "painting.png", "painting2.png", "preview.jpg", "result.png"}
HEALTH_TIMEOUT = 5.0
#: Seconds the server may take to start: 5 on a quiet machine, but a minute has been seen on this
#: 2-core one under load (importing torch and the app); not a fuzz case, so generously bounded.
START_TIMEOUT = 240.0


def upload_bytes(path: Path, limit: int) -> bytes:
    """What a client sends for the case at ``path`` (see the module's docstring)."""
    try:
        mode = path.stat().st_mode
    except OSError:  # a dangling link
        return b""
    if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):  # a pipe would block, a socket cannot be read
        return b""
    with open(path, "rb") as handle:
        return handle.read(limit)


def _decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except Exception:  # noqa: BLE001
        return False


def _half_written(folder: Path) -> list[str]:
    """What in one job folder is not a whole file of a job (see ``jobs.FILES``)."""
    bad = []
    for path in folder.iterdir():
        if path.name not in JOB_FILES or not path.is_file():
            bad.append(path.name)
        elif path.name == "job.json":
            try:
                json.loads(path.read_text())
            except ValueError:
                bad.append(path.name)
        elif not _decodes(path.read_bytes()):
            bad.append(path.name)
    return bad


def scan_jobs(jobs: Path) -> list[str]:
    """Every half-written thing in the server's job store (run at the end, and per job as it goes)."""
    bad = []
    for folder in sorted(jobs.iterdir()) if jobs.is_dir() else []:
        if not folder.is_dir():
            bad.append(folder.name)
        elif not (folder / "job.json").is_file():
            bad.append(f"{folder.name}/ without job.json")
        else:
            bad += [f"{folder.name}/{name}" for name in _half_written(folder)]
    return bad


@dataclass
class HealthProbe:
    """Asks ``/api/health`` every ``every`` seconds in a thread; latencies (ms) and failures."""

    url: str
    every: float = 0.5
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="health-probe", daemon=True)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=HEALTH_TIMEOUT) as client:
            while not self._stop.wait(self.every):
                started = time.perf_counter()
                try:
                    status = client.get("/api/health").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    self.failures.append(f"HTTP {status}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(HEALTH_TIMEOUT + 1)

    def figures(self) -> dict:
        lat = sorted(self.latencies)
        pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)) if lat else (lambda q: None)
        return {"probes": len(lat) + len(self.failures), "failures": len(self.failures),
                "p50_ms": round(statistics.median(lat), 1) if lat else None, "p95_ms": pick(0.95),
                "max_ms": round(lat[-1], 1) if lat else None}


class WebTarget:
    """One real ``brushwork serve`` for the whole run, its log read as it grows, and a job finished
    before the fuzz (an existing file that no case may change)."""

    def __init__(self, root: Path, assets: Assets, timeout: float = TIMEOUT):
        from support.web import start_cli_server

        self.root, self.assets, self.timeout = root, assets, timeout
        self.data = root / "data"
        self.process, self.url = start_cli_server(self.data, *SERVER_ARGS, timeout=START_TIMEOUT)
        self.client = httpx.Client(base_url=self.url, timeout=timeout)
        self.restarts = 0
        self._log_offset = 0
        self.good = assets.good.read_bytes()
        reference = self.post({"photo": ("good.png", self.good, "image/png")}, {"style": STYLE})
        assert reference.status_code == 200 and reference.json()["status"] == "done", reference.text
        self.reference = self.data / "jobs" / reference.json()["id"]
        self.reference_files = {p.name: p.read_bytes() for p in self.reference.iterdir()}
        self.new_log()  # start-up output is not a case's

    def post(self, files: dict, form: dict) -> httpx.Response:
        """POST /api/jobs; a 429 (the queue is full: not the case's doing) is retried."""
        deadline = time.monotonic() + self.timeout
        while True:
            response = self.client.post("/api/jobs", data={"method": METHOD, "size": SIZE, **form},
                                        files=files)
            if response.status_code != 429 or time.monotonic() > deadline:
                return response
            time.sleep(0.5)

    def new_log(self) -> str:
        """The server's output since the last call (``os.pread``: the server shares the file offset)."""
        fd = self.process.log.fileno()  # type: ignore[attr-defined]
        chunks = []
        while chunk := os.pread(fd, 1 << 16, self._log_offset):
            chunks.append(chunk)
            self._log_offset += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def restart(self) -> None:
        """After the server died (a failure already counted): a fresh one on the same data folder."""
        from support.web import start_cli_server, stop_cli_server

        stop_cli_server(self.process)
        self.process, self.url = start_cli_server(self.data, *SERVER_ARGS, timeout=START_TIMEOUT)
        self.client.close()
        self.client = httpx.Client(base_url=self.url, timeout=self.timeout)
        self._log_offset = 0
        self.restarts += 1

    def reference_changed(self) -> bool:
        now = {p.name: p.read_bytes() for p in self.reference.iterdir()} if self.reference.is_dir() else {}
        return {k: v for k, v in now.items() if k != "job.json"} != {
            k: v for k, v in self.reference_files.items() if k != "job.json"
        } or json.loads(now.get("job.json", b"{}")).get("status") != "done"

    def close(self) -> None:
        from support.web import stop_cli_server

        self.client.close()
        stop_cli_server(self.process)


def _role(index: int) -> str:
    return "painting" if index % PAINTING_EVERY == PAINTING_EVERY - 1 else "photo"


def _clear(detail, role: str) -> bool:
    """One non-empty line that names the upload ("the photo ...", "the painting ...")."""
    return isinstance(detail, str) and detail.strip() != "" and "\n" not in detail.strip() \
        and f"the {role}" in detail


def _answer(target: WebTarget, files: dict, form: dict, role: str) -> tuple[str, str, str | None]:
    """(outcome, message, job id) from the submission and, when accepted, the job's end."""
    try:
        response = target.post(files, form)
    except httpx.TimeoutException:
        return "hang", f"POST /api/jobs: no answer within {target.timeout:g} s", None
    except httpx.HTTPError as exc:
        return "traceback", f"POST /api/jobs: {type(exc).__name__}: {exc}", None
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    if status >= 500:
        return "traceback", f"HTTP {status}: {response.text[:300]}", None
    if 400 <= status < 500:
        if _clear(detail, role):
            return "clean_error", f"{status} {detail}", None
        return "unclear_error", f"{status} {response.text[:300]}", None
    if status not in (200, 202) or "id" not in body:
        return "unclear_error", f"HTTP {status}: {response.text[:300]}", None
    return (*_follow(target, body), body["id"])


def _follow(target: WebTarget, job: dict) -> tuple[str, str]:
    """An accepted job must end done with a readable PNG, or failed with a one-line reason."""
    deadline = time.monotonic() + target.timeout
    try:
        while job["status"] not in ("done", "failed", "cancelled"):
            if time.monotonic() > deadline:
                return "hang", f"job still {job['status']} after {target.timeout:g} s"
            time.sleep(0.05)
            job = target.client.get(f"/api/jobs/{job['id']}").json()
        if job["status"] == "done":
            result = target.client.get(job["urls"]["result"])
            if result.status_code != 200 or not _decodes(result.content):
                return "partial_output", f"done, but the result is HTTP {result.status_code}, not a picture"
            return "ok", f"done {job.get('width')}x{job.get('height')}"
    except httpx.TimeoutException:
        return "hang", "GET of the job or its result: no answer"
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return "traceback", f"following the job: {type(exc).__name__}: {exc}"
    error = job.get("error") or ""
    if job["status"] == "failed" and error.startswith("internal error"):
        return "traceback", f"job failed: {error}"
    if job["status"] == "failed" and "\n" not in error.strip() and error.strip():
        return "clean_error", f"job failed: {error}"
    return "unclear_error", f"job {job['status']}: {error!r}"


def _checks(target: WebTarget, job_id: str | None) -> tuple[str, str] | None:
    """After a case: the server alive and healthy, no traceback logged, the job store whole, the job
    finished before the fuzz unchanged. The first failure found, or None."""
    if not target.alive():
        return "traceback", f"the server died (exit {target.process.returncode}): {target.new_log()[-300:]}"
    log = target.new_log()
    if "Traceback (most recent call last)" in log:
        return "traceback", "server log: " + " | ".join(log.strip().splitlines()[-3:])[:300]
    try:
        health = target.client.get("/api/health", timeout=HEALTH_TIMEOUT)
    except httpx.HTTPError:
        return "hang", f"/api/health did not answer within {HEALTH_TIMEOUT:g} s after the case"
    if health.status_code != 200:
        return "hang", f"/api/health answered {health.status_code} after the case"
    jobs = target.data / "jobs"
    leftovers = [p.name for p in jobs.iterdir() if p.name.startswith(".") or not p.is_dir()]
    if job_id is not None and (jobs / job_id).is_dir():
        leftovers += [f"{job_id}/{name}" for name in _half_written(jobs / job_id)]
    if leftovers:
        return "partial_output", f"in the job store: {leftovers[:5]}"
    if target.reference_changed():
        return "changed_existing", "the job finished before the fuzz changed"
    return None


def run_web_case(target: WebTarget, case: Case, index: int, root: Path) -> Result:
    """Materialise ``case``, send it as the photo or the painting, follow the job, check the server."""
    role = _role(index)
    work = Path(tempfile.mkdtemp(dir=root))
    started = time.perf_counter()
    try:
        path = materialise(case, work, target.assets.good)
        data = upload_bytes(path, (UPLOAD_MB + 1) * 2**20)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    files = {role: (path.name, data, "application/octet-stream")}
    form = {"style": STYLE} if role == "photo" else {}
    if role == "painting":
        files["photo"] = ("good.png", target.good, "image/png")
    outcome, message, job_id = _answer(target, files, form, role)
    if (failure := _checks(target, job_id)) is not None and outcome not in ("traceback", "hang"):
        outcome, message = failure
    if not target.alive():
        target.restart()
    return Result(ENTRY, f"{case.describe()} as the {role}", outcome, None, message,
                  time.perf_counter() - started)


def _answer_kind(message: str) -> str:
    """What the server answered, for the figures: the HTTP status of a refusal, or how a job ended."""
    first = message.split(" ", 1)[0]
    if first.isdigit():
        return f"HTTP {first}"
    return "job done" if first == "done" else "job failed" if message.startswith("job failed") else "other"


@contextmanager
def web_target(root: Path, assets: Assets, timeout: float = TIMEOUT) -> Iterator[WebTarget]:
    target = WebTarget(root, assets, timeout)
    try:
        yield target
    finally:
        target.close()


def fuzz_web(count: int, root: Path, assets: Assets, seed: int = 0,
             timeout: float = TIMEOUT) -> tuple[list[Result], dict]:
    """``count`` cases (the CLI's, ``harness.each_case``) through one real server; the results and
    the server-wide figures: health during the run, restarts, the final scan of the job store."""
    with web_target(root, assets, timeout) as target:
        probe = HealthProbe(target.url)
        probe.start()
        try:
            results = each_case(count, seed, lambda case, i: run_web_case(target, case, i, root))
        finally:
            probe.stop()
        final_scan = scan_jobs(target.data / "jobs")
        answers = collections.Counter(_answer_kind(r.message) for r in results)
        server = {"alive_at_end": target.alive(), "restarts": target.restarts, "args": list(SERVER_ARGS),
                  "answers": dict(sorted(answers.items())),
                  "jobs_stored": len(list((target.data / "jobs").iterdir())),
                  "half_written_at_end": final_scan[:20], "health": probe.figures(),
                  "roles": {r: sum(1 for x in results if x.case.endswith(f"as the {r}"))
                            for r in ("photo", "painting")}}
    return results, server
