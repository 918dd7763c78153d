"""Charts of replication: replicas' log end offsets and the high watermark over time, with ISR
membership and leader changes; and what each ``acks`` setting kept when brokers died.

The inputs come from :mod:`pcmodel.cluster`: samples of ``Cluster.replica_status`` taken while
the cluster runs, its ``events``, and counts of acknowledged and surviving records.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pcmodel.plots._figure import DEPTH_COLOUR, STATE_COLOURS, _new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Colour of each replica role, the same in every replication chart.
ROLE_COLOURS: dict[str, str] = {
    "leader": STATE_COLOURS["running"],
    "in sync": STATE_COLOURS["waiting for items"],
    "out of sync": STATE_COLOURS["waiting for space"],
    "down": STATE_COLOURS["blocked"],
}
_BROKER_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


_STATUS_FIELDS = ("broker", "alive", "leader", "log_end_offset", "high_watermark", "in_isr")
_EVENT_FIELDS = ("time", "kind", "broker", "detail")


def _has(value: Any, fields: Sequence[str]) -> bool:
    return all(hasattr(value, name) for name in fields)


def _collection(value: Any) -> bool:
    """A list-like of rows (one row alone, a mapping or a string would be read item by item)."""
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


def _replication_rows(samples: Any) -> list[tuple[float, list[Any]]]:
    """``samples`` as ``(time, statuses)`` rows; TypeError/ValueError saying what a sample is
    for anything else, instead of an AttributeError from inside the chart."""
    what = "(time, cluster.replica_status(topic, partition)) samples"
    if not _collection(samples):
        raise TypeError(f"plot_replication takes a list of {what}, not {samples!r}")
    rows = []
    for sample in samples:
        try:
            time, statuses = sample
            time = float(time)
        except (TypeError, ValueError):
            raise TypeError(f"plot_replication takes {what}, not {sample!r}") from None
        if not math.isfinite(time):
            raise ValueError(f"sample {sample!r}: its time must be finite")
        if _has(statuses, _STATUS_FIELDS) or not _collection(statuses):
            raise TypeError(f"a sample's statuses are the list cluster.replica_status(...) "
                            f"returns, not {statuses!r}")
        statuses = list(statuses)
        for status in statuses:
            if not _has(status, _STATUS_FIELDS):
                raise TypeError(f"plot_replication draws replica statuses (ReplicaStatus: "
                                f"{', '.join(_STATUS_FIELDS)}), not {status!r}")
        rows.append((time, statuses))
    return rows


def _cluster_events(events: Any) -> list[Any]:
    """``events`` as a list of cluster events; TypeError for anything else."""
    if not _collection(events):
        raise TypeError(f"plot_replication's events are cluster.events, not {events!r}")
    found = list(events)
    for event in found:
        if not _has(event, _EVENT_FIELDS):
            raise TypeError(f"plot_replication's events are cluster.events (ClusterEvent: "
                            f"{', '.join(_EVENT_FIELDS)}), not {event!r}")
    return found


def _role(status: Any) -> str:
    if not status.alive:
        return "down"
    if status.leader:
        return "leader"
    return "in sync" if status.in_isr else "out of sync"


def plot_replication(samples: Iterable[tuple[float, Sequence[Any]]],
                     events: Iterable[Any] = (), *, title: str | None = None) -> Figure:
    """One partition's replicas over time: each replica's log end offset (a line per broker),
    the high watermark (dashed), and below, each broker's role (leader, in sync, out of sync,
    down). Leader elections and kills from ``events`` are marked with vertical lines.

    ``samples`` are ``(time, cluster.replica_status(topic, partition))`` taken as the cluster
    runs; ``events`` is ``cluster.events`` (only ``leader``, ``killed``, ``restarted`` and
    ``truncated`` events of that partition, or of no partition, are drawn). Raises ValueError
    when there are no samples, and TypeError (saying what it takes) for a sample, a status or
    an event that is not one.
    """
    rows = _replication_rows(samples)
    events = _cluster_events(events)
    if not rows:
        raise ValueError("no samples to draw: record (time, cluster.replica_status(...)) "
                         "while the cluster runs")
    brokers = sorted({s.broker for _, statuses in rows for s in statuses})
    fig = _new_figure(9.0, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    times = [t for t, _ in rows]
    for i, broker in enumerate(brokers):
        leos = [next((s.log_end_offset for s in st if s.broker == broker), None)
                for _, st in rows]
        top.step(times, leos, where="post", color=_BROKER_COLOURS[i % len(_BROKER_COLOURS)],
                 label=f"broker {broker} log end offset")
    hws = [max((s.high_watermark for s in st if s.leader), default=None) for _, st in rows]
    top.step(times, hws, where="post", color=DEPTH_COLOUR, linestyle="--", linewidth=2,
             label="high watermark (leader's)")
    top.set_ylabel("offset")
    top.grid(alpha=0.3)
    # Roles as a Gantt chart: one row per broker, one bar per run of equal role.
    seen_roles: set[str] = set()
    for row, broker in enumerate(brokers):
        spans: dict[str, list[tuple[float, float]]] = {}
        for (t, statuses), nxt in zip(rows, times[1:] + [times[-1]]):
            status = next((s for s in statuses if s.broker == broker), None)
            if status is not None and nxt > t:
                spans.setdefault(_role(status), []).append((t, nxt - t))
        for role, bars in spans.items():
            bottom.broken_barh(bars, (row - 0.4, 0.8), facecolors=ROLE_COLOURS[role],
                               edgecolor="none",
                               label=role if role not in seen_roles else "_nolegend_")
            seen_roles.add(role)
    bottom.set_yticks(range(len(brokers)), labels=[f"broker {b}" for b in brokers])
    bottom.set_ylim(len(brokers) - 0.5, -0.5)
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    marks = {"leader": ("-", "#000000"), "killed": (":", "#D55E00"), "stopped": (":", "#E69F00"),
             "restarted": (":", "#009E73"), "truncated": ("-.", "#CC79A7")}
    for event in events:
        if event.kind not in marks or not times[0] <= event.time <= times[-1]:
            continue
        style, colour = marks[event.kind]
        for ax in (top, bottom):
            ax.axvline(event.time, linestyle=style, color=colour, linewidth=1, alpha=0.8)
        if event.kind == "leader":
            text = "offline" if event.broker is None else \
                f"leader {event.broker} (epoch {event.detail[1]}, {event.detail[0]})"
        elif event.kind == "truncated":
            text = f"broker {event.broker} drops {event.detail[1]}"
        else:
            text = f"{event.kind} {event.broker}"
        top.annotate(text, (event.time, 1.0), xycoords=("data", "axes fraction"),
                     rotation=90, va="top", ha="right", fontsize="x-small", color=colour)
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    top.set_title(title if title is not None else
                  "Replicas: log end offsets, high watermark, roles")
    return fig


def plot_acks_outcome(rows: Iterable[Any], *, title: str | None = None) -> Figure:
    """Acknowledged against surviving records, one pair of bars per ``acks`` setting.

    Each row (mapping or object) has ``acks``, ``acknowledged`` (records the producer was told
    are stored) and ``surviving`` (of those, how many are in the log after the failures); the
    difference is written above the bars. Raises ValueError when ``rows`` is empty.
    """
    def field(row: Any, name: str) -> Any:
        value = row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)
        if value is None:
            raise ValueError(f"each row needs {name!r} (acks, acknowledged, surviving): "
                             f"{row!r} has none")
        return value

    if isinstance(rows, Mapping):  # one row alone would be read key by key
        raise TypeError(f"plot_acks_outcome takes a list of rows, one per acks setting, not "
                        f"{rows!r}")
    table = [(str(field(r, "acks")), int(field(r, "acknowledged")), int(field(r, "surviving")))
             for r in rows]
    if not table:
        raise ValueError("no outcomes to draw: pass one row per acks setting")
    fig = _new_figure(max(5.0, 1.6 * len(table) + 2.0), 4.0)
    ax = fig.subplots()
    xs = range(len(table))
    ax.bar([x - 0.2 for x in xs], [a for _, a, _ in table], width=0.4,
           color=ROLE_COLOURS["in sync"], label="acknowledged")
    ax.bar([x + 0.2 for x in xs], [s for _, _, s in table], width=0.4,
           color=ROLE_COLOURS["leader"], label="surviving")
    for x, (_, acked, kept) in zip(xs, table):
        lost = acked - kept
        ax.annotate(f"lost {lost}" if lost else "none lost", (x, max(acked, kept)),
                    ha="center", va="bottom", fontsize="small",
                    color="#D55E00" if lost else DEPTH_COLOUR)
    ax.set_xticks(list(xs), labels=[f"acks={a}" for a, _, _ in table])
    ax.set_ylabel("records")
    ax.set_ylim(top=max(max(a, s) for _, a, s in table) * 1.15 + 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    ax.set_title(title if title is not None else "What each acks setting kept")
    return fig
