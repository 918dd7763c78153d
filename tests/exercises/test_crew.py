"""The crew's stall rule: a stuck program is reported after one quiet window; time spent waiting
for a processor is not counted as being stuck."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from pcmodel.grading import crew as crew_module
from pcmodel.grading.crew import Crew, processor_wait


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
