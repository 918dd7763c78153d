"""The lesson's experiment and its charts: acks=1 loses what acks="all" keeps, and the charts
draw every replica, the high watermark, the roles and the elections."""

from __future__ import annotations

import pytest

from pcmodel.cluster.lesson import kill_the_leader
from pcmodel.topics.errors import IllegalArgumentError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")  # tests only: the library never chooses a backend

from pcmodel import plots  # noqa: E402


@pytest.fixture(scope="module")
def outcomes():
    return {acks: kill_the_leader(acks) for acks in (1, "all")}


def test_acks_one_loses_acknowledged_records_acks_all_none(outcomes):
    assert outcomes[1].lost > 0
    assert outcomes["all"].lost == 0 and outcomes["all"].acknowledged > 0
    again = kill_the_leader(1)
    assert (again.acknowledged, again.surviving) == (outcomes[1].acknowledged,
                                                     outcomes[1].surviving)


def test_a_controlled_shutdown_shortens_the_outage_but_acks_one_still_loses(outcomes):
    stopped = {acks: kill_the_leader(acks, fault="stop") for acks in (1, "all")}
    for acks in (1, "all"):  # a new leader at once: more of the run is acknowledged
        assert stopped[acks].acknowledged > outcomes[acks].acknowledged
    assert stopped[1].lost > 0  # what the followers had not copied is gone all the same
    assert stopped["all"].lost == 0
    assert "stopped" in [e.kind for e in stopped[1].events]
    with pytest.raises(IllegalArgumentError, match="fault"):
        kill_the_leader(1, fault="pause")


def test_replication_chart_draws_each_replica_the_watermark_and_the_elections(outcomes):
    outcome = outcomes[1]
    fig = plots.plot_replication(outcome.samples, outcome.events)
    top, bottom = fig.axes[:2]
    labels = [line.get_label() for line in top.get_lines()]
    assert [f"broker {b} log end offset" for b in range(3)] == labels[:3]
    assert "high watermark (leader's)" in labels
    texts = [t.get_text() for t in top.texts]
    assert any(t.startswith("leader 1 (epoch 1, clean)") for t in texts)
    assert "killed 0" in texts and any(t.startswith("broker 0 drops") for t in texts)
    roles = [t.get_text() for t in bottom.get_legend().get_texts()]
    assert {"leader", "in sync", "down"} <= set(roles)
    assert top.get_ylabel() == "offset" and bottom.get_xlabel() == "time (s)"


def test_acks_chart_shows_acknowledged_and_surviving_per_setting(outcomes):
    fig = plots.plot_acks_outcome(list(outcomes.values()))
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["acks=1", "acks=all"]
    notes = [t.get_text() for t in ax.texts]
    assert notes == [f"lost {outcomes[1].lost}", "none lost"]


def test_charts_refuse_empty_input():
    with pytest.raises(ValueError, match="no samples"):
        plots.plot_replication([])
    with pytest.raises(ValueError, match="no outcomes"):
        plots.plot_acks_outcome([])
