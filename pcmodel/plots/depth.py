"""The depth panel: how many items a buffer held over time, readable at any number of items.

A step line shows every change while there are few; past a few hundred changes it would fill its
panel solid, so the panel then shows per time bin the range (least to most items) as a band and
the time-weighted mean as a line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pcmodel.instrument import ActorState
from pcmodel.plots._figure import DEPTH_COLOUR, STATE_COLOURS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["depth_bins", "draw_depth"]

# Above this many depth samples a step line fills its panel solid (thousands of items moved
# through a small buffer): the panel shows, per time bin, the range and the average instead.
_MAX_DEPTH_STEPS = 400
_DEPTH_BINS = 150


def depth_bins(samples: Sequence[tuple[float, int]], bins: int
                ) -> tuple[list[float], list[int], list[int], list[float]]:
    """Per time bin: its start, the least and most items seen, and the time-weighted mean.

    The depth is a step function: each sample holds until the next one.
    """
    start, end = samples[0][0], samples[-1][0]
    width = (end - start) / bins or 1.0
    lows: list[int] = []
    highs: list[int] = []
    weighted = [0.0] * bins
    edges = [start + i * width for i in range(bins)]
    index = 0
    for b in range(bins):
        left, right = edges[b], edges[b] + width
        # The depth holding at the bin's left edge, then every change inside the bin.
        while index + 1 < len(samples) and samples[index + 1][0] <= left:
            index += 1
        current = samples[index][1]
        low = high = current
        t, j = left, index
        while j + 1 < len(samples) and samples[j + 1][0] < right:
            j += 1
            weighted[b] += current * (samples[j][0] - t)
            t, current = samples[j][0], samples[j][1]
            low, high = min(low, current), max(high, current)
        weighted[b] += current * (right - t)
        lows.append(low)
        highs.append(high)
        index = j
    return edges, lows, highs, [w / width for w in weighted]


def draw_depth(ax: Axes, bars: Any, time_label: str) -> None:
    """Items in the buffer over time (a step line, or per-bin range and mean when the samples
    are too dense to read); capacity as a dashed line."""
    if len(bars.depth) > _MAX_DEPTH_STEPS:
        edges, lows, highs, means = depth_bins(bars.depth, _DEPTH_BINS)
        step = edges[1] - edges[0] if len(edges) > 1 else 1.0
        xs = edges + [edges[-1] + step]
        ax.fill_between(xs, lows + lows[-1:], highs + highs[-1:], step="post",
                        color=DEPTH_COLOUR, alpha=0.25, linewidth=0,
                        label=f"items in buffer: range per 1/{_DEPTH_BINS} of the run")
        ax.step(xs, means + means[-1:], where="post", color=DEPTH_COLOUR, linewidth=1.0,
                label="items in buffer: time-weighted mean")
    else:
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
