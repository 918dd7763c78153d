"""An offset found by a lookup carries the leader epoch of Kafka's answer, given by the broker.

Kafka's ``UnifiedLog.fetchOffsetByTimestamp`` answers each lookup with an epoch from the
leader's epoch cache: the epoch that wrote the record found (for "earliest", the one at the log
start), the leader's current epoch for "latest", none (-1) when no offset is found. A lone
broker has one epoch, 0. The consumer's ``offsets_for_times``, the admin client's
``list_partition_offsets`` and the Kafka listener's ListOffsets all read that answer, so they
agree, whichever leader term wrote the records; and, as in Kafka, a record above the high
watermark is not found.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker, KafkaConsumer, TopicPartition
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.structs import OffsetAndTimestamp, OffsetSpec
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)
EARLIEST, LATEST = OffsetSpec.EARLIEST, OffsetSpec.LATEST
#: Quick to notice a dead broker, yet generous enough that a loaded machine fences no live one.
FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)


def test_a_lone_broker_answers_epoch_0_for_every_offset_it_finds():
    with Broker() as broker:
        broker.create_topic("t", 1)
        # An empty log: its start is its end, and epoch 0 is the leader's from the start.
        assert broker.list_offsets({TP: EARLIEST}) == {TP: OffsetAndTimestamp(0, -1, 0)}
        assert broker.list_offsets({TP: LATEST}) == {TP: OffsetAndTimestamp(0, -1, 0)}
        broker.append("t", 0, [(None, b"a", (), 100), (None, b"b", (), 200)])
        assert broker.offsets_for_times({TP: 150}) == {TP: OffsetAndTimestamp(1, 200, 0)}
        assert broker.offsets_for_times({TP: 201}) == {TP: None}
        answers = {spec: broker.list_offsets({TP: spec})[TP]
                   for spec in (EARLIEST, LATEST, OffsetSpec.MAX_TIMESTAMP, 150, 201,
                                OffsetSpec.LATEST_TIERED)}
        assert answers == {EARLIEST: (0, -1, 0), LATEST: (2, -1, 0),
                           OffsetSpec.MAX_TIMESTAMP: (1, 200, 0), 150: (1, 200, 0),
                           201: None, OffsetSpec.LATEST_TIERED: None}
        with pytest.raises(TypeError, match="OffsetSpec or a timestamp"):
            broker.list_offsets({TP: "latest"})


def _three_terms(cluster):
    """Records 0-1 written in epoch 0, 2-3 in epoch 1, 4-5 in epoch 2 (timestamps 1000 *
    offset), each term ended by a controlled shutdown of its leader, who comes back."""
    cluster.create_topic("t", 1, replication_factor=3)
    wait_until(lambda: len(cluster.isr("t", 0)) == 3, timeout=30)
    for term in range(3):
        if term:
            leader = cluster.leader("t", 0)
            cluster.stop(leader)
            wait_until(lambda t=term: cluster.metadata()[TP].leader_epoch == t, timeout=30)
            cluster.restart(leader)
        cluster.produce("t", 0, [(None, b"v", (), 1000 * (2 * term + i)) for i in range(2)],
                        acks="all").get(timeout=20)
    wait_until(lambda: len(cluster.isr("t", 0)) == 3, timeout=30)
    return cluster.metadata()[TP].leader_epoch


def _list_offsets(raw, timestamp):
    from kafka.protocol.consumer import ListOffsetsRequest

    Topic = ListOffsetsRequest.ListOffsetsTopic  # noqa: N806
    response = raw.request(ListOffsetsRequest[6](replica_id=-1, isolation_level=0, topics=[
        Topic(name="t", partitions=[Topic.ListOffsetsPartition(
            partition_index=0, current_leader_epoch=-1, timestamp=timestamp)])]))
    part = response.topics[0].partitions[0]
    return part.error_code, part.offset, part.timestamp, part.leader_epoch


def test_the_consumer_the_admin_and_the_listener_agree_over_three_leader_terms():
    pytest.importorskip("kafka")
    from tests.wire.conftest import RawClient

    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        current = _three_terms(cluster)
        conn = cluster.connect()
        # The cluster's own answer: each record's epoch is the term that wrote it.
        assert [conn.offsets_for_times({TP: 1000 * o})[TP] for o in range(6)] == [
            OffsetAndTimestamp(o, 1000 * o, o // 2) for o in range(6)]
        from pcmodel.wire.node_connection import NodeConnection  # the leader's listener's
        node = NodeConnection(conn, cluster.leader("t", 0))
        assert [node.offsets_for_times({TP: 1000 * o})[TP] for o in range(6)] == [
            OffsetAndTimestamp(o, 1000 * o, o // 2) for o in range(6)]
        assert conn.list_offsets({TP: EARLIEST}) == {TP: OffsetAndTimestamp(0, -1, 0)}
        assert conn.list_offsets({TP: LATEST}) == {TP: OffsetAndTimestamp(6, -1, current)}
        consumer = KafkaConsumer(broker=cluster, enable_auto_commit=False)
        admin = KafkaAdminClient(broker=cluster)
        try:
            with RawClient(listeners.addresses[cluster.leader("t", 0)]) as raw:
                for asked in (0, 2500, 4000, 5000, 9000, EARLIEST, LATEST):
                    on_wire = _list_offsets(raw, asked)
                    by_admin = admin.list_partition_offsets({TP: asked})[TP]
                    assert on_wire[0] == 0
                    assert (by_admin.offset, by_admin.timestamp,
                            -1 if by_admin.leader_epoch is None else by_admin.leader_epoch
                            ) == on_wire[1:], asked
                    if asked >= 0:
                        by_consumer = consumer.offsets_for_times({TP: asked})[TP]
                        assert (by_consumer or (-1, -1, -1)) == on_wire[1:], asked
        finally:
            consumer.close()
            admin.close()


def test_a_record_above_the_high_watermark_is_not_found_by_time(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.produce("t", 0, [(None, b"a", (), 500)], acks="all").get(timeout=5)
    leader = cluster.leader("t", 0)
    for broker in range(3):
        if broker != leader:
            cluster.isolate(broker)
    cluster.produce("t", 0, [(None, b"b", (), 800)], acks=1).get(timeout=5)
    conn = cluster.connect()
    # Written on the leader alone: consumers cannot read it, and Kafka does not find it.
    assert conn.offsets_for_times({TP: 600}) == {TP: None}
    assert conn.list_offsets({TP: 600}) == {TP: None}
    assert conn.offsets_for_times({TP: 0}) == {TP: OffsetAndTimestamp(0, 500, 0)}
    cluster.heal()
    cluster.settle()
    assert conn.offsets_for_times({TP: 600}) == {TP: OffsetAndTimestamp(1, 800, 0)}


def test_a_new_leader_whose_high_watermark_lags_answers_offset_not_available(make_cluster):
    """Kafka's ``Partition.fetchOffsetForTimestamp``: until a new leader's high watermark has
    reached the start of its epoch, "latest" (and a lookup that finds nothing) is
    OFFSET_NOT_AVAILABLE, not a smaller end offset than the old leader answered."""
    from pcmodel.cluster.errors import OffsetNotAvailableError
    from pcmodel.wire.node_connection import NodeConnection

    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.settle()
    cluster.produce("t", 0, [(None, b"a", (), 100), (None, b"b", (), 200)],
                    acks="all").get(timeout=5)
    cluster.produce("t", 0, [(None, b"c", (), 300)], acks=1).get(timeout=5)
    cluster.step()
    cluster.step()  # the followers have "c"; the old leader's watermark is 3, theirs 2
    conn = cluster.connect()
    assert conn.end_offsets([TP]) == {TP: 3}
    old = cluster.leader("t", 0)
    cluster.stop(old)
    new = cluster.leader("t", 0)
    status = {s.broker: s for s in cluster.replica_status("t", 0)}[new]
    assert (status.log_end_offset, status.high_watermark) == (3, 2)
    for spec in (LATEST, 250):
        with pytest.raises(OffsetNotAvailableError, match="behind the start of its epoch 1"):
            conn.list_offsets({TP: spec})
    with pytest.raises(OffsetNotAvailableError):
        conn.end_offsets([TP])  # a stepped cluster does not move while a client waits
    # The new leader's Kafka listener: its watermark is 2, yet ListOffsets says no offset.
    node = NodeConnection(conn, new)
    assert node.end_offsets([TP]) == {TP: 2}
    for spec in (LATEST, 250):
        with pytest.raises(OffsetNotAvailableError):
            node.list_offsets({TP: spec})
    assert conn.list_offsets({TP: 150}) == {TP: OffsetAndTimestamp(1, 200, 0)}  # found: fine
    assert conn.list_offsets({TP: EARLIEST}) == {TP: OffsetAndTimestamp(0, -1, 0)}
    cluster.settle()  # the followers fetch: the watermark passes the epoch's start
    assert conn.end_offsets([TP]) == {TP: 3}
    assert conn.list_offsets({TP: LATEST}) == {TP: OffsetAndTimestamp(3, -1, 1)}
    assert conn.list_offsets({TP: 250}) == {TP: OffsetAndTimestamp(2, 300, 0)}
