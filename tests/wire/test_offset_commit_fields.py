"""What a committed offset carries on the wire besides the offset: OffsetCommit's and
TxnOffsetCommit's metadata, held per partition to ``offset.metadata.max.bytes``
(OFFSET_METADATA_TOO_LARGE, 12), and OffsetCommit v6+'s ``committed_leader_epoch``, stored and
answered by OffsetFetch v5+ (KIP-320), on a lone broker and on a cluster's listeners."""

from __future__ import annotations

import pytest
from kafka.protocol.consumer.group import OffsetCommitRequest, OffsetFetchRequest
from kafka.protocol.producer.transaction import TxnOffsetCommitRequest

from pcmodel.topics import Broker
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.topics.conftest import join_alone
from tests.wire.conftest import RawClient
from tests.wire.test_transactions import add_offsets, end, started

pytestmark = pytest.mark.timeout(30)

NONE, OFFSET_METADATA_TOO_LARGE, UNKNOWN_MEMBER_ID = 0, 12, 25
T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
TOO_LONG = "m" * 4097


def commit(raw, partitions, *, version=8, group="g"):
    """OffsetCommit of ``{partition: (offset, metadata, epoch)}`` of topic ``t``, outside
    group management: ``{partition: code}``."""
    Topic = OffsetCommitRequest.OffsetCommitRequestTopic  # noqa: N806
    Partition = Topic.OffsetCommitRequestPartition  # noqa: N806
    response = raw.request(OffsetCommitRequest[version](
        group_id=group, generation_id_or_member_epoch=-1, member_id="", group_instance_id=None,
        retention_time_ms=-1, topics=[Topic(name="t", partitions=[
            Partition(partition_index=p, committed_offset=o, committed_leader_epoch=e,
                      committed_metadata=m) for p, (o, m, e) in partitions.items()])]))
    return {p.partition_index: p.error_code for t in response.topics for p in t.partitions}


def fetch(raw, *, version=8, group="g", partitions=(0, 1)):
    """OffsetFetch of topic ``t``: ``{partition: (offset, metadata, epoch or None)}`` (None:
    a version without the field)."""
    Topic = OffsetFetchRequest.OffsetFetchRequestTopic  # noqa: N806
    if version >= 8:
        Group = OffsetFetchRequest.OffsetFetchRequestGroup  # noqa: N806
        response = raw.request(OffsetFetchRequest[version](groups=[Group(
            group_id=group, member_id=None, member_epoch=-1,
            topics=[Group.OffsetFetchRequestTopics(name="t", partition_indexes=list(
                partitions))])], require_stable=False))
        topics = response.groups[0].topics
    else:
        response = raw.request(OffsetFetchRequest[version](
            group_id=group, topics=[Topic(name="t", partition_indexes=list(partitions))],
            require_stable=False))
        topics = response.topics
    return {p.partition_index: (p.committed_offset, p.metadata,
                                p.committed_leader_epoch if version >= 5 else None)
            for t in topics for p in t.partitions}


def test_too_long_metadata_is_refused_for_its_partition_alone(broker, raw):
    broker.create_topic("t", 2)
    assert commit(raw, {0: (5, TOO_LONG, 3), 1: (6, "ok", 4)}) == {
        0: OFFSET_METADATA_TOO_LARGE, 1: NONE}
    assert broker.committed("g", [T0, T1]) == {T0: None, T1: OffsetAndMetadata(6, "ok", 4)}
    # 4096 UTF-16 code units is the limit, however many bytes of UTF-8 they are.
    assert commit(raw, {0: (7, "é" * 4096, -1), 1: (8, "😀" * 2048 + "x", -1)}) == {
        0: NONE, 1: OFFSET_METADATA_TOO_LARGE}
    assert broker.committed("g", [T0, T1]) == {T0: OffsetAndMetadata(7, "é" * 4096),
                                               T1: OffsetAndMetadata(6, "ok", 4)}
    assert commit(raw, {0: (9, None, -1)}) == {0: NONE}  # null metadata: always taken
    # A group error answers every partition, before any metadata is judged (Kafka's order).
    Topic = OffsetCommitRequest.OffsetCommitRequestTopic  # noqa: N806
    response = raw.request(OffsetCommitRequest[8](
        group_id="g", generation_id_or_member_epoch=3, member_id="ghost", group_instance_id=None,
        topics=[Topic(name="t", partitions=[Topic.OffsetCommitRequestPartition(
            partition_index=p, committed_offset=1, committed_leader_epoch=-1,
            committed_metadata=m) for p, m in ((0, TOO_LONG), (1, ""))])]))
    assert [p.error_code for p in response.topics[0].partitions] == [25, 25]  # UNKNOWN_MEMBER


def test_the_limit_is_the_brokers_setting():
    with Broker(offset_metadata_max_bytes=2) as broker, broker.serve_kafka() as listener, \
            RawClient(listener.address) as raw:
        broker.create_topic("t", 2)
        assert commit(raw, {0: (1, "abc", -1), 1: (1, "ab", -1)}) == {
            0: OFFSET_METADATA_TOO_LARGE, 1: NONE}
    # Kafka sets no lower bound: below 0 even "" is too long, a null never is.
    with Broker(offset_metadata_max_bytes=-1) as broker, broker.serve_kafka() as listener, \
            RawClient(listener.address) as raw:
        broker.create_topic("t", 2)
        assert commit(raw, {0: (1, "", -1), 1: (1, None, -1)}) == {
            0: OFFSET_METADATA_TOO_LARGE, 1: NONE}
        assert broker.committed("g", [T1])[T1] == OffsetAndMetadata(1, "")


@pytest.mark.parametrize("version", [5, 7, 8, 9])
def test_offset_fetch_answers_the_committed_leader_epoch(broker, raw, version):
    broker.create_topic("t", 2)
    assert commit(raw, {0: (5, "a", 7), 1: (6, "b", -1)}) == {0: NONE, 1: NONE}
    assert fetch(raw, version=version) == {0: (5, "a", 7), 1: (6, "b", -1)}
    assert fetch(raw, version=version, group="nobody") == {0: (-1, "", -1), 1: (-1, "", -1)}


def test_versions_without_the_fields_store_and_answer_none(broker, raw):
    broker.create_topic("t", 2)
    assert commit(raw, {0: (5, "a", 7)}, version=5) == {0: NONE}  # v5: no leader epoch
    assert broker.committed("g", [T0])[T0] == OffsetAndMetadata(5, "a", -1)
    assert commit(raw, {1: (6, "b", 7)}) == {1: NONE}
    assert fetch(raw, version=4) == {0: (5, "a", None), 1: (6, "b", None)}
    assert fetch(raw, version=5) == {0: (5, "a", -1), 1: (6, "b", 7)}


def txn_commit(raw, ids, offsets, *, group="g", version=3, generation=-1, member=""):
    """TxnOffsetCommit of ``{partition of t: (offset, metadata, epoch)}``: codes by partition."""
    Topic = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic  # noqa: N806
    response = raw.request(TxnOffsetCommitRequest[version](
        transactional_id="tx", group_id=group, producer_id=ids[0], producer_epoch=ids[1],
        generation_id=generation, member_id=member, group_instance_id=None,
        topics=[Topic(name="t", partitions=[
            Topic.TxnOffsetCommitRequestPartition(
                partition_index=p, committed_offset=o, committed_leader_epoch=e,
                committed_metadata=m) for p, (o, m, e) in offsets.items()])]))
    return {p.partition_index: p.error_code for t in response.topics for p in t.partitions}


def test_txn_offset_commit_refuses_too_long_metadata_and_stages_the_rest(broker, raw):
    broker.create_topic("t", 2)
    ids = started(raw, broker)
    assert add_offsets(raw, ids, "g") == NONE
    assert txn_commit(raw, ids, {0: (3, TOO_LONG, 1), 1: (4, "ok", 2)}) == {
        0: OFFSET_METADATA_TOO_LARGE, 1: NONE}
    assert end(raw, ids, committed=True) == NONE
    assert broker.committed("g", [T0, T1]) == {T0: None, T1: OffsetAndMetadata(4, "ok", 2)}


def test_txn_offset_commit_checks_the_consumer_before_the_metadata(broker, raw):
    # Kafka's coordinator validates the member first: its error answers every partition, even
    # one whose metadata is too long.
    broker.create_topic("t", 2)
    joined = join_alone(broker, "g", ["t"])
    ids = started(raw, broker)
    assert add_offsets(raw, ids, "g") == NONE
    assert txn_commit(raw, ids, {0: (3, TOO_LONG, 1), 1: (4, TOO_LONG, 2)},
                      generation=joined.generation, member="ghost") == {
        0: UNKNOWN_MEMBER_ID, 1: UNKNOWN_MEMBER_ID}
    assert txn_commit(raw, ids, {0: (3, TOO_LONG, 1), 1: (4, "ok", 2)},
                      generation=joined.generation, member=joined.member_id) == {
        0: OFFSET_METADATA_TOO_LARGE, 1: NONE}


@pytest.mark.timeout(60)
def test_a_clusters_listeners_refuse_too_long_metadata_and_keep_the_epoch(served):
    kafka = pytest.importorskip("kafka")
    cluster, listeners = served
    consumer = kafka.KafkaConsumer(bootstrap_servers=listeners.bootstrap_servers,
                                   group_id="fields", enable_auto_commit=False)
    try:
        tp0, tp1 = kafka.TopicPartition("t", 0), kafka.TopicPartition("t", 1)
        with pytest.raises(kafka.errors.OffsetMetadataTooLargeError):
            consumer.commit({tp0: kafka.OffsetAndMetadata(3, TOO_LONG, 1),
                             tp1: kafka.OffsetAndMetadata(4, "ok", 2)})
        assert consumer.committed(tp0) is None
        assert tuple(consumer.committed(tp1, metadata=True)) == (4, "ok", 2)
    finally:
        consumer.close()
    assert cluster.connect().committed("fields", [T0, T1]) == {
        T0: None, T1: OffsetAndMetadata(4, "ok", 2)}
