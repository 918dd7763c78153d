"""The ``log_start_offset`` of a refused Produce, as Kafka's ``ReplicaManager`` answers it.

``appendToLocalLog`` answers -1 (``UNKNOWN_LOG_APPEND_INFO``) for what it refuses before or
while reading the batch (an unknown partition, a batch too large or corrupt), and the
partition's log start for everything its log refuses: records, a control batch from a
client (``LogValidator.validateBatch``), a producer's sequence or epoch.
"""

from __future__ import annotations

from kafka.protocol.producer import InitProducerIdRequest

from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import produce_request, record_batch

TP = TopicPartition("t", 0)
INVALID_RECORD, OUT_OF_ORDER_SEQUENCE, MESSAGE_TOO_LARGE, UNKNOWN_PARTITION = 87, 45, 10, 3


def produce(raw, batch, partition=0):
    response = raw.request(produce_request("t", partition, batch))
    return response.responses[0].partition_responses[0]


def started_at_two(broker):
    """Topic ``t`` whose partition 0 starts at offset 2 (records below it deleted)."""
    broker.create_topic("t", 2, configs={"max.message.bytes": "2000"})
    broker.append("t", 0, [(None, b"%d" % i) for i in range(3)])
    broker.delete_records({TP: 2})
    assert broker.beginning_offsets([TP]) == {TP: 2}


def test_a_sequence_the_log_refuses_answers_the_log_start(broker, raw):
    started_at_two(broker)
    init = raw.request(InitProducerIdRequest[4](
        transactional_id=None, transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1))
    first = (init.producer_id, init.producer_epoch, 0)
    assert produce(raw, record_batch([b"a"], producer=first)).error_code == 0
    gap = (init.producer_id, init.producer_epoch, 5)
    part = produce(raw, record_batch([b"c"], producer=gap))
    assert (part.error_code, part.log_start_offset) == (OUT_OF_ORDER_SEQUENCE, 2)


def test_a_control_batch_from_a_client_answers_the_log_start(broker, raw):
    started_at_two(broker)
    part = produce(raw, record_batch([b"x"], control=True))
    assert (part.error_code, part.log_start_offset) == (INVALID_RECORD, 2)


def test_what_is_refused_before_the_log_answers_minus_one(broker, raw):
    started_at_two(broker)
    too_large = produce(raw, record_batch([b"x" * 3000]))
    assert (too_large.error_code, too_large.log_start_offset) == (MESSAGE_TOO_LARGE, -1)
    unknown = produce(raw, record_batch([b"x"]), partition=7)
    assert (unknown.error_code, unknown.log_start_offset) == (UNKNOWN_PARTITION, -1)
    assert broker.end_offsets([TP]) == {TP: 3}
