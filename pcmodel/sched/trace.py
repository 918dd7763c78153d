# Traces of controlled runs: what each thread did at each step, as a table and as a timeline.
#
# The table follows the hand-drawn traces of OSTEP's concurrency chapters and The Deadlock
# Empire: one column per thread, one row per operation, so the reader follows the interleaving
# from top to bottom. The timeline is data only (intervals per actor); charts are drawn elsewhere.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

__all__ = [
    "Activity",
    "Interval",
    "ThreadStatus",
    "TraceEvent",
    "format_table",
    "timeline",
]


class Activity(Enum):
    """What buffer operation a thread is inside (set by the buffer harness)."""

    PUT = "put"
    GET = "get"


class ThreadStatus(str, Enum):
    """State of a thread during one scheduler step, as drawn on a timeline."""

    RUNNING = "running"
    WAITING_FOR_SPACE = "waiting for space"
    WAITING_FOR_ITEMS = "waiting for items"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class TraceEvent:
    """One operation performed by one thread.

    ``step`` is the scheduler step during which it happened; ``preempted`` marks the first event
    after the scheduler switched away from a thread that could have continued; ``contents`` is the
    buffer's contents after the event, when the run knows how to show them.
    """

    step: int
    thread: str
    op: str
    obj: str = ""
    detail: str = ""
    clock: float = 0.0
    contents: str | None = None
    preempted: bool = False

    def text(self) -> str:
        """The operation as one short phrase, e.g. ``acquire mutex`` or ``L19 x = y``."""
        if self.op == "line":
            return f"L{self.obj.rsplit(':', 1)[-1]} {self.detail}"
        parts = [self.op]
        if self.obj:
            parts.append(self.obj)
        if self.detail:
            parts.append(self.detail)
        return " ".join(parts)


class Interval(NamedTuple):
    """One bar of a timeline: ``actor`` was in ``state`` from step ``start`` to step ``end``."""

    actor: str
    state: str
    start: int
    end: int


def format_table(
    events: Sequence[TraceEvent], *, width: int = 40, max_rows: int | None = None
) -> str:
    """Render events as a table with one column per thread, in order of first appearance.

    Each column is as wide as its longest entry, at most ``width`` characters (longer entries are
    cut with "..."). A ``*`` before the step number marks a preemption. The last column shows the
    buffer's contents when they are known. ``max_rows`` keeps the last rows only (the end of a
    trace is where the failure is).
    """
    if width < 8:
        raise ValueError(f"width must be at least 8, got {width}")
    threads: list[str] = []
    widths: dict[str, int] = {}
    for event in events:
        if event.thread not in threads:
            threads.append(event.thread)
            widths[event.thread] = len(event.thread)
        widths[event.thread] = min(width, max(widths[event.thread], len(event.text())))
    show_contents = any(event.contents is not None for event in events)
    header = ["step ", *(name.ljust(widths[name]) for name in threads)]
    if show_contents:
        header.append("buffer")
    lines = [" | ".join(header).rstrip()]
    lines.append("-+-".join("-" * len(cell) for cell in header))
    rows = list(events)
    if max_rows is not None and len(rows) > max_rows:
        lines.append(f"  ... {len(rows) - max_rows} earlier rows left out ...")
        rows = rows[-max_rows:]
    for event in rows:
        mark = "*" if event.preempted else " "
        cells = [f"{mark}{event.step:>4}"]
        for name in threads:
            text = event.text() if name == event.thread else ""
            if len(text) > widths[name]:
                text = text[: widths[name] - 3] + "..."
            cells.append(text.ljust(widths[name]))
        if show_contents:
            cells.append(event.contents or "")
        lines.append(" | ".join(cells).rstrip())
    return "\n".join(lines)


def timeline(statuses: Sequence[Sequence[tuple[str, str]]]) -> list[Interval]:
    """Merge per-step thread states into intervals ``(actor, state, start, end)``.

    ``statuses[i]`` lists ``(actor, state)`` for step ``i`` (from step i to i + 1); a thread that
    is ready but not chosen has no entry, so the timeline shows a gap there. Intervals come out
    sorted by actor's first appearance, then by start.
    """
    open_: dict[str, tuple[str, int]] = {}
    order: list[str] = []
    out: list[Interval] = []
    for step, row in enumerate(statuses):
        seen = set()
        for actor, state in row:
            value = state.value if isinstance(state, Enum) else str(state)
            seen.add(actor)
            if actor not in order:
                order.append(actor)
            previous = open_.get(actor)
            if previous is not None and previous[0] == value:
                continue
            if previous is not None:
                out.append(Interval(actor, previous[0], previous[1], step))
            open_[actor] = (value, step)
        for actor in [a for a in open_ if a not in seen]:
            state, start = open_.pop(actor)
            out.append(Interval(actor, state, start, step))
    end = len(statuses)
    for actor, (state, start) in open_.items():
        out.append(Interval(actor, state, start, end))
    rank = {actor: i for i, actor in enumerate(order)}
    out.sort(key=lambda iv: (rank[iv.actor], iv.start))
    return out
