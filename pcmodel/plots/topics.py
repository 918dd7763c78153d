"""Charts of topics and consumer groups: throughput per partition count, lag, hot partitions,
and rebalances compared side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pcmodel.instrument import ActorState
from pcmodel.plots._figure import DEPTH_COLOUR, STATE_COLOURS, _new_figure
from pcmodel.plots.runs import _bars, _draw_gantt

if TYPE_CHECKING:
    from matplotlib.figure import Figure


# -- topics ---------------------------------------------------------------------------------


def _field(row: Any, name: str, default: Any = None) -> Any:
    """``row[name]`` for a mapping, ``row.name`` for an object, else ``default``."""
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def _partition_key(partition: Any) -> tuple[str, int]:
    """(topic, number) of a partition given as a number or a ``TopicPartition``; TypeError
    for anything else (a str has a ``partition`` method, which is no partition number)."""
    if isinstance(partition, int) and not isinstance(partition, bool):
        return "", partition
    number = getattr(partition, "partition", None)
    if isinstance(number, int) and not isinstance(number, bool):
        return str(getattr(partition, "topic", "") or ""), number
    raise TypeError(f"a partition is a number or a TopicPartition, not {partition!r}")


def _partition_label(partition: Any) -> str:
    topic, number = _partition_key(partition)
    return f"{topic}[{number}]" if topic else f"partition {number}"


def _rows(rows: Any, chart: str, what: str) -> list[Any]:
    """``rows`` as a list; TypeError naming ``chart`` when one row is given alone (a mapping)
    or when it is not a collection at all."""
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        raise TypeError(f"{chart} takes a list of {what}, not {rows!r}")
    return list(rows)


def _number(row: Any, name: str, kind: type) -> Any:
    """``row``'s field ``name`` as ``kind``; ValueError naming the field when it is missing
    or not a number."""
    value = _field(row, name)
    try:
        if value is None or isinstance(value, bool):
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"each row needs a number {name!r} (partitions, consumers, "
                         f"records_per_s): {row!r} has {value!r}") from None


def plot_topic_throughput(rows: Iterable[Any], *, title: str | None = None) -> Figure:
    """Records per second against consumers in the group, one line per partition count.

    Each row (a mapping or an object) has ``partitions``, ``consumers`` and ``records_per_s``,
    and optionally ``idle_consumers`` (members that own no partition, as the group describes
    them); when present, a second panel shows them. Raises ValueError when ``rows`` is empty.
    """
    table = [(_number(r, "partitions", int), _number(r, "consumers", int),
              _number(r, "records_per_s", float), _field(r, "idle_consumers"))
             for r in _rows(rows, "plot_topic_throughput", "rows (one per run)")]
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
    for sample in _rows(samples, "plot_lag", "(time, {partition: lag}) samples"):
        pair = isinstance(sample, (tuple, list)) and len(sample) == 2
        time_s, lags = sample if pair else (0.0, None)
        if not isinstance(lags, Mapping):
            raise TypeError(f"plot_lag takes (time, {{partition: lag}}) samples, not {sample!r}")
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
    if not isinstance(counts, Mapping):
        raise TypeError(f"plot_partition_load takes {{partition: records}}, not {counts!r}")
    if not counts:
        raise ValueError("no partitions to draw: pass {partition: records}")
    partitions = sorted(counts, key=_partition_key)
    values = [int(counts[p]) for p in partitions]
    if min(values) < 0:
        raise ValueError(f"record counts cannot be negative: {dict(counts)!r}")
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
    if not isinstance(timelines, Mapping):
        raise TypeError(f"plot_rebalance takes {{protocol name: intervals}}, not {timelines!r}")
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
