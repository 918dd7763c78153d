"""ListOffsets naming a partition twice, answered as Kafka's ``ReplicaManager.fetchOffset``:
that partition once, with INVALID_REQUEST (``ListOffsetsRequest.duplicatePartitions``), the
others as usual, and one entry per topic (its answers are keyed by partition)."""

from __future__ import annotations

from kafka.protocol.consumer import ListOffsetsRequest

from pcmodel.topics.structs import OffsetSpec

INVALID_REQUEST = 42
Topic = ListOffsetsRequest.ListOffsetsTopic


def asked(*partitions):
    return [Topic.ListOffsetsPartition(partition_index=p, current_leader_epoch=-1,
                                       timestamp=OffsetSpec.LATEST) for p in partitions]


def test_a_partition_named_twice_is_answered_once_with_invalid_request(broker, raw):
    broker.create_topic("t", 2)
    broker.append("t", 1, [(None, b"a"), (None, b"b")])
    response = raw.request(ListOffsetsRequest[7](
        replica_id=-1, isolation_level=0,
        topics=[Topic(name="t", partitions=asked(0, 1)), Topic(name="t", partitions=asked(0))]))
    assert [(t.name, [(p.partition_index, p.error_code, p.offset) for p in t.partitions])
            for t in response.topics] == [("t", [(0, INVALID_REQUEST, -1), (1, 0, 2)])]
