"""Mistakes ``pcmodel cluster`` must refuse before they cost anything: a topic too big to
create and stop in the time of a command, a consumer-group setting Kafka refuses to start
with. Each is one line, and nothing is created or started."""

from __future__ import annotations

from typing import Any

import pytest

from pcmodel.cli import main
from pcmodel.cluster import Cluster
from pcmodel.cluster import cli as cluster_cli
from pcmodel.cluster.shell import ClusterShell

pytestmark = pytest.mark.timeout(60)

#: The most partitions the shell's ``create`` makes (``pcmodel.cluster.shell.MAX_PARTITIONS``).
MAX_PARTITIONS = 1000


class _RecordingCluster:
    """A cluster whose ``create_topic`` calls are noted; a count above the shell's bound is
    refused here rather than tried (it would take the machine's memory)."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        self.asked: list[int] = []

    def create_topic(self, name: str, partitions: int = 1, **settings: Any) -> None:
        self.asked.append(partitions)
        if partitions > MAX_PARTITIONS:
            raise RuntimeError(f"asked for {partitions} partitions")
        self._cluster.create_topic(name, partitions, **settings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)


@pytest.fixture
def shell():
    cluster = Cluster(1, mode="steps")
    try:
        yield ClusterShell(_RecordingCluster(cluster))
    finally:
        cluster.close()


@pytest.mark.parametrize("line", [
    "create huge 99999999999999999999",  # 10**20: it filled the memory and never answered
    f"create huge {MAX_PARTITIONS + 1} 1",
    "create huge --replica-assignment " + ",".join(["0"] * (MAX_PARTITIONS + 1)),
])
def test_the_shell_refuses_a_topic_too_big_to_create_and_stop_in_a_command(shell, line):
    answer = shell.execute(line)
    assert answer.startswith(f"error: PARTITIONS must be at most {MAX_PARTITIONS} here"), answer
    assert "\n" not in answer
    assert shell.cluster.asked == []  # nothing was asked of the cluster
    assert shell.execute("status").splitlines() == ["live brokers: [0]"]  # it goes on


def test_the_shell_still_creates_a_topic_of_the_most_partitions_it_allows(shell):
    assert shell.execute(f"create wide {MAX_PARTITIONS} 1") == "created wide"
    assert shell.cluster.asked == [MAX_PARTITIONS]


@pytest.mark.parametrize("interval, session", [(50_000, 45_000), (45_000, 45_000)])
def test_a_heartbeat_interval_not_below_the_session_timeout_is_refused(
        capsys, monkeypatch, interval, session):
    # Kafka's broker does not start with it (GroupCoordinatorConfig): the cluster started and
    # every consumer-protocol member left its group between two heartbeats.
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the cluster started")

    monkeypatch.setattr(cluster_cli, "make_cluster", refuse)
    status = main(["cluster", "--group-consumer-heartbeat-interval-ms", str(interval),
                   "--group-consumer-session-timeout-ms", str(session)])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.splitlines() == [
        f"pcmodel cluster: error: --group-consumer-heartbeat-interval-ms must be less than "
        f"--group-consumer-session-timeout-ms, got {interval} and {session}"]
    assert captured.out == ""
