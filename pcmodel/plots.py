"""Charts of real runs: who waits, for how long, and what each design choice buys.

Every function takes results produced by the library (a buffer's :class:`~pcmodel.instrument.
BufferStats` or :class:`~pcmodel.instrument.Timeline`, the runner's ``RunResult``, a scheduler
trace's intervals, or measurements taken from topics) and returns a matplotlib ``Figure``. The
figures are built with ``matplotlib.figure.Figure`` directly, not with ``pyplot``: no global figure
list to leak, no backend chosen here, so the same call works in a notebook (``%matplotlib inline``
then show the returned figure), in ``pcmodel run --plot`` (``fig.savefig(path)``) and in tests.

matplotlib is an optional dependency (``pip install "pcmodel[plots]"``); it is imported when a
chart is drawn, so ``import pcmodel`` never needs it.

Colours are fixed per state across every chart (Okabe and Ito's colour-blind-safe palette): green
is running, vermillion is waiting for space (a producer held back by a full buffer), blue is
waiting for items (a consumer starved by an empty one). Prior art: the Gantt views of
``viztracer``/Perfetto and of OSTEP's thread traces; matplotlib's own "broken_barh" example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from pcmodel.instrument import ActorState, BufferStats, Timeline

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "STATE_COLOURS",
    "plot_blocking_vs_speed_ratio",
    "plot_lag",
    "plot_partition_load",
    "plot_rebalance",
    "plot_run",
    "plot_scaling",
    "plot_throughput_vs_capacity",
    "plot_timeline",
    "plot_topic_throughput",
]

#: Colour of each actor state, the same in every chart.
STATE_COLOURS: dict[str, str] = {
    ActorState.RUNNING.value: "#009E73",
    ActorState.WAITING_FOR_SPACE.value: "#D55E00",
    ActorState.WAITING_FOR_ITEMS.value: "#0072B2",
    # A scheduler trace also knows threads blocked on a lock or a semaphore.
    "blocked": "#999999",
    # Members of a consumer group, on a rebalance timeline.
    "consuming": "#009E73",
    "no partitions": "#CC79A7",
}
# Colours for states no chart knows in advance (e.g. a consumer "paused" during a rebalance).
_SPARE_COLOURS = ("#E69F00", "#56B4E9", "#F0E442", "#000000")
DEPTH_COLOUR = "#444444"


def _figure_class() -> type[Figure]:
    """matplotlib's Figure, or an ImportError that says how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            'pcmodel.plots draws with matplotlib, which is not installed: '
            'pip install "pcmodel[plots]"'
        ) from exc
    return Figure


def _new_figure(width: float, height: float) -> Figure:
    return _figure_class()(figsize=(width, height), layout="constrained")


def _state_name(state: object) -> str:
    return state.value if isinstance(state, Enum) else str(state)


def _state_colour(state: str, extra: dict[str, str]) -> str:
    if state in STATE_COLOURS:
        return STATE_COLOURS[state]
    if state not in extra:
        extra[state] = _SPARE_COLOURS[len(extra) % len(_SPARE_COLOURS)]
    return extra[state]


# -- timelines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bars:
    """Intervals and depth samples ready to draw (times shifted to start at 0 when asked)."""

    intervals: tuple[tuple[str, str, float, float], ...]  # actor, state, start, end
    depth: tuple[tuple[float, int], ...]
    maxsize: int | None


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
    if isinstance(source, Iterable):
        return source, (), None
    raise TypeError(
        f"cannot draw a timeline from {type(source).__name__}: pass a Timeline, BufferStats, "
        "a run result with a timeline, or a sequence of intervals (actor, state, start, end)"
    )


def _bars(source: Any, depth: Sequence[tuple[float, int]] | None, maxsize: int | None,
          relative: bool) -> _Bars:
    raw_intervals, raw_depth, found_maxsize = _timeline_parts(source)
    intervals = [(str(i.actor), _state_name(i.state), float(i.start), float(i.end))
                 for i in raw_intervals]
    samples = [(float(t), int(d)) for t, d in (raw_depth if depth is None else depth)]
    if not intervals and not samples:
        raise ValueError("the timeline is empty: nothing was recorded to draw")
    origin = 0.0
    if relative:
        origin = min([i[2] for i in intervals] + [t for t, _ in samples])
    return _Bars(
        tuple((a, s, b - origin, e - origin) for a, s, b, e in intervals),
        tuple((t - origin, d) for t, d in samples),
        maxsize if maxsize is not None else found_maxsize,
    )


def _draw_gantt(ax: Axes, bars: _Bars, time_label: str,
                extra: dict[str, str] | None = None, order: Sequence[str] = ()) -> None:
    """One row per actor, one coloured bar per interval.

    Rows follow ``order`` for the actors it names, then first appearance. ``extra`` holds the
    colours given to states outside STATE_COLOURS; share it between panels so that such a state
    has the same colour in each. The legend lists the known states first, in a fixed order.
    """
    seen = dict.fromkeys(actor for actor, _, _, _ in bars.intervals)
    actors = [a for a in order if a in seen] + [a for a in seen if a not in order]
    rows = {actor: index for index, actor in enumerate(actors)}
    extra = {} if extra is None else extra
    by_state: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for actor, state, start, end in bars.intervals:
        by_state.setdefault(state, {}).setdefault(actor, []).append((start, end - start))
    known = [s for s in STATE_COLOURS if s in by_state]
    for state in known + [s for s in by_state if s not in STATE_COLOURS]:
        colour = _state_colour(state, extra)
        first = True
        for actor, spans in by_state[state].items():
            # One collection per (state, actor); only the first carries the legend label.
            ax.broken_barh(spans, (rows[actor] - 0.4, 0.8), facecolors=colour,
                           edgecolor="none", label=state if first else "_nolegend_")
            first = False
    ax.set_yticks(range(len(actors)), labels=actors)
    ax.set_ylim(len(actors) - 0.5, -0.5)  # first actor on top, as in a trace table
    ax.set_xlabel(time_label)
    ax.set_ylabel("actor")
    ax.grid(axis="x", alpha=0.3)
    if by_state:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="state", fontsize="small")


def _draw_depth(ax: Axes, bars: _Bars, time_label: str) -> None:
    """Items in the buffer after every operation, as a step line; capacity as a dashed line."""
    times = [t for t, _ in bars.depth]
    depths = [d for _, d in bars.depth]
    ax.step(times, depths, where="post", color=DEPTH_COLOUR, linewidth=1.0,
            label="items in buffer")
    if bars.maxsize is not None:
        ax.axhline(bars.maxsize, color=STATE_COLOURS[ActorState.WAITING_FOR_SPACE.value],
                   linestyle="--", linewidth=1.0, label=f"capacity ({bars.maxsize})")
    ax.set_xlabel(time_label)
    ax.set_ylabel("depth (items)")
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")


def plot_timeline(
    source: Any,
    ax: Axes | None = None,
    *,
    depth_ax: Axes | None = None,
    depth: Sequence[tuple[float, int]] | None = None,
    maxsize: int | None = None,
    time_unit: str = "s",
    relative: bool = True,
    title: str | None = None,
) -> Figure:
    """Draw a Gantt chart of actors (running / waiting for space / waiting for items) and, under
    it, the buffer's depth over time; return the figure.

    ``source`` is a :class:`~pcmodel.instrument.Timeline`, a :class:`~pcmodel.instrument.
    BufferStats` recorded with ``instrument="timeline"``, a run result carrying either, or any
    sequence of intervals with ``actor``, ``state``, ``start`` and ``end`` (a scheduler trace's
    timeline, whose times are steps: pass ``time_unit="step"``). ``depth`` overrides the depth
    samples ``(time, items)``; ``maxsize`` draws the capacity line. Times are shifted so that the
    first event is at 0 unless ``relative=False``.

    With ``ax=None`` a new figure is made, with a depth panel when there are depth samples. With
    ``ax`` given the Gantt goes there, and the depth goes to ``depth_ax`` if one is given.
    Raises ValueError for an empty timeline or statistics recorded without one.
    """
    bars = _bars(source, depth, maxsize, relative)
    time_label = "time (s)" if time_unit == "s" else f"time ({time_unit})"
    if ax is None:
        actors = len({a for a, _, _, _ in bars.intervals})
        gantt_height = 0.8 + 0.35 * max(actors, 1)
        if bars.depth:
            fig = _new_figure(9.0, gantt_height + 1.8)
            ax, depth_ax = fig.subplots(2, 1, sharex=True,
                                        gridspec_kw={"height_ratios": [gantt_height, 1.6]})
        else:
            fig = _new_figure(9.0, gantt_height + 0.6)
            ax = fig.subplots()
    fig = ax.figure
    if bars.intervals:
        _draw_gantt(ax, bars, time_label)
    if time_unit == "step":  # scheduler steps are whole numbers
        ax.xaxis.get_major_locator().set_params(integer=True)
    if depth_ax is not None and bars.depth:
        _draw_depth(depth_ax, bars, time_label)
        if depth_ax.get_shared_x_axes().joined(ax, depth_ax):
            ax.set_xlabel("")
            ax.tick_params(labelbottom=False)
    ax.set_title(title if title is not None else "Who runs and who waits")
    return fig


# -- runs of the workload runner --------------------------------------------------------------
# These take pcmodel.runner.RunResult objects; they read attributes only, so the runner module is
# not imported here.

_BLOCKED_STATE = {
    "producer": ActorState.WAITING_FOR_SPACE,
    "consumer": ActorState.WAITING_FOR_ITEMS,
}
_BACKEND_COLOURS = {"thread": "#0072B2", "process": "#E69F00"}
_BACKEND_PLURALS = {"thread": "threads", "process": "processes"}
_VARIANT_MARKERS = {"condition": "o", "semaphore": "s", "queue": "^"}
_VARIANT_STYLES = {"condition": "-", "semaphore": "--", "queue": ":"}


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _series(results: Iterable[Any], key: Callable[[Any], Any], x: Callable[[Any], float],
            y: Callable[[Any], float | None], what: str) -> dict[Any, list[tuple[float, float,
                                                                                  float, float]]]:
    """Group results by ``key``; per group and x, the median, min and max of y over repeats."""
    points: dict[Any, dict[float, list[float]]] = {}
    for result in results:
        value = y(result)
        if value is None:
            raise ValueError(f"{result.label} has no {what}: run it with instrument=\"counters\" "
                             "(or \"timeline\")")
        points.setdefault(key(result), {}).setdefault(x(result), []).append(value)
    if not points:
        raise ValueError("no results to draw: pass the RunResults of a sweep")
    return {
        group: [(xv, _median(ys), min(ys), max(ys)) for xv, ys in sorted(per_x.items())]
        for group, per_x in points.items()
    }


def _draw_series(ax: Axes, points: list[tuple[float, float, float, float]], **style: Any) -> None:
    """A line through the medians; error bars from min to max where a point was repeated."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    spread = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
    if any(low or high for low, high in zip(*spread)):
        ax.errorbar(xs, ys, yerr=spread, capsize=3, **style)
    else:
        ax.plot(xs, ys, **style)


def _plain_ticks(ax: Axes, values: Sequence[float]) -> None:
    """On a log axis, ticks at the measured values, written as plain numbers (4, not 2^2)."""
    ax.set_xticks(list(values), labels=[f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(_null_locator())


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


def plot_throughput_vs_capacity(results: Iterable[Any], *, title: str | None = None) -> Figure:
    """Throughput (items/s) against buffer capacity, one line per variant and backend.

    ``results`` are ``RunResult`` objects (e.g. from ``capacity_sweep``); repeated runs of one
    point are drawn as their median with a min-max bar. Capacity is on a log-2 axis. Raises
    ValueError for no results or an unbounded (capacity <= 0) run.
    """
    results = list(results)
    for result in results:
        if result.capacity <= 0:
            raise ValueError(f"{result.label} is unbounded: a capacity axis needs capacities >= 1; "
                             "leave unbounded runs out of this chart")
    groups = _series(results, lambda r: (r.variant, r.backend), lambda r: r.capacity,
                     lambda r: r.throughput, "throughput")
    fig = _new_figure(7.5, 4.5)
    ax = fig.subplots()
    for (variant, backend), points in sorted(groups.items()):
        _draw_series(ax, points, label=f"{variant} ({backend})",
                     color=_BACKEND_COLOURS.get(backend), marker=_VARIANT_MARKERS.get(variant, "o"),
                     linestyle=_VARIANT_STYLES.get(variant, "-"))
    ax.set_xscale("log", base=2)
    _plain_ticks(ax, sorted({r.capacity for r in results}))
    ax.set_xlabel("buffer capacity (items, log scale)")
    ax.set_ylabel("throughput (items/s)")
    ax.set_ylim(bottom=0)
    ax.set_title(title if title is not None else "Throughput against buffer capacity")
    ax.grid(alpha=0.3, which="both")
    ax.legend(title="variant (backend)")
    return fig


def plot_blocking_vs_speed_ratio(results: Iterable[Any], *, title: str | None = None) -> Figure:
    """Fraction of their time producers spent waiting for space, and consumers waiting for
    items, against the ratio of producer speed to consumer speed (log axis, 1 = balanced).

    ``results`` are instrumented ``RunResult`` objects whose producers and consumers do work of
    the same kind (``speed_ratio`` is defined), e.g. from ``speed_ratio_sweep``. With several
    variants or backends, each gets its own line style. Raises ValueError for no results, a run
    without instrumentation or one without a speed ratio.
    """
    results = list(results)
    for result in results:
        if result.speed_ratio is None:
            raise ValueError(f"{result.label} has no speed ratio: give producers and consumers "
                             "work of the same kind and a non-zero amount")
    fig = _new_figure(7.5, 4.5)
    ax = fig.subplots()
    sides = (
        ("producers waiting for space", ActorState.WAITING_FOR_SPACE,
         lambda r: r.producer_blocked),
        ("consumers waiting for items", ActorState.WAITING_FOR_ITEMS,
         lambda r: r.consumer_blocked),
    )
    several = len({(r.variant, r.backend) for r in results}) > 1
    for name, state, blocked in sides:
        groups = _series(results, lambda r: (r.variant, r.backend), lambda r: r.speed_ratio,
                         lambda r, blocked=blocked: None if blocked(r) is None
                         else 100.0 * blocked(r), "blocked time")
        for (variant, backend), points in sorted(groups.items()):
            _draw_series(ax, points, color=STATE_COLOURS[state.value],
                         marker=_VARIANT_MARKERS.get(variant, "o"),
                         linestyle=_VARIANT_STYLES.get(variant, "-") if several else "-",
                         label=f"{name}, {variant} ({backend})" if several else name)
    ax.axvline(1.0, color=DEPTH_COLOUR, linestyle=":", linewidth=1.0, label="balanced")
    ax.set_xscale("log")
    _plain_ticks(ax, sorted({r.speed_ratio for r in results} | {1.0}))
    ax.set_xlabel("producer speed / consumer speed (log scale)")
    ax.set_ylabel("time blocked (% of active time)")
    ax.set_ylim(-2, 102)
    ax.set_title(title if title is not None else "Where the time goes: blocking against balance")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def _work_name(result: Any) -> str:
    work = result.consume_work or result.produce_work
    if work is None:
        return "no per-item work"
    kind = _state_name(work.kind)
    return {"sleep": f"I/O-bound work ({work})", "cpu": f"CPU-bound work ({work})"}.get(
        kind, f"{kind} work ({work})")


def plot_scaling(results: Iterable[Any], *, title: str | None = None) -> Figure:
    """Throughput against the number of actors, threads against processes, one panel per kind
    of per-item work (I/O-bound sleeps next to CPU-bound loops: the GIL made visible).

    ``results`` are ``RunResult`` objects (e.g. from ``actor_sweep`` over both backends and both
    work kinds). The x axis counts actors (producers + consumers), ticks read ``PxC``. Raises
    ValueError for no results.
    """
    results = list(results)
    if not results:
        raise ValueError("no results to draw: pass the RunResults of an actor sweep")
    panels: dict[str, list[Any]] = {}
    for result in results:
        panels.setdefault(_work_name(result), []).append(result)
    fig = _new_figure(5.5 * len(panels), 4.5)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, members) in zip(axes, sorted(panels.items())):
        groups = _series(members, lambda r: (r.backend, r.variant),
                         lambda r: r.producers + r.consumers, lambda r: r.throughput,
                         "throughput")
        several_variants = len({r.variant for r in members}) > 1
        for (backend, variant), points in sorted(groups.items()):
            plural = _BACKEND_PLURALS.get(backend, backend)
            label = f"{plural}, {variant}" if several_variants else plural
            _draw_series(ax, points, label=label, color=_BACKEND_COLOURS.get(backend),
                         marker=_VARIANT_MARKERS.get(variant, "o"),
                         linestyle=_VARIANT_STYLES.get(variant, "-") if several_variants
                         else "-")
        ticks = {r.producers + r.consumers: f"{r.producers}x{r.consumers}" for r in members}
        ax.set_xticks(sorted(ticks), labels=[ticks[t] for t in sorted(ticks)])
        ax.set_xlabel("actors (producers x consumers)")
        ax.set_ylabel("throughput (items/s)")
        ax.set_ylim(bottom=0)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(title="backend")
    fig.suptitle(title if title is not None else "Scaling: threads against processes")
    return fig


def _draw_actor_summary(ax: Axes, result: Any) -> None:
    """Per actor, the share of its active time spent blocked in the buffer and the rest."""
    actors = list(result.actors)
    names = [a.name for a in actors]
    blocked = [100.0 * (a.blocked_fraction or 0.0) for a in actors]
    blocked_colours = [STATE_COLOURS[_BLOCKED_STATE[_state_name(a.role)].value] for a in actors]
    ax.barh(names, [100.0 - b for b in blocked], color=STATE_COLOURS["running"],
            label="running (work and buffer operations)")
    ax.barh(names, blocked, left=[100.0 - b for b in blocked], color=blocked_colours)
    # Legend entries for the blocked colours that occur (producers and/or consumers).
    for role, state in _BLOCKED_STATE.items():
        if any(_state_name(a.role) == role for a in actors):
            ax.barh([names[0]], [0], color=STATE_COLOURS[state.value],
                    label=f"{role}s {state.value}")
    ax.set_xlim(0, 100)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("share of the actor's active time (%)")
    ax.set_title("Where each actor's time went")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")


def plot_run(result: Any, *, title: str | None = None) -> Figure:
    """The chart of one run (what ``pcmodel run --plot`` draws): a Gantt of the actors and the
    buffer's depth over time when a timeline was recorded, and each actor's share of time
    blocked. The title gives the run's parameters and throughput.

    ``result`` is a ``RunResult``. Raises ValueError for a run without instrumentation
    (``instrument="off"``): there is nothing to draw but one number.
    """
    if result.producer_blocked is None and result.consumer_blocked is None:
        raise ValueError(f"{result.label} was not instrumented: run it with "
                         'instrument="timeline" (or "counters") to chart it')
    timeline = result.timeline
    actor_rows = max(1, len(result.actors))
    summary_height = 0.6 + 0.3 * actor_rows
    if timeline is not None and timeline.intervals:
        gantt_height = 0.8 + 0.35 * actor_rows
        fig = _new_figure(10.0, gantt_height + summary_height + 2.6)
        gantt_ax, depth_ax, summary_ax = fig.subplots(
            3, 1, gridspec_kw={"height_ratios": [gantt_height, 1.6, summary_height]})
        depth_ax.sharex(gantt_ax)
        bars = _bars(result.stats, None, None, relative=False)
        origin = result.started_at or min(i[2] for i in bars.intervals)
        bars = _Bars(tuple((a, s, b - origin, e - origin) for a, s, b, e in bars.intervals),
                     tuple((t - origin, d) for t, d in bars.depth), bars.maxsize)
        _draw_gantt(gantt_ax, bars, "time (s)", order=[a.name for a in result.actors])
        gantt_ax.set_xlabel("")
        gantt_ax.tick_params(labelbottom=False)
        gantt_ax.set_title("Who runs and who waits")
        if bars.depth:
            _draw_depth(depth_ax, bars, "time (s)")
    else:
        fig = _new_figure(10.0, summary_height + 1.0)
        summary_ax = fig.subplots()
    _draw_actor_summary(summary_ax, result)
    work = (f"work per item: producers {result.produce_work or 'none'}, "
            f"consumers {result.consume_work or 'none'}")
    fig.suptitle(title if title is not None else
                 f"{result.label}: {result.items_moved} items in {result.wall_time:.3g} s = "
                 f"{result.throughput:,.0f} items/s\n{work}")
    return fig


# -- topics ---------------------------------------------------------------------------------


def _field(row: Any, name: str, default: Any = None) -> Any:
    """``row[name]`` for a mapping, ``row.name`` for an object, else ``default``."""
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def _partition_label(partition: Any) -> str:
    number = getattr(partition, "partition", partition)
    topic = getattr(partition, "topic", None)
    return f"{topic}[{number}]" if topic else f"partition {number}"


def _partition_key(partition: Any) -> tuple[str, int]:
    return (str(getattr(partition, "topic", "")), int(getattr(partition, "partition", partition)))


def plot_topic_throughput(rows: Iterable[Any], *, title: str | None = None) -> Figure:
    """Records per second against consumers in the group, one line per partition count.

    Each row (a mapping or an object) has ``partitions``, ``consumers`` and ``records_per_s``,
    and optionally ``idle_consumers`` (members that own no partition, as the group describes
    them); when present, a second panel shows them. Raises ValueError when ``rows`` is empty.
    """
    table = [(int(_field(r, "partitions")), int(_field(r, "consumers")),
              float(_field(r, "records_per_s")), _field(r, "idle_consumers")) for r in rows]
    if not table:
        raise ValueError("no measurements to draw: pass one row per (partitions, consumers) run")
    with_idle = all(idle is not None for *_, idle in table)
    fig = _new_figure(11.0 if with_idle else 6.5, 4.0)
    axes = fig.subplots(1, 2) if with_idle else [fig.subplots()]
    for partitions in sorted({p for p, *_ in table}):
        points = sorted((c, rate, idle) for p, c, rate, idle in table if p == partitions)
        consumers = [c for c, _, _ in points]
        label = f"{partitions} partition{'s' if partitions != 1 else ''}"
        axes[0].plot(consumers, [rate for _, rate, _ in points], marker="o", label=label)
        if with_idle:
            axes[1].plot(consumers, [idle for _, _, idle in points], marker="o", label=label)
    axes[0].set_xlabel("consumers in the group")
    axes[0].set_ylabel("throughput (records/s)")
    axes[0].set_title("Records consumed per second")
    axes[0].set_ylim(bottom=0)
    if with_idle:
        axes[1].set_xlabel("consumers in the group")
        axes[1].set_ylabel("idle consumers (no partition)")
        axes[1].set_title("Consumers left without a partition")
        axes[1].set_ylim(bottom=0)
        axes[1].yaxis.get_major_locator().set_params(integer=True)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(title="topic with")
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_lag(samples: Iterable[tuple[float, Mapping[Any, int]]], *,
             title: str | None = None) -> Figure:
    """Consumer lag per partition over time: one line per partition.

    ``samples`` are ``(time in seconds, {partition: lag in records})``; a partition is a
    ``TopicPartition`` or a number. Raises ValueError when there are no samples.
    """
    series: dict[Any, tuple[list[float], list[int]]] = {}
    count = 0
    for time_s, lags in samples:
        count += 1
        for partition, lag in lags.items():
            times, values = series.setdefault(partition, ([], []))
            times.append(float(time_s))
            values.append(int(lag))
    if count == 0:
        raise ValueError("no lag samples to draw: sample the group's lag while it consumes")
    fig = _new_figure(8.0, 4.0)
    ax = fig.subplots()
    for partition in sorted(series, key=_partition_key):
        times, values = series[partition]
        ax.plot(times, values, marker=".", label=_partition_label(partition))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("lag (records)")
    ax.set_title(title if title is not None else "Consumer lag per partition")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return fig


def plot_partition_load(counts: Mapping[Any, int], *, title: str | None = None) -> Figure:
    """Records per partition as bars, the busiest ("hot") partition highlighted, with the even
    share as a dashed line. ``counts`` maps a partition (number or ``TopicPartition``) to a count.
    Raises ValueError when ``counts`` is empty.
    """
    if not counts:
        raise ValueError("no partitions to draw: pass {partition: records}")
    partitions = sorted(counts, key=_partition_key)
    values = [int(counts[p]) for p in partitions]
    hottest = max(range(len(values)), key=values.__getitem__)
    colours = [STATE_COLOURS[ActorState.WAITING_FOR_SPACE.value] if i == hottest
               else STATE_COLOURS[ActorState.WAITING_FOR_ITEMS.value] for i in range(len(values))]
    fig = _new_figure(max(5.0, 0.5 * len(values) + 3.0), 4.0)
    ax = fig.subplots()
    labels = [str(getattr(p, "partition", p)) for p in partitions]
    ax.bar(labels, values, color=colours, label="records")
    ax.axhline(sum(values) / len(values), color=DEPTH_COLOUR, linestyle="--", linewidth=1.0,
               label="even share")
    ax.set_xlabel("partition")
    ax.set_ylabel("records (count)")
    ax.set_title(title if title is not None else
                 f"Records per partition (hot partition: {labels[hottest]})")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return fig


def plot_rebalance(timelines: Mapping[str, Iterable[Any]], *, time_unit: str = "s",
                   title: str | None = None) -> Figure:
    """Compare rebalances side by side: one Gantt panel per protocol (e.g. eager, cooperative),
    each starting at its own first event, on a shared time axis, so who stops and for how long
    can be read off directly.

    Each value is a sequence of intervals with ``actor`` (a group member), ``state``
    (``"consuming"`` and ``"no partitions"`` have fixed colours; any other state gets a spare
    one), ``start`` and ``end``. A state has the same colour in every panel. Raises ValueError
    when ``timelines`` is empty.
    """
    if not timelines:
        raise ValueError("no timelines to draw: pass {protocol name: intervals}")
    # Each panel starts at its own first event: the runs being compared need not be simultaneous.
    prepared = {name: _bars(intervals, (), None, relative=True)
                for name, intervals in timelines.items()}
    time_label = "time (s)" if time_unit == "s" else f"time ({time_unit})"
    heights = [0.8 + 0.35 * max(1, len({i[0] for i in bars.intervals}))
               for bars in prepared.values()]
    fig = _new_figure(9.0, sum(heights) + 0.8)
    axes = fig.subplots(len(prepared), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    extra: dict[str, str] = {}
    for ax, (name, bars) in zip(axes, prepared.items()):
        _draw_gantt(ax, bars, time_label, extra)
        ax.set_title(name)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    if title is not None:
        fig.suptitle(title)
    return fig
