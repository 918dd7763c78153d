"""A produced batch whose header claims ``LogAppendTime`` (attribute bit 3), judged as Kafka's
``LogValidator.validateTimestamp`` judges it.

Each record of such a batch reads the batch's max timestamp as its own. A ``LogAppendTime``
topic refuses every record with INVALID_TIMESTAMP, and so does a ``CreateTime`` topic when that
timestamp is -1 (``NO_TIMESTAMP``); a ``CreateTime`` topic judges any other by its window, like
a create time, and keeps the batch.
"""

from __future__ import annotations

import struct

from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import RawClient, produce_request

INVALID_RECORD, INVALID_TIMESTAMP = 87, 32
TP = TopicPartition("t", 0)
ATTRIBUTES_AT, CRC_AT, MAX_TIMESTAMP_AT = 21, 17, 35


def claimed_batch(count: int, max_timestamp: int, *, keys=None) -> bytes:
    """A v2 batch of ``count`` records flagged LogAppendTime with ``max_timestamp``, written
    as a broker writes those fields (the CRC fixed after them)."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=2**20)
    for i in range(count):
        builder.append(i, 1_000 + i, None if keys is None else keys[i], b"v%d" % i, [])
    batch = builder.build()
    attributes = struct.unpack_from(">h", batch, ATTRIBUTES_AT)[0] | 0x08
    struct.pack_into(">h", batch, ATTRIBUTES_AT, attributes)
    struct.pack_into(">q", batch, MAX_TIMESTAMP_AT, max_timestamp)
    struct.pack_into(">I", batch, CRC_AT, calc_crc32c(bytes(batch[ATTRIBUTES_AT:])))
    return bytes(batch)


def produce(raw, batch):
    return raw.request(produce_request("t", 0, batch)).responses[0].partition_responses[0]


def test_a_log_append_time_topic_refuses_every_record(broker, raw):
    broker.create_topic("t", 1, configs={"message.timestamp.type": "LogAppendTime"})
    part = produce(raw, claimed_batch(2, 5_000))
    assert part.error_code == INVALID_TIMESTAMP
    assert part.error_message == "One or more records have been rejected due to invalid timestamp"
    assert [(e.batch_index, e.batch_index_error_message) for e in part.record_errors] == [
        (i, f"Invalid timestamp type in message DefaultRecord(offset={i}, timestamp=5000, "
            "key=0 bytes, value=2 bytes). Producer should not set timestamp type to "
            "LogAppendTime.") for i in range(2)]
    assert (part.base_offset, part.log_start_offset) == (-1, 0)
    assert broker.end_offsets([TP]) == {TP: 0}


def test_a_create_time_topic_refuses_the_claim_without_a_timestamp(broker, raw):
    broker.create_topic("t", 1)
    part = produce(raw, claimed_batch(2, -1))
    assert part.error_code == INVALID_TIMESTAMP
    assert [e.batch_index for e in part.record_errors] == [0, 1]
    assert broker.end_offsets([TP]) == {TP: 0}


def test_a_compacted_topic_names_a_missing_key_first(broker, raw):
    broker.create_topic("t", 1, configs={"message.timestamp.type": "LogAppendTime",
                                         "cleanup.policy": "compact"})
    part = produce(raw, claimed_batch(2, 5_000, keys=[None, b"k"]))
    assert part.error_code == INVALID_TIMESTAMP  # it wins over INVALID_RECORD, as in Kafka
    messages = [e.batch_index_error_message for e in part.record_errors]
    assert messages[0] == "Compacted topic cannot accept message without key in topic partition t-0"
    assert messages[1].endswith("Producer should not set timestamp type to LogAppendTime.")


def test_a_create_time_topic_keeps_the_claimed_time_as_a_create_time(broker, raw):
    broker.create_topic("t", 1)
    part = produce(raw, claimed_batch(2, 5_000))
    assert (part.error_code, part.base_offset, part.log_append_time_ms) == (0, 0, -1)
    records = broker.fetch({TP: 0})[TP].records
    assert [(r.timestamp, r.timestamp_type) for r in records] == [(5_000, 0), (5_000, 0)]


def test_a_clusters_leader_judges_the_claim_the_same_way(served):
    cluster, listeners = served
    tp = TopicPartition("t", 1)
    conn = cluster.connect()
    before = conn.end_offsets([tp])[tp]
    with RawClient(listeners.addresses[cluster.leader("t", 1)]) as raw:
        response = raw.request(produce_request("t", 1, claimed_batch(1, -1), acks=-1))
    part = response.responses[0].partition_responses[0]
    assert part.error_code == INVALID_TIMESTAMP
    assert [e.batch_index for e in part.record_errors] == [0]
    assert conn.end_offsets([tp])[tp] == before
