"""One program, two clients: ``poll(update_offsets=False)`` and ``metrics(raw=True)`` observe the
same on pcmodel's consumer (in process) as on kafka-python 3's (through pcmodel's Kafka
listener): records handed out while the position stays, the same records again at the next
poll, and raw metrics named by group, name and client-id tag."""

from __future__ import annotations

import pytest

pytest.importorskip("kafka", reason="the comparison needs kafka-python")

import kafka  # noqa: E402

import pcmodel.topics as pcmodel_topics  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def _first_poll(consumer, **options):
    for _ in range(40):
        got = consumer.poll(timeout_ms=250, **options)
        if got:
            return got
    raise AssertionError("no records within 10 s")


def _program(clients, connection):
    """What a consumer observes; written once for both clients (only the import differs)."""
    tp = clients.TopicPartition("t", 0)
    consumer = clients.KafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False,
                                     client_id="reader", **connection)
    try:
        consumer.assign([tp])
        seen = []
        for _ in range(2):
            got = _first_poll(consumer, max_records=2, update_offsets=False)
            seen.append(([r.value for r in got[tp]], consumer.position(tp)))
        consumer.seek(tp, 1)  # past the first record, as kafka-python's iterator moves
        got = _first_poll(consumer, max_records=2)
        seen.append(([r.value for r in got[tp]], consumer.position(tp)))
        raw = consumer.metrics(raw=True)
        assigned = [(name.tags, metric.value()) for name, metric in raw.items()
                    if (name.group, name.name)
                    == ("consumer-coordinator-metrics", "assigned-partitions")]
        return seen, assigned
    finally:
        consumer.close()


def test_poll_without_updating_offsets_and_raw_metrics_agree():
    with pcmodel_topics.Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        broker.append("t", 0, [(None, b"a"), (None, b"b"), (None, b"c"), (None, b"d")])
        ours = _program(pcmodel_topics, {"broker": broker})
        theirs = _program(kafka, {"bootstrap_servers": listener.bootstrap_servers})
    expected = [([b"a", b"b"], 0), ([b"a", b"b"], 0), ([b"b", b"c"], 3)]
    assert ours[0] == theirs[0] == expected
    assert ours[1] == theirs[1] == [({"client-id": "reader"}, 1)]
