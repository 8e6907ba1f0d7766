"""Training SIGKILLed at a handful of random moments and resumed ends bit-identical to an
uninterrupted run with the same seed, and leaves no half-written file (``make fuzz``: 20 points)."""

from __future__ import annotations

import pytest

from fuzz.kills import kill_and_resume


@pytest.mark.slow
def test_killed_training_resumes_bit_identical(tmp_path):
    report = kill_and_resume(tmp_path, points=3, seed=15)
    assert report.killed >= 3, report  # the kills landed (4 tried: the second point is killed twice)
    assert report.identical == report.points, report
    assert report.broken == [], report  # every checkpoint, CSV and PNG a kill left is whole
    assert report.leftover_temp == [], report  # the resumed run removed the killed writes' temp files
