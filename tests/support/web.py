"""Stand-ins for tests and load measurements: methods that need no network weights, and a
real uvicorn server on a free loopback port, run in a thread.

``PosterizeMethod`` plays the part of a trained model (one cheap pass per picture; named ``fast``
unless told otherwise, as the load test and benchmark call it), so the queue, the 429 answers and the
inline answers can be exercised without any network.
``GatedMethod`` runs until released, to make queue states, cancellation and the time limit
deterministic.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image, ImageOps

from brushwork.errors import ConfigError
from brushwork.images import resize_longest
from brushwork.progress import Progress
from brushwork.web.methods import GATYS_OPTIONS, MODEL_OPTIONS, JobOptions, Reporter, StyleInput

#: Debian's Chromium, driven by Playwright in the browser test and the screenshot script.
CHROMIUM = os.environ.get("BRUSHWORK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers and CI often have a tiny /dev/shm
]


class PosterizeMethod:
    """A 'trained model' per style id that posterizes the photo; ``delay`` seconds per job."""

    title = "Fast (test stand-in)"
    summary = "posterizes the photo (a stand-in for tests)"
    takes = "model"
    options = MODEL_OPTIONS
    min_painting_side = 0
    defaults = JobOptions(size=64, iterations=1)

    def __init__(self, styles: tuple[str, ...] = ("posterize",), delay: float = 0.0, name: str = "arbitrary"):
        self.name = name
        self.lane = "fast"  # like the real trained-model method: the fast pool, answered in the request
        self.styles = styles
        self.delay = delay
        self.runs = 0

    def unavailable_reason(self) -> str | None:
        return None

    def models(self) -> dict[str, str]:
        return {s: s.capitalize() for s in self.styles}

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        if style.fast_model is None:
            raise ConfigError("no model for this style")
        reporter.check()
        time.sleep(self.delay)
        self.runs += 1
        result = ImageOps.posterize(resize_longest(photo, options.size), 2)
        reporter.step(Progress(1, 1, "img", losses={"total": 0.0}, render=lambda: result))
        return result


class GatedMethod:
    """Reports an iteration every 10 ms until ``release()``; raises ``fail`` when given."""

    title = "Gated (test stand-in)"
    summary = "runs until released (a stand-in for tests)"
    takes = "painting"
    options = GATYS_OPTIONS
    min_painting_side = 1
    defaults = JobOptions(size=32, iterations=10)

    def __init__(self, name: str = "gatys", fail: BaseException | None = None):
        self.name = self.lane = name
        self.gate = threading.Event()
        self.started = threading.Event()
        self.fail = fail

    def unavailable_reason(self) -> str | None:
        return None

    def models(self) -> dict[str, str]:
        return {}

    def release(self) -> None:
        self.gate.set()

    def run(
        self, photo: Image.Image, style: StyleInput, options: JobOptions, reporter: Reporter
    ) -> Image.Image:
        self.started.set()
        if self.fail is not None:
            raise self.fail
        step = 0
        while not self.gate.wait(0.01):
            step += 1
            done = min(step, options.iterations)
            reporter.step(Progress(done, options.iterations, losses={"total": 1.0 / step}))
        return ImageOps.invert(resize_longest(photo, options.size))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(app, port: int | None = None, timeout: float = 20.0) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    from brushwork.web.server import make_server

    port = port or free_port()
    server = make_server(app, app.state.config, "warning", host="127.0.0.1", port=port,
                         timeout_graceful_shutdown=2)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    if not wait_until_healthy(url, timeout, thread.is_alive):
        server.should_exit = True
        raise RuntimeError(f"the test server did not start on port {port}")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout)


def wait_until_healthy(url: str, timeout: float, alive: Callable[[], bool]) -> bool:
    """Poll ``/api/health`` until it answers 200 (True), or time runs out or ``alive()`` fails."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not alive():
            return False
        time.sleep(0.05)


def start_cli_server(
    data_dir: str | os.PathLike, *extra_args: str, timeout: float = 60.0, port: int | None = None
) -> tuple[subprocess.Popen, str]:
    """Start ``python -m brushwork serve`` as a user starts it, on a free loopback port, and wait
    until it answers; returns the process (the caller stops it) and its URL.

    ``port``: a given one (a restart on the same address), else a free one.

    Its output goes to a temporary file (a pipe nobody reads would fill up and stall the server
    under load), shown only if it fails to start.
    """
    port = port or free_port()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    command = [sys.executable, "-m", "brushwork", "serve", "--port", str(port),
               "--data-dir", str(Path(data_dir)), "--log-level", "warning", *extra_args]
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
    process.log = log  # type: ignore[attr-defined]  # closed with the process object
    url = f"http://127.0.0.1:{port}"
    if not wait_until_healthy(url, timeout, lambda: process.poll() is None):
        process.kill()
        process.wait()
        log.seek(0)
        raise RuntimeError(f"brushwork serve did not start:\n{log.read()}")
    return process, url


def stop_cli_server(process: subprocess.Popen) -> None:
    """Stop a server started by ``start_cli_server`` (SIGTERM, then SIGKILL after 20 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.log.close()  # type: ignore[attr-defined]


@contextlib.contextmanager
def serve_cli(data_dir: str | os.PathLike, *extra_args: str, timeout: float = 60.0) -> Iterator[str]:
    """Run ``python -m brushwork serve`` (see ``start_cli_server``) for a ``with`` block; yields its URL."""
    process, url = start_cli_server(data_dir, *extra_args, timeout=timeout)
    try:
        yield url
    finally:
        stop_cli_server(process)


@contextlib.contextmanager
def app_clients() -> Iterator[Callable]:
    """``open(app)`` -> a TestClient with the app's lifespan started; all are closed on exit, the
    newest first (a fixture yields ``make`` functions built on it)."""
    import warnings

    with warnings.catch_warnings():  # starlette asks for the newer httpx2; httpx works the same here
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(TestClient(app, base_url="http://localhost"))  # an allowed Host
