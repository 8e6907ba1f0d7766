"""Run the locust users of locustfile.py against a loopback server, headless, then account for
every job; prints one JSON object. Run as its own process (locust patches the standard library
with gevent on import, which must not happen inside pytest or a benchmark):

    python tests/support/loadrun.py http://127.0.0.1:8000 --users 50 --seconds 300

The report: per endpoint, requests, failures, p50/p95/max ms and the status codes seen; the jobs
accepted by kind and how they ended (``lost``: vanished, or not finished ``--drain`` seconds after
the run); the statuses seen overall. Used by tests/test_web_load.py and benchmarks/bench_web_load.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import gevent
import locust  # noqa: F401  (before requests: gevent patches the standard library on this import)
import requests
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.locustfile import JOBS, TERMINAL, PainterUser  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def run(url: str, users: int, seconds: float, spawn_rate: float, drain: float) -> dict:
    if urlparse(url).hostname not in LOOPBACK:
        raise SystemExit("the load run only goes to a loopback address")
    env = Environment(user_classes=[PainterUser], host=url)
    codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    def count(request_type, name, response_time, response_length, response=None, exception=None, **_):
        status = getattr(response, "status_code", None) if response is not None else None
        codes[name][str(status if status else type(exception).__name__)] += 1

    env.events.request.add_listener(count)
    runner = env.create_local_runner()
    started = time.monotonic()
    runner.start(users, spawn_rate=spawn_rate)
    gevent.spawn_later(seconds, runner.quit)
    runner.greenlet.join()
    ran = time.monotonic() - started
    drain_started = time.monotonic()
    pending = [i for i, job in JOBS.items() if job["status"] not in TERMINAL and not job["vanished"]]
    with requests.Session() as session:
        while pending and time.monotonic() - drain_started < drain:
            still = []
            for job_id in pending:
                response = session.get(f"{url}/api/jobs/{job_id}", timeout=30)
                if response.status_code == 404:
                    JOBS[job_id]["vanished"] = True
                    continue
                JOBS[job_id]["status"] = response.json()["status"]
                if JOBS[job_id]["status"] not in TERMINAL:
                    still.append(job_id)
            pending = still
            if pending:
                time.sleep(0.5)
    endpoints = {}
    for entry in sorted(env.stats.entries.values(), key=lambda e: e.name):
        endpoints[entry.name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "max_ms": round(entry.max_response_time or 0.0, 1),
            "per_s": round(entry.num_requests / ran, 2),
            "statuses": dict(codes[entry.name]),
        }
    jobs: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for job in JOBS.values():
        jobs[job["kind"]]["vanished" if job["vanished"] else job["status"]] += 1
    lost = sum(1 for job in JOBS.values() if job["vanished"] or job["status"] not in TERMINAL)
    statuses = collections.Counter()
    for counter in codes.values():
        statuses.update(counter)
    return {
        "users": users, "seconds": round(ran, 1), "drain_s": round(time.monotonic() - drain_started, 1),
        "requests": sum(e["requests"] for e in endpoints.values()),
        "failures": sum(e["failures"] for e in endpoints.values()),
        "statuses": dict(statuses), "accepted": len(JOBS), "lost": lost,
        "jobs": {kind: dict(counter) for kind, counter in jobs.items()}, "endpoints": endpoints,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=300.0, help="seconds to wait for accepted jobs")
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.users, args.seconds, args.spawn_rate, args.drain)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
