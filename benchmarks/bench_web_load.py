"""Load on `brushwork serve`: a burst of simultaneous jobs, on loopback only.

Two servers, the same burst (default 50 simultaneous POST /api/jobs), the same queue settings:

* ``real``: the actual command line (`python -m brushwork serve`) in a child process. Its jobs use
  the fast method when a fast model is installed, otherwise the cheapest Gatys job (32 px,
  2 iterations, random VGG weights) — the table says which;
* ``stand-in``: the same app in-process with the posterizing stand-in of tests/support/web.py
  (0.05 s per job), i.e. the server's own overhead without a model: the peer the real run is
  compared with.

For each: how many were accepted (200/202), turned away (429), lost (accepted but never
finished; must be 0), submit latency, time to drain, and /api/health latency idle vs during the
burst (the ratio says whether the server stays responsive). Writes benchmarks/results/web_load.json.

    python benchmarks/bench_web_load.py                 # 50 requests
    python benchmarks/bench_web_load.py --requests 100 --queue-size 16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import httpx

from brushwork.config import WebServiceConfig
from brushwork.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/support: the load test and the stand-in method
from support.loadtest import run_load  # noqa: E402
from support.web import PosterizeMethod, serve_cli, serve_in_thread  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "web_load.json"


def _real_form(url: str) -> tuple[dict, str]:
    """The fast method with its first model when one exists, else the cheapest Gatys job."""
    methods = {m["name"]: m for m in httpx.get(f"{url}/api/methods").json()["methods"]}
    styles = httpx.get(f"{url}/api/styles").json()["styles"]
    if methods.get("fast", {}).get("available"):
        style = next(s["id"] for s in styles if "fast" in s["methods"])
        return {
            "sample": "canyon",
            "style": style,
            "method": "fast",
            "size": "256",
        }, f"fast ({style}, 256 px)"
    form = {"sample": "canyon", "style": "starry_night", "method": "gatys", "size": "32", "iterations": "2"}
    return form, "gatys (no fast model installed: 32 px, 2 iterations, random VGG)"


def run(requests: int, queue_size: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        real_args = ("--queue-size", str(queue_size), "--gatys-weights", "random")
        with serve_cli(Path(tmp) / "real", *real_args) as url:
            form, what = _real_form(url)
            report = run_load(url, form, requests=requests, drain_timeout=300)
        rows.append({"server": "real", "jobs": what, **report.to_dict()})
        config = WebServiceConfig(data_dir=str(Path(tmp) / "stand-in"), queue_size=queue_size)
        fast = PosterizeMethod(("posterize",), delay=0.05)
        with serve_in_thread(create_app(config, {"fast": fast})) as url:
            form = {"sample": "canyon", "style": "posterize", "method": "fast", "size": "256"}
            report = run_load(url, form, requests=requests, drain_timeout=120)
        rows.append(
            {"server": "stand-in", "jobs": "posterize stand-in, 0.05 s/job, 256 px", **report.to_dict()}
        )
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| server | jobs | sent | accepted | 429 | other | lost | submit p50 / p95 ms | drain s "
        "| health idle ms | health busy median / max ms | busy/idle |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        ratio = r["health_busy_ms"] / r["health_idle_ms"] if r["health_idle_ms"] else float("nan")
        cells = [
            r["server"], r["jobs"], r["requests"], r["accepted"], r["rejected_busy"],
            sum(r["other"].values()),
            r["lost"], f"{r['submit_p50_ms']:.0f} / {r['submit_p95_ms']:.0f}", f"{r['drain_s']:.1f}",
            f"{r['health_idle_ms']:.1f}", f"{r['health_busy_ms']:.1f} / {r['health_busy_max_ms']:.0f}",
            f"{ratio:.1f}x",
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--queue-size", type=int, default=8)
    args = parser.parse_args()
    rows = run(args.requests, args.queue_size)
    print(table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "queue_size": args.queue_size,
        "fast_workers": 2,
        "gatys_workers": 1,
    }
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    failures = [r for r in rows if r["lost"] or r["other"] or r["failed"]]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
