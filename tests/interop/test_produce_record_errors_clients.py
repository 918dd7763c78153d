"""Real producers hear which records of a batch the listener refused (ProduceResponse v8+'s
``record_errors``), as Kafka names them: each record without a key on a compacted topic fails
with its own reason, and the records sent with it fail as innocent bystanders."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker

pytestmark = pytest.mark.timeout(60)

#: One batch: two records without a key around one with a key.
_KEYS = [None, b"k", None]
_WHY = "Compacted topic cannot accept message without key in topic partition table-0"


@pytest.fixture
def compacted():
    """``(broker, bootstrap)``: a listener with a compacted topic ``table``."""
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("table", 1, configs={"cleanup.policy": "compact"})
        yield broker, listener.bootstrap_servers


def test_kafka_python_names_each_record_without_a_key(compacted):
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    broker, bootstrap = compacted
    # A long linger and flush(): the three records travel in one batch.
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, linger_ms=60_000)
    try:
        futures = [producer.send("table", b"v", key=key) for key in _KEYS]
        producer.flush(timeout=20)
        errors = [future.exception for future in futures]
    finally:
        producer.close()
    assert [type(e) for e in errors] == [kafka.errors.InvalidRecordError, kafka.errors.KafkaError,
                                         kafka.errors.InvalidRecordError]
    assert _WHY in str(errors[0]) and _WHY in str(errors[2])
    assert "part of a batch which had one more more invalid records" in str(errors[1])
    assert broker.end_offsets([("table", 0)]) == {("table", 0): 0}


def test_confluent_kafka_names_each_record_without_a_key(compacted):
    confluent = pytest.importorskip("confluent_kafka",
                                    reason="needs confluent-kafka (the interop extra)")
    broker, bootstrap = compacted
    reports = {}
    producer = confluent.Producer({"bootstrap.servers": bootstrap, "linger.ms": 60_000})
    for i, key in enumerate(_KEYS):
        producer.produce("table", b"v", key=key,
                         on_delivery=lambda err, msg, i=i: reports.__setitem__(i, err))
    assert producer.flush(20) == 0  # flush() sends at once, whatever the linger
    assert [reports[i].code() for i in range(3)] == [
        confluent.KafkaError.INVALID_RECORD, confluent.KafkaError._INVALID_DIFFERENT_RECORD,
        confluent.KafkaError.INVALID_RECORD]
    # (confluent-kafka's delivery report carries the code alone, not the record's reason.)
    assert broker.end_offsets([("table", 0)]) == {("table", 0): 0}
