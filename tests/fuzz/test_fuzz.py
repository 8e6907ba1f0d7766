"""The bounded, fixed-seed share of the fuzzing that ``make test`` runs (``make fuzz`` runs the rest):
malformed and unusual files through every CLI entry point that reads pictures, each with an existing
file at its output path; and the web upload (``POST /api/jobs`` of a real ``brushwork serve``, the
photo or the painting: tests/fuzz/web.py). Not one traceback, hang, partial output, changed file or
unclear refusal."""

from __future__ import annotations

import os

import pytest

from fuzz.harness import ENTRY_POINTS, FAILURES, Assets, fuzz_entry, shared_loss_network, tally
from fuzz.web import fuzz_web

#: Cases per entry point in ``make test`` (5 entry points; BRUSHWORK_FUZZ_CASES to change).
CASES = int(os.environ.get("BRUSHWORK_FUZZ_CASES", 40))
#: Web upload cases in ``make test``, through one server (10-45 s with its start, by the machine's load).
WEB_CASES = int(os.environ.get("BRUSHWORK_FUZZ_WEB_CASES", 36))


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Assets:
    return Assets(tmp_path_factory.mktemp("fuzz-assets"))


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_malformed_inputs(entry, assets, tmp_path):
    with shared_loss_network():
        results = fuzz_entry(entry, CASES, tmp_path, assets, seed=15)
    counts = tally(results)
    failures = [f"{r.outcome}: {r.case}: {r.message}" for r in results if r.outcome in FAILURES]
    assert not failures, "\n".join(failures)
    # The generator really exercises both sides: pictures that work and files that must be refused.
    assert counts["tried"] >= CASES * 0.9 and counts["ok"] > 0 and counts["clean_error"] > 0, counts


@pytest.mark.slow
def test_malformed_uploads_to_the_web_app(assets, tmp_path):
    results, server = fuzz_web(WEB_CASES, tmp_path, assets, seed=15)
    counts = tally(results)
    failures = [f"{r.outcome}: {r.case}: {r.message}" for r in results if r.outcome in FAILURES]
    assert not failures, "\n".join(failures)
    assert counts["tried"] >= WEB_CASES * 0.9 and counts["ok"] > 0 and counts["clean_error"] > 0, counts
    assert server["roles"]["painting"] > 0 and server["roles"]["photo"] > 0, server["roles"]
    # The one server lived through every case, stayed healthy, and its job store holds whole files only.
    assert server["alive_at_end"] and server["restarts"] == 0, server
    assert server["half_written_at_end"] == [] and server["health"]["failures"] == 0, server
