"""kafka-python 3 and confluent-kafka (librdkafka) behind one small interface, for the
transaction lessons: a transactional producer, and a consumer read up to an offset.

Each library's calls are its own (kafka-python's ``init_transactions()`` and
``send_offsets_to_transaction(offsets, consumer.group_metadata())``, confluent-kafka's
``init_transactions(timeout)`` and ``consumer_group_metadata()``); the interface only lets
one test body run against both.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

LIBRARIES = ("kafka-python", "confluent-kafka")
#: How long a client may take for any one step before the lesson fails.
STEP_S = 30.0


class TransactionalProducer:
    """A transactional producer of ``library`` with ``transactional_id``."""

    def __init__(self, library: str, bootstrap: str, transactional_id: str) -> None:
        self.library = library
        if library == "kafka-python":
            import kafka

            self._producer = kafka.KafkaProducer(bootstrap_servers=bootstrap,
                                                 transactional_id=transactional_id)
        else:
            import confluent_kafka

            self._producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap,
                                                       "transactional.id": transactional_id})

    def init(self) -> None:
        """``init_transactions()``."""
        if self.library == "kafka-python":
            self._producer.init_transactions()
        else:
            self._producer.init_transactions(STEP_S)

    def begin(self) -> None:
        self._producer.begin_transaction()

    def send(self, topic: str, partition: int, value: bytes) -> None:
        if self.library == "kafka-python":
            self._producer.send(topic, value, partition=partition)
        else:
            self._producer.produce(topic, value, partition=partition)

    def flush(self) -> None:
        """Send every record (they stay in the open transaction)."""
        if self.library == "kafka-python":
            self._producer.flush(timeout=STEP_S)
        else:
            assert self._producer.flush(STEP_S) == 0

    def send_offsets(self, offsets: dict[tuple[str, int], int], consumer: Consumer) -> None:
        """``send_offsets_to_transaction()`` of ``{(topic, partition): next offset}`` for
        ``consumer``'s group (the same library's consumer)."""
        if self.library == "kafka-python":
            import kafka

            self._producer.send_offsets_to_transaction(
                {kafka.TopicPartition(t, p): kafka.OffsetAndMetadata(o, "", -1)
                 for (t, p), o in offsets.items()}, consumer.client.group_metadata())
        else:
            import confluent_kafka

            self._producer.send_offsets_to_transaction(
                [confluent_kafka.TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                consumer.client.consumer_group_metadata(), STEP_S)

    def commit(self) -> None:
        if self.library == "kafka-python":
            self._producer.commit_transaction()
        else:
            self._producer.commit_transaction(STEP_S)

    def abort(self) -> None:
        if self.library == "kafka-python":
            self._producer.abort_transaction()
        else:
            self._producer.abort_transaction(STEP_S)

    def close(self) -> None:
        if self.library == "kafka-python":
            self._producer.close(timeout=5)


def fenced(library: str) -> Any:
    """A context manager that expects the library's error for a fenced producer."""
    if library == "kafka-python":
        import kafka.errors

        return pytest.raises(kafka.errors.ProducerFencedError)
    import confluent_kafka

    return _confluent_fatal(confluent_kafka.KafkaError._FENCED)


class _confluent_fatal:  # noqa: N801 - used as a context manager, like pytest.raises
    """Expect a fatal ``KafkaException`` with ``code``; ``.error`` is its ``KafkaError``."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.error: Any = None

    def __enter__(self) -> _confluent_fatal:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        import confluent_kafka

        if exc is None:
            pytest.fail(f"no KafkaException with code {self.code} was raised")
        if not isinstance(exc, confluent_kafka.KafkaException):
            return False
        self.error = exc.args[0]
        assert (self.error.code(), self.error.fatal()) == (self.code, True), self.error
        return True


class Consumer:
    """A consumer of ``library`` at ``isolation_level``: assigned partitions (``group`` None)
    or subscribed in ``group``; auto-commit off."""

    def __init__(self, library: str, bootstrap: str, isolation_level: str,
                 group: str | None = None) -> None:
        self.library = library
        if library == "kafka-python":
            import kafka

            self.client = kafka.KafkaConsumer(
                bootstrap_servers=bootstrap, group_id=group, isolation_level=isolation_level,
                enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100)
        else:
            import confluent_kafka

            self.client = confluent_kafka.Consumer({
                "bootstrap.servers": bootstrap, "group.id": group or "unused",
                "isolation.level": isolation_level, "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})

    def assign(self, partitions: list[tuple[str, int]]) -> None:
        """Read ``partitions`` from their first offset."""
        if self.library == "kafka-python":
            import kafka

            tps = [kafka.TopicPartition(t, p) for t, p in partitions]
            self.client.assign(tps)
            self.client.seek_to_beginning(*tps)
        else:
            import confluent_kafka

            self.client.assign([confluent_kafka.TopicPartition(t, p, confluent_kafka.
                                                               OFFSET_BEGINNING)
                                for t, p in partitions])

    def subscribe(self, topics: list[str]) -> None:
        """Subscribe, once the client's metadata has every topic's partitions.

        kafka-python joins the group without waiting for the metadata of a topic just
        subscribed to: its leader then assigns that topic nothing ("No partition metadata
        for topic") and counts on a later metadata answer to rebalance. In one loaded run
        the records did not come within the step's 30 s; here the metadata comes first.
        """
        if self.library == "kafka-python":
            deadline = time.monotonic() + STEP_S
            for topic in topics:
                while not self.client.partitions_for_topic(topic):
                    if time.monotonic() > deadline:
                        pytest.fail(f"kafka-python saw no partitions of {topic} in {STEP_S} s")
        self.client.subscribe(topics)

    def poll(self) -> list[tuple[str, int, int, bytes]]:
        """One short poll: ``(topic, partition, offset, value)`` of the records it returned."""
        if self.library == "kafka-python":
            return [(r.topic, r.partition, r.offset, r.value)
                    for records in self.client.poll(timeout_ms=100).values() for r in records]
        message = self.client.poll(0.1)
        if message is None:
            return []
        assert message.error() is None, message.error()
        return [(message.topic(), message.partition(), message.offset(), message.value())]

    def position(self, topic: str, partition: int) -> int:
        """The offset the consumer reads next (``-1`` while it does not know)."""
        if self.library == "kafka-python":
            import kafka

            tp = kafka.TopicPartition(topic, partition)
            return self.client.position(tp) if tp in self.client.assignment() else -1
        import confluent_kafka

        (found,) = self.client.position([confluent_kafka.TopicPartition(topic, partition)])
        return found.offset

    def read_to(self, ends: dict[tuple[str, int], int]) -> list[tuple[str, int, int, bytes]]:
        """Poll until the position of each partition reached its end offset in ``ends``; the
        records returned on the way, in order."""
        got: list[tuple[str, int, int, bytes]] = []
        deadline = time.monotonic() + STEP_S
        while any(self.position(*tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                pytest.fail(f"{self.library} did not reach {ends} within {STEP_S} s: "
                            f"read {got}")
            got += self.poll()
        return got

    def read_count(self, count: int) -> list[tuple[str, int, int, bytes]]:
        """Poll until ``count`` records came; return them."""
        got: list[tuple[str, int, int, bytes]] = []
        deadline = time.monotonic() + STEP_S
        while len(got) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{self.library} got {got}, not {count} records, in {STEP_S} s")
            got += self.poll()
        return got

    def close(self) -> None:
        self.client.close()


def read_all(library: str, bootstrap: str, level: str, ends: dict) -> list:
    """Every record a fresh consumer of ``library`` at isolation ``level`` reads from the
    partitions of ``ends`` (``{(topic, partition): end offset}``) up to those ends."""
    consumer = Consumer(library, bootstrap, level)
    try:
        consumer.assign(list(ends))
        return consumer.read_to(ends)
    finally:
        consumer.close()


def values(records: list[tuple[str, int, int, bytes]]) -> list[bytes]:
    return [value for _, _, _, value in records]
