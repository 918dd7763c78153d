"""Graded suite for exercise 08: an exactly-once consume-transform-produce loop.

Run: ``pytest exercises/08_exactly_once --impl my_processor.py`` or
``pcmodel grade 08_exactly_once --impl my_processor.py``.
"""

import pytest

from pcmodel.grading import lint_checks
from pcmodel.grading.transaction_checks import check


@pytest.mark.points(3)
def test_everything_converted_once(impl):
    """One member reads 3 partitions x 20 records: a read_committed reader of the output topic
    sees each record's conversion once, on its partition, in offset order, and transform()
    returns when should_stop() is true."""
    check(impl, "everything")


@pytest.mark.points(3)
def test_offsets_commit_with_outputs(impl):
    """Right after every commit_transaction(), the group's committed offsets are exactly where
    the committed outputs end; at the end, they are the end of every input partition."""
    check(impl, "commits")


@pytest.mark.points(4)
def test_crash_then_successor(impl):
    """convert() raises on the 10th record: the exception escapes transform() without a
    transaction committed after it, the committed offsets still match the committed outputs,
    and a successor (same transactional id, new producer) leaves every output committed
    exactly once."""
    check(impl, "crash")


@pytest.mark.points(3)
def test_survives_a_rebalance(impl):
    """Member A stalls past max_poll_interval_ms in its second batch; member B (another
    transactional id) gets A's partitions and commits them to the end, the records A holds
    too; then A goes on, and its offsets are refused. Both keep polling until should_stop() is
    true, and every output is committed exactly once. Then a second member joins and takes
    partitions the first had read from: the first sends only the offsets of partitions it owns
    from then on."""
    check(impl, "rebalance")
    check(impl, "handover")


@pytest.mark.points(3)
def test_zombie_is_fenced(impl):
    """In the middle of a transaction, a successor's producer with the same transactional id
    takes over: the old instance's transform() stops (ProducerFencedError, or returns) without
    committing anything, and the successor leaves every output committed exactly once."""
    check(impl, "zombie")


@pytest.mark.points(0)
def test_lint_notes(impl):
    """Information only, no points: what ruff's bug rules (bugbear, bare except) say about
    your file."""
    lint_checks.check_notes(impl)
