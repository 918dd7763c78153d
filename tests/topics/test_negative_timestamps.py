"""Negative timestamps: refused by pcmodel's own producer and records, as Java's
``ProducerRecord`` refuses them; kept and judged as Kafka's broker does when a Kafka client's
batch carries them (:class:`~pcmodel.topics.log_records.WireRecord`)."""

from __future__ import annotations

import pytest

from pcmodel.topics.errors import IllegalArgumentError, InvalidTimestampError
from pcmodel.topics.log_records import (
    NO_TIMESTAMP,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    WireRecord,
    validate_records,
)
from pcmodel.topics.log_settings import LogSettings
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import TopicPartition

NOW = 1_700_000_000_000
HOUR = 3_600_000
TP = TopicPartition("t", 0)


def stored(broker):
    return [(r.timestamp, r.timestamp_type) for r in broker.fetch({TP: 0})[TP].records]


def test_the_window_never_judges_no_timestamp():
    window = LogSettings(timestamp_before_max_ms=HOUR, timestamp_after_max_ms=HOUR)
    assert window.timestamp_error([(None, b"v", (), NO_TIMESTAMP)], NOW) is None
    assert window.timestamp_error([(None, b"v", (), NO_TIMESTAMP), (None, b"v", (), NOW)],
                                  NOW) is None
    error = window.timestamp_error([(None, b"v", (), NO_TIMESTAMP), (None, b"v", (), -5)], NOW)
    assert error.startswith("Timestamp -5 of the record at index 1 of the batch is out of range")


def test_an_unbounded_window_takes_any_negative_create_time():
    assert LogSettings().timestamp_error([(None, b"v", (), -5), (None, b"v", (), -2**63)],
                                         NOW) is None


def test_a_wire_record_keeps_its_negative_timestamp_and_a_plain_one_is_refused():
    records = [WireRecord(None, b"a", (), -1), WireRecord(b"k", b"b", (("h", b"1"),), -5)]
    assert [ts for *_, ts in validate_records(records)] == [-1, -5]
    with pytest.raises(IllegalArgumentError, match="timestamp_ms must be >= 0, got -5"):
        validate_records([(None, b"a", (), -5)])


def test_the_broker_stores_a_kafka_clients_negative_times_as_sent(broker):
    broker.create_topic("t", 1)
    result = broker.append("t", 0, [WireRecord(None, b"a", (), -1),
                                    WireRecord(None, b"b", (), -5)])
    assert (result.log_append_time_ms, result.max_timestamp_ms) == (-1, -1)
    assert stored(broker) == [(-1, TIMESTAMP_CREATE_TIME), (-5, TIMESTAMP_CREATE_TIME)]


def test_a_finite_window_refuses_minus_five_and_names_only_it(broker):
    broker.create_topic("t", 1, configs={"message.timestamp.before.max.ms": str(HOUR)})
    with pytest.raises(InvalidTimestampError) as refused:
        broker.append("t", 0, [WireRecord(None, b"a", (), -1), WireRecord(None, b"b", (), -5)])
    assert [index for index, _ in refused.value.record_errors] == [1]
    assert broker.end_offsets([TP]) == {TP: 0}


def test_a_log_append_time_topic_stamps_every_negative_time(broker):
    broker.create_topic("t", 1, configs={"message.timestamp.type": "LogAppendTime"})
    result = broker.append("t", 0, [WireRecord(None, b"a", (), -1),
                                    WireRecord(None, b"b", (), -5)])
    assert stored(broker) == [(result.log_append_time_ms, TIMESTAMP_LOG_APPEND_TIME)] * 2


@pytest.mark.parametrize("timestamp_ms", [-1, -5])
def test_pcmodels_producer_refuses_a_negative_timestamp_as_javas_does(broker, timestamp_ms):
    broker.create_topic("t", 1)
    with KafkaProducer(broker=broker) as producer, \
            pytest.raises(IllegalArgumentError, match="timestamp_ms"):
        producer.send("t", b"v", timestamp_ms=timestamp_ms)
    assert broker.end_offsets([TP]) == {TP: 0}


def test_retention_judges_a_record_without_a_time_with_the_next_timed_one():
    # Kafka deletes by segment: a segment's largest timestamp (its file's last change when it
    # has none) says when it is due; records timed below 0 go with the records after them.
    from pcmodel.topics.retention import first_kept_by_age

    def entry(ts: int) -> tuple:
        return (0, ts)  # (offset, timestamp): what timestamp_of reads of a stored record

    now_minus_retention = 1_000
    untimed_at_the_end = [entry(10), entry(-1), entry(-5)]
    assert first_kept_by_age(untimed_at_the_end, 0, 3, now_minus_retention) == 1
    untimed_before_an_old_one = [entry(-1), entry(-5), entry(20), entry(5_000)]
    assert first_kept_by_age(untimed_before_an_old_one, 0, 4, now_minus_retention) == 3
    untimed_before_a_new_one = [entry(10), entry(-1), None, entry(5_000)]
    assert first_kept_by_age(untimed_before_a_new_one, 0, 4, now_minus_retention) == 1
