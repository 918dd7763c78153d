"""Charts of a broker as real Kafka clients use it: partition logs growing under a producer,
consumers' positions following them, and how long each fetch long-polled on the log.

The inputs come from the broker and its Kafka listener: samples of
``broker.describe_topic(name).end_offsets`` (and of consumers' positions) taken while clients
run, and ``listener.statistics().fetches``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pcmodel.instrument import ActorState
from pcmodel.plots._figure import STATE_COLOURS, _new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PARTITION_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


def _offsets(sample: Any) -> tuple[float, dict[int, int]]:
    """``(seconds, {partition: offset})`` from one sample; TypeError for anything else (a
    string of end offsets would be drawn letter by letter)."""
    try:
        seconds, ends = sample
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise TypeError(f"samples are (seconds, end offsets), not {sample!r}") from None
    if isinstance(ends, (str, bytes)) or not isinstance(ends, (Mapping, Sequence)):
        raise TypeError(f"end offsets are a list indexed by partition or {{partition: offset}}, "
                        f"not {ends!r}")
    offsets = dict(ends) if isinstance(ends, Mapping) else dict(enumerate(ends))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in offsets.values()):
        raise TypeError(f"end offsets must be ints, not {ends!r}")
    return seconds, offsets


def plot_log_growth(samples: Iterable[tuple[float, Sequence[int] | Mapping[int, int]]],
                    positions: Iterable[tuple[float, Mapping[int, int]]] = (), *,
                    title: str | None = None) -> Figure:
    """Each partition's log end offset over time (solid), and where a consumer stood (dashed).

    ``samples`` are ``(seconds, end offsets)`` with the end offsets indexed by partition (the
    ``end_offsets`` of ``Broker.describe_topic``, or ``{partition: offset}``); ``positions``
    are ``(seconds, {partition: next offset to read})``. The gap between a solid line and its
    dashed one is the consumer's lag. Raises ValueError when there are no samples.
    """
    rows = [_offsets(sample) for sample in samples]
    if not rows:
        raise ValueError("no samples to draw: record (time, end offsets) while clients run")
    fig = _new_figure(8.0, 4.5)
    ax = fig.subplots()
    partitions = sorted({p for _, ends in rows for p in ends})
    consumed = [(float(t), dict(p)) for t, p in positions]
    for i, partition in enumerate(partitions):
        colour = _PARTITION_COLOURS[i % len(_PARTITION_COLOURS)]
        ax.step([t for t, _ in rows], [ends.get(partition) for _, ends in rows], where="post",
                color=colour, label=f"partition {partition}: log end offset")
        if consumed:
            ax.step([t for t, _ in consumed], [p.get(partition) for _, p in consumed],
                    where="post", color=colour, linestyle="--",
                    label=f"partition {partition}: consumer position")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("offset")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Partition logs growing, and a consumer following them")
    ax.legend(fontsize="small")
    return fig


_FETCH_FIELDS = ("started", "waited", "max_wait", "records")


def _fetches(fetches: Any) -> list[Any]:
    """``fetches`` as a list; TypeError saying what the chart takes for anything else (the
    listener's whole statistics, one fetch alone, rows that are not fetches)."""
    def fetch(value: Any) -> bool:
        return all(hasattr(value, name) for name in _FETCH_FIELDS)

    if fetch(fetches):
        raise TypeError("plot_fetch_waits takes a list of fetches, not one: write "
                        "plot_fetch_waits([fetch])")
    if isinstance(fetches, (str, bytes, Mapping)) or not isinstance(fetches, Iterable):
        hint = "; pass listener.statistics().fetches" if hasattr(fetches, "fetches") else ""
        raise TypeError(f"plot_fetch_waits takes a list of fetches, not {fetches!r}{hint}")
    rows = list(fetches)
    for row in rows:
        if not fetch(row):
            raise TypeError(f"plot_fetch_waits draws fetches (FetchWait: "
                            f"{', '.join(_FETCH_FIELDS)}, as listener.statistics().fetches "
                            f"holds them), not {row!r}")
    return rows


def plot_fetch_waits(fetches: Iterable[Any], *, title: str | None = None) -> Figure:
    """How long each Fetch waited before the broker answered, against when it was sent.

    ``fetches`` are :class:`~pcmodel.wire.stats.FetchWait` (``listener.statistics().fetches``).
    A fetch that found records answers at once (green, near zero); one that found none waits
    on the log until ``max_wait_ms`` (blue, on the dashed line): the consumer's long poll is a
    wait on an empty buffer. Raises ValueError when there are no fetches, and TypeError (saying
    what it takes) for anything that is not a list of fetches.
    """
    rows = _fetches(fetches)
    if not rows:
        raise ValueError("no fetches to draw: pass listener.statistics().fetches")
    start = min(f.started for f in rows)
    fig = _new_figure(8.0, 4.0)
    ax = fig.subplots()
    for found, label, state in ((True, "answered with records", ActorState.RUNNING),
                                (False, "waited in vain (no records)",
                                 ActorState.WAITING_FOR_ITEMS)):
        chosen = [f for f in rows if (f.records > 0) == found]
        ax.scatter([f.started - start for f in chosen], [f.waited * 1000 for f in chosen],
                   s=12, color=STATE_COLOURS[state.value], label=f"{label}: {len(chosen)}")
    for max_wait in sorted({f.max_wait for f in rows}):
        ax.axhline(max_wait * 1000, color="#444444", linestyle="--", linewidth=0.8)
    ax.set_xlabel("time the fetch arrived (s)")
    ax.set_ylabel("waited before the answer (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Fetch long polls: dashed line = the client's max_wait_ms")
    ax.legend(fontsize="small")
    return fig
