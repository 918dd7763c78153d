"""A concurrent.futures.ThreadPoolExecutor built in a run is scheduled like hand-made threads.

Its workers wait in a ``queue.SimpleQueue`` (C, invisible to the scheduler) and its module keeps
a lock built at import: the run swaps in controlled stand-ins, so a correct pool program passes
every schedule, a racy one is caught, and nothing of the run is left in the executor's module.
"""

from __future__ import annotations

import queue
import threading
from concurrent import futures
from concurrent.futures import thread as futures_thread

import pytest

from pcmodel.sched import FailureKind, explore_program, run_controlled, yield_point


def pool_counter(box: dict, use_lock: bool):
    def program():
        box["value"] = 0
        lock = threading.Lock()

        def add():
            with lock if use_lock else _NoLock():
                yield_point("read")
                value = box["value"]
                yield_point("write")
                box["value"] = value + 1

        with futures.ThreadPoolExecutor(max_workers=2) as pool:
            done = [pool.submit(add) for _ in range(2)]
            futures.wait(done)
        assert box["value"] == 2, f"lost update: counter is {box['value']}, expected 2"

    return program


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


@pytest.mark.timeout(120)  # every schedule: 9 s on a busy 2-core machine
def test_a_correct_pool_program_passes_every_schedule():
    result = explore_program(pool_counter({}, use_lock=True), preemption_bound=2)
    assert result.passed, str(result)
    assert result.schedules > 1


def test_a_race_between_pool_tasks_is_found():
    result = explore_program(pool_counter({}, use_lock=False), preemption_bound=1)
    assert result.failure is not None, "the pool's workers were not scheduled"
    assert result.failure.kind is FailureKind.EXCEPTION
    assert "lost update" in result.failure.message


def test_simple_queue_built_in_the_run_is_controlled():
    def program():
        queue.SimpleQueue().get()  # nobody will ever put

    schedule = run_controlled(program)
    assert schedule.failure_kind is FailureKind.DEADLOCK


def test_the_run_leaves_the_executor_module_as_it_found_it():
    real_lock = futures_thread._global_shutdown_lock
    real_queue = queue.SimpleQueue
    assert explore_program(pool_counter({}, use_lock=True), max_schedules=3).schedules == 3
    assert futures_thread._global_shutdown_lock is real_lock
    assert queue.SimpleQueue is real_queue
    assert all(isinstance(t, threading.Thread) for t in futures_thread._threads_queues)
