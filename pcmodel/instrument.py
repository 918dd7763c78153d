"""Instrumentation for bounded buffers: counts, blocked time per actor, depth over time, timelines.

A buffer records at one of three levels (:class:`Level`):

``off``
    Nothing is recorded; the algorithm pays one ``is not None`` test per operation.
``counters``
    Buffer-wide: puts, gets and the maximum depth. Per actor (thread, or process/thread): how long
    and how often it waited for space and for items. The clock is read only around a wait that
    really happens, so the fast path costs two counter updates; an actor that never waited has
    nothing to report and is not listed.
``timeline``
    Counters, plus per-actor puts and gets, a timestamped record of every wait (an interval of
    ``waiting for space`` or ``waiting for items``), every operation (so each actor's active span
    is known, and what is not waiting in it is ``running``) and the buffer depth after every
    operation. This is what the Gantt charts are drawn from; it costs two clock reads per
    operation.

A :class:`Recorder` belongs to one process and is only touched with the buffer's lock held (or,
for waits, by the waiting actor itself), so it needs no lock of its own. Snapshots
(:class:`BufferStats`, :class:`ActorStats`, :class:`Timeline`) are frozen: take one, then chart it.
Prior art: trio's ``statistics()`` snapshots; curio's named blocking states.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = [
    "ActorState",
    "ActorStats",
    "BufferStats",
    "Interval",
    "Level",
    "NotRecorded",
    "Recorder",
    "Timeline",
    "WAITING_FOR_ITEMS",
    "WAITING_FOR_SPACE",
]


class Level(Enum):
    """How much a buffer records."""

    OFF = "off"
    COUNTERS = "counters"
    TIMELINE = "timeline"

    @classmethod
    def parse(cls, value: str | Level | bool | None, *, flags: bool = True) -> Level:
        """Accept a Level, its name (``"counters"``) and, with ``flags`` (a buffer's
        ``instrument``, off by default), True (counters) or False/None (off).

        ``flags=False`` accepts a Level or its name only: where the default level is not off
        (the runner records a timeline), None would read as "the default" and run unrecorded.
        Raises ValueError, naming the levels, for anything else.
        """
        if isinstance(value, Level):
            return value
        if flags and (value is None or value is False):
            return cls.OFF
        if flags and value is True:
            return cls.COUNTERS
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(level.value) for level in cls)
            raise ValueError(
                f"instrument={value!r} is not a level; choose one of {choices}"
            ) from None


class ActorState(Enum):
    """What an actor was doing during a timeline interval."""

    RUNNING = "running"
    WAITING_FOR_SPACE = "waiting for space"
    WAITING_FOR_ITEMS = "waiting for items"


# The two waiting states as module constants, for the buffers' wait paths. Before Python 3.12
# reading a member as ``ActorState.WAITING_FOR_SPACE`` goes through the enum type's
# ``__getattr__`` (about 65 ns on CPython 3.11, against a few for a global), and a recorded wait
# named its state twice: a fifth of what recording it cost.
WAITING_FOR_SPACE = ActorState.WAITING_FOR_SPACE
WAITING_FOR_ITEMS = ActorState.WAITING_FOR_ITEMS


@dataclass(frozen=True)
class Interval:
    """One stretch of time in which ``actor`` was in ``state`` (seconds on the buffer's clock)."""

    actor: str
    state: ActorState
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Timeline:
    """Who ran and who waited, and how full the buffer was, over time.

    ``intervals`` are sorted by start time; every actor's active span (first to last operation) is
    covered by its intervals without gaps or overlaps. ``depth`` holds ``(time, items in buffer)``
    after each operation, sorted by time.
    """

    intervals: tuple[Interval, ...]
    depth: tuple[tuple[float, int], ...]

    @property
    def actors(self) -> tuple[str, ...]:
        """Actor names in order of first appearance."""
        return tuple(dict.fromkeys(interval.actor for interval in self.intervals))

    def rows(self) -> list[dict]:
        """The intervals as a list of plain dicts (a DataFrame-like table)."""
        return [
            {
                "actor": i.actor,
                "state": i.state.value,
                "start": i.start,
                "end": i.end,
                "duration": i.duration,
            }
            for i in self.intervals
        ]


@dataclass(frozen=True)
class ActorStats:
    """What one actor did to one buffer.

    ``blocked_on_full`` is the time, in seconds, the actor spent inside put() waiting for space;
    ``blocked_on_empty`` the time inside get() waiting for items. ``waits_on_full`` and
    ``waits_on_empty`` count how often it had to wait at all. ``puts`` and ``gets`` (items moved
    by this actor) are recorded at the ``timeline`` level only and are None below it; the
    buffer-wide counts are in :class:`BufferStats` at every level.
    """

    actor: str
    puts: int | None = None
    gets: int | None = None
    blocked_on_full: float = 0.0
    blocked_on_empty: float = 0.0
    waits_on_full: int = 0
    waits_on_empty: int = 0

    @property
    def blocked(self) -> float:
        """Total seconds blocked, on full and on empty."""
        return self.blocked_on_full + self.blocked_on_empty


@dataclass(frozen=True)
class BufferStats:
    """A snapshot of a buffer's instrumentation.

    ``elapsed`` is the time from the start of recording (creation or ``reset_stats()``) to the
    snapshot, so ``throughput`` (gets per second over that span) is meaningful when the snapshot is
    taken as the run ends. ``depth`` is the number of items at snapshot time. With the process
    backend, actors in other processes report when they exit (or call ``flush_stats()``); the
    buffer-wide counts are live.

    A buffer created with ``instrument="off"`` records nothing, and its snapshot says so rather
    than showing zeros that look like measurements: ``recorded`` is False, ``puts``, ``gets``,
    ``max_depth`` and ``elapsed`` are ``None``, and ``throughput`` / ``blocked_on_full`` /
    ``blocked_on_empty`` raise :class:`NotRecorded`. ``depth`` and ``maxsize`` are always real.
    """

    variant: str
    backend: str
    maxsize: int
    level: Level
    puts: int | None
    gets: int | None
    max_depth: int | None
    depth: int
    elapsed: float | None
    actors: tuple[ActorStats, ...] = ()
    timeline: Timeline | None = None

    def __post_init__(self) -> None:
        if self.level is Level.OFF:
            for name in ("puts", "gets", "max_depth", "elapsed"):
                object.__setattr__(self, name, None)

    @property
    def recorded(self) -> bool:
        """False for a buffer created with ``instrument="off"``: nothing here was measured."""
        return self.level is not Level.OFF

    def _require_recorded(self, what: str) -> None:
        if self.level is Level.OFF:
            raise NotRecorded(
                f"{what} was not recorded: this {self.variant} buffer was created with "
                'instrument="off"; create it with instrument="counters" or "timeline"'
            )

    @property
    def throughput(self) -> float:
        """Items taken out per second over ``elapsed`` (0.0 before any time has passed)."""
        self._require_recorded("throughput")
        assert self.gets is not None and self.elapsed is not None
        return self.gets / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def blocked_on_full(self) -> float:
        """Seconds all actors together spent waiting for space."""
        self._require_recorded("time blocked on a full buffer")
        return sum(a.blocked_on_full for a in self.actors)

    @property
    def blocked_on_empty(self) -> float:
        """Seconds all actors together spent waiting for items."""
        self._require_recorded("time blocked on an empty buffer")
        return sum(a.blocked_on_empty for a in self.actors)

    def rows(self) -> list[dict]:
        """One plain dict per actor: a table for printing or for ``pandas.DataFrame(rows)``
        (empty when nothing was recorded)."""
        return [
            {
                "variant": self.variant,
                "backend": self.backend,
                "actor": a.actor,
                "puts": a.puts,
                "gets": a.gets,
                "blocked_on_full_s": a.blocked_on_full,
                "blocked_on_empty_s": a.blocked_on_empty,
                "waits_on_full": a.waits_on_full,
                "waits_on_empty": a.waits_on_empty,
            }
            for a in self.actors
        ]


class NotRecorded(ValueError):  # noqa: N818 - says what happened, like queue.Empty
    """A measurement asked of a buffer that was created with ``instrument="off"``."""


class _Tally:
    """Mutable per-actor counts inside a Recorder."""

    __slots__ = ("name", "puts", "gets", "blocked_full", "blocked_empty", "waits_full",
                 "waits_empty", "first", "last")

    def __init__(self, name: str) -> None:
        self.name = name
        self.puts = self.gets = self.waits_full = self.waits_empty = 0
        self.blocked_full = self.blocked_empty = 0.0
        self.first: float | None = None
        self.last: float | None = None


def thread_actor_name() -> str:
    """The calling thread's name: the actor name used by thread-backend buffers."""
    return threading.current_thread().name


class Recorder:
    """Collects one process's observations of one buffer.

    Called by the buffer algorithms with the buffer's lock held (``on_put``, ``on_get``) or by a
    waiter about itself (``on_wait``); it never blocks and never calls user code.
    """

    def __init__(
        self,
        level: Level,
        clock: Callable[[], float],
        actor_name: Callable[[], str] = thread_actor_name,
    ) -> None:
        if level is Level.OFF:
            raise ValueError("a Recorder records something: use no Recorder for Level.OFF")
        self.level = level
        self.clock = clock
        self._actor_name = actor_name
        self._timeline = level is Level.TIMELINE
        if not self._timeline:  # the counters level's on_put, without the timeline's branch
            self.on_put = self._new_max_depth  # type: ignore[method-assign]
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded so far and restart the elapsed-time clock."""
        self.started = self.clock()
        # One tally per thread, found through a thread-local (fast, and unlike a thread's ident
        # never shared with a later thread); the list keeps them for the snapshot.
        self._local = threading.local()
        self._tallies: list[_Tally] = []
        self.waits: list[Interval] = []
        self.depths: list[tuple[float, int]] = []

    def _tally(self) -> _Tally:
        """The calling thread's tally, created on its first record."""
        try:
            return self._local.tally
        except AttributeError:
            tally = self._local.tally = _Tally(self._actor_name())
            self._tallies.append(tally)
            return tally

    def on_put(self, state: Any, count: int, depth: int) -> None:
        """``count`` items were put by the calling actor; ``depth`` items are now in the buffer.

        Keeps the buffer-wide maximum depth in ``state`` (the buffer's shared state), and at
        the timeline level the per-actor counts and marks. The buffer-wide count of puts is
        the buffer's own business (its task accounting, or ``state.puts``). At the counters
        level the buffer may call only when ``depth > state.report_above``, the deepest so far.
        """
        if depth > state.max_depth:
            state.max_depth = depth
        if self._timeline:
            tally = self._tally()
            tally.puts += count
            self._mark(tally, depth)
        else:
            state.report_above = state.max_depth

    def _new_max_depth(self, state: Any, count: int, depth: int) -> None:
        if depth > state.max_depth:
            state.max_depth = state.report_above = depth

    def on_get(self, state: Any, count: int, depth: int) -> None:
        """``count`` items were taken by the calling actor; ``depth`` items are left."""
        state.gets += count
        if self._timeline:
            tally = self._tally()
            tally.gets += count
            self._mark(tally, depth)

    def _mark(self, tally: _Tally, depth: int) -> None:
        now = self.clock()
        if tally.first is None:
            tally.first = now
        tally.last = now
        self.depths.append((now, depth))

    def on_wait(self, state: ActorState, start: float, end: float) -> None:
        """The calling actor waited in ``state`` from ``start`` to ``end``."""
        try:  # the calling thread's tally, as _tally() finds it, without the call
            tally = self._local.tally
        except AttributeError:
            tally = self._tally()
        if state is WAITING_FOR_SPACE:
            tally.blocked_full += end - start
            tally.waits_full += 1
        else:
            tally.blocked_empty += end - start
            tally.waits_empty += 1
        if self._timeline:
            if tally.first is None or start < tally.first:
                tally.first = start
            self.waits.append(Interval(tally.name, state, start, end))

    def export(self) -> dict:
        """This recorder's data as plain picklable values, for merging in another process."""
        return {
            "started": self.started,
            "actors": [
                (t.name, t.puts if self._timeline else None, t.gets if self._timeline else None,
                 t.blocked_full, t.blocked_empty, t.waits_full,
                 t.waits_empty, t.first, t.last)
                for t in self._tallies
            ],
            "waits": [(w.actor, w.state.value, w.start, w.end) for w in self.waits],
            "depths": list(self.depths),
        }


def merge_exports(exports: Iterable[dict], timeline: bool) -> tuple[tuple[ActorStats, ...],
                                                                     Timeline | None]:
    """Combine recorder exports (one per process) into per-actor stats and one timeline."""
    actors: dict[str, list] = {}
    spans: dict[str, list[float]] = {}
    waits: list[Interval] = []
    depths: list[tuple[float, int]] = []
    for export in exports:
        for name, puts, gets, bfull, bempty, wfull, wempty, first, last in export["actors"]:
            row = actors.setdefault(name, [None, None, 0.0, 0.0, 0, 0])
            for i, value in enumerate((puts, gets, bfull, bempty, wfull, wempty)):
                if value is not None:
                    row[i] = value if row[i] is None else row[i] + value
            if first is not None:
                span = spans.setdefault(name, [first, last if last is not None else first])
                span[0] = min(span[0], first)
                span[1] = max(span[1], last if last is not None else first)
        waits.extend(Interval(a, ActorState(s), b, e) for a, s, b, e in export["waits"])
        depths.extend(export["depths"])
    stats = tuple(ActorStats(name, *row) for name, row in actors.items())
    if not timeline:
        return stats, None
    for wait in waits:  # a wait can end after the actor's last operation (e.g. on shutdown)
        span = spans.setdefault(wait.actor, [wait.start, wait.end])
        span[1] = max(span[1], wait.end)
    return stats, Timeline(_with_running(waits, spans), tuple(sorted(depths)))


def _with_running(waits: list[Interval], spans: dict[str, list[float]]) -> tuple[Interval, ...]:
    """Fill each actor's active span with ``running`` intervals wherever it was not waiting."""
    by_actor: dict[str, list[Interval]] = {}
    for wait in waits:
        by_actor.setdefault(wait.actor, []).append(wait)
    result: list[Interval] = []
    for actor, (first, last) in spans.items():
        cursor = first
        for wait in sorted(by_actor.get(actor, ()), key=lambda w: w.start):
            if wait.start > cursor:
                result.append(Interval(actor, ActorState.RUNNING, cursor, wait.start))
            result.append(wait)
            cursor = max(cursor, wait.end)
        if last > cursor:
            result.append(Interval(actor, ActorState.RUNNING, cursor, last))
    result.sort(key=lambda i: (i.start, i.actor))
    return tuple(result)

