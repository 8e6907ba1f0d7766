"""A short load run with locust on the real `brushwork serve` (loopback only): users mixing fast jobs
(sample and uploaded photo) and small Gatys jobs, polling and fetching results, while slow-body
clients trickle uploads. Only 200/202/429 answers, no job lost, slow clients cut off with 408.

The users are tests/support/locustfile.py, run by tests/support/loadrun.py in its own process;
the 5-minute, 50-user figures come from benchmarks/bench_web_load.py (benchmarks/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.slowclients import run_slow_clients
from support.web import serve_cli

pytestmark = pytest.mark.slow

LOADRUN = Path(__file__).resolve().parent / "support" / "loadrun.py"


def test_locust_users_and_slow_clients_lose_nothing(tmp_path: Path):
    with serve_cli(tmp_path, "--queue-size", "3", "--body-timeout", "3") as url:
        slow, waiter = run_slow_clients(url, 10, "body", interval=0.5, give_up=30)
        run = subprocess.run(
            [sys.executable, str(LOADRUN), url, "--users", "12", "--seconds", "12", "--spawn-rate", "6",
             "--drain", "120"],
            capture_output=True, text=True, timeout=300,
        )
        waiter.join(30)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert set(report["statuses"]) <= {"200", "202", "429"}, report["statuses"]
    assert report["failures"] == 0 and report["lost"] == 0, report
    assert report["accepted"] >= 5 and report["jobs"]["fast"].get("done", 0) >= 1, report["jobs"]
    assert all(set(kind) <= {"done"} for kind in report["jobs"].values()), report["jobs"]
    assert report["endpoints"]["GET /api/jobs/{id}"]["requests"] > 0
    assert [r.status for r in slow] == [408] * 10, slow
    elsewhere = subprocess.run([sys.executable, str(LOADRUN), "http://example.com", "--seconds", "1"],
                               capture_output=True, text=True, timeout=120)
    assert elsewhere.returncode != 0 and "loopback" in elsewhere.stderr
