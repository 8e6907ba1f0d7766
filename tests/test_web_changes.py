"""Event streams sleep until a job changes (web.changes), not on a poll, and stay alive when quiet."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

from support.web import GatedMethod, app_clients

from brushwork.config import WebServiceConfig
from brushwork.web.app import create_app
from brushwork.web.changes import Changes
from brushwork.web.routes import jobs as job_routes


def test_a_watch_wakes_on_a_change_from_another_thread_not_on_its_timeout():
    async def main() -> tuple[bool, float, bool]:
        changes = Changes()
        with changes.watch() as watch:
            start = time.monotonic()
            threading.Timer(0.05, changes.notify).start()
            woken = await watch.wait(10.0)
            took = time.monotonic() - start
            changes.notify()  # a change before the next wait is not lost
            again = await watch.wait(10.0)
        return woken, took, again

    woken, took, again = asyncio.run(main())
    assert woken and took < 2.0 and again


def test_a_quiet_watch_times_out():
    async def main() -> bool:
        with Changes().watch() as watch:
            return await watch.wait(0.05)

    assert asyncio.run(main()) is False


def test_a_queued_jobs_stream_sends_keep_alives_then_its_end(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(job_routes, "SSE_KEEPALIVE_SECONDS", 0.3)
    gated = GatedMethod()
    config = WebServiceConfig(data_dir=str(tmp_path / "data"), gatys_workers=1)
    with app_clients() as open_client:
        client = open_client(create_app(config, {"gatys": gated}))
        form = {"sample": "canyon", "style": "starry_night", "method": "gatys", "size": "32"}
        running = client.post("/api/jobs", data=form).json()
        assert gated.started.wait(10)
        queued = client.post("/api/jobs", data=form).json()
        assert queued["status"] == "queued" and running["status"] in ("queued", "running")
        lines = []
        with client.stream("GET", queued["urls"]["events"]) as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if line == ": keep-alive" and lines.count(line) == 1:
                    gated.release()
        events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
        assert ": keep-alive" in lines and events[-1]["status"] == "done", lines[-5:]
