"""A virtual clock: time that moves only when told to, so that a replication run replays exactly.

Every duration in :mod:`pcmodel.cluster` (``replica_lag_time_max_ms``, broker session timeouts,
request timeouts, ``slow()`` delays) is measured with an injected monotonic clock. With
``time.monotonic`` the cluster runs in real time on threads; with a :class:`VirtualClock` and
``mode="steps"`` nothing happens between two calls of ``Cluster.step()``, and the same seed gives
the same history on every machine, however loaded.
"""

from __future__ import annotations

import threading

__all__ = ["VirtualClock"]


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
