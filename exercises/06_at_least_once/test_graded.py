"""Graded suite for exercise 06: an at-least-once consumer.

Run: ``pytest exercises/06_at_least_once --impl my_consumer.py`` or
``pcmodel grade 06_at_least_once --impl my_consumer.py``.
"""

import pytest

from pcmodel.grading import lint_checks
from pcmodel.grading.delivery_checks import check


@pytest.mark.points(3)
def test_everything_processed_once(impl):
    """One member reads 3 partitions x 20 records: each processed once, in offset order per
    partition, and consume() returns when should_stop() is true."""
    check(impl, "everything")


@pytest.mark.points(2)
def test_commits_progress(impl):
    """When consume() returns, the group has committed the end of every partition."""
    check(impl, "commits")


@pytest.mark.points(4)
def test_crash_loses_nothing(impl):
    """process() raises in a batch, on the first record of its second partition: the
    exception escapes consume(), no unprocessed record is committed, the successor processes
    the rest, and at most one batch repeats. Then, afresh, process() raises in the fourth
    batch: only records of that batch are processed again (a commit after every batch)."""
    check(impl, "crash")
    check(impl, "crash_in_poll_4")


@pytest.mark.points(3)
def test_survives_a_rebalance(impl):
    """A second member joins while the first is consuming, and the first one's commit fails
    (CommitFailedError): both keep polling until should_stop() is true, and every record is
    processed, and once the first has rejoined, nothing it commits moves the group's offsets
    back. Then a second member joins and takes partitions the first had read from: the first
    commits only the partitions it owns from then on."""
    check(impl, "rebalance")
    check(impl, "handover")


@pytest.mark.points(2)
def test_stop_mid_batch_loses_nothing(impl):
    """consume() called with should_stop() already true returns without polling. Then
    should_stop() turns true while records of the polled batch are still unprocessed:
    consume() returns without polling again, the group's committed offsets pass no
    unprocessed record, and every record it processed is committed; also when it turns true
    after the last record of one partition in a batch that holds another partition's records
    after it."""
    check(impl, "stop")
    check(impl, "stop_between_partitions")


@pytest.mark.points(2)
def test_crash_after_a_refused_commit(impl):
    """One partition: the member's commit is refused (another member took the partition
    meanwhile), then it crashes on the first record it processes after that: the group's
    committed offset passes no unprocessed record."""
    check(impl, "refused_then_crash")


@pytest.mark.points(0)
def test_lint_notes(impl):
    """Information only, no points: what ruff's bug rules (bugbear, bare except) say about
    your file."""
    lint_checks.check_notes(impl)
