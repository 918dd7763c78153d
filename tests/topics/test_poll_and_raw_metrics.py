"""kafka-python 3's ``poll(update_offsets=False)`` and ``metrics(raw=True)`` on pcmodel's clients.

``update_offsets=False`` hands records out without moving the positions (kafka-python's iterator
moves them record by record itself): the next poll returns the same records again, unless a
seek moved past them. ``metrics(raw=True)`` is the raw form of ``metrics()``: ``{MetricName:
KafkaMetric}``, each metric reading its value when asked, on the consumer and the producer.
"""

from __future__ import annotations

import pytest

from pcmodel.topics import KafkaProducer
from pcmodel.topics.client_metrics import KafkaMetric, MetricName
from tests.topics.conftest import drain, fill, tp

pytestmark = pytest.mark.timeout(30)

T0 = tp("t", 0)


def _poll_until_records(consumer, **options):
    """The first non-empty poll (each waits at most 10 s)."""
    for _ in range(20):
        got = consumer.poll(timeout_ms=500, **options)
        if got:
            return got
    raise AssertionError("no records within 10 s")


def test_a_poll_that_does_not_update_offsets_leaves_the_position(broker, make_consumer):
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a", b"b", b"c", b"d"])
    consumer = make_consumer(auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.assign([T0])
    first = _poll_until_records(consumer, max_records=2, update_offsets=False)
    assert [r.value for r in first[T0]] == [b"a", b"b"]
    assert consumer.position(T0) == 0
    again = _poll_until_records(consumer, max_records=2, update_offsets=False)
    assert [r.value for r in again[T0]] == [b"a", b"b"]  # handed out again
    consumer.seek(T0, 1)  # as kafka-python's iterator moves past each record it yields
    assert [r.value for r in drain(consumer, 3)] == [b"b", b"c", b"d"]
    assert consumer.position(T0) == 4


def test_a_poll_that_does_not_update_offsets_keeps_the_positions_leader_epoch(
        broker, make_consumer):
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a", b"b", b"c"])
    consumer = make_consumer(group_id="g", auto_offset_reset="earliest",
                             enable_auto_commit=False)
    consumer.assign([T0])
    first = _poll_until_records(consumer, max_records=1)
    assert [r.value for r in first[T0]] == [b"a"]  # position 1, after a record of epoch 0
    assert _poll_until_records(consumer, update_offsets=False)[T0][0].value == b"b"
    consumer.commit()
    assert consumer.committed(T0, metadata=True) == (1, "", 0)


def test_update_offsets_must_be_a_bool(broker, make_consumer):
    broker.create_topic("t", 1)
    consumer = make_consumer()
    consumer.assign([T0])
    with pytest.raises(TypeError, match="update_offsets must be True or False"):
        consumer.poll(update_offsets="no")


def test_raw_metrics_name_each_metric_and_read_it_when_asked(broker, make_consumer):
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a", b"b"])
    consumer = make_consumer(auto_offset_reset="earliest", client_id="reader")
    consumer.assign([T0])
    raw = consumer.metrics(raw=True)
    assert all(isinstance(n, MetricName) and isinstance(m, KafkaMetric) for n, m in raw.items())
    cooked = consumer.metrics()
    assert {(n.group, n.name) for n in raw} == {
        (group, name) for group, values in cooked.items() for name in values}
    consumed = MetricName("records-consumed-total", "consumer-fetch-manager-metrics",
                          tags={"client-id": "reader"})
    metric = raw[consumed]  # found by name, group and tags, as in kafka-python
    assert metric.metric_name.description == "The total number of records consumed"
    assert metric.metric_name.tags == {"client-id": "reader"}
    assert metric.value() == 0
    drain(consumer, 2)
    assert metric.value() == 2  # read now, not when metrics() was called


def test_metric_names_compare_as_kafka_pythons():
    tags = {"client-id": "c"}
    one = MetricName("fetch-total", "consumer-fetch-manager-metrics", "a", tags)
    same = MetricName("fetch-total", "consumer-fetch-manager-metrics", "b", dict(tags))
    assert one == same and hash(one) == hash(same)  # the description does not count
    assert one != MetricName("fetch-total", "consumer-fetch-manager-metrics", "a", {})
    with pytest.raises(ValueError, match="non-empty"):
        MetricName("", "g")


def test_the_producers_raw_metrics_are_its_metrics_by_name(broker):
    producer = KafkaProducer(broker=broker, client_id="writer")
    try:
        raw = producer.metrics(raw=True)
        assert {(n.group, n.name) for n in raw} == {
            ("producer-metrics", name) for name in producer.metrics()["producer-metrics"]}
        sent = raw[MetricName("record-send-total", "producer-metrics",
                              tags={"client-id": "writer"})]
        assert sent.value() == 0
        producer.send("t", value=b"v").get(timeout=10)
        assert sent.value() == 1
    finally:
        producer.close()
