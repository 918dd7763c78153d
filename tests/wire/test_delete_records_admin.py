"""DeleteRecords on a lone broker's Kafka listener, answered as Kafka's
``KafkaApis.handleDeleteRecordsRequest`` answers: per partition, once each, a partition no
topic can have refused on its own while the others are deleted."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import DeleteRecordsRequest

pytestmark = pytest.mark.timeout(30)

UNKNOWN_TOPIC_OR_PARTITION = 3
Topic = DeleteRecordsRequest.DeleteRecordsTopic
Partition = Topic.DeleteRecordsPartition


def delete(raw, *entries):
    """DeleteRecords v2 of ``(topic, [(partition, offset)])`` entries: ``{topic: [(partition,
    low watermark, error code)]}``, each topic answered in one entry."""
    answer = raw.request(DeleteRecordsRequest[2](timeout_ms=5000, topics=[
        Topic(name=name, partitions=[Partition(partition_index=p, offset=o) for p, o in parts])
        for name, parts in entries])).topics
    names = [t.name for t in answer]
    assert len(names) == len(set(names)), f"a topic answered twice: {names}"
    return {t.name: sorted((p.partition_index, p.low_watermark, p.error_code)
                           for p in t.partitions) for t in answer}


@pytest.fixture
def filled(broker):
    broker.create_topic("t", 2)
    for partition in (0, 1):
        broker.append("t", partition, [(None, b"x")] * 5)
    return broker


@pytest.mark.parametrize("impossible", [("t", -1), ("", 0)])
def test_a_partition_no_topic_can_have_is_unknown_and_the_others_are_deleted(filled, raw,
                                                                            impossible):
    name, partition = impossible
    answer = delete(raw, ("t", [(0, 2)]), (name, [(partition, 3)]))
    assert (0, 2, 0) in answer["t"]
    assert (partition, -1, UNKNOWN_TOPIC_OR_PARTITION) in answer[name]
    assert filled.beginning_offsets([("t", 0)]) == {("t", 0): 2}


def test_a_partition_named_twice_is_answered_once_with_the_last_offset(filled, raw):
    answer = delete(raw, ("t", [(0, 2), (0, 3)]), ("t", [(1, 4)]))
    assert answer == {"t": [(0, 3, 0), (1, 4, 0)]}
    assert filled.beginning_offsets([("t", 0), ("t", 1)]) == {("t", 0): 3, ("t", 1): 4}
