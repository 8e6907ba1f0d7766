"""A small, bounded load test against a running server (loopback only).

Fires N submissions at once, checks each one either was accepted or got 429 (nothing else,
nothing lost), follows every accepted job to its end and measures how quickly the server
still answers ``/api/health`` while it is busy. Used by tests/test_web_load.py and
benchmarks/bench_web_load.py.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LoadReport:
    requests: int
    accepted: int = 0  # 200 or 202
    rejected_busy: int = 0  # 429
    other: dict[int, int] = field(default_factory=dict)  # any other status: a failure of the test
    done: int = 0
    failed: int = 0
    lost: int = 0  # accepted, but never reached a final state (or vanished)
    submit_p50_ms: float = 0.0
    submit_p95_ms: float = 0.0
    drain_s: float = 0.0
    health_idle_ms: float = 0.0
    health_busy_ms: float = 0.0  # median while the burst is being served
    health_busy_max_ms: float = 0.0
    health_errors: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["other"] = {str(k): v for k, v in self.other.items()}
        return data


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _health_ms(client: httpx.Client) -> float:
    started = time.perf_counter()
    client.get("/api/health").raise_for_status()
    return (time.perf_counter() - started) * 1000


def run_load(
    base_url: str, form: dict, requests: int = 50, files: dict | None = None, drain_timeout: float = 60.0
) -> LoadReport:
    """``requests`` simultaneous POST /api/jobs with ``form`` (and ``files``); see LoadReport."""
    if urlparse(base_url).hostname not in LOOPBACK:
        raise ValueError("the load test only runs against a loopback address")
    report = LoadReport(requests=requests)
    limits = httpx.Limits(max_connections=requests + 4, max_keepalive_connections=requests + 4)
    with httpx.Client(base_url=base_url, timeout=60.0, limits=limits) as client:
        report.health_idle_ms = statistics.median(_health_ms(client) for _ in range(5))
        barrier = threading.Barrier(requests)
        stop_probe = threading.Event()
        probes: list[float] = []

        def probe() -> None:
            with httpx.Client(base_url=base_url, timeout=10.0) as own:
                while not stop_probe.is_set():
                    try:
                        probes.append(_health_ms(own))
                    except httpx.HTTPError:
                        report.health_errors += 1
                    time.sleep(0.05)

        def submit(_: int) -> tuple[int, float, str | None]:
            barrier.wait()
            started = time.perf_counter()
            response = client.post("/api/jobs", data=form, files=files)
            elapsed = (time.perf_counter() - started) * 1000
            job_id = response.json().get("id") if response.status_code in (200, 202) else None
            return response.status_code, elapsed, job_id

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        burst_started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=requests) as pool:
            results = list(pool.map(submit, range(requests)))
        latencies = [ms for _, ms, _ in results]
        report.submit_p50_ms = _percentile(latencies, 0.5)
        report.submit_p95_ms = _percentile(latencies, 0.95)
        pending = []
        for status, _, job_id in results:
            if status in (200, 202):
                report.accepted += 1
                pending.append(job_id)
            elif status == 429:
                report.rejected_busy += 1
            else:
                report.other[status] = report.other.get(status, 0) + 1
        deadline = time.monotonic() + drain_timeout
        while pending and time.monotonic() < deadline:
            still = []
            for job_id in pending:
                response = client.get(f"/api/jobs/{job_id}")
                status = response.json().get("status") if response.status_code == 200 else "missing"
                if status == "done":
                    report.done += 1
                elif status in ("failed", "cancelled", "missing"):
                    report.failed += 1
                else:
                    still.append(job_id)
            pending = still
            if pending:
                time.sleep(0.1)
        report.lost = len(pending)
        report.drain_s = time.perf_counter() - burst_started
        stop_probe.set()
        prober.join()
        report.health_busy_ms = statistics.median(probes) if probes else 0.0
        report.health_busy_max_ms = max(probes, default=0.0)
    return report
