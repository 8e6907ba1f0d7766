"""Load on `brushwork serve` with locust, on loopback only: 50 users for 5 minutes, plus slow clients.

The real command line (`python -m brushwork serve`, default limits) in a child process, its real
methods (the arbitrary-style network for fast jobs, Gatys with the default VGG19), and at the same
time:

* locust users (tests/support/locustfile.py, run by tests/support/loadrun.py in its own process)
  mixing fast jobs on the sample, fast jobs with an uploaded photo and small Gatys jobs, polling
  each job and fetching its result: per endpoint requests, p50/p95/max and status codes; jobs
  accepted, how they ended, and how many were lost (must be 0); statuses other than 200/202/429
  (must be none);
* 60 slow-body and 5 slow-header clients (tests/support/slowclients.py: one byte every 0.5 s),
  reconnecting whenever they are cut off: how long each lasted and how it was ended;
* a /api/health probe every 0.5 s: latency idle (before) and under all of the above.

The peer, in the same run: the same server with the two time-outs switched off (`--body-timeout`
and `--header-timeout` 1e6 s, i.e. uvicorn as it was before issue 15) and 5 slow-body clients for
`--peer-seconds`: none is cut off. Writes benchmarks/results/web_load.json.

    python benchmarks/bench_web_load.py                       # 50 users, 300 s
    python benchmarks/bench_web_load.py --users 20 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/support: the server, locust and slow-client helpers
from support.slowclients import SlowResult, run_slow_clients, slow_client  # noqa: E402
from support.web import serve_cli  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "web_load.json"
LOADRUN = ROOT / "tests" / "support" / "loadrun.py"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _probe(url: str, stop: threading.Event, into: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                ok = client.get("/api/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            into.append((time.perf_counter() - started) * 1000 if ok else float("inf"))
            stop.wait(0.5)


def _slow_loop(url: str, stage: str, stop: threading.Event, into: list[SlowResult]) -> None:
    """One slow client after another until ``stop``."""
    while not stop.is_set():
        try:
            into.append(slow_client(url, stage, interval=0.5, give_up=600))
        except OSError:
            into.append(SlowResult(stage, 0.0, None, True))
            time.sleep(0.5)


def _slow_summary(results: list[SlowResult], stage: str) -> dict:
    ended = [r for r in results if r.stage == stage]
    seconds = [r.seconds for r in ended]
    statuses: dict[str, int] = {}
    for r in ended:
        statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
    return {"connections": len(ended), "cut_off": sum(r.cut_off for r in ended), "statuses": statuses,
            "seconds_p50": round(_percentile(seconds, 0.5), 1),
            "seconds_max": round(max(seconds, default=0), 1)}


def run_main(users: int, seconds: float, slow_bodies: int, slow_headers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp, serve_cli(Path(tmp) / "data") as url:
        idle: list[float] = []
        stop_idle = threading.Event()
        prober = threading.Thread(target=_probe, args=(url, stop_idle, idle), daemon=True)
        prober.start()
        time.sleep(5)
        stop_idle.set()
        prober.join()
        stop, stop_probe = threading.Event(), threading.Event()
        busy: list[float] = []
        slow: list[SlowResult] = []
        probe = threading.Thread(target=_probe, args=(url, stop_probe, busy), daemon=True)
        threads = [probe]
        threads += [threading.Thread(target=_slow_loop, args=(url, "body", stop, slow), daemon=True)
                    for _ in range(slow_bodies)]
        threads += [threading.Thread(target=_slow_loop, args=(url, "headers", stop, slow), daemon=True)
                    for _ in range(slow_headers)]
        for thread in threads:
            thread.start()
        run = subprocess.run(
            [sys.executable, str(LOADRUN), url, "--users", str(users), "--seconds", str(seconds),
             "--drain", "600"],
            capture_output=True, text=True, timeout=seconds + 1200,
        )
        stop_probe.set()  # health under load: while the users run
        stop.set()  # slow clients end when the server cuts them off (--body-timeout: 120 s)
        for thread in threads:
            thread.join(150)
    if run.returncode != 0:
        raise SystemExit(f"the locust run failed:\n{run.stderr[-3000:]}")
    finite = [ms for ms in busy if ms != float("inf")]
    return {
        "locust": json.loads(run.stdout),
        "slow_body": _slow_summary(slow, "body"),
        "slow_headers": _slow_summary(slow, "headers"),
        "health": {
            "idle_p50_ms": round(statistics.median(idle), 1),
            "busy_p50_ms": round(statistics.median(finite), 1) if finite else None,
            "busy_p95_ms": round(_percentile(finite, 0.95), 1),
            "busy_max_ms": round(max(finite, default=0.0), 1),
            "busy_errors": len(busy) - len(finite),
            "probes": len(busy),
        },
    }


def run_peer(seconds: float) -> dict:
    """The same slow clients against a server without the time-outs (uvicorn's own behaviour)."""
    with tempfile.TemporaryDirectory() as tmp, serve_cli(
        Path(tmp) / "data", "--body-timeout", "1e6", "--header-timeout", "1e6"
    ) as url:
        results, waiter = run_slow_clients(url, 5, "body", interval=0.5, give_up=seconds)
        waiter.join(seconds + 30)
    return _slow_summary(results, "body")


def table(result: dict) -> str:
    lines = ["| endpoint | requests | p50 ms | p95 ms | max ms | statuses |", "|---|---:|---:|---:|---:|---|"]
    for name, e in result["locust"]["endpoints"].items():
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(e["statuses"].items()))
        cells = [name, e["requests"], f"{e['p50_ms']:.0f}", f"{e['p95_ms']:.0f}", f"{e['max_ms']:.0f}", codes]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    loc = result["locust"]
    lines += ["", f"jobs accepted {loc['accepted']}, lost {loc['lost']}, by kind {loc['jobs']}; "
                  f"statuses {loc['statuses']}; failures {loc['failures']}"]
    for stage in ("slow_body", "slow_headers"):
        lines.append(f"{stage}: {result[stage]}")
    if "peer_slow_body" in result:
        lines.append(f"peer (time-outs off) slow_body: {result['peer_slow_body']}")
    health = result["health"]
    ratio = health["busy_p50_ms"] / health["idle_p50_ms"] if health["busy_p50_ms"] else float("nan")
    lines.append(f"health: idle p50 {health['idle_p50_ms']} ms, busy p50 {health['busy_p50_ms']} / "
                 f"p95 {health['busy_p95_ms']} / max {health['busy_max_ms']} ms ({ratio:.1f}x idle), "
                 f"errors {health['busy_errors']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--slow-bodies", type=int, default=60)
    parser.add_argument("--slow-headers", type=int, default=5)
    parser.add_argument("--peer-seconds", type=float, default=20.0)
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started, load_before = time.time(), os.getloadavg()
    result = run_main(args.users, args.seconds, args.slow_bodies, args.slow_headers)
    load_after = os.getloadavg()
    result["peer_slow_body"] = run_peer(args.peer_seconds)
    result["meta"] = {
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "load_average_before": load_before, "load_average_after": load_after,
        "users": args.users, "seconds": args.seconds, "slow_bodies": args.slow_bodies,
        "slow_headers": args.slow_headers, "server": "python -m brushwork serve (defaults)",
    }
    print(table(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.output}")
    bad = set(result["locust"]["statuses"]) - {"200", "202", "429"}
    return 1 if bad or result["locust"]["lost"] or result["locust"]["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
