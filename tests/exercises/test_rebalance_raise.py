"""A loop that raises in exercise 08's rebalance is reported as raising, without a stall wait.

When the member the group replaced lets the refused commit escape, its transaction stays open,
and the member that took its partitions can never see every output committed: it polls on. The
check used to wait for both loops, so that member's stall (stretched on a loaded machine) ran
into the check's time limit and the student read "still running after 40 s" instead of what
their loop raised.
"""

from __future__ import annotations

from typing import Any

import pytest

from pcmodel.grading import transaction_checks
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.engine import exercises_root

ROOT = exercises_root()
CRASHES = ROOT / "zoo" / "08_exactly_once" / "crashes_on_rebalance.py"


@pytest.mark.timeout(60)
def test_a_loop_that_raises_on_rebalance_is_reported_as_raising(monkeypatch):
    # A quarter of every time limit and stall window: a wait for the other member's stall
    # runs into the check's limit (10 s here) sooner, and the report tells the two apart.
    monkeypatch.setenv("PCMODEL_GRADE_TIME_SCALE", "0.25")
    with pytest.raises(CheckFailed) as failed:
        transaction_checks.check(str(CRASHES), "rebalance")
    assert failed.value.expected == "both members to keep going through the rebalance", (
        str(failed.value))
    assert "member A's transform() raised CommitFailedError" in failed.value.got


class _ReplacedMemberRaises:
    """A stand-in for the live harness of exercise 08 (:class:`Transactions`) in which member
    A's loop raised once B had taken its partitions, and B, behind A's open transaction, would
    poll for ever: it records whose loops the scenario waits for."""

    def __init__(self) -> None:
        self.waited_for: list[list[str]] = []

    def run(self, name: str, transactional_id: str, **options: Any) -> None:
        pass

    def wait_for(self, count: int) -> bool:
        return True

    def settle(self, names: list[str]) -> dict[str, Any]:
        self.waited_for.append(list(names))
        stuck = [name for name in names if name == "member B"]
        return {"stuck": stuck, "missing": 3 if stuck else 0, "failed": []}

    def raised(self) -> dict[str, Any]:
        return {"member A": {"kind": "other", "repr": "CommitFailedError('refused')"}}


def test_the_rebalance_verdict_does_not_wait_for_the_member_behind_a_raised_loop():
    h = _ReplacedMemberRaises()
    found = transaction_checks._rebalance(h)
    assert found is not None and "raised CommitFailedError" in found["got"], found
    assert all("member B" not in names for names in h.waited_for), (
        f"waited for {h.waited_for}: member B's stall is waited out although member A raised")
