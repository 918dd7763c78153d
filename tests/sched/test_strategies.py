"""DepthFirst's preemption bound: what it costs is the levels a program reaches, not the bound."""

from __future__ import annotations

import threading
import tracemalloc

import pytest

from pcmodel.sched import DepthFirst, explore_program, yield_point

pytestmark = pytest.mark.timeout(60)


class RecordingDepthFirst(DepthFirst):
    """DepthFirst that keeps every schedule it ran (its decisions), in order."""

    def __init__(self, preemption_bound: int) -> None:
        super().__init__(preemption_bound)
        self.paths: list[tuple[int, ...]] = []

    def finish(self) -> None:
        self.paths.append((*self._root, *(node.chosen for node in self._stack)))
        super().finish()


def interleaved_steps() -> None:
    """Two threads of three steps each: 20 interleavings, up to 5 preemptions."""

    def steps(name: str) -> None:
        for i in range(3):
            yield_point(f"{name}{i}")

    threads = [threading.Thread(target=steps, args=(name,), name=name) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_a_large_preemption_bound_takes_no_memory_up_front():
    # A bound of 50,000 built 50,001 empty deques (about 31 MB) before the first schedule ran.
    tracemalloc.start()
    try:
        strategy = DepthFirst(preemption_bound=50_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert strategy.bound == 50_000
    assert peak < 16 * 1024, f"DepthFirst(50_000) took {peak} bytes before running anything"


def test_a_huge_bound_explores_exactly_what_an_ample_one_does():
    ample = RecordingDepthFirst(preemption_bound=10)
    huge = RecordingDepthFirst(preemption_bound=10**12)
    results = [explore_program(interleaved_steps, strategy=s, max_schedules=500)
               for s in (ample, huge)]
    assert all(r.passed and r.exhaustive for r in results)
    assert huge.paths == ample.paths and len(set(ample.paths)) == len(ample.paths)
    assert len(huge._queues) <= 6  # levels 0..5 at most: what the program reached


def test_a_bound_still_prunes_and_orders_by_preemptions():
    bounded = RecordingDepthFirst(preemption_bound=1)
    ample = RecordingDepthFirst(preemption_bound=10)
    for strategy in (bounded, ample):
        explore_program(interleaved_steps, strategy=strategy, max_schedules=500)
        assert strategy.exhausted  # ran out of schedules, not of max_schedules
    assert bounded.pruned > 0 and ample.pruned == 0
    assert len(bounded.paths) < len(ample.paths)
    assert ample.paths[:len(bounded.paths)] == bounded.paths  # fewest preemptions first
