"""The crew's stall rule: a stuck program is reported after one quiet window; time spent waiting
for a processor is not counted as being stuck."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from pcmodel.grading import crew as crew_module
from pcmodel.grading import process_harness
from pcmodel.grading.crew import Crew, processor_wait
from pcmodel.grading.isolation import Verdict, run_isolated
from tests.conftest import wait_until


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux reports run-queue delay")
def test_processor_wait_reports_this_thread():
    assert threading.get_native_id() in processor_wait()


def test_a_stuck_worker_is_reported_after_one_quiet_window():
    release = threading.Event()
    crew = Crew(None)
    crew.start("waiter", lambda w: release.wait(30))
    started = time.monotonic()
    try:
        stuck = crew.wait(0.2)
        assert [w.name for w in stuck] == ["waiter"]
        assert time.monotonic() - started < 5  # one window, not the extensions for starvation
    finally:
        release.set()
        crew.workers[0].thread.join(10)


def test_windows_spent_waiting_for_a_processor_are_excused_a_bounded_number_of_times(monkeypatch):
    monkeypatch.setattr(crew_module, "_starved", lambda before, window: True)
    release = threading.Event()
    crew = Crew(None)
    crew.start("waiter", lambda w: release.wait(30))
    started = time.monotonic()
    try:
        stuck = crew.wait(0.1)
        assert [w.name for w in stuck] == ["waiter"]  # still reported: starvation is bounded
        assert time.monotonic() - started >= 0.1 * (crew_module._MOST_PATIENCE + 1)
    finally:
        release.set()
        crew.workers[0].thread.join(10)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stillness", [False, True])
def test_the_watcher_looks_at_its_own_pace_not_at_every_operation(monkeypatch, stillness):
    looks = []
    monkeypatch.setattr(crew_module, "processor_wait", lambda: looks.append(1) or {})
    crew = Crew(None, stillness=stillness)

    def busy(w):
        for _ in range(20_000):
            w.finished()

    for name in ("a", "b"):
        crew.start(name, busy)
    started = time.monotonic()
    assert crew.wait(5.0) == []
    elapsed = time.monotonic() - started
    assert sum(w.done for w in crew.workers) == 40_000
    # One look per window, a window ends at most every _LOOK seconds, plus the one that ends.
    assert len(looks) <= elapsed / crew_module._LOOK + 2, (len(looks), elapsed)


@pytest.mark.timeout(60)
def test_a_stall_after_busy_work_is_reported_one_window_after_the_last_operation(monkeypatch):
    # A loaded machine may excuse windows spent waiting for a processor (a test of its own): none
    # is excused here, or the report would come one whole window later for each.
    monkeypatch.setattr(crew_module, "_starved", lambda before, window: False)
    window = 1.0
    go, release = threading.Event(), threading.Event()
    began, last = [], []

    def busy_then_stuck(w):
        go.wait(30)
        # Busy into the second window counted from the watcher's start, then stuck.
        while True:
            now = time.monotonic()  # read before the operation: the watcher sees it after
            w.finished()
            if now >= began[0] + 1.1 * window:
                break
        last.append(now)
        release.wait(30)

    crew = Crew(None)
    crew.start("worker", busy_then_stuck)
    try:
        began.append(time.monotonic())
        go.set()
        assert [w.name for w in crew.wait(window)] == ["worker"]
        reported = time.monotonic()
        assert reported - last[0] >= window  # never before a whole window without progress
        # Windows counted from the watcher's start, not from the last operation seen, would
        # report it at the end of the third, 3 windows after ``began`` or later; counted from
        # the last operation, it comes about 2.1 windows after ``began``.
        assert reported - began[0] < 3 * window, (reported - began[0], reported - last[0])
    finally:
        release.set()
        crew.workers[0].thread.join(10)


def test_a_long_call_that_goes_on_is_judged_by_its_progress_not_its_length():
    # A process-buffer scenario of 280,000 operations once ran past its whole stall window on
    # a loaded machine, and a correct solution was reported stuck after 68,505 of them.
    count = [0]

    def busy_for_two_windows():
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            count[0] += 1
        return count[0]

    finished, value = process_harness._call(busy_for_two_windows, 0.5,
                                            progress=lambda: count[0])
    assert finished and value == count[0] > 0


@pytest.mark.timeout(30)
def test_a_long_call_that_stops_going_on_is_stuck_one_window_after_its_last_operation():
    release = threading.Event()
    count, last = [0], []

    def busy_then_stuck():
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            count[0] += 1
        last.append(time.monotonic())
        release.wait(30)

    try:
        assert process_harness._call(busy_then_stuck, 0.5, progress=lambda: count[0]) == (
            False, None)
        assert last, "reported stuck while it still went on"
        assert time.monotonic() - last[0] < 0.5 + 0.5, time.monotonic() - last[0]
    finally:
        release.set()


def _noisy_workers_under_an_audit_hook() -> list[str]:
    def hook(event, args):
        if event == "sys.settrace":
            # Python code inside every installation, as the grading sandbox's hook is; the
            # pause lets the GIL pass to another worker installing its tracer meanwhile.
            time.sleep(0.001)

    sys.addaudithook(hook)  # for good: hence a child process
    crew = Crew(__file__, noise=0.5, seed=1)
    for n in range(8):
        crew.start(f"worker {n}", lambda w: (w.step("one step"), w.finished()))
    return [w.describe() for w in crew.wait(5.0)] + [w.describe() for w in crew.failures()]


@pytest.mark.timeout(60)
def test_noisy_workers_start_under_an_audit_hook():
    """Two threads installing a trace function at once make ``sys.settrace`` raise; a worker
    that died of it before its first step once read as a deadlock of a correct buffer."""
    outcome = run_isolated(_noisy_workers_under_an_audit_hook, time_limit=40)
    assert outcome.verdict is Verdict.RETURNED, outcome.error
    assert outcome.value == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc task states")
def test_a_deadlock_is_told_from_stillness_long_before_the_window_ends():
    a_done, b_done = threading.Event(), threading.Event()

    def waits_for(other, mine):
        def body(w):
            other.wait(30)  # each waits for the other to finish first: a deadlock
            mine.set()
        return body

    crew = Crew(None, stillness=True)
    crew.start("a", waits_for(b_done, a_done))
    crew.start("b", waits_for(a_done, b_done))
    started = time.monotonic()
    try:
        stuck = crew.wait(60)
        assert sorted(w.name for w in stuck) == ["a", "b"]
        assert time.monotonic() - started < 20  # the 60 s window was not waited out
    finally:
        a_done.set()
        b_done.set()
        for worker in crew.workers:
            worker.thread.join(10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc task states")
def test_a_thread_that_runs_is_never_still():
    stop = threading.Event()

    def spin(w):
        while not stop.is_set():
            pass  # busy, never asleep: the whole window is waited

    crew = Crew(None, stillness=True)
    crew.start("spinner", spin)
    started = time.monotonic()
    try:
        stuck = crew.wait(1.0)  # twice the stillness needed to call it stuck
        assert [w.name for w in stuck] == ["spinner"]
        assert time.monotonic() - started >= 1.0
    finally:
        stop.set()
        crew.workers[0].thread.join(10)


# A child whose main thread holds the GIL inside one long C call (a big power) while a second
# thread, started first, spins in Python: that thread sleeps waiting for the GIL (state S) and
# uses almost no CPU, yet it is not stuck.
_GIL_HOG = r"""
import sys, threading
ready = threading.Event()
def spin():
    ready.set()
    while True:
        pass
t = threading.Thread(target=spin, daemon=True)
t.start()
ready.wait()
print(t.native_id, flush=True)
pow(3, 10**8)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc task states")
def test_a_thread_waiting_for_the_gil_is_never_still():
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", _GIL_HOG], stdout=subprocess.PIPE, text=True)
    try:
        waiter = f"/proc/{child.pid}/task/{int(child.stdout.readline())}/stat"
        hog = f"/proc/{child.pid}/task/{child.pid}/stat"
        stillness = crew_module.Stillness(quiet=0.2)
        # The hog may first wait for the GIL itself, before its long call starts.
        wait_until(lambda: crew_module.task_stat(hog)[0] == "R", timeout=10)
        asleep = 0  # looks at which the waiter slept while the hog held the GIL
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            if crew_module.task_stat(hog)[0] != "R":
                break  # the long call ended: the test is over
            state = crew_module.task_stat(waiter)[0]
            asleep += state == "S"
            assert not stillness.still([waiter], 0), "a thread waiting for the GIL was still"
            threading.Event().wait(0.02)  # the interval between two looks, as in Crew.wait
        assert asleep >= 5  # it did sleep: the state letter alone would call it still
    finally:
        child.kill()
        child.wait(10)
        child.stdout.close()
