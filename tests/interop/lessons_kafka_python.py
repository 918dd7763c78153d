"""The lesson programs written with kafka-python, as a student would write them.

Each function takes the bootstrap address and a fresh topic name, runs the lesson, and returns
what it observed as plain data; :mod:`tests.interop.test_lessons` compares that with what Apache
Kafka does. The confluent-kafka versions in :mod:`tests.interop.lessons_confluent` observe the
same things, so both return the same shapes.
"""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import IncompatibleBrokerVersion, KafkaError

TIMEOUT_S = 15
CLIENT = {"request_timeout_ms": 5000}


def _admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, **CLIENT)


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = _admin(bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def _send_values(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Send ``values`` to ``topic`` (the partitioner picks) and wait until all are written."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, **CLIENT)
    try:
        for value in values:
            producer.send(topic, value=value)
        producer.flush(TIMEOUT_S)
    finally:
        producer.close(TIMEOUT_S)


def _consume_all(bootstrap: str, topic: str, partitions: int, count: int,
                 **settings: Any) -> list[Any]:
    """Read ``count`` records from the start of every partition (assign, no group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, **CLIENT, **settings)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        records: list[Any] = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def keyed_order(bootstrap: str, topic: str) -> dict:
    """Records with the same key land on one partition, in the order they were sent."""
    create_topic(bootstrap, topic, 3)
    keys = [f"user-{i}" for i in range(6)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **CLIENT)
    try:
        for seq in range(5):
            for key in keys:
                producer.send(topic, key=key.encode(), value=f"{key}:{seq}".encode())
        producer.flush(TIMEOUT_S)
    finally:
        producer.close(TIMEOUT_S)
    records = _consume_all(bootstrap, topic, 3, 30)
    partitions: dict[str, set[int]] = {}
    order: dict[str, list[int]] = {}
    for r in records:
        key = r.key.decode()
        partitions.setdefault(key, set()).add(r.partition)
        order.setdefault(key, []).append(int(r.value.decode().split(":")[1]))
    return {"count": len(records), "partitions": {k: sorted(v) for k, v in partitions.items()},
            "order": order}


def seek_and_replay(bootstrap: str, topic: str) -> dict:
    """seek() to an offset reads from there; seek_to_beginning() replays everything."""
    create_topic(bootstrap, topic, 1)
    _send_values(bootstrap, topic, [b"m%d" % i for i in range(10)])
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **CLIENT)
    try:
        consumer.assign([tp])

        def read(n: int) -> list[int]:
            got: list[int] = []
            deadline = time.monotonic() + TIMEOUT_S
            while len(got) < n and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=200, max_records=n - len(got)).values():
                    got.extend(r.offset for r in batch)
            return got

        consumer.seek(tp, 4)
        after_seek = read(6)
        consumer.seek_to_beginning(tp)
        replay = read(10)
        position = consumer.position(tp)
    finally:
        consumer.close()
    return {"after_seek": after_seek, "replay": replay, "position": position}


def group_offsets(bootstrap: str, topic: str) -> dict:
    """An admin moves a stopped group's committed offset; the group's next consumer starts
    there."""
    create_topic(bootstrap, topic, 1)
    _send_values(bootstrap, topic, [b"g%d" % i for i in range(5)])
    tp, group = TopicPartition(topic, 0), f"admin-{topic}"
    admin = _admin(bootstrap)
    try:
        altered = admin.alter_group_offsets(group, {tp: OffsetAndMetadata(3, "by-admin", -1)})
        listed = admin.list_group_offsets({group: None})[group][tp]
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False, **CLIENT)
    try:
        consumer.assign([tp])  # no membership: the position is the group's committed offset
        first = None
        deadline = time.monotonic() + TIMEOUT_S
        while first is None and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200, max_records=1).values():
                first = batch[0].offset
    finally:
        consumer.close()
    return {"altered": altered[tp].errno, "committed": listed.offset,
            "metadata": listed.metadata, "first_read": first}


def offsets_by_timestamp(bootstrap: str, topic: str) -> dict:
    """offsets_for_times finds the first record at or after a time; past the last: nothing."""
    create_topic(bootstrap, topic, 1)
    base = 1_700_000_000_000
    producer = KafkaProducer(bootstrap_servers=bootstrap, **CLIENT)
    try:
        for i in range(5):
            producer.send(topic, value=b"t%d" % i, timestamp_ms=base + 1000 * i)
            producer.flush(TIMEOUT_S)  # one batch per record: lookups inside a batch differ
    finally:
        producer.close(TIMEOUT_S)
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **CLIENT)
    try:
        found = consumer.offsets_for_times({tp: base + 1500})[tp]
        exact = consumer.offsets_for_times({tp: base + 3000})[tp]
        beyond = consumer.offsets_for_times({tp: base + 10_000})[tp]
        earliest = consumer.beginning_offsets([tp])[tp]
        latest = consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()
    return {
        "found": found.offset,
        "exact": exact.offset,
        "beyond": None if beyond is None else beyond.offset,
        "earliest": earliest,
        "latest": latest,
        # kafka-python also reports the timestamp of the record found (librdkafka does not).
        "timestamps": (found.timestamp - base, exact.timestamp - base),
    }


def gzip_headers(bootstrap: str, topic: str) -> dict:
    """gzip-compressed batches with headers come back as they were sent."""
    create_topic(bootstrap, topic, 1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip",
                             linger_ms=20, **CLIENT)
    try:
        for i in range(20):
            producer.send(topic, key=b"k%d" % i, value=b"payload-%d " % i * 20,
                          headers=[("trace", b"id-%d" % i), ("source", b"lesson")])
        producer.flush(TIMEOUT_S)
    finally:
        producer.close(TIMEOUT_S)
    records = _consume_all(bootstrap, topic, 1, 20)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **CLIENT)
    try:
        latest = consumer.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
    finally:
        consumer.close()
    return {
        "records": [(r.offset, r.key, r.value, [tuple(h) for h in r.headers]) for r in records],
        "latest": latest,
    }


def _error_code(exc: BaseException) -> int | str:
    """Kafka's error code of a failed admin call (``errno`` of kafka-python's error)."""
    return getattr(exc, "errno", None) or type(exc).__name__


def create_delete_topics(bootstrap: str, topic: str) -> dict:
    """The admin client creates, grows, lists and deletes topics, with Kafka's errors."""
    admin = _admin(bootstrap)
    seen: dict[str, Any] = {}
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])
        try:
            admin.create_topics([NewTopic(topic, 3, 1)])
            seen["create_again"] = "ok"
        except KafkaError as exc:
            seen["create_again"] = _error_code(exc)
        seen["listed"] = topic in admin.list_topics()
        try:
            admin.create_partitions({topic: NewPartitions(5)})
            seen["grow"] = "ok"
        except IncompatibleBrokerVersion:
            seen["grow"] = "unsupported"
        (described,) = admin.describe_topics([topic])
        seen["partitions"] = len(described["partitions"])
        try:
            admin.create_partitions({topic: NewPartitions(2)})
            seen["shrink"] = "ok"
        except KafkaError as exc:
            seen["shrink"] = _error_code(exc)
        admin.delete_topics([topic])
        seen["listed_after_delete"] = topic in admin.list_topics()
        try:
            admin.delete_topics([topic])
            seen["delete_again"] = "ok"
        except KafkaError as exc:
            seen["delete_again"] = _error_code(exc)
    finally:
        admin.close()
    return seen


def acks(bootstrap: str, topic: str) -> dict:
    """acks=0 returns no offset; acks=1 and acks=all return where each record landed."""
    create_topic(bootstrap, topic, 1)
    offsets: dict[str, list[int]] = {}
    for setting in (0, 1, "all"):
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks=setting,
                                 enable_idempotence=setting == "all", **CLIENT)
        try:
            futures = [producer.send(topic, value=b"%s-%d" % (str(setting).encode(), i))
                       for i in range(5)]
            producer.flush(TIMEOUT_S)
            metadata = [f.get(TIMEOUT_S) for f in futures]
            # With acks=0 the broker answers nothing: the Java client reports offset -1, while
            # kafka-python 3.0 reports the record's index in its batch (a client matter).
            offsets[str(setting)] = None if setting == 0 else [m.offset for m in metadata]
        finally:
            producer.close(TIMEOUT_S)
        # acks=0's flush returns once the records are sent, not stored: read them back before
        # the next producer, on another connection, can store its records first.
        assert len(_consume_all(bootstrap, topic, 1, 5 * len(offsets))) == 5 * len(offsets)
    records = _consume_all(bootstrap, topic, 1, 15)
    return {"offsets": offsets, "values": [r.value for r in records]}
