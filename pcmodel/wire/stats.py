"""What the Kafka listener saw: requests per API and how long each fetch long-polled.

The glass-box view of a broker: a real client's fetches wait on the partition log exactly as a
consumer thread waits on an empty bounded buffer, and :meth:`KafkaListener.statistics` shows
it. Recording costs one short critical section per request; the snapshot is immutable.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

__all__ = ["FetchWait", "ListenerStats", "StatsRecorder"]

#: How many recent fetches are remembered (older ones are dropped first).
FETCH_HISTORY = 10_000


@dataclass(frozen=True)
class FetchWait:
    """One Fetch: when it started (seconds on the listener's clock), how long it waited for
    data before answering, the ``max_wait_ms`` the client allowed, and how many records and
    partitions it answered with (0 records: it waited the whole ``max_wait_ms`` in vain)."""

    started: float
    waited: float
    max_wait: float
    records: int
    partitions: int


@dataclass(frozen=True)
class ListenerStats:
    """A snapshot of a listener's activity.

    ``requests``: API name -> requests served (``"Produce"``, ``"Fetch"``, ...);
    ``unserved``: requests for an API or version not served, by ``"key vN"`` (an ApiVersions
    newer than ours is answered UNSUPPORTED_VERSION; any other closes its connection);
    ``connections``: open now; ``accepted`` / ``refused``: since start;
    ``fetches``: the most recent :data:`FETCH_HISTORY` fetches, oldest first.
    """

    requests: dict[str, int]
    unserved: dict[str, int]
    connections: int
    accepted: int
    refused: int
    fetches: tuple[FetchWait, ...]


class StatsRecorder:
    """Thread-safe counters behind :class:`ListenerStats` (times: ``time.monotonic``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._unserved: Counter[str] = Counter()
        self._accepted = 0
        self._refused = 0
        self._fetches: deque[FetchWait] = deque(maxlen=FETCH_HISTORY)

    def request(self, api: str) -> None:
        with self._lock:
            self._requests[api] += 1

    def unserved(self, api_key: int, version: int) -> None:
        with self._lock:
            self._unserved[f"{api_key} v{version}"] += 1

    def connection(self, accepted: bool) -> None:
        with self._lock:
            if accepted:
                self._accepted += 1
            else:
                self._refused += 1

    def fetch(self, wait: FetchWait) -> None:
        with self._lock:
            self._fetches.append(wait)

    def snapshot(self, connections: int) -> ListenerStats:
        with self._lock:
            return ListenerStats(dict(self._requests), dict(self._unserved), connections,
                                 self._accepted, self._refused, tuple(self._fetches))
