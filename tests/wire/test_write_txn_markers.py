"""WriteTxnMarkers through the listener, in raw protocol: an administrator's abort (or commit)
of a transaction left open on a partition, with Kafka's per-partition errors, on a lone broker
and at a cluster's brokers (only the partition's leader writes the marker)."""

from __future__ import annotations

import pytest
from kafka.protocol.consumer import ListOffsetsRequest
from kafka.protocol.metadata import ApiVersionsRequest
from kafka.protocol.producer.transaction import WriteTxnMarkersRequest

from pcmodel.cluster import Cluster
from pcmodel.cluster.errors import NotLeaderForPartitionError
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.errors import UnknownTopicOrPartitionError
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.api import CloseConnection
from pcmodel.wire.node_connection import NodeConnection
from tests.wire.conftest import (
    FAST,
    RawClient,
    fetch_request,
    fetched_batches,
    produce_request,
    record_batch,
)
from tests.wire.test_transactions import add_partitions, end, init, started

pytestmark = pytest.mark.timeout(60)

NONE, UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER, INVALID_REQUEST = 0, 3, 6, 42
INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED = 47, 52
T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


def write_markers(raw, *markers, version=1):
    """WriteTxnMarkers of ``markers``, each ``(producer_id, producer_epoch, commit,
    coordinator_epoch, {topic: [partitions]})``: per marker, its producer id and
    ``[(topic, partition, code)]`` in the order answered."""
    Marker = WriteTxnMarkersRequest.WritableTxnMarker  # noqa: N806
    response = raw.request(WriteTxnMarkersRequest[version](markers=[
        Marker(producer_id=pid, producer_epoch=epoch, transaction_result=commit,
               coordinator_epoch=coordinator_epoch,
               topics=[Marker.WritableTxnMarkerTopic(name=t, partition_indexes=ps)
                       for t, ps in partitions.items()])
        for pid, epoch, commit, coordinator_epoch, partitions in markers]))
    return [(m.producer_id, [(t.name, p.partition_index, p.error_code)
                             for t in m.topics for p in t.partitions])
            for m in response.markers]


def abort(raw, ids, tp, coordinator_epoch=-1, *, commit=False, version=1):
    """One marker for one partition, as the admin client's ``abort_transaction`` sends it:
    the partition's code."""
    ((pid, [(_, _, code)]),) = write_markers(
        raw, (*ids, commit, coordinator_epoch, {tp[0]: [tp[1]]}), version=version)
    assert pid == ids[0]
    return code


def produce(raw, tp, values, ids, sequence=0, tid="tx"):
    batch = record_batch(values, producer=(*ids, sequence), transactional=True)
    response = raw.request(produce_request(tp[0], tp[1], batch, acks=-1, transactional_id=tid))
    return response.responses[0].partition_responses[0].error_code


def fetch(raw, tp, isolation_level=1):
    response = raw.request(fetch_request({tuple(tp): 0}, isolation_level=isolation_level))
    return response.responses[0].partitions[0]


def values(partition_data):
    """The values of a fetched partition's records, markers left out."""
    return [r.value for b in fetched_batches(partition_data) if not b.is_control_batch
            for r in b]


def last_stable(raw, tp):
    """ListOffsets LATEST at read_committed: ``(code, offset)``."""
    Topic = ListOffsetsRequest.ListOffsetsTopic  # noqa: N806
    part = raw.request(ListOffsetsRequest[7](
        replica_id=-1, isolation_level=1, topics=[Topic(name=tp[0], partitions=[
            Topic.ListOffsetsPartition(partition_index=tp[1], current_leader_epoch=-1,
                                       timestamp=-1)])])).topics[0].partitions[0]
    return part.error_code, part.offset


def open_transaction(raw, broker, tp=T0, records=(b"a", b"b"), tid="tx"):
    """A transactional producer with records in an open transaction on ``tp``: its ids."""
    ids = started(raw, broker, tid, partitions=(tp,))
    assert produce(raw, tp, list(records), ids, tid=tid) == NONE
    return ids


# --- a lone broker -----------------------------------------------------------------------------


def test_api_versions_advertise_write_txn_markers(raw):
    served = {k.api_key: (k.min_version, k.max_version)
              for k in raw.request(ApiVersionsRequest[3](
                  client_software_name="t", client_software_version="1")).api_keys}
    assert served[WriteTxnMarkersRequest.API_KEY] == (0, 1)


@pytest.mark.parametrize("version", [0, 1])
def test_an_abort_ends_the_open_transaction(broker, raw, version):
    broker.create_topic("t", 1)
    ids = open_transaction(raw, broker)
    (producer,) = broker.describe_producers([T0])[T0].active_producers
    assert (producer.producer_id, producer.current_transaction_start_offset) == (ids[0], 0)
    assert last_stable(raw, T0) == (NONE, 0)
    assert abort(raw, ids, T0, producer.coordinator_epoch, version=version) == NONE
    # The records and the ABORT marker: the last stable offset passes them, and a
    # read_committed reader is told the transaction was aborted.
    assert last_stable(raw, T0) == (NONE, 3)
    read = fetch(raw, T0)
    assert read.last_stable_offset == read.high_watermark == 3
    assert [(a.producer_id, a.first_offset) for a in read.aborted_transactions] == [(ids[0], 0)]
    assert broker.end_offsets([T0], isolation_level="read_committed") == {T0: 3}
    (producer,) = broker.describe_producers([T0])[T0].active_producers
    assert producer.current_transaction_start_offset == -1
    # The coordinator, which was not told, ends its transaction as usual.
    assert end(raw, ids, committed=False) == NONE


def test_a_commit_marker_makes_the_records_readable(broker, raw):
    broker.create_topic("t", 1)
    ids = open_transaction(raw, broker)
    assert abort(raw, ids, T0, commit=True) == NONE
    read = fetch(raw, T0)
    assert (values(read), read.aborted_transactions, read.last_stable_offset) == (
        [b"a", b"b"], [], 3)


def test_partitions_that_do_not_exist_are_unknown(broker, raw):
    broker.create_topic("t", 1)
    ids = open_transaction(raw, broker)
    ((_, codes),) = write_markers(
        raw, (*ids, False, -1, {"t": [1, -1], "nope": [0], "bad name!": [0]}))
    assert codes == [("t", 1, UNKNOWN_TOPIC_OR_PARTITION), ("t", -1, UNKNOWN_TOPIC_OR_PARTITION),
                     ("nope", 0, UNKNOWN_TOPIC_OR_PARTITION),
                     ("bad name!", 0, UNKNOWN_TOPIC_OR_PARTITION)]
    assert last_stable(raw, T0) == (NONE, 0)  # the transaction on t-0 is still open


def test_a_marker_of_an_older_producer_epoch_is_refused(broker, raw):
    broker.create_topic("t", 1)
    first = open_transaction(raw, broker)
    assert end(raw, first, committed=False) == NONE
    second = open_transaction(raw, broker, records=[b"c"])
    assert second == (first[0], first[1] + 1)
    high_watermark = fetch(raw, T0, 0).high_watermark
    assert abort(raw, first, T0, 0) == INVALID_PRODUCER_EPOCH
    # Nothing written: the second transaction is still open where it began.
    assert fetch(raw, T0, 0).high_watermark == high_watermark
    assert last_stable(raw, T0) == (NONE, high_watermark - 1)
    assert abort(raw, second, T0, 0) == NONE
    assert last_stable(raw, T0) == (NONE, high_watermark + 1)


def test_a_marker_of_an_older_coordinator_epoch_is_fenced(broker, raw):
    broker.create_topic("t", 1)
    ids = open_transaction(raw, broker)
    assert abort(raw, ids, T0, 3) == NONE
    (producer,) = broker.describe_producers([T0])[T0].active_producers
    assert producer.coordinator_epoch == 3
    high_watermark = fetch(raw, T0, 0).high_watermark
    assert abort(raw, ids, T0, 2) == TRANSACTION_COORDINATOR_FENCED
    assert fetch(raw, T0, 0).high_watermark == high_watermark  # nothing written
    assert abort(raw, ids, T0, 3) == NONE  # the same epoch is not older


def test_minus_one_is_older_than_the_coordinators_own_markers(broker, raw):
    # kafka-python's AbortTransactionSpec sends -1 unless told: after a transaction the
    # coordinator ended, the partition has a marker of coordinator epoch 0, which -1 is older
    # than (Kafka's check); the epoch DescribeProducers reports is the one to send.
    broker.create_topic("t", 1)
    ids = open_transaction(raw, broker)
    assert end(raw, ids, committed=True) == NONE
    assert add_partitions(raw, ids, {"t": [0]}) == {("t", 0): NONE}
    assert produce(raw, T0, [b"c"], ids, sequence=2) == NONE
    (producer,) = broker.describe_producers([T0])[T0].active_producers
    assert (producer.coordinator_epoch, producer.current_transaction_start_offset) == (0, 3)
    assert abort(raw, ids, T0, -1) == TRANSACTION_COORDINATOR_FENCED
    assert abort(raw, ids, T0, producer.coordinator_epoch) == NONE
    assert last_stable(raw, T0) == (NONE, 5)


def test_each_partition_of_each_marker_gets_its_own_code(broker, raw):
    broker.create_topic("t", 2)
    broker.create_topic("u", 1)
    ids = started(raw, broker, partitions=(T0, T1))
    assert produce(raw, T0, [b"a"], ids) == NONE
    assert produce(raw, T1, [b"b"], ids) == NONE
    assert abort(raw, ids, T1, 5) == NONE  # t-1 now remembers coordinator epoch 5
    # Another producer, whose second instance has a transaction open on u-0.
    other = init(raw, "other")
    newer = open_transaction(raw, broker, TopicPartition("u", 0), [b"c"], tid="other")
    assert newer == (other.producer_id, other.producer_epoch + 1)
    answers = write_markers(
        raw,
        (*ids, False, 1, {"t": [0, 1], "nope": [0]}),
        (other.producer_id, other.producer_epoch, False, 1, {"u": [0]}),
        (*newer, True, 1, {"u": [0, 0]}))
    assert answers == [
        (ids[0], [("t", 0, NONE), ("t", 1, TRANSACTION_COORDINATOR_FENCED),
                  ("nope", 0, UNKNOWN_TOPIC_OR_PARTITION)]),
        (newer[0], [("u", 0, INVALID_PRODUCER_EPOCH)]),
        (newer[0], [("u", 0, NONE), ("u", 0, NONE)]),  # named twice: one marker, two answers
    ]
    assert [last_stable(raw, tp) for tp in (T0, T1, ("u", 0))] == [
        (NONE, 2), (NONE, 2), (NONE, 2)]
    assert values(fetch(raw, ("u", 0))) == [b"c"]


# --- a cluster's brokers -----------------------------------------------------------------------


def _coordinator(served, tid):
    """A raw connection to ``tid``'s transaction coordinator."""
    from tests.wire.test_cluster_transactions import coordinator_of

    _, listeners = served
    return RawClient(listeners.addresses[coordinator_of(served, tid)])


def test_only_the_partitions_leader_writes_the_marker(served):
    cluster, listeners = served
    tp = ("t", 1)
    leader = cluster.leader(*tp)
    with _coordinator(served, "abort-me") as coordinator, \
            RawClient(listeners.addresses[leader]) as at_leader:
        response = init(coordinator, "abort-me")
        ids = (response.producer_id, response.producer_epoch)
        assert add_partitions(coordinator, ids, {"t": [1]}, tid="abort-me") == {tp: NONE}
        assert produce(at_leader, tp, [b"x"], ids, tid="abort-me") == NONE
        start = fetch(at_leader, tp, 0).high_watermark - 1
        assert last_stable(at_leader, tp) == (NONE, start)
        for other in set(range(3)) - {leader}:
            with RawClient(listeners.addresses[other]) as follower:
                assert abort(follower, ids, tp) == NOT_LEADER
                ((_, codes),) = write_markers(follower, (*ids, False, -1, {"nope": [0],
                                                                          "t": [2]}))
                assert codes == [("nope", 0, UNKNOWN_TOPIC_OR_PARTITION),
                                 ("t", 2, UNKNOWN_TOPIC_OR_PARTITION)]
        assert last_stable(at_leader, tp) == (NONE, start)
        assert abort(at_leader, ids, tp) == NONE
        # Answered once every in-sync replica has it: stable at the leader at once.
        read = fetch(at_leader, tp)
        assert read.last_stable_offset == read.high_watermark == start + 2
        assert [(a.producer_id, a.first_offset) for a in read.aborted_transactions
                if a.producer_id == ids[0]] == [(ids[0], start)]


def test_the_internal_topics_take_no_marker(served):
    cluster, listeners = served
    leader = cluster.leader(OFFSETS_TOPIC, 0)
    with RawClient(listeners.addresses[leader]) as raw:
        assert abort(raw, (1, 0), (OFFSETS_TOPIC, 0)) == INVALID_REQUEST


def test_a_dead_broker_answers_no_marker():
    with Cluster(3, **FAST) as cluster:
        cluster.create_topic("t", 1, replication_factor=3)
        victim = cluster.leader("t", 0)
        connection = cluster.connect()
        other = NodeConnection(connection, (victim + 1) % 3)
        with pytest.raises(NotLeaderForPartitionError):
            other.write_txn_marker("t", 0, 1, 0, False, -1)
        with pytest.raises(UnknownTopicOrPartitionError):
            other.write_txn_marker("t", 1, 1, 0, False, -1)
        cluster.kill(victim)
        with pytest.raises(CloseConnection):
            NodeConnection(connection, victim).write_txn_marker("t", 0, 1, 0, False, -1)


def test_a_broker_that_lost_the_partition_after_its_check_refuses_the_marker(monkeypatch):
    # Leadership moves between the listener's check and the append: the broker that is no
    # longer the leader refuses the marker (NOT_LEADER_OR_FOLLOWER, the client retries at the
    # new leader) instead of the new leader writing it on its behalf.
    with Cluster(3, **FAST) as cluster:
        cluster.create_topic("t", 1, replication_factor=3)
        leader = cluster.leader("t", 0)
        pid, epoch = cluster.init_producer_id()
        cluster.produce("t", 0, [(None, b"a")], acks="all", producer=(pid, epoch, 0),
                        transactional=True).get(timeout=5)
        former = NodeConnection(cluster.connect(), (leader + 1) % 3)
        monkeypatch.setattr(former, "_led", lambda tp: None)  # its check passed just before
        with pytest.raises(NotLeaderForPartitionError):
            former.write_txn_marker("t", 0, pid, epoch, False, 0)
        assert len(cluster.log(leader, "t", 0)) == 1  # no marker at the leader
        assert NodeConnection(cluster.connect(), leader).write_txn_marker(
            "t", 0, pid, epoch, False, 0) == 1
