"""Per-item work: what a producer does before each put and a consumer after each get.

A workload is only interesting when moving an item costs something besides the buffer operation.
:class:`Work` says what: ``sleep`` models I/O (the GIL is released, so threads overlap) and ``cpu``
models computation (a pure-Python loop, so threads take turns on the GIL while processes run in
parallel). A random :class:`Spread` makes the amounts bursty but reproducible, since every actor
draws them from its own seeded generator. ``Work`` is a frozen value with a text form
(``"sleep:0.001"``, ``"cpu:20000:exp"``) that the command line, JSON results and charts share.
A run does its actors' work through :class:`StoppableWork`, in slices, so that a stopped run
(Ctrl-C, a failure, its timeout) ends an actor even in the middle of an hour-long item.

Prior art: the service-time distributions of queueing theory (fixed, uniform, exponential), and the
I/O-bound vs CPU-bound experiments of OSTEP's concurrency chapters and David Beazley's GIL talks.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pcmodel.errors import ShutDown

__all__ = [
    "MAX_CPU",
    "MAX_SLEEP",
    "STOP_SLICE_ITERATIONS",
    "STOP_SLICE_SECONDS",
    "Spread",
    "StoppableWork",
    "Work",
    "WorkKind",
    "spin",
    "stoppable",
]

MAX_SLEEP = 3600.0
"""The longest sleep work per item, in seconds: an hour (``time.sleep`` overflows on absurd
durations, and a run of items that sleep longer would never be waited for)."""

MAX_CPU = 100_000_000_000
"""The most cpu work per item, in loop iterations: about an hour of a pure-Python loop, as
:data:`MAX_SLEEP` is an hour of sleep."""


class WorkKind(Enum):
    """What an actor does for each item besides moving it."""

    SLEEP = "sleep"  # time.sleep: models I/O (the GIL is released, threads overlap)
    CPU = "cpu"  # a pure-Python loop: models computation (threads take turns on the GIL)


class Spread(Enum):
    """How the amount of work varies from item to item (seeded, reproducible)."""

    FIXED = "fixed"  # exactly ``amount`` every time
    UNIFORM = "uniform"  # uniform between 0 and 2 * amount (mean ``amount``)
    EXPONENTIAL = "exp"  # exponential with mean ``amount``: bursty, like arrivals in a queue


@dataclass(frozen=True)
class Work:
    """Per-item work: ``Work("sleep", 0.001)``, ``Work("cpu", 20000)``, ``Work.parse("cpu:500")``.

    ``amount`` is seconds for ``sleep`` and loop iterations for ``cpu``; with a random ``spread``
    it is the mean. Subclasses may override :meth:`perform` (it runs in the actor, so under the
    ``spawn`` start method the subclass must be importable from a module).
    """

    kind: WorkKind
    amount: float
    spread: Spread = Spread.FIXED

    def __post_init__(self) -> None:
        try:
            kind = WorkKind(self.kind)
            spread = Spread(self.spread)
        except ValueError:
            kinds = ", ".join(repr(k.value) for k in WorkKind)
            spreads = ", ".join(repr(s.value) for s in Spread)
            raise ValueError(f"Work({self.kind!r}, {self.amount!r}, {self.spread!r}): kind must be "
                             f"one of {kinds} and spread one of {spreads}") from None
        amount = self.amount
        if (isinstance(amount, bool) or not isinstance(amount, (int, float))
                or not math.isfinite(amount) or amount < 0):
            raise ValueError(f"work amount must be a finite number >= 0, not {amount!r}")
        if kind is WorkKind.SLEEP and amount > MAX_SLEEP:
            raise ValueError(f"sleep work is at most {MAX_SLEEP:g} seconds per item, "
                             f"not {amount!r}")
        if kind is WorkKind.CPU and amount > MAX_CPU:
            raise ValueError(f"cpu work is at most {MAX_CPU:,} loop iterations per item, "
                             f"not {amount!r}")
        if kind is WorkKind.CPU and amount != int(amount):
            raise ValueError(f"cpu work counts loop iterations: use a whole number, not {amount!r}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "spread", spread)
        object.__setattr__(self, "amount", int(amount) if kind is WorkKind.CPU else float(amount))

    @classmethod
    def parse(cls, spec: str | Work | None) -> Work | None:
        """Read ``"sleep:SECONDS[:SPREAD]"`` or ``"cpu:ITERATIONS[:SPREAD]"``; None/"" mean none.

        SPREAD is ``fixed`` (default), ``uniform`` or ``exp``. Raises ValueError with the syntax,
        TypeError for anything but a str, a Work or None (a bare number has no kind).
        """
        if spec is None or isinstance(spec, Work):
            return spec
        if not isinstance(spec, str):
            raise TypeError(f"work must be text such as 'sleep:0.001' or 'cpu:20000', a Work or "
                            f"None, not {spec!r}")
        text = spec.strip()
        if text in ("", "none", "0"):
            return None
        parts = text.split(":")
        if len(parts) in (2, 3) and parts[0] in (WorkKind.SLEEP.value, WorkKind.CPU.value):
            try:
                amount = float(parts[1])
            except ValueError:
                amount = 0.0  # the syntax error below says what is wrong
            if parts[0] == WorkKind.SLEEP.value and amount > MAX_SLEEP:
                raise ValueError(f"cannot read work {spec!r}: sleep work is at most "
                                 f"{MAX_SLEEP:g} seconds per item")
            if parts[0] == WorkKind.CPU.value and amount > MAX_CPU:
                raise ValueError(f"cannot read work {spec!r}: cpu work is at most "
                                 f"{MAX_CPU:,} loop iterations per item")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            amount = float(parts[1]) if parts[0] == "sleep" else int(parts[1])
            return cls(WorkKind(parts[0]), amount, Spread(parts[2]) if len(parts) == 3 else
                       Spread.FIXED)
        except ValueError:
            raise ValueError(
                f"cannot read work {spec!r}: write sleep:SECONDS or cpu:ITERATIONS, optionally "
                "followed by :uniform or :exp for a random amount with that mean "
                "(e.g. sleep:0.001, cpu:20000, sleep:0.002:exp)"
            ) from None

    def __str__(self) -> str:
        amount = f"{self.amount:g}" if self.kind is WorkKind.SLEEP else str(self.amount)
        suffix = "" if self.spread is Spread.FIXED else f":{self.spread.value}"
        return f"{self.kind.value}:{amount}{suffix}"

    def sample(self, rng: random.Random) -> float:
        """The amount for one item, drawn from ``rng`` when the spread is random."""
        if self.spread is Spread.FIXED or self.amount == 0:
            return self.amount
        if self.spread is Spread.UNIFORM:
            return rng.uniform(0, 2 * self.amount)
        return rng.expovariate(1 / self.amount)

    def perform(self, rng: random.Random) -> None:
        """Do one item's work in the calling actor (sleeping, or spinning a loop)."""
        amount = self.sample(rng)
        if self.kind is WorkKind.SLEEP:
            time.sleep(amount)
        else:
            spin(int(amount))


def spin(iterations: int) -> int:
    """A CPU-bound loop that holds the GIL for ``iterations`` steps; returns a checksum."""
    total = 0
    for i in range(iterations):
        total ^= i
    return total


#: The longest stretch of an item's work between two looks at whether the run was stopped: a
#: Ctrl-C, a failed actor or the run's timeout then ends an actor within about this long, even
#: one whose item sleeps for an hour (a thread cannot be killed, only asked to stop).
STOP_SLICE_SECONDS = 0.1
#: The same for ``cpu`` work, in loop iterations (a few hundredths of a second).
STOP_SLICE_ITERATIONS = 1_000_000


class StoppableWork:
    """An actor's :class:`Work`, done in slices; once ``stop.value`` is true, the next slice
    raises :class:`~pcmodel.errors.ShutDown` instead, which ends the actor as the shut-down
    buffer would.

    An item's work shorter than one slice is done exactly as :meth:`Work.perform` does it (one
    ``time.sleep``, one ``spin``), so a run's measurements do not change. ``stop`` is a ctypes
    boolean: ``c_bool`` for threads, a ``RawValue`` for processes (picklable while a process is
    being started).
    """

    def __init__(self, work: Work, stop: Any) -> None:
        self.work = work
        self.stop = stop

    def perform(self, rng: Any) -> None:
        """Do one item's work, drawn from ``rng`` as :meth:`Work.perform` draws it."""
        amount = self.work.sample(rng)
        if self.work.kind is WorkKind.SLEEP:
            deadline = time.monotonic() + amount
            time.sleep(min(amount, STOP_SLICE_SECONDS))
            while (left := deadline - time.monotonic()) > 0:
                if self.stop.value:
                    raise ShutDown("the run was stopped")
                time.sleep(min(left, STOP_SLICE_SECONDS))
            return
        left = int(amount)
        spin(min(left, STOP_SLICE_ITERATIONS))
        left -= STOP_SLICE_ITERATIONS
        while left > 0:
            if self.stop.value:
                raise ShutDown("the run was stopped")
            spin(min(left, STOP_SLICE_ITERATIONS))
            left -= STOP_SLICE_ITERATIONS


def stoppable(work: Work | None, stop: Any) -> Work | StoppableWork | None:
    """``work`` in slices, unless it is none or a subclass's own ``perform`` (left as it is)."""
    if work is None or type(work).perform is not Work.perform:
        return work
    return StoppableWork(work, stop)
