"""Virtual time: controlled ``time.sleep``, ``monotonic``, ``perf_counter`` and ``time``.

Inside a run the clock is the run's virtual clock, which starts at 0 and moves only when every
thread is blocked and the earliest deadline (a sleep or a timeout) is reached, so timing never
depends on the machine's speed. Guarantees: ``sleep`` resumes only once the clock has reached its
deadline; ``wall_time`` is ``VIRTUAL_EPOCH`` plus the virtual clock, the same in every schedule.
Outside a run each function is the real one, saved at import before any run patches ``time``.
"""

from __future__ import annotations

import time as _time

from pcmodel.sched.model import Pending, WaitKind
from pcmodel.sched.thread_context import current_thread

_real_sleep = _time.sleep
_real_monotonic = _time.monotonic
_real_perf_counter = _time.perf_counter
_real_time = _time.time

# Wall-clock time inside a run: a fixed, arbitrary epoch plus the virtual clock, so that code
# computing deadlines from time.time() behaves the same in every schedule.
VIRTUAL_EPOCH = 1_700_000_000.0


def sleep(secs: float) -> None:
    """Controlled ``time.sleep``: advances the virtual clock; real sleep outside a run."""
    thread = current_thread()
    if thread is None:
        _real_sleep(secs)
        return
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    run = thread.run
    deadline = run.clock + secs
    run.point(
        Pending(
            "sleep",
            None,
            enabled=lambda: run.clock >= deadline,
            deadline=deadline,
            wait_kind=WaitKind.SLEEP,
            describe=lambda: f"sleeps until t={deadline:g}",
        )
    )
    run.log("sleep", detail=f"{secs:g} s (now t={run.clock:g})")


def monotonic() -> float:
    """Controlled ``time.monotonic`` / ``perf_counter``: the virtual clock inside a run."""
    thread = current_thread()
    if thread is None:
        return _real_monotonic()
    return thread.run.clock


def wall_time() -> float:
    """Controlled ``time.time``: ``VIRTUAL_EPOCH`` plus the virtual clock inside a run."""
    thread = current_thread()
    if thread is None:
        return _real_time()
    return VIRTUAL_EPOCH + thread.run.clock


def perf_counter() -> float:
    """Controlled ``time.perf_counter``: the virtual clock inside a run."""
    thread = current_thread()
    if thread is None:
        return _real_perf_counter()
    return thread.run.clock
