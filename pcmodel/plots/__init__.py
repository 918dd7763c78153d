"""Charts of real runs: who waits, for how long, and what each design choice buys.

Every function takes results produced by the library (a buffer's :class:`~pcmodel.instrument.
BufferStats` or :class:`~pcmodel.instrument.Timeline`, the runner's ``RunResult``, a scheduler
trace's intervals, or measurements taken from topics) and returns a matplotlib ``Figure``. The
figures are built with ``matplotlib.figure.Figure`` directly, not with ``pyplot``: no global figure
list to leak, no backend chosen here, so the same call works in a notebook (``%matplotlib inline``
then show the returned figure), in ``pcmodel run --plot`` (``fig.savefig(path)``) and in tests.

matplotlib is an optional dependency (the ``plots`` extra: ``pip install matplotlib``); it is
imported when a chart is drawn, so ``import pcmodel`` never needs it.

Colours are fixed per state across every chart (Okabe and Ito's colour-blind-safe palette): green
is running, vermillion is waiting for space (a producer held back by a full buffer), blue is
waiting for items (a consumer starved by an empty one). Prior art: the Gantt views of
``viztracer``/Perfetto and of OSTEP's thread traces; matplotlib's own "broken_barh" example.

Modules: ``runs`` (timelines of buffers and scheduler traces, and the runner's results),
``topics`` (topics and consumer groups), ``replication`` (replicas, high watermark, acks),
``wire`` (real Kafka clients: logs growing, fetch long polls);
every chart is importable from here.
"""

from pcmodel.plots._figure import DEPTH_COLOUR, STATE_COLOURS
from pcmodel.plots.replication import ROLE_COLOURS, plot_acks_outcome, plot_replication
from pcmodel.plots.runs import (
    plot_blocking_vs_speed_ratio,
    plot_run,
    plot_runs,
    plot_scaling,
    plot_throughput_vs_capacity,
    plot_timeline,
)
from pcmodel.plots.topics import (
    plot_lag,
    plot_partition_load,
    plot_rebalance,
    plot_topic_throughput,
)
from pcmodel.plots.wire import plot_fetch_waits, plot_log_growth

__all__ = [
    "DEPTH_COLOUR",
    "ROLE_COLOURS",
    "STATE_COLOURS",
    "plot_acks_outcome",
    "plot_blocking_vs_speed_ratio",
    "plot_fetch_waits",
    "plot_lag",
    "plot_log_growth",
    "plot_partition_load",
    "plot_rebalance",
    "plot_replication",
    "plot_run",
    "plot_runs",
    "plot_scaling",
    "plot_throughput_vs_capacity",
    "plot_timeline",
    "plot_topic_throughput",
]
