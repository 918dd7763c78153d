"""Graded suite for exercise 04: a bounded buffer shared between processes.

Run: ``pytest exercises/04_process_buffer --impl my_buffer.py`` or
``pcmodel grade 04_process_buffer --impl my_buffer.py``.
"""

import pytest

from pcmodel.grading import lint_checks
from pcmodel.grading import process_checks as checks
from pcmodel.grading.checks import budget


@pytest.mark.points(1)
def test_interface(impl):
    """BoundedBuffer(3, ctx).capacity is 3; a capacity below 1 raises ValueError."""
    checks.check_interface(impl)


@pytest.mark.points(2)
def test_fifo_sequence(impl):
    """Two buffers of different capacities, used in turn in one process, return 64-bit items
    (0, -1, 2**63 - 1, -2**63) in FIFO order; so does a buffer of capacity 70,000 filled and
    emptied twice."""
    checks.check_sequence(impl)


@pytest.mark.points(3)
def test_transfer_between_processes(impl):
    """A producer process sends 200 integers to a consumer process: all arrive, in order."""
    checks.check_transfer(impl, producers=1, consumers=1, items=200, capacity=2, noise=False,
                          seed=1)


@pytest.mark.points(3)
def test_many_processes(impl):
    """3 producer and 2 consumer processes on capacity 4 with perturbed timing: nothing lost,
    duplicated, over capacity or stuck."""
    for seed in range(budget(3)):
        checks.check_transfer(impl, producers=3, consumers=2, items=40, capacity=4, noise=True,
                              seed=seed)


@pytest.mark.points(2)
def test_put_blocks_when_full(impl):
    """A put() in another process waits on a full buffer and finishes after a get(); a get()
    in another process waits on an empty buffer and returns the item of a later put(). Neither
    gives up after a timeout (the check makes any timeout run out early)."""
    checks.check_blocking(impl)


@pytest.mark.points(2)
def test_no_busy_waiting(impl):
    """A consumer process waiting on an empty buffer sleeps: no CPU, no polling loop."""
    checks.check_no_busy_waiting(impl)


@pytest.mark.points(2)
def test_spawn(impl):
    """2 producer and 3 consumer processes started with the spawn method: everything arrives,
    and nothing the buffer created is left in /dev/shm. Then 2 spawned producers put at once,
    the first stopped before each line of put() in turn while the second puts: both items
    arrive, whatever the line."""
    checks.check_spawn(impl)


@pytest.mark.points(0)
def test_lint_notes(impl):
    """Information only, no points: what ruff's bug rules (bugbear, bare except) say about
    your file."""
    lint_checks.check_notes(impl)
