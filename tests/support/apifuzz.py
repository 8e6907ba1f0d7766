"""The HTTP API fuzzed from its own OpenAPI description with schemathesis, on a real server.

``fuzz_api`` starts ``brushwork serve`` (loopback, random Gatys weights, small limits so every job
it accepts is cheap), runs ``schemathesis run`` on its ``/openapi.json`` with every check but one
and all four phases (examples, coverage, fuzzing, stateful: following the OpenAPI links from a
submitted job to its state, events, result, photo and cancel), and returns the run's JSON report
with the server's own count of tracebacks added. Used by tests/test_web_openapi.py (a short run)
and benchmarks/fuzz_web_api.py (``make fuzz``: a long one, figures in benchmarks/results/).

The one check left out is ``positive_data_acceptance`` ("every schema-valid request is
accepted"): whether an upload decodes as an image, and which fields go together (one photo
source, one style source, options by method), cannot be said in JSON Schema, so schema-valid
forms are rightly answered 400/415/422. Every other check runs, including
``negative_data_rejection`` (schema-invalid requests must get a 4xx).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from support.web import start_cli_server, stop_cli_server

#: Server options for fuzzing: every job it accepts is small, and the queues fill (429) quickly.
SERVER_ARGS = ("--gatys-weights", "random", "--max-size", "128", "--max-iterations", "5",
               "--queue-size", "4", "--preview-every", "1")
EXCLUDED_CHECKS = ("positive_data_acceptance",)


def schemathesis_command(
    url: str, report: Path, examples: int, seed: int, max_time: float | None
) -> list[str]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--checks", "all", "--exclude-checks", ",".join(EXCLUDED_CHECKS),
        "--max-examples", str(examples), "--seed", str(seed), "--workers", "1",
        "--request-timeout", "60", "--no-color", "--generation-database", "none",
        "--report", "json", "--report-json-path", str(report),
    ]
    if max_time:
        command += ["--max-time", str(int(max_time))]
    return command


def fuzz_api(examples: int = 20, seed: int = 1, max_time: float | None = None) -> dict:
    """Run schemathesis against a fresh server; its JSON report plus ``server_tracebacks`` and
    ``output`` (the last lines schemathesis printed)."""
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_cli_server(Path(tmp) / "data", *SERVER_ARGS)
        try:
            report_path = Path(tmp) / "report.json"
            env = {**os.environ, "NO_COLOR": "1"}
            run = subprocess.run(
                schemathesis_command(url, report_path, examples, seed, max_time),
                capture_output=True, text=True, env=env, timeout=(max_time or 300) + 300,
                cwd=tmp,  # its cache folder (.schemathesis/) goes there, not into the checkout
            )
            report = json.loads(report_path.read_text()) if report_path.is_file() else {}
        finally:
            server_log = _server_log(process)
            stop_cli_server(process)
    report["server_tracebacks"] = server_log.count("Traceback")
    report["output"] = "\n".join((run.stdout + run.stderr).splitlines()[-60:])
    report["returncode"] = run.returncode
    return report


def _server_log(process: subprocess.Popen) -> str:
    log = process.log  # type: ignore[attr-defined]
    log.flush()
    log.seek(0)
    return log.read()
