"""A property that holds only because nothing was done earns nothing.

An assignor that gives out no partition at all has shares that are perfectly even; one that drops
the remainder has even shares too. Exercise 05's balance checks judge the shares of what was
given out, so they first ask that every partition of the topic was.
"""

from __future__ import annotations

import pytest

from pcmodel.grading import assignor_checks
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.engine import exercises_root

ROOT = exercises_root()
SOLUTION = ROOT / "05_assignor" / "solution.py"


@pytest.mark.parametrize("entry", ["range_share_discarded", "range_drops_remainder"])
def test_range_shares_that_leave_partitions_out_are_not_balanced(entry):
    impl = str(ROOT / "zoo" / "05_assignor" / f"{entry}.py")
    with pytest.raises(CheckFailed, match="partitions spread over its subscribers"):
        assignor_checks.check(impl, "range", "balanced")
    assignor_checks.check(str(SOLUTION), "range", "balanced")  # the reference passes


def test_round_robin_that_deals_nothing_is_not_balanced(tmp_path):
    impl = tmp_path / "deals_nothing.py"
    impl.write_text(SOLUTION.read_text(encoding="utf-8") + '''

def assign_roundrobin(subscriptions, partitions_per_topic):
    return {member: [] for member in subscriptions}
''', encoding="utf-8")
    with pytest.raises(CheckFailed, match="partitions dealt"):
        assignor_checks.check(str(impl), "roundrobin", "balanced")
    assignor_checks.check(str(SOLUTION), "roundrobin", "balanced")
