"""ListOffsets ``MAX_TIMESTAMP`` (-3) on a log of negative timestamps, as Kafka answers it.

Kafka's ``UnifiedLog.fetchOffsetByTimestamp`` looks for the segment's largest timestamp, which
starts at ``NO_TIMESTAMP`` (-1) and only a larger one replaces (``LogSegment``): in a log whose
records all carry negative timestamps it finds the first record with -1, and nothing (offset
and timestamp -1) when every timestamp lies below -1.
"""

from __future__ import annotations

import pytest
from kafka.protocol.consumer import ListOffsetsRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

from pcmodel.topics.structs import OffsetSpec, TopicPartition
from tests.wire.conftest import produce_request

TP = TopicPartition("t", 0)


def timed_batch(timestamps) -> bytes:
    """One v2 batch with a record per timestamp, as a Kafka client sends it."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=2**20)
    for i, timestamp in enumerate(timestamps):
        builder.append(i, timestamp, None, b"%d" % i, [])
    return bytes(builder.build())


def max_timestamp(raw) -> tuple[int, int, int]:
    """ListOffsets MAX_TIMESTAMP for ``t-0``: ``(error code, timestamp, offset)``."""
    Topic = ListOffsetsRequest.ListOffsetsTopic  # noqa: N806
    part = raw.request(ListOffsetsRequest[7](
        replica_id=-1, isolation_level=0, topics=[Topic(name="t", partitions=[
            Topic.ListOffsetsPartition(partition_index=0, current_leader_epoch=-1,
                                       timestamp=OffsetSpec.MAX_TIMESTAMP)])])
    ).topics[0].partitions[0]
    return part.error_code, part.timestamp, part.offset


@pytest.mark.parametrize("batches, answer", [
    ([[-5, -1, -1], [-2, -1]], (0, -1, 1)),  # the first record with -1
    ([[-5], [-2, -7]], (0, -1, -1)),  # none with -1: nothing found
    ([[-5, -1], [3, 3]], (0, 3, 2)),  # a timestamp of 0 or more wins, as always
])
def test_max_timestamp_among_negative_times(broker, raw, batches, answer):
    broker.create_topic("t", 1)
    for timestamps in batches:
        produced = raw.request(produce_request("t", 0, timed_batch(timestamps)))
        assert produced.responses[0].partition_responses[0].error_code == 0
    assert max_timestamp(raw) == answer
    found = broker.list_offsets({TP: OffsetSpec.MAX_TIMESTAMP})[TP]
    expected = None if answer[2] == -1 else (answer[2], answer[1])
    assert (None if found is None else (found.offset, found.timestamp)) == expected
