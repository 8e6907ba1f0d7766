"""A small load test on a real uvicorn server (loopback only): 50 simultaneous fast-style
requests all succeed or get 429, none is lost, and /api/health keeps answering quickly.

The fast method is the posterizing stand-in (tests/support/web.py), so this measures the
server (queue, pool, inline answers), not a model; figures for real methods come from
benchmarks/bench_web_load.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.loadtest import run_load
from support.web import PosterizeMethod, serve_in_thread

from brushwork.config import WebServiceConfig
from brushwork.web.app import create_app

pytestmark = pytest.mark.slow


def test_fifty_concurrent_fast_requests(tmp_path: Path):
    fast = PosterizeMethod(("posterize",), delay=0.2)
    config = WebServiceConfig(data_dir=str(tmp_path), fast_workers=2, queue_size=8, fast_inline_wait=5.0)
    with serve_in_thread(create_app(config, {"fast": fast})) as url:
        report = run_load(
            url,
            {"sample": "canyon", "style": "posterize", "method": "fast", "size": "64"},
            requests=50,
            drain_timeout=30,
        )
    print(report)
    assert report.other == {}, report  # only 200/202 or 429
    assert report.accepted + report.rejected_busy == 50
    assert report.accepted >= 10  # two workers plus eight places in the queue at the very least
    assert report.rejected_busy > 0  # the burst is larger than the queue: some must be turned away
    assert report.lost == 0 and report.failed == 0 and report.done == report.accepted == fast.runs
    assert report.health_errors == 0 and report.health_busy_max_ms < 3000
    with pytest.raises(ValueError, match="loopback"):
        run_load("http://example.com", {}, requests=1)
