"""Graded suite for exercise 03: a pipeline with clean shutdown.

Run: ``pytest exercises/03_pipeline_shutdown --impl my_pipeline.py`` or
``pcmodel grade 03_pipeline_shutdown --impl my_pipeline.py``.
"""

import pytest

from pcmodel.grading import lint_checks, sched_checks
from pcmodel.grading import pipeline_checks as checks


@pytest.mark.points(1)
def test_validation(impl):
    """consumers < 1 or capacity < 1 raise ValueError before any thread starts."""
    checks.check_validation(impl)


@pytest.mark.points(3)
def test_everything_handled_once(impl):
    """4 sources x 30 items (some None, 0, False, '', equal to everything, unhashable), 3
    consumers, capacity 2: each item handled once, and it returns."""
    checks.check_everything_once(impl)


@pytest.mark.points(2)
def test_no_thread_left(impl):
    """When run_pipeline() returns, every thread it started has finished."""
    checks.check_threads_finished(impl)


@pytest.mark.points(2)
def test_bounded_queue(impl):
    """Producers and consumers meet in a queue.Queue that never holds more than capacity items."""
    checks.check_bounded(impl)


@pytest.mark.points(1)
def test_order_single_consumer(impl):
    """One source, one consumer: items are handled in the order the source yields them."""
    checks.check_order_single_consumer(impl)


@pytest.mark.points(2)
def test_parallel_consumers(impl):
    """With 3 consumers, 3 handle() calls run at the same time; with 2 sources, both are read
    at the same time (one producer thread per source)."""
    checks.check_parallel_consumers(impl)


@pytest.mark.points(2)
def test_edge_cases(impl):
    """No sources; 5 consumers for 2 items; an empty source: everything finishes."""
    checks.check_edge_cases(impl)


@pytest.mark.points(2)
def test_source_error(impl):
    """A source that raises: every other item is handled, nothing hangs, and run_pipeline()
    raises the source's exception."""
    checks.check_source_error(impl)


@pytest.mark.points(2)
def test_first_error_wins(impl):
    """Of two failures, one certainly first, run_pipeline() raises the first (a source's or
    handle()'s); called again in the same process, it starts clean."""
    checks.check_first_error(impl)


@pytest.mark.points(2)
def test_handler_error(impl):
    """handle() raising on one item: every item is still handled once, nothing hangs, and
    run_pipeline() raises that exception."""
    checks.check_handler_error(impl)


@pytest.mark.points(3)
def test_interleavings(impl):
    """Every schedule of two small pipelines (2 sources, 3 consumers, capacity 1; and with a
    switch possible at every line of your file), up to a bounded search, then seeded schedules
    with random thread priorities: every item handled once, every thread finished when
    run_pipeline() returns, no hang, and no thread waiting with a timeout (polling)."""
    sched_checks.check_pipeline_interleavings(impl)


@pytest.mark.points(0)
def test_lint_notes(impl):
    """Information only, no points: what ruff's bug rules (bugbear, bare except) say about
    your file."""
    lint_checks.check_notes(impl)


@pytest.mark.points(1)
def test_no_late_binding_thread_targets(impl):
    """No function made in a loop reads the loop variable later (ruff B023): a thread's target
    must get its source as an argument. (Scored once run_pipeline() validates its arguments.)"""
    checks.check_validation(impl)
    lint_checks.check_rules(impl, {
        "B023": "a thread's target that closes over a loop variable sees the variable's value "
        "when it runs, not when the thread was made: pass it with args=(source,)",
    })
