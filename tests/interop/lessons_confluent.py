"""The lesson programs written with confluent-kafka (librdkafka), as a student would write them.

Same lessons and same observations as :mod:`tests.interop.lessons_kafka_python`. librdkafka's
own habits, normalised here so that both can be compared with Apache Kafka's answer: its
default partitioner is CRC32-based, so the keyed lesson sets ``partitioner=murmur2_random``
(the Java client's default); an ``acks=0`` delivery reports no offset (``None``), returned as -1
like the Java client's; ``offsets_for_times`` answers -1 ("end") where kafka-python
answers ``None``, returned as ``None``.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

TIMEOUT_S = 15
CLIENT = {"socket.timeout.ms": 5000, "log_level": 3}


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, **CLIENT})


def _wait(futures: dict) -> None:
    for future in futures.values():
        future.result(TIMEOUT_S)


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = _admin(bootstrap)  # kept alive until the futures resolve
    _wait(admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=TIMEOUT_S))


def _producer(bootstrap: str, **settings: Any) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **CLIENT, **settings})


def _flush(producer: Producer) -> None:
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} records not delivered within {TIMEOUT_S} s"


def _consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "lessons",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest", **CLIENT})


def _read(consumer: Consumer, count: int) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(records) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        records.append(msg)
    return records


def _consume_all(bootstrap: str, topic: str, partitions: int, count: int) -> list[Any]:
    consumer = _consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        return _read(consumer, count)
    finally:
        consumer.close()


def keyed_order(bootstrap: str, topic: str) -> dict:
    """Records with the same key land on one partition, in the order they were sent."""
    create_topic(bootstrap, topic, 3)
    keys = [f"user-{i}" for i in range(6)]
    producer = _producer(bootstrap, partitioner="murmur2_random")
    for seq in range(5):
        for key in keys:
            producer.produce(topic, key=key.encode(), value=f"{key}:{seq}".encode())
    _flush(producer)
    records = _consume_all(bootstrap, topic, 3, 30)
    partitions: dict[str, set[int]] = {}
    order: dict[str, list[int]] = {}
    for r in records:
        key = r.key().decode()
        partitions.setdefault(key, set()).add(r.partition())
        order.setdefault(key, []).append(int(r.value().decode().split(":")[1]))
    return {"count": len(records), "partitions": {k: sorted(v) for k, v in partitions.items()},
            "order": order}


def seek_and_replay(bootstrap: str, topic: str) -> dict:
    """Start reading at an offset; seek() back to 0 replays everything."""
    create_topic(bootstrap, topic, 1)
    producer = _producer(bootstrap)
    for i in range(10):
        producer.produce(topic, value=b"m%d" % i)
    _flush(producer)
    consumer = _consumer(bootstrap)
    try:
        # librdkafka seeks only partitions it is already fetching: start at 4 via assign().
        consumer.assign([TopicPartition(topic, 0, 4)])
        after_seek = [m.offset() for m in _read(consumer, 6)]
        consumer.seek(TopicPartition(topic, 0, 0))
        replay = [m.offset() for m in _read(consumer, 10)]
        (position,) = consumer.position([TopicPartition(topic, 0)])
    finally:
        consumer.close()
    return {"after_seek": after_seek, "replay": replay, "position": position.offset}


def group_offsets(bootstrap: str, topic: str) -> dict:
    """An admin moves a stopped group's committed offset; the group's next consumer starts
    there."""
    create_topic(bootstrap, topic, 1)
    producer = _producer(bootstrap)
    for i in range(5):
        producer.produce(topic, value=b"g%d" % i)
    _flush(producer)
    group = f"admin-{topic}"
    admin = _admin(bootstrap)
    moved = TopicPartition(topic, 0, 3, metadata="by-admin")
    (altered,) = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [moved])])[group].result(TIMEOUT_S).topic_partitions
    (listed,) = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)])[group].result(TIMEOUT_S).topic_partitions
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, **CLIENT})
    try:
        consumer.assign([TopicPartition(topic, 0)])  # no offset: the group's committed one
        (first,) = _read(consumer, 1)
    finally:
        consumer.close()
    return {"altered": 0 if altered.error is None else altered.error.code(),
            "committed": listed.offset, "metadata": listed.metadata,
            "first_read": first.offset()}


def offsets_by_timestamp(bootstrap: str, topic: str) -> dict:
    """offsets_for_times finds the first record at or after a time; past the last: nothing."""
    create_topic(bootstrap, topic, 1)
    base = 1_700_000_000_000
    producer = _producer(bootstrap)
    for i in range(5):
        producer.produce(topic, value=b"t%d" % i, timestamp=base + 1000 * i)
        _flush(producer)  # one batch per record: lookups inside a batch differ
    consumer = _consumer(bootstrap)
    try:
        def lookup(ts: int) -> int | None:
            (tp,) = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], TIMEOUT_S)
            return None if tp.offset < 0 else tp.offset

        found, exact, beyond = lookup(base + 1500), lookup(base + 3000), lookup(base + 10_000)
        earliest, latest = consumer.get_watermark_offsets(TopicPartition(topic, 0), TIMEOUT_S)
    finally:
        consumer.close()
    return {"found": found, "exact": exact, "beyond": beyond, "earliest": earliest,
            "latest": latest}


def gzip_headers(bootstrap: str, topic: str) -> dict:
    """gzip-compressed batches with headers come back as they were sent."""
    create_topic(bootstrap, topic, 1)
    producer = _producer(bootstrap, **{"compression.type": "gzip", "linger.ms": 20})
    for i in range(20):
        producer.produce(topic, key=b"k%d" % i, value=b"payload-%d " % i * 20,
                         headers=[("trace", b"id-%d" % i), ("source", b"lesson")])
    _flush(producer)
    consumer = _consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        records = _read(consumer, 20)
        _, latest = consumer.get_watermark_offsets(TopicPartition(topic, 0), TIMEOUT_S)
    finally:
        consumer.close()
    return {
        "records": [(r.offset(), r.key(), r.value(), [tuple(h) for h in r.headers() or []])
                    for r in records],
        "latest": latest,
    }


def _error_code(futures: dict) -> int | str:
    try:
        _wait(futures)
    except KafkaException as exc:
        return exc.args[0].code()
    return "ok"


def create_delete_topics(bootstrap: str, topic: str) -> dict:
    """The admin client creates, grows, lists and deletes topics, with Kafka's errors."""
    admin = _admin(bootstrap)
    seen: dict[str, Any] = {}
    _wait(admin.create_topics([NewTopic(topic, 3, 1)]))
    seen["create_again"] = _error_code(admin.create_topics([NewTopic(topic, 3, 1)]))
    seen["listed"] = topic in admin.list_topics(timeout=TIMEOUT_S).topics
    grow = _error_code(admin.create_partitions([NewPartitions(topic, 5)]))
    seen["grow"] = "unsupported" if grow == KafkaError._UNSUPPORTED_FEATURE else grow
    seen["partitions"] = len(admin.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions)
    seen["shrink"] = _error_code(admin.create_partitions([NewPartitions(topic, 2)]))
    _wait(admin.delete_topics([topic]))
    seen["listed_after_delete"] = topic in admin.list_topics(timeout=TIMEOUT_S).topics
    seen["delete_again"] = _error_code(admin.delete_topics([topic]))
    return seen


def acks(bootstrap: str, topic: str) -> dict:
    """acks=0 returns no offset; acks=1 and acks=all return where each record landed."""
    create_topic(bootstrap, topic, 1)
    offsets: dict[str, list[int]] = {}
    for setting in (0, 1, "all"):
        delivered: list[int] = []

        def on_delivery(err: Any, msg: Any, out: list[int] = delivered) -> None:
            offset = msg.offset()  # None for acks=0
            out.append(-1 if err or offset is None or offset < 0 else offset)

        producer = _producer(bootstrap, acks=setting,
                             **{"enable.idempotence": setting == "all"})
        for i in range(5):
            producer.produce(topic, value=b"%s-%d" % (str(setting).encode(), i),
                             on_delivery=on_delivery)
        _flush(producer)
        offsets[str(setting)] = delivered
        # acks=0's flush returns once the records are sent, not stored: read them back before
        # the next producer, on another connection, can store its records first.
        assert len(_consume_all(bootstrap, topic, 1, 5 * len(offsets))) == 5 * len(offsets)
    records = _consume_all(bootstrap, topic, 1, 15)
    return {"offsets": offsets, "values": [r.value() for r in records]}
