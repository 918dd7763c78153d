"""A virtual clock: time that moves only when told to, so that a replication run replays exactly.

Every duration in :mod:`pcmodel.cluster` (``replica_lag_time_max_ms``, broker session timeouts,
request timeouts, ``slow()`` delays) is measured with an injected monotonic clock. With
``time.monotonic`` the cluster runs in real time on threads; with a :class:`VirtualClock` and
``mode="steps"`` nothing happens between two calls of ``Cluster.step()``, and the same seed gives
the same history on every machine, however loaded.

Wall-clock times (record timestamps, the dates of committed offsets, of a group becoming empty,
of a transaction's start) follow the same clock (:func:`wall_clock_on`): on a cluster in real
time they are the machine's wall clock; on a cluster with a virtual clock they are the wall
clock when the cluster was made moved on by virtual time, so that ``run_for`` ages records,
offsets, producers and transactions alike, the same way on every run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.log_records import wall_clock_ms

__all__ = ["VirtualClock", "check_seconds", "wall_clock_on"]


def check_seconds(call: str, seconds: object) -> float:
    """``seconds`` given to ``call`` (``"slow()"``, ``"run_for()"``...), as a float;
    ``IllegalArgumentError`` unless it is a finite number from 0 to ``threading.TIMEOUT_MAX``.
    A clock never reaches NaN or infinity: a loop driving time towards either never ends, and
    a real-time wait longer than the limit overflows its lock's timeout."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not 0 <= seconds <= threading.TIMEOUT_MAX:
        raise IllegalArgumentError(f"{call} needs a finite number of seconds >= 0 (at most "
                                   f"{threading.TIMEOUT_MAX:g}), got {seconds!r}")
    return float(seconds)


class VirtualClock:
    """A monotonic clock in seconds that advances only through :meth:`advance`.

    Thread-safe; calling the object returns the current time, like ``time.monotonic()``.
    """

    def __init__(self, start: float = 0.0) -> None:
        # Whole nanoseconds, so that ten ticks of 0.05 s make exactly 0.5 s.
        self._now_ns = round(start * 1e9)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now_ns / 1e9

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (``>= 0``) and return the new time."""
        if seconds < 0:
            raise ValueError(f"time only moves forward; got advance({seconds})")
        with self._lock:
            self._now_ns += round(seconds * 1e9)
            return self._now_ns / 1e9

    def __repr__(self) -> str:
        return f"<VirtualClock t={self():.3f}s>"


def wall_clock_on(clock: Callable[[], float]) -> Callable[[], int]:
    """The wall clock (epoch milliseconds) of a cluster that runs on ``clock``: the machine's
    for ``time.monotonic``; for any other clock, the machine's wall clock now moved on by
    ``clock``'s seconds from now on (so it stands still between two steps)."""
    if clock is time.monotonic:
        return wall_clock_ms
    epoch_ms, start = wall_clock_ms(), clock()

    def now_ms() -> int:
        return epoch_ms + round((clock() - start) * 1000)

    return now_ms
