"""The charts show what they are given: series present, labels with units, legends, bar counts.

Figures are checked through matplotlib's object model (lines, collections, patches, legend
texts), so a chart that silently dropped a series or a label fails here even though it would
still save as a PNG. Most tests draw hand-made data whose every value is known; a few draw real
runs of the library to prove the charts accept what it produces.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")  # tests only: the library never chooses a backend

from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pcmodel import plots  # noqa: E402
from pcmodel.buffers import make_buffer  # noqa: E402
from pcmodel.instrument import ActorState, BufferStats, Interval, Level, Timeline  # noqa: E402
from pcmodel.topics import TopicPartition  # noqa: E402
from tests.conftest import wait_until  # noqa: E402

RUN = ActorState.RUNNING
SPACE = ActorState.WAITING_FOR_SPACE
ITEMS = ActorState.WAITING_FOR_ITEMS

pytestmark = pytest.mark.timeout(30)


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, f"axes {ax.get_title()!r} has no legend"
    return [text.get_text() for text in legend.get_texts()]


def bars_by_state(ax) -> dict[str, list[PolyCollection]]:
    """The Gantt's broken_barh collections, grouped by the colour of their state."""
    # Reversed, so that a colour shared by two states ("consuming" is "running") maps to the
    # buffer state, which comes first.
    colour_to_state = {matplotlib.colors.to_hex(c): s
                       for s, c in reversed(plots.STATE_COLOURS.items())}
    found: dict[str, list[PolyCollection]] = {}
    for collection in ax.collections:
        colour = matplotlib.colors.to_hex(collection.get_facecolor()[0])
        found.setdefault(colour_to_state.get(colour, colour), []).append(collection)
    return found


def hand_timeline() -> Timeline:
    """A producer that waits for space and a consumer that waits for items, times from 10 s."""
    intervals = (
        Interval("producer-0", RUN, 10.0, 10.5),
        Interval("consumer-0", ITEMS, 10.0, 10.2),
        Interval("consumer-0", RUN, 10.2, 11.0),
        Interval("producer-0", SPACE, 10.5, 10.9),
        Interval("producer-0", RUN, 10.9, 11.0),
    )
    depth = ((10.1, 1), (10.2, 0), (10.4, 1), (10.5, 2), (10.9, 1), (11.0, 0))
    return Timeline(intervals, depth)


def hand_stats(timeline: Timeline | None) -> BufferStats:
    level = Level.TIMELINE if timeline is not None else Level.COUNTERS
    return BufferStats("condition", "thread", 2, level, 3, 3, 2, 0, 1.0, (), timeline)


# -- plot_timeline --------------------------------------------------------------------------


def test_timeline_draws_every_state_and_the_depth_under_it():
    fig = plots.plot_timeline(hand_timeline(), maxsize=2)
    assert isinstance(fig, Figure)
    gantt, depth = fig.axes
    assert [t.get_text() for t in gantt.get_yticklabels()] == ["producer-0", "consumer-0"]
    found = bars_by_state(gantt)
    assert set(found) == {RUN.value, SPACE.value, ITEMS.value}
    # Three running intervals (two actors), one wait of each kind.
    assert sum(len(c.get_paths()) for c in found[RUN.value]) == 3
    assert sum(len(c.get_paths()) for c in found[SPACE.value]) == 1
    assert sorted(legend_texts(gantt)) == sorted([RUN.value, SPACE.value, ITEMS.value])
    assert gantt.get_ylabel() == "actor"
    assert depth.get_xlabel() == "time (s)" and depth.get_ylabel() == "depth (items)"
    (line, capacity) = depth.get_lines()
    # Relative time: the first event (10.0 s) is drawn at 0.
    assert list(line.get_xdata()) == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.9, 1.0])
    assert list(line.get_ydata()) == [1, 0, 1, 2, 1, 0]
    assert list(capacity.get_ydata()) == [2, 2]
    assert legend_texts(depth) == ["items in buffer", "capacity (2)"]


def test_timeline_wait_bar_spans_the_interval():
    fig = plots.plot_timeline(hand_timeline())
    (wait,) = bars_by_state(fig.axes[0])[SPACE.value]
    xs = wait.get_paths()[0].vertices[:, 0]
    assert (xs.min(), xs.max()) == pytest.approx((0.5, 0.9))


def test_timeline_from_stats_takes_capacity_from_the_buffer():
    fig = plots.plot_timeline(hand_stats(hand_timeline()), title="mine")
    assert fig.axes[0].get_title() == "mine"
    assert "capacity (2)" in legend_texts(fig.axes[1])


def test_timeline_on_given_axes_draws_only_there():
    fig = Figure()
    ax = fig.subplots()
    assert plots.plot_timeline(hand_timeline(), ax) is fig
    assert fig.axes == [ax]
    assert len(ax.collections) == 4  # one per (state, actor) pair: 2 running, 2 waiting


def test_timeline_of_scheduler_steps_is_labelled_in_steps():
    # A scheduler trace: states are plain strings (including "blocked"), times are steps.
    steps = [("T0", "running", 0, 3), ("T1", "blocked", 0, 3), ("T1", "running", 3, 5)]
    intervals = [Interval(a, s, b, e) for a, s, b, e in steps]
    fig = plots.plot_timeline(intervals, time_unit="step")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "time (step)"
    assert set(bars_by_state(ax)) == {"running", "blocked"}


def test_timeline_refuses_statistics_without_a_timeline():
    with pytest.raises(ValueError, match='instrument="timeline"'):
        plots.plot_timeline(hand_stats(None))


def test_timeline_refuses_an_empty_timeline():
    with pytest.raises(ValueError, match="empty"):
        plots.plot_timeline(Timeline((), ()))


def test_timeline_rejects_what_it_cannot_draw():
    with pytest.raises(TypeError, match="Timeline"):
        plots.plot_timeline(42)


def test_timeline_of_a_real_buffer_shows_both_kinds_of_waiting():
    buf = make_buffer("condition", 1, instrument="timeline")
    taken = []
    consumer = threading.Thread(target=lambda: taken.extend(buf.get() for _ in range(3)),
                                name="consumer")
    producer_gate = threading.Event()

    def produce() -> None:
        for item in range(3):
            if item == 1:
                producer_gate.wait(10)
            buf.put(item)

    producer = threading.Thread(target=produce, name="producer")
    consumer.start()
    wait_until(lambda: buf.waiting == (0, 1))  # the consumer waits for items
    producer.start()
    wait_until(lambda: len(taken) >= 1 or buf.waiting[1] == 1)
    producer_gate.set()
    producer.join(10)
    consumer.join(10)
    assert taken == [0, 1, 2]
    fig = plots.plot_timeline(buf.stats())
    states = set(bars_by_state(fig.axes[0]))
    assert ITEMS.value in states and RUN.value in states
    assert {t.get_text() for t in fig.axes[0].get_yticklabels()} == {"consumer", "producer"}


# -- run charts -----------------------------------------------------------------------------

runner = pytest.importorskip("pcmodel.experiments.runner")


def fake_run(variant="condition", backend="thread", capacity=4, throughput=100.0,
             producers=1, consumers=1, produce=None, consume=None, blocked=(0.25, 0.5),
             timeline=None, started_at=0.0):
    """A RunResult with known measurements (what each chart must show)."""
    actors = tuple(
        runner.ActorResult(f"producer-{i}", runner.Role.PRODUCER, 10, 1.0, blocked[0])
        for i in range(producers)
    ) + tuple(
        runner.ActorResult(f"consumer-{i}", runner.Role.CONSUMER, 10, 1.0, blocked[1])
        for i in range(consumers)
    )
    stats = hand_stats(timeline) if timeline is not None else None
    return runner.RunResult(
        variant=variant, backend=backend, capacity=capacity, producers=producers,
        consumers=consumers, items=10, produce_work=runner.Work.parse(produce),
        consume_work=runner.Work.parse(consume), seed=1, instrument="counters",
        start_method=None, batch=1, wall_time=0.1, items_moved=10, throughput=throughput,
        producer_blocked=blocked[0], consumer_blocked=blocked[1], max_depth=capacity,
        actors=actors, stats=stats, started_at=started_at,
    )


def lines_by_label(ax) -> dict[str, object]:
    """Each legend entry's line (the data line of an error-bar container)."""
    handles, labels = ax.get_legend_handles_labels()
    return {label: getattr(handle, "lines", (handle,))[0]
            for handle, label in zip(handles, labels)}


def test_throughput_vs_capacity_has_one_line_per_variant_and_backend():
    results = [fake_run(v, b, c, throughput=c * 10.0 + (v == "queue"))
               for v in ("condition", "queue") for b in ("thread", "process")
               for c in (1, 4, 16)]
    fig = plots.plot_throughput_vs_capacity(results)
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("buffer capacity (items")
    assert ax.get_ylabel() == "throughput (items/s)"
    assert ax.get_xscale() == "log"
    lines = lines_by_label(ax)
    assert set(lines) == {"condition (thread)", "condition (process)", "queue (thread)",
                          "queue (process)"}
    assert list(lines["queue (thread)"].get_xdata()) == [1, 4, 16]
    assert list(lines["queue (thread)"].get_ydata()) == [11.0, 41.0, 161.0]
    assert set(legend_texts(ax)) == set(lines)


def test_throughput_vs_capacity_draws_the_median_of_repeats_with_a_range():
    results = [fake_run(capacity=2, throughput=t) for t in (10.0, 30.0, 20.0)]
    fig = plots.plot_throughput_vs_capacity(results)
    (ax,) = fig.axes
    (line,) = lines_by_label(ax).values()
    assert list(line.get_ydata()) == [20.0]
    assert ax.containers, "repeated points should carry an error bar"


def test_throughput_vs_capacity_refuses_unbounded_runs():
    with pytest.raises(ValueError, match="unbounded"):
        plots.plot_throughput_vs_capacity([fake_run(capacity=0)])


def test_blocking_vs_speed_ratio_shows_both_sides_in_percent():
    results = [
        fake_run(produce="sleep:0.001", consume=f"sleep:{c}", blocked=(p, q))
        for c, p, q in ((0.0005, 0.0, 0.6), (0.001, 0.1, 0.1), (0.004, 0.7, 0.0))
    ]
    fig = plots.plot_blocking_vs_speed_ratio(results)
    (ax,) = fig.axes
    lines = lines_by_label(ax)
    assert set(lines) == {"producers waiting for space", "consumers waiting for items", "balanced"}
    producers = lines["producers waiting for space"]
    assert list(producers.get_xdata()) == pytest.approx([0.5, 1.0, 4.0])
    assert list(producers.get_ydata()) == pytest.approx([0.0, 10.0, 70.0])
    assert list(lines["consumers waiting for items"].get_ydata()) == pytest.approx([60.0, 10.0, 0])
    assert set(legend_texts(ax)) == set(lines)
    assert "%" in ax.get_ylabel() and ax.get_xscale() == "log"


def test_blocking_vs_speed_ratio_needs_a_ratio_and_instrumentation():
    with pytest.raises(ValueError, match="speed ratio"):
        plots.plot_blocking_vs_speed_ratio([fake_run(produce=None, consume="sleep:0.001")])
    uninstrumented = fake_run(produce="cpu:10", consume="cpu:20", blocked=(None, None))
    with pytest.raises(ValueError, match="instrument"):
        plots.plot_blocking_vs_speed_ratio([uninstrumented])


def test_scaling_has_a_panel_per_work_kind_and_a_line_per_backend():
    results = [
        fake_run(backend=b, producers=n, consumers=n, consume=w, throughput=n * (b == "thread"))
        for w in ("sleep:0.001", "cpu:1000") for b in ("thread", "process") for n in (1, 2, 4)
    ]
    fig = plots.plot_scaling(results)
    assert fig.get_suptitle() == "Scaling: threads against processes"
    titles = sorted(ax.get_title() for ax in fig.axes)
    assert titles == ["CPU-bound work (cpu:1000)", "I/O-bound work (sleep:0.001)"]
    for ax in fig.axes:
        lines = lines_by_label(ax)
        assert set(lines) == {"threads", "processes"}
        assert list(lines["threads"].get_xdata()) == [2, 4, 8]
        assert list(lines["threads"].get_ydata()) == [1, 2, 4]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1x1", "2x2", "4x4"]
        assert ax.get_ylabel() == "throughput (items/s)"


def test_run_chart_has_gantt_depth_and_summary():
    fig = plots.plot_run(fake_run(capacity=2, timeline=hand_timeline(), started_at=10.0,
                                  producers=1, consumers=1))
    gantt, depth, summary = fig.axes
    assert "100 items/s" in fig.get_suptitle()
    assert set(bars_by_state(gantt)) == {RUN.value, SPACE.value, ITEMS.value}
    (depth_line, _capacity) = depth.get_lines()
    assert depth_line.get_xdata()[0] == pytest.approx(0.1)  # relative to started_at
    assert [t.get_text() for t in summary.get_yticklabels()] == ["producer-0", "consumer-0"]
    assert set(legend_texts(summary)) == {"running (work and buffer operations)",
                                          "producers waiting for space",
                                          "consumers waiting for items"}
    widths = sorted(round(p.get_width(), 6) for p in summary.patches if p.get_width() > 0)
    assert widths == [25.0, 50.0, 50.0, 75.0]  # blocked 25 % / 50 %, the rest running


def test_run_chart_without_a_timeline_keeps_the_summary():
    fig = plots.plot_run(fake_run())
    (summary,) = fig.axes
    assert summary.get_xlabel() == "share of the actor's active time (%)"


def test_run_chart_refuses_an_uninstrumented_run():
    with pytest.raises(ValueError, match="instrument"):
        plots.plot_run(fake_run(blocked=(None, None)))


def test_run_chart_of_a_real_run(tmp_path):
    if not hasattr(runner, "run_workload"):
        pytest.skip("the runner has no run_workload")
    result = runner.run_workload(variant="semaphore", capacity=2, producers=2, consumers=1,
                                 items=60, consume_work=runner.Work.parse("sleep:0.0005"),
                                 instrument="timeline", seed=7)
    fig = plots.plot_run(result)
    gantt = fig.axes[0]
    names = {t.get_text() for t in gantt.get_yticklabels()}
    assert names == {a.name for a in result.actors}
    fig.savefig(tmp_path / "run.png")
    assert (tmp_path / "run.png").stat().st_size > 0


# -- topic charts ---------------------------------------------------------------------------


def test_topic_throughput_has_a_line_per_partition_count_and_idle_consumers():
    rows = [
        {"partitions": p, "consumers": c, "records_per_s": 100.0 * min(p, c),
         "idle_consumers": max(0, c - p)}
        for p in (2, 4) for c in (1, 2, 4, 6)
    ]
    fig = plots.plot_topic_throughput(rows)
    rate_ax, idle_ax = fig.axes
    lines = lines_by_label(rate_ax)
    assert set(lines) == {"2 partitions", "4 partitions"}
    assert list(lines["2 partitions"].get_ydata()) == [100.0, 200.0, 200.0, 200.0]
    assert list(lines_by_label(idle_ax)["2 partitions"].get_ydata()) == [0, 0, 2, 4]
    assert rate_ax.get_ylabel() == "throughput (records/s)"
    assert rate_ax.get_xlabel() == "consumers in the group"


def test_topic_throughput_without_idle_counts_has_one_panel():
    fig = plots.plot_topic_throughput([{"partitions": 1, "consumers": 1, "records_per_s": 5.0}])
    assert len(fig.axes) == 1


def test_lag_has_a_line_per_partition_in_partition_order():
    samples = [(0.0, {TopicPartition("t", 1): 5, TopicPartition("t", 0): 3}),
               (0.5, {TopicPartition("t", 1): 2, TopicPartition("t", 0): 0})]
    fig = plots.plot_lag(samples)
    (ax,) = fig.axes
    assert legend_texts(ax) == ["t[0]", "t[1]"]
    assert list(lines_by_label(ax)["t[1]"].get_ydata()) == [5, 2]
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "lag (records)"
    with pytest.raises(ValueError, match="no lag samples"):
        plots.plot_lag([])


def test_partition_load_highlights_the_hot_partition():
    fig = plots.plot_partition_load({0: 10, 1: 70, 2: 10, 3: 10})
    (ax,) = fig.axes
    bars = [p for p in ax.patches]
    assert [b.get_height() for b in bars] == [10, 70, 10, 10]
    colours = [matplotlib.colors.to_hex(b.get_facecolor()) for b in bars]
    assert colours[1] != colours[0] and len(set(colours)) == 2
    assert "hot partition: 1" in ax.get_title()
    assert legend_texts(ax) == ["even share", "records"]
    (mean,) = [line for line in ax.get_lines() if line.get_label() == "even share"]
    assert list(mean.get_ydata()) == [25.0, 25.0]


def test_rebalance_draws_one_panel_per_protocol_with_shared_colours():
    eager = [Interval("c1", "consuming", 0.0, 1.0), Interval("c1", "stopped", 1.0, 2.0),
             Interval("c2", "consuming", 0.0, 1.0), Interval("c2", "stopped", 1.0, 2.0)]
    # The second run happened later: each panel still starts at its own first event.
    cooperative = [Interval("c1", "consuming", 5.0, 7.0), Interval("c2", "consuming", 5.0, 6.0),
                   Interval("c2", "stopped", 6.0, 6.2)]
    fig = plots.plot_rebalance({"eager": eager, "cooperative": cooperative})
    top, bottom = fig.axes
    assert (top.get_title(), bottom.get_title()) == ("eager", "cooperative")
    assert bottom.get_xlabel() == "time (s)"
    colour = {ax.get_title(): {t.get_text(): matplotlib.colors.to_hex(h.get_facecolor())
                               for t, h in zip(ax.get_legend().get_texts(),
                                               ax.get_legend().legend_handles)}
              for ax in fig.axes}
    assert colour["eager"] == colour["cooperative"]
    assert colour["eager"]["consuming"] != colour["eager"]["stopped"]
    starts = [min(p.vertices[:, 0].min() for c in ax.collections for p in c.get_paths())
              for ax in fig.axes]
    assert starts == pytest.approx([0.0, 0.0])


# -- packaging ------------------------------------------------------------------------------


def test_pcmodel_imports_without_matplotlib():
    # Hide matplotlib from a fresh interpreter: the core package must not need it.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'matplotlib' or name.startswith('matplotlib.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pcmodel, pcmodel.buffers, pcmodel.plots\n"
        "try:\n"
        "    pcmodel.plots.plot_partition_load({0: 1})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert "pip install matplotlib" in out
