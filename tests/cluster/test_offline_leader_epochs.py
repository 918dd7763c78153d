"""A partition that loses its last eligible leader goes offline in a new leader epoch.

Kafka's controller records the loss of the leader as a change of leader, to none: its
``PartitionRegistration.merge`` raises the leader epoch whenever the leader field changes, so
Metadata answers ``leader -1`` in a new epoch, and the leader that returns leads in the next
one. Clients told of the offline partition no longer take the old leader's epoch for the
current one.
"""

from __future__ import annotations

from pcmodel.topics.structs import TopicPartition

TP = TopicPartition("t", 0)


def alone_in_sync(make_cluster):
    """Partition t-0 on brokers 0 (its leader) and 1, broker 1 dead and out of the ISR."""
    cluster = make_cluster()
    cluster.create_topic("t", replica_assignment=[[0, 1]])
    cluster.settle()
    cluster.kill(1)
    cluster.run_for(3)
    assert (cluster.leader("t", 0), cluster.isr("t", 0)) == (0, {0})
    assert cluster.metadata()[TP].leader_epoch == 0
    return cluster


def described(cluster):
    (partition,) = cluster.connect().describe_partitions("t")
    return partition.leader, partition.leader_epoch, partition.isr, partition.offline


def test_a_crashed_last_leader_leaves_the_partition_offline_in_a_new_epoch(make_cluster):
    cluster = alone_in_sync(make_cluster)
    cluster.kill(0)
    cluster.run_for(3)  # its session expires: no replica may lead
    state = cluster.metadata()[TP]
    assert (state.leader, state.leader_epoch, state.isr) == (None, 1, {0})
    assert described(cluster) == (-1, 1, (0,), (0, 1))
    cluster.restart(0)
    cluster.settle()
    assert (cluster.leader("t", 0), cluster.metadata()[TP].leader_epoch) == (0, 2)


def test_a_controlled_shutdown_of_the_last_leader_starts_a_new_epoch_at_once(make_cluster):
    cluster = alone_in_sync(make_cluster)
    cluster.stop(0)
    state = cluster.metadata()[TP]
    assert (state.leader, state.leader_epoch) == (None, 1)


def test_an_offline_partition_keeps_its_epoch_while_it_stays_offline(make_cluster):
    cluster = alone_in_sync(make_cluster)
    cluster.kill(0)
    cluster.run_for(3)
    cluster.restart(1)  # not in the ISR: it may not lead, and nothing changes
    cluster.settle()
    state = cluster.metadata()[TP]
    assert (state.leader, state.leader_epoch) == (None, 1)
