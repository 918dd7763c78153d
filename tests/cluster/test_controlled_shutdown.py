"""Controlled shutdown (``Cluster.stop``): a broker told to stop hands its work over first.

Kafka stops a broker told to (SIGTERM, ``kafka-server-stop.sh``) with a controlled shutdown:
the controller moves the broker's leaderships to the rest of each ISR and takes it out of every
ISR before it stops, so nothing waits for a session timeout and a produce waiting on it is
answered NOT_LEADER_OR_FOLLOWER (retried at the new leader) instead of being left with an
unknown outcome. The stepped cluster shows each step; a process cluster shows it with real
processes, which exit cleanly.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.cli import ClusterShell
from pcmodel.cluster.errors import NotLeaderForPartitionError
from pcmodel.topics.errors import KafkaConnectionError
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)


def batch(*vals):
    return [(None, v) for v in vals]


def values(cluster, broker):
    return [r.value for r in cluster.log(broker, "t", 0)]


def test_the_leadership_moves_at_once_and_a_waiting_produce_is_told_to_retry(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    old = cluster.leader("t", 0)
    waiting = cluster.produce("t", 0, batch(b"a"), acks="all")
    cluster.stop(old)  # no step, no session timeout: the controller heard it
    with pytest.raises(NotLeaderForPartitionError):
        waiting.get(timeout=1)
    state = cluster.metadata()[TP]
    assert state.leader not in (None, old) and state.leader_epoch == 1
    assert old not in state.isr and old not in cluster.live_brokers()
    assert [e.kind for e in cluster.events if e.broker == old][-2:] == ["fenced", "stopped"]
    retried = cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=5)
    assert retried.broker == state.leader


def test_a_kill_waits_for_the_session_timeout_where_a_stop_does_not(make_cluster):
    cluster = make_cluster(broker_session_timeout_ms=1000)
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    old = cluster.leader("t", 0)
    waiting = cluster.produce("t", 0, batch(b"a"), acks="all")
    cluster.kill(old)
    with pytest.raises(KafkaConnectionError, match="outcome is unknown"):
        waiting.get(timeout=1)
    assert cluster.leader("t", 0) == old  # the controller does not know yet
    cluster.run_for(1.2)
    assert cluster.leader("t", 0) not in (None, old)


def test_a_follower_that_stops_leaves_every_isr_so_acks_all_waits_for_no_one_absent(
        make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("t", 0)
    follower = next(b for b in range(3) if b != leader)
    cluster.stop(follower)
    assert cluster.isr("t", 0) == {0, 1, 2} - {follower}
    assert cluster.leader("t", 0) == leader  # its leaderships elsewhere stay put
    assert cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=5).base_offset == 0


def test_the_last_in_sync_replica_cannot_hand_over_the_partition_goes_offline(make_cluster):
    cluster = make_cluster(replica_lag_time_max_ms=100)
    cluster.create_topic("t", replication_factor=2)
    leader = cluster.leader("t", 0)
    follower = 1 - leader
    cluster.isolate(follower)
    cluster.produce("t", 0, batch(b"a"), acks=1).get(timeout=5)
    cluster.run_for(0.5)  # the follower fell out of the ISR
    assert cluster.isr("t", 0) == {leader}
    cluster.heal(follower)
    cluster.stop(leader)
    assert cluster.metadata()[TP].leader is None  # no clean choice: offline, not unclean
    assert cluster.isr("t", 0) == {leader}  # kept, so it can lead again cleanly
    cluster.restart(leader)
    cluster.settle()
    assert cluster.leader("t", 0) == leader
    assert values(cluster, leader) == [b"a"]


def test_an_idempotent_retry_after_a_stop_is_stored_once(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    old = cluster.leader("t", 0)
    first = cluster.produce("t", 0, batch(b"pay"), acks="all", producer=(pid, epoch, 0))
    cluster.step()  # the followers copied it; the leader learns that at their next fetch
    cluster.stop(old)
    with pytest.raises(NotLeaderForPartitionError):
        first.get(timeout=1)
    retry = cluster.produce("t", 0, batch(b"pay"), acks="all", producer=(pid, epoch, 0))
    assert retry.get(timeout=5).base_offset == 0
    assert values(cluster, cluster.leader("t", 0)) == [b"pay"]


def test_a_stopped_broker_restarts_and_catches_up(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    old = cluster.leader("t", 0)
    cluster.stop(old)
    cluster.stop(old)  # idempotent
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=5)
    cluster.restart(old)
    cluster.settle()
    assert cluster.isr("t", 0) == {0, 1, 2} and values(cluster, old) == [b"a", b"b"]


def test_a_broker_cut_off_from_the_controller_stops_as_after_a_crash(make_cluster):
    cluster = make_cluster(broker_session_timeout_ms=1000)
    cluster.create_topic("t", replication_factor=3)
    old = cluster.leader("t", 0)
    cluster.isolate(old, controller=True)
    cluster.stop(old)
    assert cluster.leader("t", 0) == old  # nobody told the controller
    cluster.run_for(1.2)
    assert cluster.leader("t", 0) not in (None, old)


def test_the_shell_stops_a_broker(make_cluster):
    cluster = make_cluster()
    shell = ClusterShell(cluster)
    shell.execute("create t 1 3")
    old = cluster.leader("t", 0)
    assert shell.execute(f"stop {old}") == f"stopped broker {old} (controlled shutdown)"
    assert cluster.leader("t", 0) != old
    assert shell.execute("stop") == "error: usage: stop B"


@pytest.mark.timeout(90)
def test_a_broker_process_hands_over_its_leadership_then_exits_cleanly():
    with Cluster(3, mode="processes", broker_session_timeout_ms=2000, tick_ms=20) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        assert cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=20).base_offset == 0
        old = cluster.leader("t", 0)
        cluster.isolate(next(b for b in range(3) if b != old))  # acks=all waits on it
        waiting = cluster.produce("t", 0, batch(b"b"), acks="all")
        cluster.stop(old)
        assert cluster.nodes[old].exitcode == 0  # it exited by itself, cleanly
        with pytest.raises(NotLeaderForPartitionError):
            waiting.get(timeout=20)
        new = cluster.leader("t", 0)
        assert new not in (None, old) and old not in cluster.isr("t", 0)
        assert old not in cluster.live_brokers()  # its last heartbeats did not register it
        cluster.heal()
        cluster.restart(old)
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        assert [r.value for r in cluster.log(old, "t", 0)][:1] == [b"a"]


@pytest.mark.timeout(90)
def test_a_broker_process_cut_off_from_the_controller_stops_as_after_a_crash():
    with Cluster(3, mode="processes", broker_session_timeout_ms=1000, tick_ms=20) as cluster:
        cluster.create_topic("t", replication_factor=3)
        old = cluster.leader("t", 0)
        cluster.isolate(old, controller=True)
        cluster.stop(old)
        assert cluster.leader("t", 0) == old and old in cluster.live_brokers()
        wait_until(lambda: cluster.leader("t", 0) not in (None, old), timeout=30)
