"""What a workload run measured: :class:`RunResult` and one :class:`ActorResult` per actor.

A result is a frozen value: the run's parameters, its measurements (wall time, throughput, the
fraction of their time producers and consumers spent blocked, the buffer's maximum depth) and the
buffer's :class:`~pcmodel.instrument.BufferStats` snapshot, timeline included when one was
recorded. It flattens into table rows (:meth:`RunResult.summary`, :func:`table`) for printing and
charts, and round-trips exactly through JSON (:meth:`RunResult.to_dict`,
:meth:`RunResult.from_dict`), so a saved run can be charted again later.

Prior art: trio's ``statistics()`` snapshots (immutable, one documented field each) and the
"one row per observation" tables that pandas and plotting libraries expect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from pcmodel.experiments.work import Work
from pcmodel.instrument import (
    ActorState,
    ActorStats,
    BufferStats,
    Interval,
    Level,
    Timeline,
)

__all__ = ["ActorResult", "Role", "RunResult", "table"]


class Role(Enum):
    """Which side of the buffer an actor is on."""

    PRODUCER = "producer"
    CONSUMER = "consumer"


@dataclass(frozen=True)
class ActorResult:
    """What one producer or consumer did in a run.

    ``active`` is the seconds from the actor's start to its end (work, buffer operations and
    waiting); ``blocked`` the seconds of it spent waiting inside the buffer (for space, for a
    producer; for items, for a consumer), None when the run was not instrumented.
    """

    name: str
    role: Role
    items: int
    active: float
    blocked: float | None

    @property
    def blocked_fraction(self) -> float | None:
        """``blocked / active`` in [0, 1] (None when not instrumented or never active)."""
        if self.blocked is None or self.active <= 0:
            return None
        return min(1.0, max(0.0, self.blocked / self.active))


@dataclass(frozen=True, repr=False)
class RunResult:
    """One run of a workload: its parameters, what it measured, and the buffer's statistics.

    Parameters: ``variant``, ``backend``, ``capacity``, ``producers``, ``consumers``, ``items``,
    ``produce_work``/``consume_work`` (:class:`Work` or None), ``seed``, ``instrument`` (the
    level's name), ``start_method`` (process backend; None for threads), ``batch`` (items per
    ``put_many``/``get_many``; 1 means ``put``/``get``).

    Measurements: ``wall_time`` (seconds from the first actor's start to the last one's end),
    ``items_moved`` (items consumed; equals ``items`` when the run succeeded), ``throughput``
    (items moved per second of wall time), ``producer_blocked`` / ``consumer_blocked`` (the
    fraction of the role's active time spent waiting for space / for items, in [0, 1]; None when
    ``instrument="off"``), ``max_depth`` (most items ever in the buffer; None when off),
    ``actors`` (one :class:`ActorResult` each, producers first), ``stats`` (the buffer's snapshot,
    with ``stats.timeline`` when ``instrument="timeline"``) and ``started_at`` (the clock value,
    ``time.perf_counter``, at which the first actor started: subtract it from timeline times to
    start a chart at 0).
    """

    variant: str
    backend: str
    capacity: int
    producers: int
    consumers: int
    items: int
    produce_work: Work | None
    consume_work: Work | None
    seed: int
    instrument: str
    start_method: str | None
    batch: int
    wall_time: float
    items_moved: int
    throughput: float
    producer_blocked: float | None
    consumer_blocked: float | None
    max_depth: int | None
    actors: tuple[ActorResult, ...] = ()
    stats: BufferStats | None = None
    started_at: float = 0.0

    def __repr__(self) -> str:
        # Short on purpose: a notebook echoing a result must not print a whole timeline.
        def percent(fraction: float | None) -> str:
            return "-" if fraction is None else f"{fraction:.0%}"

        return (f"<RunResult {self.label}: {self.items_moved} items in {self.wall_time:.3g} s "
                f"= {self.throughput:,.0f} items/s; blocked: producers "
                f"{percent(self.producer_blocked)}, consumers {percent(self.consumer_blocked)}; "
                f"max depth {self.max_depth}>")

    @property
    def label(self) -> str:
        """A short name for legends: ``condition/thread cap=4 2x2``."""
        return (f"{self.variant}/{self.backend} cap={self.capacity} "
                f"{self.producers}x{self.consumers}")

    @property
    def timeline(self) -> Timeline | None:
        """The buffer's timeline (``instrument="timeline"`` only)."""
        return None if self.stats is None else self.stats.timeline

    @property
    def speed_ratio(self) -> float | None:
        """Producer speed / consumer speed: consumer work per item over producer work per item.

        Above 1 the producers are faster (they wait for space), below 1 the consumers are (they
        wait for items). None unless both sides have work of the same kind and non-zero amount.
        """
        produce, consume = self.produce_work, self.consume_work
        if produce is None or consume is None or produce.kind is not consume.kind:
            return None
        if produce.amount <= 0 or consume.amount <= 0:
            return None
        return consume.amount / produce.amount

    def summary(self) -> dict[str, Any]:
        """One flat row of parameters and measurements (see :func:`table` for many runs)."""
        return {
            "variant": self.variant,
            "backend": self.backend,
            "capacity": self.capacity,
            "producers": self.producers,
            "consumers": self.consumers,
            "items": self.items,
            "produce_work": None if self.produce_work is None else str(self.produce_work),
            "consume_work": None if self.consume_work is None else str(self.consume_work),
            "batch": self.batch,
            "wall_time_s": self.wall_time,
            "items_moved": self.items_moved,
            "throughput": self.throughput,
            "producer_blocked": self.producer_blocked,
            "consumer_blocked": self.consumer_blocked,
            "max_depth": self.max_depth,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per actor (name, role, items, active and blocked seconds, fraction)."""
        return [
            {
                "variant": self.variant,
                "backend": self.backend,
                "actor": a.name,
                "role": a.role.value,
                "items": a.items,
                "active_s": a.active,
                "blocked_s": a.blocked,
                "blocked_fraction": a.blocked_fraction,
            }
            for a in self.actors
        ]

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready plain values; :meth:`from_dict` reverses it exactly."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Work):
                value = str(value)
            elif f.name == "actors":
                value = [{"name": a.name, "role": a.role.value, "items": a.items,
                          "active": a.active, "blocked": a.blocked} for a in value]
            elif f.name == "stats":
                value = None if value is None else _stats_to_dict(value)
            data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Rebuild a result from :meth:`to_dict` output (e.g. after a JSON round trip)."""
        values = dict(data)
        values["produce_work"] = Work.parse(values["produce_work"])
        values["consume_work"] = Work.parse(values["consume_work"])
        values["actors"] = tuple(
            ActorResult(a["name"], Role(a["role"]), a["items"], a["active"], a["blocked"])
            for a in values["actors"]
        )
        if values.get("stats") is not None:
            values["stats"] = _stats_from_dict(values["stats"])
        return cls(**values)


def table(results: Iterable[RunResult]) -> list[dict[str, Any]]:
    """One :meth:`RunResult.summary` row per result: a table for printing or for pandas.

    Raises TypeError, before any row is made, for anything but RunResults (one result alone
    is refused too: ``table([result])``)."""
    if isinstance(results, RunResult):
        raise TypeError("table() takes a list of RunResults, not one: write table([result])")
    rows = list(results)
    for row in rows:
        if not isinstance(row, RunResult):
            raise TypeError(f"table() takes RunResults (what run_workload returns), not {row!r}")
    return [result.summary() for result in rows]


def _stats_to_dict(stats: BufferStats) -> dict[str, Any]:
    timeline = stats.timeline
    return {
        "variant": stats.variant,
        "backend": stats.backend,
        "maxsize": stats.maxsize,
        "level": stats.level.value,
        "puts": stats.puts,
        "gets": stats.gets,
        "max_depth": stats.max_depth,
        "depth": stats.depth,
        "elapsed": stats.elapsed,
        "actors": [
            {"actor": a.actor, "puts": a.puts, "gets": a.gets,
             "blocked_on_full": a.blocked_on_full, "blocked_on_empty": a.blocked_on_empty,
             "waits_on_full": a.waits_on_full, "waits_on_empty": a.waits_on_empty}
            for a in stats.actors
        ],
        "timeline": None if timeline is None else {
            "intervals": [[i.actor, i.state.value, i.start, i.end] for i in timeline.intervals],
            "depth": [list(point) for point in timeline.depth],
        },
    }


def _stats_from_dict(data: Mapping[str, Any]) -> BufferStats:
    timeline = data["timeline"]
    return BufferStats(
        variant=data["variant"],
        backend=data["backend"],
        maxsize=data["maxsize"],
        level=Level(data["level"]),
        puts=data["puts"],
        gets=data["gets"],
        max_depth=data["max_depth"],
        depth=data["depth"],
        elapsed=data["elapsed"],
        actors=tuple(ActorStats(**a) for a in data["actors"]),
        timeline=None if timeline is None else Timeline(
            tuple(Interval(a, ActorState(s), b, e) for a, s, b, e in timeline["intervals"]),
            tuple((t, d) for t, d in timeline["depth"]),
        ),
    )
