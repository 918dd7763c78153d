"""Charts of buffers and of runs: who waits, for how long, and what each design choice buys.

Timelines (a Gantt row per actor and the buffer's depth under it) of a buffer's statistics or a
scheduler trace, and the runner's results: throughput against capacity, blocking against the
producer/consumer speed ratio, scaling with actors, and one run's summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pcmodel.instrument import ActorState
from pcmodel.plots._figure import (
    DEPTH_COLOUR,
    STATE_COLOURS,
    _new_figure,
    _state_colour,
    _state_name,
)
from pcmodel.plots._intervals import _interval, _sample, _timeline_options, _timeline_parts
from pcmodel.plots.depth import draw_depth

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


# -- timelines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bars:
    """Intervals and depth samples ready to draw (times shifted to start at 0 when asked)."""

    intervals: tuple[tuple[str, str, float, float], ...]  # actor, state, start, end
    depth: tuple[tuple[float, int], ...]
    maxsize: int | None


def _bars(source: Any, depth: Sequence[tuple[float, int]] | None, maxsize: int | None,
          relative: bool) -> _Bars:
    raw_intervals, raw_depth, found_maxsize = _timeline_parts(source)
    intervals = [_interval(i) for i in raw_intervals]
    samples = [_sample(point) for point in (raw_depth if depth is None else depth)]
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
    Raises ValueError for an empty timeline or statistics recorded without one, and
    TypeError/ValueError naming the argument for axes that are not matplotlib Axes (or
    ``depth_ax`` without ``ax``), a ``maxsize`` that is not an int >= 1, or a ``time_unit``
    that is not a non-empty str.
    """
    _timeline_options(ax, depth_ax, maxsize, time_unit)
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
        draw_depth(depth_ax, bars, time_label)
        if depth_ax.get_shared_x_axes().joined(ax, depth_ax):
            ax.set_xlabel("")
            ax.tick_params(labelbottom=False)
    ax.set_title(title if title is not None else "Who runs and who waits")
    return fig


# -- runs of the workload runner --------------------------------------------------------------
# These take pcmodel.experiments.runner.RunResult objects; they read attributes only, so the
# runner module is not imported here.

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
    results = _runs(results, "plot_throughput_vs_capacity")
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
    results = _runs(results, "plot_blocking_vs_speed_ratio")
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
    results = _runs(results, "plot_scaling")
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


def _run_height(result: Any) -> float:
    """Inches a run's chart needs: a Gantt and a depth panel when timed, and the summary."""
    timeline = result.timeline
    return _height(len(result.actors), timeline is not None and bool(timeline.intervals))


def _height(actors: int, timed: bool) -> float:
    actor_rows = max(1, actors)
    summary_height = 0.6 + 0.3 * actor_rows
    if timed:
        return 0.8 + 0.35 * actor_rows + summary_height + 2.6
    return summary_height + 1.0


def runs_chart_size(runs: int, actors: int) -> tuple[float, float]:
    """The largest (width, height) in inches of :func:`plot_runs` for ``runs`` runs of
    ``actors`` actors each (with timelines; without, the chart is smaller): known before the
    runs, so that a command can refuse a chart too large to draw before it starts them."""
    if runs == 1:
        return 10.0, _height(actors, True)
    return 10.0, runs * (_height(actors, True) + 0.3)


def _is_run(value: Any) -> bool:
    return all(hasattr(value, name) for name in ("producer_blocked", "consumer_blocked", "label"))


def _runs(results: Any, chart: str) -> list[Any]:
    """``results`` as a list of run results; TypeError naming ``chart`` for one result given
    alone, or for anything that is not a run result."""
    if _is_run(results):
        raise TypeError(f"{chart} takes a list of run results, not one: write {chart}([result])")
    if isinstance(results, (str, bytes, Mapping)) or not isinstance(results, Iterable):
        raise TypeError(f"{chart} takes a list of run results (what run_workload and the "
                        f"sweeps return), not {results!r}")
    runs = list(results)
    for result in runs:
        if not _is_run(result):
            raise TypeError(f"{chart} takes run results (what run_workload and the sweeps "
                            f"return), not {result!r}")
    return runs


def _check_instrumented(result: Any) -> None:
    if not _is_run(result):
        raise TypeError(f"plot_run takes one run result (what run_workload returns), not "
                        f"{result!r}; for several, use plot_runs")
    if result.producer_blocked is None and result.consumer_blocked is None:
        raise ValueError(f"{result.label} was not instrumented: run it with "
                         'instrument="timeline" (or "counters") to chart it')


def _draw_run(fig: Any, result: Any, title: str | None) -> None:
    """Draw one run's panels into ``fig`` (a Figure or a SubFigure)."""
    timeline = result.timeline
    actor_rows = max(1, len(result.actors))
    summary_height = 0.6 + 0.3 * actor_rows
    if timeline is not None and timeline.intervals:
        gantt_height = 0.8 + 0.35 * actor_rows
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
            draw_depth(depth_ax, bars, "time (s)")
    else:
        summary_ax = fig.subplots()
    _draw_actor_summary(summary_ax, result)
    work = (f"work per item: producers {result.produce_work or 'none'}, "
            f"consumers {result.consume_work or 'none'}")
    fig.suptitle(title if title is not None else
                 f"{result.label}: {result.items_moved} items in {result.wall_time:.3g} s = "
                 f"{result.throughput:,.0f} items/s\n{work}")


def plot_run(result: Any, *, title: str | None = None) -> Figure:
    """The chart of one run (what ``pcmodel run --plot`` draws): a Gantt of the actors and the
    buffer's depth over time when a timeline was recorded, and each actor's share of time
    blocked. The title gives the run's parameters and throughput.

    ``result`` is a ``RunResult``. Raises ValueError for a run without instrumentation
    (``instrument="off"``): there is nothing to draw but one number.
    """
    _check_instrumented(result)
    fig = _new_figure(10.0, _run_height(result))
    _draw_run(fig, result, title)
    return fig


def plot_runs(results: Iterable[Any], *, title: str | None = None) -> Figure:
    """Several runs' charts (as :func:`plot_run` draws each) stacked in one figure, so that
    ``pcmodel run --plot run.png`` writes one file however many runs it made.

    Raises ValueError for no results, or one without instrumentation.
    """
    runs = _runs(results, "plot_runs")
    if not runs:
        raise ValueError("no runs to draw")
    for result in runs:
        _check_instrumented(result)
    if len(runs) == 1:
        return plot_run(runs[0], title=title)
    heights = [_run_height(r) + 0.3 for r in runs]
    fig = _new_figure(10.0, sum(heights) + (0.4 if title else 0.0))
    for subfig, result in zip(fig.subfigures(len(runs), 1, height_ratios=heights), runs):
        _draw_run(subfig, result, None)
    if title is not None:
        fig.suptitle(title)
    return fig
