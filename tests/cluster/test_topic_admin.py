"""Deleting topics, adding partitions and deleting records on a cluster, on virtual time; the
admin client on a cluster."""

from __future__ import annotations

import pytest

from pcmodel.cluster.errors import (
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from pcmodel.topics.admin import KafkaAdminClient, NewPartitions, NewTopic
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    InvalidTopicError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import DeletedRecords, TopicPartition


def batch(*values):
    return [(None, v) for v in values]


def values(records):
    return [r.value for r in records]


def test_added_partitions_get_placed_replicas_and_leaders(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=2, min_insync_replicas=2)
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=5)
    version = cluster.metadata_version()
    first = cluster.metadata()[TopicPartition("t", 0)].replicas
    cluster.add_partitions("t", 3)
    assert cluster.metadata_version() > version
    states = [cluster.metadata()[TopicPartition("t", p)] for p in range(3)]
    assert states[0].replicas == first  # untouched
    # Round-robin continues after partition 0: each partition starts one broker further.
    starts = [s.replicas[0] for s in states]
    assert starts == [(first[0] + p) % 3 for p in range(3)]
    assert all(len(s.replicas) == 2 and s.leader == s.replicas[0] for s in states)
    cluster.settle()
    for p in (1, 2):
        result = cluster.produce("t", p, batch(b"p%d" % p), acks="all").get(timeout=5)
        assert result.base_offset == 0
        for broker in states[p].replicas:  # both replicas have the committed record
            assert values(cluster.log(broker, "t", p)) == [b"p%d" % p]
    assert values(cluster.log(first[0], "t", 0)) == [b"a"]


def test_adding_partitions_checks_the_total(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 2)
    with pytest.raises(InvalidPartitionsError, match=r"^.*Topic already has 2 partition\(s\)\.$"):
        cluster.add_partitions("t", 2)
    with pytest.raises(UnknownTopicOrPartitionError):
        cluster.add_partitions("nope", 3)
    assert len([tp for tp in cluster.metadata() if tp.topic == "t"]) == 2


def test_replicas_placed_by_hand_take_every_partition_where_it_is_told(make_cluster):
    cluster = make_cluster(4)
    cluster.create_topic("t", 2, replica_assignment=[[3, 1], [2, 0]], min_insync_replicas=2)
    states = [cluster.metadata()[TopicPartition("t", p)] for p in (0, 1)]
    assert [(s.replicas, s.leader, s.isr) for s in states] == [
        ((3, 1), 3, {1, 3}), ((2, 0), 2, {0, 2})]
    assert cluster.controller.topics["t"].replication_factor == 2
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=5)
    cluster.settle()
    assert [values(cluster.log(b, "t", 0)) for b in (3, 1)] == [[b"a"], [b"a"]]
    # New partitions: as many replicas as partition 0, or where they are told.
    cluster.add_partitions("t", 3)
    assert len(cluster.metadata()[TopicPartition("t", 2)].replicas) == 2
    cluster.add_partitions("t", 5, [[0, 1], [1, 2]])
    assert [cluster.metadata()[TopicPartition("t", p)].replicas for p in (3, 4)] == [
        (0, 1), (1, 2)]


@pytest.mark.parametrize("assignment, words", [
    ([[0, 0]], "more than once"), ([[0, 1], [2]], "not consistent"),
    ([[7]], "no such broker"), ([], "a replica list per partition"),
    ("0", "a replica list per partition"), ([[3]], "are fenced or in controlled shutdown"),
])
def test_replicas_placed_by_hand_are_checked_before_anything_changes(make_cluster, assignment,
                                                                     words):
    cluster = make_cluster(4)
    cluster.kill(3)
    cluster.run_for(3)
    with pytest.raises(InvalidReplicationAssignmentError, match=words):
        cluster.create_topic("t", len(assignment), replica_assignment=assignment)
    assert "t" not in cluster.controller.topics
    with pytest.raises(IllegalArgumentError, match="give partitions=1 and no replication"):
        cluster.create_topic("t", 1, replication_factor=1, replica_assignment=[[0]])
    cluster.create_topic("u", 1, replica_assignment=[[0, 1]])
    with pytest.raises(InvalidReplicationAssignmentError, match="only 1 assignment"):
        cluster.add_partitions("u", 3, [[1, 2]])
    with pytest.raises(InvalidReplicationAssignmentError, match="not consistent"):
        cluster.add_partitions("u", 2, [[1]])
    assert len([tp for tp in cluster.metadata() if tp.topic == "u"]) == 1


def test_a_deleted_topic_is_gone_everywhere_and_its_waiting_produces_fail(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    cluster.create_topic("other", 1, replication_factor=3)
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=5)
    leader = cluster.leader("t", 0)
    for follower in {0, 1, 2} - {leader}:
        cluster.isolate(follower)
    waiting = cluster.produce("t", 0, batch(b"b"), acks="all", timeout=30)
    cluster.step()
    assert not waiting.done()  # appended by the leader, waiting for the ISR
    version = cluster.metadata_version()
    cluster.delete_topic("t")
    with pytest.raises(UnknownTopicOrPartitionError, match="deleted"):
        waiting.get(timeout=1)
    assert cluster.metadata_version() > version
    assert all(tp.topic != "t" for tp in cluster.metadata())
    for node in cluster.nodes:
        assert "t" not in node.broker.list_topics() and "other" in node.broker.list_topics()
    with pytest.raises(UnknownTopicOrPartitionError):
        cluster.produce("t", 0, batch(b"c")).get(timeout=1)
    cluster.heal()
    cluster.create_topic("t", 1, replication_factor=3)  # the name is free again, and empty
    cluster.settle()
    assert cluster.log(cluster.leader("t", 0), "t", 0) == []


def test_deleting_checks_the_name(make_cluster):
    cluster = make_cluster()
    cluster.connect()  # creates __consumer_offsets
    with pytest.raises(InvalidTopicError, match="internal"):
        cluster.delete_topic("__consumer_offsets")
    with pytest.raises(UnknownTopicOrPartitionError):
        cluster.delete_topic("nope")


@pytest.mark.timeout(30)
def test_the_admin_client_creates_and_describes_replicated_topics(make_cluster):
    cluster = make_cluster()
    with KafkaAdminClient(broker=cluster) as admin:
        admin.create_topics([NewTopic("t", 2, replication_factor=2,
                                      topic_configs={"min.insync.replicas": "2"})])
        admin.create_topics([NewTopic("d", 1)])  # the cluster's default factor: 3
        cluster.settle()
        for p, described in enumerate(admin.describe_topics(["t"])[0]["partitions"]):
            state = cluster.metadata()[TopicPartition("t", p)]
            assert described == {
                "error_code": 0, "partition_index": p, "leader_id": state.leader,
                "leader_epoch": state.leader_epoch, "replica_nodes": list(state.replicas),
                "isr_nodes": list(state.replicas), "offline_replicas": []}
            assert len(state.replicas) == 2
        assert len(cluster.metadata()[TopicPartition("d", 0)].replicas) == 3
        # min.insync.replicas=2 was honoured: with one of two replicas out of the ISR (its
        # broker fenced), acks="all" fails before the append.
        first = cluster.metadata()[TopicPartition("t", 0)]
        cluster.kill(first.replicas[1])
        cluster.run_for(2.0)  # past broker_session_timeout_ms (1500)
        with pytest.raises(NotEnoughReplicasError):
            cluster.produce("t", 0, batch(b"x"), acks="all").get(timeout=5)

        # Once the controller counts the broker dead (its session expired), its replicas are
        # offline, out of the ISR, and a partition it led has moved.
        dead = first.replicas[1]
        assert dead not in cluster.live_brokers()
        for described in admin.describe_topics(["t"])[0]["partitions"]:
            state = cluster.metadata()[TopicPartition("t", described["partition_index"])]
            assert described["leader_id"] == state.leader != dead
            assert described["offline_replicas"] == ([dead] if dead in state.replicas else [])
            assert dead not in described["isr_nodes"]

        # Kafka's rules for the factor and for placing replicas by hand, with two brokers alive
        # of the three registered.
        with pytest.raises(InvalidReplicationFactorError,
                           match="replication factor of 4 cannot be reached because only 3 "
                                 r"broker\(s\) are registered"):
            admin.create_topics([NewTopic("big", 1, replication_factor=4)])
        live = sorted(cluster.live_brokers())
        with pytest.raises(InvalidRequestError, match="numPartitions was not set to -1"):
            admin.create_topics([NewTopic("placed", 1, replica_assignments={0: [0, 2]})])
        with pytest.raises(InvalidReplicationAssignmentError, match="are fenced or in"):
            admin.create_topics([NewTopic("placed", replica_assignments={0: [dead]})])
        answer = admin.create_topics(
            [NewTopic("placed", replica_assignments={1: [live[0], live[1]],
                                                     0: [live[1], dead]})])
        assert [(t["num_partitions"], t["replication_factor"]) for t in answer["topics"]] == [
            (2, 2)]
        assert [cluster.metadata()[TopicPartition("placed", p)].replicas for p in (0, 1)] == [
            (live[1], dead), (live[0], live[1])]
        with pytest.raises(InvalidReplicationAssignmentError, match="not consistent"):
            admin.create_partitions({"t": NewPartitions(3, new_assignments=[[live[0]]])})
        with pytest.raises(InvalidReplicationAssignmentError, match="only 1 assignment"):
            admin.create_partitions({"t": NewPartitions(4, new_assignments=[[0, 1]])})
        admin.create_partitions({"t": NewPartitions(3, new_assignments=[[live[0], dead]])})
        assert cluster.metadata()[TopicPartition("t", 2)].replicas == (live[0], dead)
        with pytest.raises(InvalidConfigurationError, match="unclean.leader.election.enable"):
            admin.create_topics([NewTopic("u", 1, topic_configs={
                "unclean.leader.election.enable": "maybe"})])
        assert sorted(admin.list_topics()) == ["d", "placed", "t"]


def starts(cluster, topic="t", partition=0):
    return {r.broker: r.log_start_offset for r in cluster.replica_status(topic, partition)}


@pytest.mark.timeout(30)
def test_deleted_records_leave_the_leader_then_every_follower(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    cluster.produce("t", 0, batch(*[b"%d" % i for i in range(5)]), acks="all").get(timeout=5)
    cluster.settle()
    leader = cluster.leader("t", 0)
    assert cluster.delete_records("t", 0, 3) == 3
    # The leader moved at once; the followers follow at their next fetch.
    assert starts(cluster)[leader] == 3 and cluster.low_watermark("t", 0) == 0
    conn = cluster.connect()
    assert conn.delete_records({TopicPartition("t", 0): -1}) == {
        TopicPartition("t", 0): DeletedRecords(5)}  # -1: the high watermark; it waited
    assert set(starts(cluster).values()) == {5} and cluster.low_watermark("t", 0) == 5
    for broker in starts(cluster):
        assert cluster.log(broker, "t", 0) == []

    # A dead follower does not hold the low watermark back; it follows when it returns.
    cluster.produce("t", 0, batch(b"5", b"6"), acks="all").get(timeout=5)
    cluster.settle()
    follower = next(b for b in starts(cluster) if b != leader)
    cluster.kill(follower)
    assert conn.delete_records({TopicPartition("t", 0): 6})[TopicPartition("t", 0)] == \
        DeletedRecords(6)
    cluster.restart(follower)
    cluster.settle()
    assert starts(cluster)[follower] == 6 and values(cluster.log(follower, "t", 0)) == [b"6"]


@pytest.mark.timeout(30)
def test_delete_records_refuses_as_kafka_does_and_times_out_on_a_stuck_follower(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=2)
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=5)
    cluster.settle()
    conn = cluster.connect()
    t0 = TopicPartition("t", 0)
    assert isinstance(conn.delete_records({t0: 3})[t0].error, OffsetOutOfRangeError)
    with pytest.raises(TypeError, match="must be an int"):  # checked before any deletion
        conn.delete_records({t0: 1, TopicPartition("t", 0)._replace(partition=1): "1"})
    assert cluster.low_watermark("t", 0) == 0
    assert isinstance(conn.delete_records({TopicPartition("t", 1): 0})[
        TopicPartition("t", 1)].error, UnknownTopicOrPartitionError)
    cluster.connect().commit_offsets("g", -1, "", {t0: 1})
    offsets = TopicPartition("__consumer_offsets", 0)
    assert isinstance(conn.delete_records({offsets: 0})[offsets].error, InvalidTopicError)
    # A follower cut off from replication stays alive and keeps its copy: the deletion stands
    # at the leader, but the answer is REQUEST_TIMED_OUT, as Kafka's after its timeout.
    follower = next(b for b in starts(cluster) if b != cluster.leader("t", 0))
    cluster.isolate(follower)
    answer = conn.delete_records({t0: 1}, timeout=0.5)[t0]
    assert isinstance(answer.error, RequestTimedOutError) and answer.low_watermark == -1
    assert starts(cluster) == {cluster.leader("t", 0): 1, follower: 0}
    cluster.heal(follower)
    assert cluster.wait_for(lambda: cluster.low_watermark("t", 0) == 1, 5.0)


@pytest.mark.timeout(60)
def test_wait_for_topics_waits_for_a_leader_on_a_real_time_cluster():
    from pcmodel.cluster import Cluster
    from pcmodel.topics.errors import KafkaTimeoutError

    with Cluster(3, broker_session_timeout_ms=500, tick_ms=10) as cluster, \
            KafkaAdminClient(broker=cluster) as admin:
        admin.create_topics([NewTopic("w", 1, replication_factor=1)])
        admin.wait_for_topics(["w"], timeout_ms=5000)
        only = cluster.metadata()[TopicPartition("w", 0)].replicas[0]
        cluster.kill(only)  # its one replica is gone: no leader until it returns
        cluster.wait_for(lambda: cluster.leader("w", 0) is None, 10.0)
        with pytest.raises(KafkaTimeoutError, match="'w': 'p0=no leader'"):
            admin.wait_for_topics(["w"], timeout_ms=100)
        cluster.restart(only)
        admin.wait_for_topics(["w"], timeout_ms=20000)
        assert cluster.leader("w", 0) == only


def test_deleted_records_take_the_epochs_that_wrote_only_them(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=2)
    tp = TopicPartition("t", 0)
    for value in (b"a", b"b", b"c"):  # each written by a new leader, in a new epoch
        cluster.produce("t", 0, batch(value), acks="all").get(timeout=5)
        cluster.settle()
        leader = cluster.leader("t", 0)
        cluster.kill(leader)
        cluster.run_for(2.0)
        cluster.restart(leader)
        cluster.settle()
    leader = cluster.leader("t", 0)
    written = cluster.nodes[leader].replicas[tp].epochs.entries
    assert [entry.start_offset for entry in written][:3] == [0, 1, 2]
    assert cluster.delete_records("t", 0, 2) == 2
    oldest = written[0].epoch
    assert cluster.end_offset_for_epoch(leader, "t", 0, oldest) == (oldest, 2)
    cluster.produce("t", 0, batch(b"d"), acks="all").get(timeout=5)  # followers move too
    cluster.settle()
    hosts = [node for node in cluster.nodes if tp in node.replicas]
    assert len(hosts) == 2
    for node in hosts:
        entries = node.replicas[tp].epochs.entries
        assert entries[0] == (written[2].epoch, 2)
        assert entries[-1].epoch >= written[-1].epoch


def test_offsets_answer_the_epoch_that_wrote_the_record(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=2)
    cluster.produce("t", 0, [(None, b"a", (), 1000)], acks="all").get(timeout=5)
    first = cluster.leader("t", 0)
    cluster.kill(first)
    cluster.run_for(2.0)  # the other replica leads, in epoch 1
    second = cluster.leader("t", 0)
    cluster.produce("t", 0, [(None, b"b", (), 2000)], acks="all").get(timeout=5)
    assert [cluster.epoch_of_offset(second, "t", 0, offset) for offset in (0, 1, 2)] == [0, 1, 1]
    admin = KafkaAdminClient(broker=cluster.connect())
    tp = TopicPartition("t", 0)
    answers = [admin.list_partition_offsets({tp: spec})[tp] for spec in (-2, 1500, -1)]
    assert [(a.offset, a.leader_epoch) for a in answers] == [(0, 0), (1, 1), (2, 1)]
    cluster.restart(first)
    cluster.settle()
    assert cluster.leader("t", 0) == second
    with pytest.raises(NotLeaderForPartitionError):  # only the leader answers
        cluster.epoch_of_offset(first, "t", 0, 0)
    admin.close()
