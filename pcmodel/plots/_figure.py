"""What every chart shares: matplotlib imported on demand, a new figure, one colour per state.

matplotlib is an optional dependency (the ``plots`` extra: ``pip install matplotlib``); it is
imported when a chart is drawn, so ``import pcmodel`` never needs it. Colours follow Okabe and Ito's
colour-blind-safe palette and are the same in every chart.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from pcmodel.instrument import ActorState

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


_NO_MATPLOTLIB = ('pcmodel.plots draws with matplotlib, which is not installed: '
                  'pip install matplotlib (the "plots" extra)')


def _figure_class() -> type[Figure]:
    """matplotlib's Figure, or an ImportError that says how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(_NO_MATPLOTLIB) from exc
    return Figure


def _check_axes(value: Any, name: str, chart: str) -> None:
    """Nothing when ``value`` is None or a matplotlib ``Axes``; else a TypeError naming the
    argument (an ``AttributeError`` from inside matplotlib would not say which one)."""
    if value is None:
        return
    try:
        from matplotlib.axes import Axes
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(_NO_MATPLOTLIB) from exc
    if not isinstance(value, Axes):
        raise TypeError(f"{chart}'s {name} is a matplotlib Axes (fig.subplots() makes one) or "
                        f"None, not {value!r}")


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
