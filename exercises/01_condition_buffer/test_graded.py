"""Graded suite for exercise 01: a bounded buffer as a monitor (threading.Condition).

Run: ``pytest exercises/01_condition_buffer --impl my_buffer.py`` or
``pcmodel grade 01_condition_buffer --impl my_buffer.py``. Every check runs the implementation in
a child process with a time limit, so a deadlock costs only that check.
"""

import pytest

from pcmodel.grading import buffer_checks as checks
from pcmodel.grading import contract_checks, lint_checks, sched_checks


@pytest.mark.points(1)
def test_interface(impl):
    """BoundedBuffer(3).capacity is 3; a capacity below 1 raises ValueError.

    Hint: validate the argument before creating anything.
    """
    checks.check_interface(impl)


@pytest.mark.points(1)
def test_uses_condition(impl):
    """The buffer is a monitor: its constructor creates a threading.Condition."""
    checks.check_uses(impl, "Condition", 1, "create threading.Condition objects in __init__")


@pytest.mark.points(2)
def test_fifo_sequence(impl):
    """Seeded sequences of puts and gets that never block return items in FIFO order, on a
    buffer of capacity 3 and on one of capacity 20 kept nearly full while it wraps around."""
    checks.check_model_sequence(impl, style="condition")


@pytest.mark.points(2)
def test_any_items_many_buffers(impl):
    """Two buffers of different capacities used in turn hand back the very objects put, in order,
    whatever they are (None, 0, objects equal to everything, 2**70, a lock, one object put
    twice), and keep no reference to an item once get() returned it."""
    contract_checks.check_any_items(impl)


@pytest.mark.points(2)
def test_waits_as_long_as_it_takes(impl):
    """get() on an empty buffer and put() on a full one wait an hour of (virtual) time without
    giving up or waking on a timer, and return as soon as they are released."""
    contract_checks.check_waits_without_timeout(impl, style="condition")


@pytest.mark.points(2)
def test_put_blocks_when_full(impl):
    """put() waits on a full buffer (no overflow) and finishes once a get() makes room."""
    checks.check_put_blocks_when_full(impl, style="condition")


@pytest.mark.points(2)
def test_get_blocks_when_empty(impl):
    """get() waits on an empty buffer and returns the item a later put() brings."""
    checks.check_get_blocks_when_empty(impl, style="condition")


@pytest.mark.points(2)
def test_spurious_wakeups(impl):
    """A wait() that returns without a notify does not let get() or put() go on (while, not if)."""
    checks.check_spurious_wakeups(impl)


@pytest.mark.points(2)
def test_no_busy_waiting(impl):
    """A get() on an empty buffer sleeps in wait(): no polling, no spinning, no CPU."""
    checks.check_no_busy_waiting(impl, style="condition")


@pytest.mark.points(2)
def test_mixed_waiters(impl):
    """Producers and consumers waiting at once on a capacity-1 buffer all finish (no deadlock)."""
    checks.check_mixed_waiters(impl, style="condition")


@pytest.mark.points(2)
def test_one_producer_one_consumer(impl):
    """One producer and one consumer move 200 items through capacity 2 (the buffer first
    filled before the consumer starts): in order, none lost, never over capacity."""
    checks.check_stress(impl, producers=1, consumers=1, items=200, capacity=2,
                        style="condition",
                        trials=3, noise=0.2, seed=101)


@pytest.mark.points(3)
def test_many_threads(impl):
    """3 producers and 4 consumers on capacity 2: the buffer first filled by the producers
    alone, producers and consumers then waiting at once, every schedule of two producers
    racing for the last free slot, then runs with perturbed timing: nothing lost, duplicated,
    over capacity, stuck or reordered."""
    checks.check_stress(impl, producers=3, consumers=4, items=30, capacity=2,
                        style="condition",
                        trials=12, noise=0.25, seed=201)


@pytest.mark.points(3)
def test_interleavings(impl):
    """Every schedule of 1 producer/2 consumers (capacity 1), of 2 producers/1 consumer
    (capacities 2 and 1, a switch possible at every line) and of 1 producer x 4 items/2
    consumers (capacity 3, every line), and 2 producers/1 consumer (capacity 2) once more with
    a switch possible inside the critical section too, up to a bounded search, finishes with
    every item received once and never more items inside than the capacity."""
    sched_checks.check_interleavings(impl, style="condition")


@pytest.mark.points(0)
def test_lint_notes(impl):
    """Information only, no points: what ruff's bug rules (bugbear, bare except) say about
    your file."""
    lint_checks.check_notes(impl)
