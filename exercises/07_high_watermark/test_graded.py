"""Graded suite for exercise 07: the leader's ISR and high-watermark update.

Run: ``pytest exercises/07_high_watermark --impl my_leader.py`` or
``pcmodel grade 07_high_watermark --impl my_leader.py``.
"""

import pytest

from pcmodel.grading.hw_checks import check


@pytest.mark.points(2)
def test_worked_examples(impl):
    """leader_update(): the README's three worked examples."""
    check(impl, "examples")


@pytest.mark.points(1)
def test_leader_stays_in_sync(impl):
    """The leader is always in its own ISR, though it has no caught-up time."""
    check(impl, "leader_stays")


@pytest.mark.points(2)
def test_laggards_leave_the_isr(impl):
    """A follower not caught up for longer than replica_lag_time_max leaves the ISR."""
    check(impl, "shrinks")


@pytest.mark.points(1)
def test_lag_limit_is_exclusive(impl):
    """A follower caught up exactly replica_lag_time_max ago is still in sync: it stays in the
    ISR, and from outside it rejoins."""
    check(impl, "lag_boundary")


@pytest.mark.points(2)
def test_hw_is_the_smallest_isr_leo(impl):
    """The HW is the smallest LEO over the ISR: not the leader's own, not out-of-sync replicas."""
    check(impl, "hw_min_isr")


@pytest.mark.points(2)
def test_hw_never_goes_backwards(impl):
    """The HW never drops below its current value."""
    check(impl, "hw_monotonic")


@pytest.mark.points(2)
def test_rejoin_rules(impl):
    """A follower rejoins only with every committed record (LEO >= the HW after step A, never
    below the current HW, even with an ISR member behind it) and a recent caught-up time; a
    follower with no LEO yet never rejoins."""
    check(impl, "rejoin")


@pytest.mark.points(1)
def test_unknown_leo_holds_the_hw(impl):
    """An ISR member that has not fetched yet (no LEO) holds the HW where it is; once it lags
    and leaves in step A it holds nothing, in step B or C."""
    check(impl, "unknown_leo")


@pytest.mark.points(3)
def test_matches_kafka_on_random_cases(impl):
    """On 300 seeded cases, exactly the reference's ISR and HW."""
    check(impl, "matches")
