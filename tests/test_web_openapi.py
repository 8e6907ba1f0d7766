"""The HTTP API fuzzed from its own OpenAPI description (schemathesis, all phases, stateful links
included) against a real `brushwork serve`: no server error, every answer matches the schema,
schema-invalid requests are refused, no traceback in the server's log. A short run here; `make
fuzz` runs benchmarks/fuzz_web_api.py for the long one (see tests/support/apifuzz.py)."""

from __future__ import annotations

import pytest
from support.apifuzz import fuzz_api

pytestmark = pytest.mark.slow


def test_the_api_holds_to_its_openapi_schema():
    report = fuzz_api(examples=10, seed=1, max_time=60)  # a budget: a loaded machine is slow
    assert report.get("complete"), report["output"]
    assert report["failures"] == [] and report["errors"] == [], report["output"]
    assert report["operations"]["tested"] == report["operations"]["total"] >= 14
    assert report["test_cases"]["generated"] >= 200
    assert report["server_tracebacks"] == 0
    assert report["returncode"] == 0, report["output"]
