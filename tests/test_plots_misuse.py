"""The charts refuse what they cannot draw in one line saying what they take: one result where
a list goes (and a list where one goes), plain tuples for intervals are drawn, times that cannot
be drawn are refused, a partition named by a string is refused, not read as a method."""

from __future__ import annotations

import math

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from pcmodel import plots  # noqa: E402
from pcmodel.experiments import runner  # noqa: E402
from pcmodel.topics import TopicPartition  # noqa: E402


@pytest.fixture(scope="module")
def run():
    return runner.run_workload(items=10, producers=1, consumers=1, instrument="counters")


@pytest.mark.parametrize("chart", ["plot_runs", "plot_throughput_vs_capacity",
                                   "plot_blocking_vs_speed_ratio", "plot_scaling"])
def test_a_chart_of_several_runs_refuses_one_run_alone(run, chart):
    with pytest.raises(TypeError, match=rf"{chart} takes a list of run results, not one: "
                       rf"write {chart}\(\[result\]\)"):
        getattr(plots, chart)(run)


@pytest.mark.parametrize("chart", ["plot_runs", "plot_throughput_vs_capacity"])
def test_a_chart_of_runs_refuses_what_is_not_a_run(chart):
    with pytest.raises(TypeError, match=f"{chart} takes run results"):
        getattr(plots, chart)(["not a run"])


@pytest.mark.parametrize("value", [None, []], ids=["none", "list"])
def test_plot_run_refuses_what_is_not_one_run(value):
    with pytest.raises(TypeError, match="plot_run takes one run result"):
        plots.plot_run(value)


def test_a_timeline_of_plain_tuples_is_drawn():
    fig = plots.plot_timeline([("P1", "running", 0, 2), ("C1", "waiting for items", 0, 2)],
                              time_unit="step")
    assert isinstance(fig, Figure)


@pytest.mark.parametrize(("source", "error", "words"), [
    ("abc", TypeError, "cannot draw a timeline from str"),
    ([(1, 2)], TypeError, r"a timeline holds intervals \(actor, state, start, end\)"),
    ([("a", "running", math.nan, 1.0)], ValueError, "start and end must be finite"),
    ([("a", "running", 0.0, math.inf)], ValueError, "start and end must be finite"),
    ([("a", "running", 5.0, 1.0)], ValueError, "start <= end"),
], ids=["str", "pair", "nan", "inf", "reversed"])
def test_plot_timeline_refuses_what_it_cannot_draw(source, error, words):
    with pytest.raises(error, match=words):
        plots.plot_timeline(source)


def test_plot_timeline_refuses_depth_samples_that_are_not_pairs():
    with pytest.raises(TypeError, match=r"depth samples are \(time, items\) pairs"):
        plots.plot_timeline([("a", "running", 0.0, 1.0)], depth=[1, 2])


def test_plot_timeline_says_how_to_draw_a_scheduler_failure():
    class FailureLike:
        def timeline(self):
            return []

    with pytest.raises(TypeError, match=r"pass failure.timeline\(\)"):
        plots.plot_timeline(FailureLike())


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda: plots.plot_topic_throughput({"partitions": 2, "consumers": 1,
                                          "records_per_s": 3.0}),
     TypeError, "plot_topic_throughput takes a list of rows"),
    (lambda: plots.plot_topic_throughput([{"partitions": 2}]), ValueError,
     "each row needs a number 'consumers'"),
    (lambda: plots.plot_lag([(0.0, [1, 2])]), TypeError, "plot_lag takes"),
    (lambda: plots.plot_lag([(0.0, {"p0": 1})]), TypeError,
     "a partition is a number or a TopicPartition, not 'p0'"),
    (lambda: plots.plot_partition_load([1, 2, 3]), TypeError,
     "plot_partition_load takes {partition: records}"),
    (lambda: plots.plot_partition_load({0: -5}), ValueError, "cannot be negative"),
    (lambda: plots.plot_rebalance([1]), TypeError, "plot_rebalance takes"),
], ids=["row-alone", "row-missing", "lag-list", "lag-str-partition", "load-list",
        "load-negative", "rebalance-list"])
def test_topic_charts_refuse_what_they_cannot_draw(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_lag_samples_may_be_lists_and_partitions_topic_partitions():
    fig = plots.plot_lag([[0.0, {TopicPartition("t", 0): 3}], (1.0, {TopicPartition("t", 0): 1})])
    assert isinstance(fig, Figure)


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda: plots.plot_log_growth([(0.0, "abc")]), TypeError,
     "end offsets are a list indexed by partition"),
    (lambda: plots.plot_log_growth([(0.0, [1.5, 2])]), TypeError, "end offsets must be ints"),
    (lambda: plots.plot_log_growth([5]), TypeError, r"samples are \(seconds, end offsets\)"),
    (lambda: plots.plot_acks_outcome({"acks": "all", "acknowledged": 3, "surviving": 3}),
     TypeError, "plot_acks_outcome takes a list of rows"),
    (lambda: plots.plot_acks_outcome([{"acks": "all", "acknowledged": 3}]), ValueError,
     "each row needs 'surviving'"),
], ids=["offsets-str", "offsets-float", "sample-int", "acks-row-alone", "acks-row-missing"])
def test_wire_and_replication_charts_refuse_what_they_cannot_draw(call, error, words):
    with pytest.raises(error, match=words):
        call()
