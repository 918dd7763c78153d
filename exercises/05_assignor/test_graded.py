"""Graded suite for exercise 05: Kafka's range and round-robin assignors.

Run: ``pytest exercises/05_assignor --impl my_assignor.py`` or
``pcmodel grade 05_assignor --impl my_assignor.py``.
"""

import pytest

from pcmodel.grading.assignor_checks import check


@pytest.mark.points(2)
def test_range_kafka_example(impl):
    """assign(): Kafka's documented range example (C0, C1 on t0, t1 with 3 partitions each)."""
    check(impl, "range", "examples")


@pytest.mark.points(1)
def test_range_every_member_present(impl):
    """assign(): every member is a key of the result, even one that gets no partition."""
    check(impl, "range", "present")


@pytest.mark.points(2)
def test_range_each_partition_once(impl):
    """assign(): on 150 seeded groups, every subscribed partition has exactly one owner, and
    only members subscribed to its topic own it."""
    check(impl, "range", "once")


@pytest.mark.points(1)
def test_range_balanced(impl):
    """assign(): per topic, all its partitions given out, counts differing by at most one, the
    extras to the first members."""
    check(impl, "range", "balanced")


@pytest.mark.points(3)
def test_range_matches_kafka(impl):
    """assign(): on 150 seeded groups, exactly Kafka's range assignment."""
    check(impl, "range", "matches")


@pytest.mark.points(1)
def test_range_deterministic(impl):
    """assign(): the same group in another order (members, topics, sets) gets the same result."""
    check(impl, "range", "deterministic")


@pytest.mark.points(2)
def test_roundrobin_kafka_examples(impl):
    """assign_roundrobin(): Kafka's two documented round-robin examples."""
    check(impl, "roundrobin", "examples")


@pytest.mark.points(1)
def test_roundrobin_every_member_present(impl):
    """assign_roundrobin(): every member is a key of the result."""
    check(impl, "roundrobin", "present")


@pytest.mark.points(2)
def test_roundrobin_each_partition_once(impl):
    """assign_roundrobin(): every subscribed partition has exactly one subscribed owner."""
    check(impl, "roundrobin", "once")


@pytest.mark.points(1)
def test_roundrobin_balanced(impl):
    """assign_roundrobin(): with equal subscriptions, every partition dealt, counts differing
    by at most one."""
    check(impl, "roundrobin", "balanced")


@pytest.mark.points(3)
def test_roundrobin_matches_kafka(impl):
    """assign_roundrobin(): on 150 seeded groups, exactly Kafka's round-robin assignment."""
    check(impl, "roundrobin", "matches")


@pytest.mark.points(1)
def test_roundrobin_deterministic(impl):
    """assign_roundrobin(): the same group in another order gets the same result."""
    check(impl, "roundrobin", "deterministic")

