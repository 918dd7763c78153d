"""A program that reads the leader epoch of its records, and of the offsets it commits, run on
every target of the ``kafka`` fixture (see conftest.py).

On a topic whose partition never changed leader, Apache Kafka writes every batch in leader
epoch 0; the consumer hands that epoch out on each record (``ConsumerRecord.leader_epoch``), a
commit of its position carries the epoch of the last record consumed (KIP-320), and a lookup
by time answers the epoch of the record it found.
"""

from __future__ import annotations

from tests.portability.test_programs import (
    OFFSETS_API,
    consumer,
    create,
    new_topic_name,
    poll_values,
    requires,
)

EXPECTED = {"records": [0, 0, 0], "committed": (3, 0), "found": (1, 0)}

#: Where Tansu answers differently from Apache Kafka (not compared there).
TANSU_DEVIATIONS = {
    "committed": "the leader epoch of a commit is not stored (-1 comes back)",
    "found": "lookup by timestamp answers offset 0",
}


def test_records_and_commits_carry_the_leader_epoch(kafka):
    requires(kafka, OFFSETS_API)
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection)
    for i in range(3):
        producer.send(topic, f"e{i}".encode(), timestamp_ms=1000 * (i + 1))
    producer.flush()
    producer.close()
    tp = kafka.TopicPartition(topic, 0)
    c = consumer(kafka, group_id=f"g-{topic}", enable_auto_commit=False)
    c.assign([tp])
    observed = {"records": [r.leader_epoch for r in poll_values(c, 3)]}
    c.commit()
    committed = c.committed(tp, metadata=True)
    observed["committed"] = (committed.offset, committed.leader_epoch)
    found = c.offsets_for_times({tp: 1500})[tp]
    observed["found"] = (found.offset, found.leader_epoch)
    c.close()
    expected = dict(EXPECTED)
    if kafka.name == "kafka-python-tansu":
        for field in TANSU_DEVIATIONS:
            expected.pop(field)
            observed.pop(field)
    assert observed == expected
