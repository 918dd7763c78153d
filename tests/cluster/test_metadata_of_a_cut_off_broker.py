"""A broker cut off from the controller answers Metadata from its own, stale view.

A Kafka broker answers Metadata from its metadata image, the controller's records it has
replicated. Cut off from the controller, it keeps the image it had: a leader replaced since,
a broker fenced since and a topic created since are not in it, so a client that asks it is
sent to the old leader. Healed, it answers the controller's current state again. The same
holds for a broker process, whose listener runs in the cluster's process.
"""

from __future__ import annotations

import pytest

pytest.importorskip("kafka", reason="the Kafka listener's view needs kafka-python")

from pcmodel.cluster import Cluster  # noqa: E402
from pcmodel.cluster.errors import LeaderNotAvailableError  # noqa: E402
from pcmodel.topics.errors import (  # noqa: E402
    CoordinatorNotAvailableError,
    UnknownTopicOrPartitionError,
)
from pcmodel.wire.cluster_view import ClusterNodeView  # noqa: E402
from pcmodel.wire.node_connection import NodeConnection  # noqa: E402

ADDRESSES = {0: ("127.0.0.1", 9092), 1: ("127.0.0.1", 9093), 2: ("127.0.0.1", 9094)}


def view_of(cluster, broker):
    """What broker ``broker``'s Kafka listener answers Metadata with."""
    return ClusterNodeView(NodeConnection(cluster.connect(), broker), lambda: ADDRESSES)


def seen(view, topic="t"):
    """``(leader, leader epoch, ISR, live brokers, controller)`` of ``topic``-0."""
    p = view.partitions(topic, 1)[0]
    return (p.leader, p.leader_epoch, set(p.isr), [b.node_id for b in view.brokers()],
            view.controller_id())


def leader_replaced_while_2_is_cut_off(cluster):
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.settle() if cluster.mode == "steps" else cluster.settle(max_seconds=30)
    assert cluster.leader("t", 0) == 0
    cluster.isolate(2, controller=True)
    cluster.kill(0)


def test_a_cut_off_broker_answers_its_last_view_until_it_hears_the_controller(make_cluster):
    cluster = make_cluster(3)
    leader_replaced_while_2_is_cut_off(cluster)
    cluster.run_for(3)  # broker 0's session expires; broker 1 leads; broker 2 is fenced
    cluster.create_topic("u", 1, replication_factor=1)
    assert seen(view_of(cluster, 1)) == (1, 1, {1}, [1], 1)
    cut_off = view_of(cluster, 2)
    assert seen(cut_off) == (0, 0, {0, 1, 2}, [0, 1, 2], 0)  # as before the faults
    assert [b.node_id for b in cut_off.fenced_brokers()] == []
    assert "u" not in cut_off.connection.list_topics()
    with pytest.raises(UnknownTopicOrPartitionError):
        cut_off.connection.partitions_for("u")
    with pytest.raises(LeaderNotAvailableError):  # it cannot ask the controller to create it
        cut_off.connection.partitions_for("v", auto_create=True)
    assert "v" not in {tp.topic for tp in cluster.metadata()}
    cluster.heal(2)
    assert seen(cut_off) == (1, 1, {1}, [1, 2], 1)
    assert "u" in cut_off.connection.list_topics()


def test_a_cut_off_broker_process_answers_its_last_view():
    with Cluster(3, mode="processes", broker_session_timeout_ms=1000) as cluster:
        leader_replaced_while_2_is_cut_off(cluster)
        assert cluster.wait_for(lambda: cluster.leader("t", 0) == 1, timeout=30)
        assert seen(view_of(cluster, 1))[0] == 1
        assert seen(view_of(cluster, 2))[:2] == (0, 0)
        cluster.heal(2)
        assert seen(view_of(cluster, 2))[0] == 1


def test_a_cut_off_broker_names_the_coordinators_of_its_last_view(make_cluster):
    # Kafka's FindCoordinator reads the broker's metadata cache, as Metadata does: a broker
    # cut off from the controller names the coordinator its image has (the old leader of the
    # group's offsets partition), and one whose image lacks the transaction log cannot have
    # it created.
    cluster = make_cluster(3)
    cut_off, witness = view_of(cluster, 2), view_of(cluster, 1)  # the offsets topic too
    cluster.settle()
    offsets = cluster.offsets_topic()
    group = next(g for g in (f"g{n}" for n in range(100))
                 if cluster.leader("__consumer_offsets", offsets.partition_for(g)) == 0)
    partition = offsets.partition_for(group)
    cluster.isolate(2, controller=True)
    cluster.kill(0)
    cluster.run_for(3)  # broker 0's session expires; its partitions get other leaders
    now = cluster.leader("__consumer_offsets", partition)
    assert now not in (None, 0)
    assert witness.coordinator(group).node_id == now
    assert cut_off.coordinator(group).node_id == 0  # as its Metadata: the old leader
    assert cut_off.partitions("__consumer_offsets", partition + 1)[-1].leader == 0
    with pytest.raises(CoordinatorNotAvailableError):
        cut_off.transaction_coordinator("tx")
    assert cluster.transaction_log(create=False) is None  # it could not create the log
    assert witness.transaction_coordinator("tx").node_id == 1  # the one live broker
    cluster.heal(2)
    assert cut_off.coordinator(group).node_id == now
