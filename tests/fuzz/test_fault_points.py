"""The bounded share of ``make fuzz``'s "faults" entry that ``make test`` runs: the disk (a real tmpfs;
skipped without root) filled at a few random points of stylize, apply, train and export. Every run
exits 0 or 5, says so in one line, and leaves nothing partial (tests/fuzz/faults.py)."""

from __future__ import annotations

import os

import pytest

from fuzz.faults import FAILURES, POINTS, fuzz_faults, summary
from fuzz.harness import Assets, shared_loss_network

#: Points per entry point in ``make test`` (``make fuzz`` runs 50; BRUSHWORK_FAULT_POINTS to change).
FAULT_POINTS = int(os.environ.get("BRUSHWORK_FAULT_POINTS", 2))


@pytest.mark.slow  # 12 runs end to end: 20-60 s on a loaded 2-core machine
def test_the_disk_filling_at_random_points(tmp_path):
    with shared_loss_network():
        figures = fuzz_faults(FAULT_POINTS, tmp_path, Assets(tmp_path / "assets"), seed=7)
    if figures.skipped:
        pytest.skip(figures.skipped)
    rows = summary(figures)["entry_points"]
    assert sorted(rows) == sorted(POINTS)
    failures = [f"{p.entry} (leave {p.leave} B): {p.outcome}: {p.message}" for p in figures.points
                if p.outcome in FAILURES]
    assert not failures, "\n".join(failures)
    assert all(row["tried"] == FAULT_POINTS for row in rows.values())
    assert sum(row["disk_full"] for row in rows.values()) > 0  # the disk really did fill
