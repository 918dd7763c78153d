"""The replication and fetch charts, and plot_timeline's other arguments, refuse what they
cannot draw in one line saying what they take, not with an AttributeError from inside."""

from __future__ import annotations

import math

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from pcmodel import plots  # noqa: E402
from pcmodel.cluster.events import ClusterEvent, ReplicaStatus  # noqa: E402
from pcmodel.wire.stats import FetchWait  # noqa: E402

LEADER = ReplicaStatus(0, True, True, 3, 2, True)
FOLLOWER = ReplicaStatus(1, True, False, 2, 2, True)
INTERVALS = [("P1", "running", 0.0, 1.0)]
DEPTH = [(0.0, 0), (1.0, 1)]


@pytest.mark.parametrize(("samples", "events", "error", "words"), [
    ([(0.0, ["abc"])], (), TypeError, r"plot_replication draws replica statuses \(ReplicaStatus"),
    ([(0.0, [(0, True, True, 3, 2, True)])], (), TypeError, "draws replica statuses"),
    ([(0.0, LEADER)], (), TypeError,
     r"a sample's statuses are the list cluster.replica_status\(...\) returns"),
    ([5], (), TypeError, r"plot_replication takes \(time, cluster.replica_status"),
    ([("soon", [LEADER])], (), TypeError, r"plot_replication takes \(time, "),
    ([(math.nan, [LEADER])], (), ValueError, "its time must be finite"),
    ({0.0: [LEADER]}, (), TypeError, "plot_replication takes a list of"),
    ([(0.0, [LEADER])], ["killed"], TypeError,
     r"plot_replication's events are cluster.events \(ClusterEvent"),
], ids=["str-status", "tuple-status", "status-alone", "sample-int", "time-str", "time-nan",
        "mapping", "event-str"])
def test_plot_replication_refuses_rows_that_are_not_replica_statuses(samples, events, error,
                                                                     words):
    with pytest.raises(error, match=words):
        plots.plot_replication(samples, events)


def test_plot_replication_still_draws_statuses_and_events():
    event = ClusterEvent(0.5, "killed", 0, None)
    fig = plots.plot_replication([(0.0, [LEADER, FOLLOWER]), (1.0, [FOLLOWER])], [event])
    assert isinstance(fig, Figure)
    assert "killed 0" in [t.get_text() for t in fig.axes[0].texts]


class StatsLike:
    fetches = ()


@pytest.mark.parametrize(("fetches", "words"), [
    ([{"started": 0.0, "waited": 0.0}], r"plot_fetch_waits draws fetches \(FetchWait"),
    ([1], "plot_fetch_waits draws fetches"),
    (5, "plot_fetch_waits takes a list of fetches, not 5"),
    (FetchWait(0.0, 0.0, 0.5, 1, 1),
     r"takes a list of fetches, not one: write plot_fetch_waits\(\[fetch\]\)"),
    (StatsLike(), r"pass listener.statistics\(\).fetches"),
], ids=["dict", "int", "int-alone", "fetch-alone", "whole-statistics"])
def test_plot_fetch_waits_refuses_rows_that_are_not_fetches(fetches, words):
    with pytest.raises(TypeError, match=words):
        plots.plot_fetch_waits(fetches)


@pytest.mark.parametrize(("options", "error", "words"), [
    ({"ax": 5}, TypeError, "plot_timeline's ax is a matplotlib Axes"),
    ({"ax": "top"}, TypeError, "plot_timeline's ax is a matplotlib Axes"),
    ({"depth_ax": 5, "depth": DEPTH}, TypeError, "plot_timeline's depth_ax is a matplotlib Axes"),
    ({"time_unit": 3}, TypeError, "plot_timeline's time_unit names the unit of time"),
    ({"time_unit": ""}, ValueError, "it cannot be empty"),
    ({"maxsize": "4", "depth": DEPTH}, TypeError,
     "plot_timeline's maxsize is the buffer's capacity, an int"),
    ({"maxsize": 4.0, "depth": DEPTH}, TypeError, "maxsize is the buffer's capacity, an int"),
    ({"maxsize": True, "depth": DEPTH}, TypeError, "maxsize is the buffer's capacity, an int"),
    ({"maxsize": 0, "depth": DEPTH}, ValueError, "at least 1"),
], ids=["ax-int", "ax-str", "depth-ax-int", "unit-int", "unit-empty", "maxsize-str",
        "maxsize-float", "maxsize-bool", "maxsize-zero"])
def test_plot_timeline_refuses_options_it_cannot_use(options, error, words):
    with pytest.raises(error, match=words):
        plots.plot_timeline(INTERVALS, **options)


def test_a_depth_axes_without_the_gantt_axes_is_refused_not_ignored():
    depth_ax = plots._figure._new_figure(4.0, 2.0).subplots()
    with pytest.raises(ValueError, match="depth_ax goes with ax"):
        plots.plot_timeline(INTERVALS, depth=DEPTH, depth_ax=depth_ax)
    assert not depth_ax.lines  # nothing drawn


def test_plot_timeline_draws_on_given_axes_with_a_capacity_line():
    fig = plots._figure._new_figure(6.0, 4.0)
    ax, depth_ax = fig.subplots(2, 1)
    assert plots.plot_timeline(INTERVALS, ax, depth_ax=depth_ax, depth=DEPTH, maxsize=4,
                               time_unit="ms") is fig
    assert ax.get_xlabel() == "time (ms)"
    assert "capacity (4)" in [line.get_label() for line in depth_ax.lines]
