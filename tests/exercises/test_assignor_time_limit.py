"""An assignor that never returns is stopped within the assignor checks' own time limit.

An assignor is a short pure function: a correct one answers a check's 150 cases in well under a
second. One that loops for ever (round robin dealing a topic nobody subscribed to, whose search
for the next subscriber goes round the circle without end) used to be stopped only at the 20 s
meant for checks that drive threads and processes, twice per grading of that bug.
"""

from __future__ import annotations

import re

import pytest

from pcmodel.grading import assignor_checks
from pcmodel.grading.checks import DEFAULT_TIME_LIMIT, CheckFailed
from pcmodel.grading.engine import exercises_root

ROOT = exercises_root()
LOOPS_FOR_EVER = ROOT / "zoo" / "05_assignor" / "roundrobin_deals_unsubscribed_topics.py"
SCALE = 0.25  # PCMODEL_GRADE_TIME_SCALE for these tests, so the stop comes sooner still
MOST = 10.0  # seconds, before the scale, within which a looping assignor must be stopped


@pytest.mark.timeout(60)
@pytest.mark.parametrize("what", ["once", "matches"])
def test_an_assignor_that_never_returns_is_stopped_at_the_assignor_limit(monkeypatch, what):
    monkeypatch.setenv("PCMODEL_GRADE_TIME_SCALE", str(SCALE))
    with pytest.raises(CheckFailed) as failed:
        assignor_checks.check(str(LOOPS_FOR_EVER), "roundrobin", what)
    limit = re.fullmatch(r"the check to finish within (\d+) s", failed.value.expected)
    assert limit is not None, f"not stopped for its time: {failed.value}"
    assert float(limit.group(1)) <= MOST * SCALE, (
        f"stopped after {limit.group(1)} s, not within {MOST} s (x {SCALE}): the limit of checks "
        f"that drive threads ({DEFAULT_TIME_LIMIT} s) is not an assignor's")
