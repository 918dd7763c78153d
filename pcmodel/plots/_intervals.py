"""What a timeline chart is drawn from: intervals and depth samples, checked.

``plot_timeline`` takes a buffer's statistics, its timeline, a run result carrying either, or
any sequence of intervals (objects with ``actor``, ``state``, ``start``, ``end``, or plain
4-tuples). These helpers find the intervals and depth samples in such a source and check each
one: a wrong source or a malformed interval is refused with a one-line ``TypeError`` or
``ValueError`` saying what a timeline holds, instead of an ``AttributeError`` from inside, and
times that cannot be drawn (nan, inf, an end before its start) are refused rather than drawn
as nothing. The chart's other arguments (the axes to draw on, the capacity, the unit of time)
are checked the same way, before anything is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral
from typing import Any

from pcmodel.instrument import BufferStats, Timeline
from pcmodel.plots._figure import _check_axes, _state_name

__all__: list[str] = []


def _timeline_parts(source: Any) -> tuple[Iterable[Any], Sequence[tuple[float, int]], int | None]:
    """Find intervals, depth samples and capacity in whatever the caller handed over."""
    maxsize = None
    stats = getattr(source, "stats", None)
    if isinstance(stats, BufferStats):  # a run result that carries its buffer's statistics
        source = stats
    if isinstance(source, BufferStats):
        if source.timeline is None:
            raise ValueError(
                f"these statistics have no timeline (recorded at level {source.level.value!r}); "
                'create the buffer with instrument="timeline"'
            )
        maxsize = source.maxsize if source.maxsize > 0 else None
        source = source.timeline
    elif not isinstance(source, Timeline) and isinstance(getattr(source, "timeline", None),
                                                         Timeline):
        source = source.timeline
    if isinstance(source, Timeline):
        return source.intervals, source.depth, maxsize
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes, Mapping)):
        return source, (), None
    # A scheduler Failure or ExplorationResult: its timeline() is what can be drawn.
    hint = ("; for a scheduler failure, pass failure.timeline() with time_unit=\"step\""
            if callable(getattr(source, "timeline", None))
            or callable(getattr(getattr(source, "failure", None), "timeline", None)) else "")
    raise TypeError(
        f"cannot draw a timeline from {type(source).__name__}: pass a Timeline, BufferStats, "
        f"a run result with a timeline, or a sequence of intervals (actor, state, start, end)"
        f"{hint}"
    )


def _interval(item: Any) -> tuple[str, str, float, float]:
    """``(actor, state, start, end)`` from an interval object or a plain 4-tuple; ValueError
    or TypeError for anything else, or times that cannot be drawn (nan, inf, end < start)."""
    if all(hasattr(item, name) for name in ("actor", "state", "start", "end")):
        fields = (item.actor, item.state, item.start, item.end)
    elif isinstance(item, (tuple, list)) and len(item) == 4:
        fields = tuple(item)
    else:
        raise TypeError(f"a timeline holds intervals (actor, state, start, end), not {item!r}")
    actor, state, start, end = fields
    try:
        start, end = float(start), float(end)
    except (TypeError, ValueError):
        raise TypeError(f"interval {item!r}: start and end must be numbers") from None
    if not (math.isfinite(start) and math.isfinite(end) and start <= end):
        raise ValueError(f"interval {item!r}: start and end must be finite, start <= end")
    return str(actor), _state_name(state), start, end


def _sample(point: Any) -> tuple[float, int]:
    """``(time, items)`` of a depth sample; TypeError/ValueError for anything else."""
    try:
        time, items = point
        sample = (float(time), int(items))
    except (TypeError, ValueError):
        raise TypeError(f"depth samples are (time, items) pairs, not {point!r}") from None
    if not math.isfinite(sample[0]):
        raise ValueError(f"depth sample {point!r}: its time must be finite")
    return sample


def _timeline_options(ax: Any, depth_ax: Any, maxsize: Any, time_unit: Any) -> None:
    """Check ``plot_timeline``'s other arguments: TypeError/ValueError naming the first wrong
    one (a capacity of ``"4"`` would be drawn as a category, a unit of 3 written as "3")."""
    _check_axes(ax, "ax", "plot_timeline")
    _check_axes(depth_ax, "depth_ax", "plot_timeline")
    if depth_ax is not None and ax is None:
        raise ValueError("plot_timeline's depth_ax goes with ax (the Gantt's axes): pass both, "
                         "or neither for a new figure")
    if maxsize is not None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, Integral):
            raise TypeError(f"plot_timeline's maxsize is the buffer's capacity, an int (None: "
                            f"no capacity line), not {maxsize!r}")
        if maxsize < 1:
            raise ValueError(f"plot_timeline's maxsize is the buffer's capacity, at least 1 "
                             f"(None: no capacity line), not {maxsize!r}")
    if not isinstance(time_unit, str):
        raise TypeError(f'plot_timeline\'s time_unit names the unit of time ("s", or "step" '
                        f"for a scheduler trace), not {time_unit!r}")
    if not time_unit.strip():
        raise ValueError('plot_timeline\'s time_unit names the unit of time ("s", or "step" '
                         "for a scheduler trace); it cannot be empty")
