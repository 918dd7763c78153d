"""KafkaProducer: ordering, partitioning, futures and callbacks, batching, backpressure, bad input.

Broker wrappers (counting, failing, blocking on an Event) sit between the producer and a real
Broker, so each property is observed at the broker's door rather than inferred from timing.
"""

from __future__ import annotations

import logging
import random
import threading

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    InvalidTopicError,
    KafkaConfigurationError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    SerializationError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.partitioner import default_partition
from pcmodel.topics.producer import RECORD_OVERHEAD, KafkaProducer
from pcmodel.topics.structs import RecordMetadata, TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(30)


class CountingBroker:
    """Forwards to a real broker and remembers every append: (topic, partition, record count)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.appends: list[tuple[str, int, int]] = []
        self.threads: set[str] = set()

    def connect(self) -> CountingBroker:
        return self

    def partitions_for(self, topic: str, **kwargs) -> set[int]:
        return self.broker.partitions_for(topic, **kwargs)

    def metadata_version(self) -> int:
        return self.broker.metadata_version()

    def await_metadata_change(self, version: int, timeout: float) -> int:
        return self.broker.await_metadata_change(version, timeout)

    def append(self, topic, partition, records, *, timeout=None):
        self._arrive(topic, partition, records)
        return self.broker.append(topic, partition, records, timeout=timeout)

    def init_producer_id(self, producer_id=-1, producer_epoch=-1):
        return self.broker.init_producer_id(producer_id, producer_epoch)

    def append_idempotent(self, topic, partition, records, **numbering):
        self._arrive(topic, partition, records)
        return self.broker.append_idempotent(topic, partition, records, **numbering)

    def _arrive(self, topic, partition, records):
        """Runs before every append, numbered (idempotent) or not."""
        self.appends.append((topic, partition, len(records)))
        self.threads.add(threading.current_thread().name)


class BlockingBroker(CountingBroker):
    """An append announces itself on ``entered`` and waits for ``release`` before appending."""

    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        self.entered = threading.Event()
        self.release = threading.Event()

    def _arrive(self, topic, partition, records):
        self.entered.set()
        assert self.release.wait(20), "test never released the broker"
        super()._arrive(topic, partition, records)


class FailingBroker(CountingBroker):
    """Appends raise ``errors`` one after the other, then work."""

    def __init__(self, broker: Broker, errors: list[Exception]) -> None:
        super().__init__(broker)
        self.errors = list(errors)

    def _arrive(self, topic, partition, records):
        super()._arrive(topic, partition, records)
        if self.errors:
            raise self.errors.pop(0)


class Retriable(KafkaError):
    retriable = True


def read_all(broker: Broker, topic: str) -> dict[int, list]:
    """Every record of every partition of ``topic``, by partition."""
    result = {}
    for partition in sorted(broker.partitions_for(topic)):
        tp = TopicPartition(topic, partition)
        fetched = broker.fetch({tp: 0}, max_records=1_000_000)
        result[partition] = list(fetched[tp].records)
    return result


@pytest.fixture
def broker():
    with Broker() as b:
        b.create_topic("t", 4)
        yield b


@pytest.fixture
def seed():
    """A fresh random seed; tests put it in every assertion message so a failure can be replayed."""
    return random.randrange(2**32)


# --- partitioning and ordering -----------------------------------------------------------------


def test_keyed_records_land_on_default_partition(broker):
    with KafkaProducer(broker=broker, key_serializer=str.encode) as producer:
        futures = {f"key-{i}": producer.send("t", b"v", key=f"key-{i}") for i in range(200)}
        producer.flush()
        for key, future in futures.items():
            metadata = future.get(timeout=10)
            assert metadata.partition == default_partition(key.encode(), 4), key
            assert metadata.topic_partition == TopicPartition("t", metadata.partition)


@pytest.mark.parametrize("linger_ms, batch_size", [(0, 16384), (5, 64), (0, 1)])
def test_one_thread_keeps_send_order_per_partition(broker, linger_ms, batch_size):
    with KafkaProducer(broker=broker, linger_ms=linger_ms, batch_size=batch_size) as producer:
        sent: dict[int, list[bytes]] = {}
        futures = []
        for i in range(2000):
            value = b"%d" % i
            future = producer.send("t", value, key=b"k%d" % (i % 7))
            futures.append((value, future))
        producer.flush()
        for value, future in futures:
            sent.setdefault(future.get(timeout=10).partition, []).append(value)
    stored = read_all(broker, "t")
    for partition, values in sent.items():
        assert [r.value for r in stored[partition]] == values
    # Offsets in the metadata are the offsets in the log.
    for value, future in futures[:50]:
        md = future.get(timeout=1)
        assert stored[md.partition][md.offset].value == value


def test_several_threads_each_keep_their_order_per_partition(broker, seed):
    rng = random.Random(seed)
    threads_n, per_thread = 4, 500
    producer = KafkaProducer(
        broker=broker, linger_ms=rng.choice([0, 1, 5]), batch_size=rng.choice([1, 50, 16384])
    )
    start = threading.Barrier(threads_n)
    futures: dict[int, list] = {}

    def run(t: int) -> None:
        start.wait()
        futures[t] = [
            producer.send("t", b"%d:%d" % (t, i), key=b"%d" % (i % 5)) for i in range(per_thread)
        ]

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    producer.close()
    stored = read_all(broker, "t")
    assert sum(len(v) for v in stored.values()) == threads_n * per_thread, f"seed={seed}"
    for t in range(threads_n):
        for partition, records in stored.items():
            mine = [int(r.value.split(b":")[1]) for r in records if r.value.startswith(b"%d:" % t)]
            assert mine == sorted(mine), f"thread {t} out of order on {partition}, seed={seed}"
        assert all(f.succeeded() for f in futures[t])


def test_round_robin_spreads_keyless_records_evenly(broker):
    with KafkaProducer(broker=broker, partitioner="round_robin") as producer:
        partitions = [producer.send("t", b"x").get(timeout=10).partition for _ in range(8)]
    assert sorted(partitions) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_sticky_keeps_keyless_records_together_until_a_batch_fills(broker):
    size = RECORD_OVERHEAD + 1
    # Ten records fit in one batch; linger holds the batch until flush(). KIP-480's sticky
    # partitioner, Kafka's default before 3.3, never picks the partition it just left.
    with KafkaProducer(broker=broker, linger_ms=60000, batch_size=10 * size,
                       partitioner="sticky") as producer:
        futures = [producer.send("t", b"x") for _ in range(15)]
        producer.flush()
        partitions = [f.get(timeout=10).partition for f in futures]
    assert len(set(partitions[:10])) == 1
    assert len(set(partitions[10:])) == 1
    assert partitions[10] != partitions[0]


def test_explicit_partition_is_used(broker):
    with KafkaProducer(broker=broker) as producer:
        md = producer.send("t", b"x", key=b"any", partition=3).get(timeout=10)
    assert (md.partition, md.offset) == (3, 0)


# --- futures and callbacks ---------------------------------------------------------------------


def test_future_resolves_to_record_metadata(broker):
    with KafkaProducer(broker=broker, key_serializer=str.encode, value_serializer=str.encode) as p:
        future = p.send("t", "value", key="k", headers=[("h", b"12")], timestamp_ms=1234)
        md = future.get(timeout=10)
    assert isinstance(md, RecordMetadata)
    assert future.is_done and future.succeeded() and not future.failed()
    assert future.value == md and future.exception is None
    assert (md.topic, md.timestamp, md.checksum) == ("t", 1234, None)
    # kafka-python 3's nine fields, so a program that unpacks them ports.
    topic, partition, tp, offset, timestamp, checksum, *sizes = md
    assert (tp, timestamp, checksum, sizes) == (TopicPartition("t", partition), 1234, None,
                                                [1, 5, 3])
    assert (md.serialized_key_size, md.serialized_value_size, md.serialized_header_size) == (
        1,
        5,
        3,
    )
    record = broker.fetch({md.topic_partition: md.offset})[md.topic_partition].records[0]
    assert (record.key, record.value, record.headers, record.timestamp) == (
        b"k",
        b"value",
        (("h", b"12"),),
        1234,
    )


def test_callbacks_run_in_sender_thread_with_metadata(broker):
    counting = CountingBroker(broker)
    got = []
    done = threading.Event()

    def callback(tag, md):
        got.append((tag, md, threading.current_thread().name))
        done.set()

    with KafkaProducer(broker=counting, linger_ms=60000, client_id="p1") as producer:
        future = producer.send("t", b"x", partition=0)
        future.add_callback(callback, "tag")
        future.add_errback(lambda exc: got.append(("errback", exc)))
        assert not future.is_done  # held by linger until flush
        producer.flush()
        assert done.wait(10)
    assert got == [("tag", future.get(), "p1-sender")]
    # A callback added after completion runs at once, in the caller's thread.
    late = []
    future.add_callback(lambda md: late.append(threading.current_thread().name))
    assert late == [threading.current_thread().name]


def test_errback_gets_the_broker_error_and_get_raises_it(broker):
    failing = FailingBroker(broker, [UnknownTopicOrPartitionError("gone")])
    errors = []
    with KafkaProducer(broker=failing, retries=0) as producer:  # the error is retriable
        future = producer.send("t", b"x", partition=1)
        future.add_errback(errors.append)
        future.add_callback(lambda md: errors.append("callback must not run"))
        with pytest.raises(UnknownTopicOrPartitionError, match="gone"):
            future.get(timeout=10)
    assert future.failed() and isinstance(future.exception, UnknownTopicOrPartitionError)
    assert len(errors) == 1 and errors[0] is future.exception
    assert broker.end_offsets([("t", 1)])[TopicPartition("t", 1)] == 0


def test_callback_exception_is_logged_and_others_still_run(broker, caplog):
    ran = []
    with (
        caplog.at_level(logging.ERROR, logger="pcmodel.topics.producer"),
        KafkaProducer(broker=broker, linger_ms=60000) as producer,
    ):
        first = producer.send("t", b"a", partition=0)
        second = producer.send("t", b"b", partition=0)
        first.add_callback(lambda md: 1 / 0)
        first.add_callback(lambda md: ran.append("first-2"))
        second.add_callback(lambda md: ran.append("second"))
        producer.flush()
        assert second.get(timeout=10).offset == 1
    assert ran == ["first-2", "second"]
    assert any("ZeroDivisionError" in (r.exc_text or "") for r in caplog.records)


def test_retriable_error_is_retried_then_succeeds_once(broker):
    failing = FailingBroker(broker, [Retriable("try again")])
    with KafkaProducer(broker=failing, retries=1, retry_backoff_ms=1) as producer:
        md = producer.send("t", b"x", partition=2).get(timeout=10)
    assert md.offset == 0
    assert failing.appends == [("t", 2, 1), ("t", 2, 1)]
    assert len(read_all(broker, "t")[2]) == 1


def test_retriable_error_without_retries_fails(broker):
    failing = FailingBroker(broker, [Retriable("try again")])
    with KafkaProducer(broker=failing, retries=0) as producer, pytest.raises(Retriable):
        producer.send("t", b"x", partition=2).get(timeout=10)


def test_acks_zero_reports_offset_minus_one(broker):
    with KafkaProducer(broker=broker, acks=0) as producer:
        assert producer.send("t", b"x", partition=0).get(timeout=10).offset == -1
    assert len(read_all(broker, "t")[0]) == 1


def test_acks_zero_hears_no_log_append_time_either(broker):
    broker.create_topic("stamped", configs={"message.timestamp.type": "LogAppendTime"})
    with KafkaProducer(broker=broker, acks=0) as producer:
        sent = producer.send("stamped", b"x", timestamp_ms=5).get(timeout=10)
    with KafkaProducer(broker=broker, acks=1) as producer:
        answered = producer.send("stamped", b"y", timestamp_ms=5).get(timeout=10)
    stored = read_all(broker, "stamped")[0]
    assert (sent.offset, sent.timestamp) == (-1, 5)  # no answer: its own create time
    assert answered.timestamp == stored[1].timestamp > 5 and stored[0].timestamp > 5


# --- batching, flush, close -------------------------------------------------------------------


def test_linger_groups_records_into_one_append_per_partition(broker):
    counting = CountingBroker(broker)
    with KafkaProducer(broker=counting, linger_ms=60000) as producer:
        for i in range(100):
            producer.send("t", b"%d" % i, partition=i % 2)
        assert counting.appends == []  # nothing leaves before linger or flush
        producer.flush()
    assert sorted(counting.appends) == [("t", 0, 50), ("t", 1, 50)]


def test_batch_size_splits_batches(broker):
    counting = CountingBroker(broker)
    record = RECORD_OVERHEAD + 10
    with KafkaProducer(broker=counting, linger_ms=60000, batch_size=4 * record) as producer:
        for _ in range(10):
            producer.send("t", b"0123456789", partition=0)
        producer.flush()
    assert [n for _, _, n in counting.appends] == [4, 4, 2]


def test_batch_size_one_sends_each_record_alone(broker):
    counting = CountingBroker(broker)
    with KafkaProducer(broker=counting, batch_size=1, linger_ms=60000) as producer:
        for _ in range(5):
            producer.send("t", b"x", partition=0)
        producer.flush()
    assert counting.appends == [("t", 0, 1)] * 5


def test_flush_waits_for_every_record_and_times_out_while_broker_is_stuck(broker):
    blocking = BlockingBroker(broker)
    producer = KafkaProducer(broker=blocking)
    try:
        future = producer.send("t", b"x", partition=0)
        assert blocking.entered.wait(10)
        with pytest.raises(KafkaTimeoutError):
            producer.flush(timeout=0.05)
        assert not future.is_done
        blocking.release.set()
        producer.flush(timeout=10)
        assert future.succeeded()
    finally:
        blocking.release.set()
        producer.close()


def test_close_sends_what_is_queued_then_refuses(broker):
    counting = CountingBroker(broker)
    producer = KafkaProducer(broker=counting, linger_ms=60000)
    futures = [producer.send("t", b"x", partition=0) for _ in range(3)]
    producer.close()
    assert all(f.succeeded() for f in futures)
    assert counting.appends == [("t", 0, 3)]
    with pytest.raises(IllegalStateError, match="closed"):
        producer.send("t", b"y")
    producer.close()  # idempotent
    assert not producer._sender.is_alive()


def test_close_with_timeout_fails_unsent_records(broker):
    blocking = BlockingBroker(broker)
    producer = KafkaProducer(broker=blocking, batch_size=1)
    first = producer.send("t", b"1", partition=0)
    assert blocking.entered.wait(10)
    second = producer.send("t", b"2", partition=0)
    closer = threading.Thread(target=producer.close, kwargs={"timeout": 0})
    closer.start()
    # The sender is stuck in the first append; close(timeout=0) gives up on the rest at once.
    wait_until(producer._aborted.is_set)
    blocking.release.set()
    closer.join(10)
    assert first.succeeded()
    with pytest.raises(KafkaError, match="Producer is closed forcefully"):  # Java's words
        second.get(timeout=10)


def test_flush_from_a_callback_is_refused(broker):
    errors = []

    def callback(md):
        try:
            producer.flush()
        except IllegalStateError as exc:
            errors.append(exc)

    with KafkaProducer(broker=broker) as producer:
        producer.send("t", b"x").add_callback(callback)
        producer.flush()
    assert len(errors) == 1


# --- backpressure ------------------------------------------------------------------------------


def test_full_accumulator_blocks_send_then_times_out_with_nothing_queued(broker):
    blocking = BlockingBroker(broker)
    # One record per batch, and the accumulator holds two batches.
    size = RECORD_OVERHEAD + 1
    producer = KafkaProducer(
        broker=blocking, batch_size=size, buffer_memory=2 * size, max_block_ms=50
    )
    try:
        first = producer.send("t", b"1", partition=0)
        assert blocking.entered.wait(10)  # the sender holds batch 1 inside append()
        queued = [producer.send("t", b"2", partition=0), producer.send("t", b"3", partition=0)]
        with pytest.raises(KafkaTimeoutError, match="max blocking time"):
            producer.send("t", b"4", partition=0)
        assert producer.metrics()["producer-metrics"]["bufferpool-wait-time-total"] > 0
        blocking.release.set()
        assert [f.get(timeout=10).offset for f in [first, *queued]] == [0, 1, 2]
    finally:
        blocking.release.set()
        producer.close()
    assert [r.value for r in read_all(broker, "t")[0]] == [b"1", b"2", b"3"]


def test_blocked_send_goes_on_when_room_is_made(broker):
    blocking = BlockingBroker(broker)
    size = RECORD_OVERHEAD + 1
    producer = KafkaProducer(
        broker=blocking, batch_size=size, buffer_memory=size, max_block_ms=20000
    )
    try:
        producer.send("t", b"1", partition=0)
        assert blocking.entered.wait(10)
        producer.send("t", b"2", partition=0)  # fills the only slot
        result = []
        sender = threading.Thread(
            target=lambda: result.append(producer.send("t", b"3", partition=0))
        )
        sender.start()
        blocking.release.set()
        sender.join(10)
        assert result[0].get(timeout=10).offset == 2
    finally:
        blocking.release.set()
        producer.close()


# --- bad input and configuration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"topic": "bad name", "value": b"x"}, InvalidTopicError, "Topic name is invalid"),
        ({"topic": 5, "value": b"x"}, TypeError, "topic"),
        # A partition the topic lacks is waited for (max_block_ms), as the Java client does.
        ({"topic": "t", "value": b"x", "partition": 4}, KafkaTimeoutError, "Partition 4 of"),
        ({"topic": "t", "value": b"x", "partition": -1}, IllegalArgumentError, "Invalid part"),
        ({"topic": "t", "value": b"x", "partition": "0"}, IllegalArgumentError, "int"),
        # kafka-python's exception types: TypeError for keys, values and headers of a bad type.
        ({"topic": "t", "value": "text"}, TypeError, "value_serializer"),
        ({"topic": "t", "value": b"x", "key": 5}, TypeError, "key_serializer"),
        ({"topic": "", "value": b"x"}, IllegalArgumentError, "topic"),
        ({"topic": "t", "value": b"x", "timestamp_ms": -1}, IllegalArgumentError, "timestamp"),
        ({"topic": "t", "value": b"x", "headers": {"h": b"v"}}, TypeError, "headers"),
        ({"topic": "t", "value": b"x", "headers": (("h", b"v"),)}, TypeError, "list"),
        ({"topic": "t", "value": b"x", "headers": [("h", "v")]}, TypeError, "bytes"),
        ({"topic": "t", "value": b"x" * 2000}, MessageSizeTooLargeError, "max_request_size"),
    ],
)
def test_bad_send_raises_in_caller_and_queues_nothing(broker, kwargs, error, match):
    counting = CountingBroker(broker)
    with KafkaProducer(broker=counting, max_request_size=1000, max_block_ms=50) as producer:
        with pytest.raises(error, match=match):
            producer.send(**kwargs)
        producer.flush()
        assert producer.metrics()["producer-metrics"]["record-send-total"] == 0
    assert counting.appends == []


def test_serializer_failure_is_wrapped_with_cause(broker):
    def bad(value):
        raise ValueError("cannot")

    producer = KafkaProducer(broker=broker, value_serializer=bad)
    with producer, pytest.raises(SerializationError, match="value_serializer failed") as info:
        producer.send("t", {"a": 1})
    assert isinstance(info.value.__cause__, ValueError)


def test_serializer_returning_non_bytes_is_rejected(broker):
    producer = KafkaProducer(broker=broker, value_serializer=lambda v: v)
    with producer, pytest.raises(TypeError, match="must return bytes"):
        producer.send("t", 42)


@pytest.mark.parametrize(
    "config, match",
    [
        ({"bootstrap_servers": "localhost:9092"}, "broker="),
        ({"compression_type": "brotli"}, "compression_type"),
        ({"no_such_key": 1}, "no_such_key"),
        ({"linger": 5}, "did you mean 'linger_ms'"),
        ({"enable_idempotence": True, "acks": 1}, "needs acks='all'"),
        ({"transactional_id": "tx-1", "enable_idempotence": False}, "needs idempotence"),
        ({"transactional_id": "tx-1", "acks": 1}, "transactional_id needs acks='all'"),
        ({"transactional_id": ""}, "transactional_id"),
        ({"transaction_timeout_ms": 0}, "transaction_timeout_ms"),
        ({"max_in_flight_requests_per_connection": 0}, "max_in_flight"),
        ({"security_protocol": "TLS"}, "security_protocol"),
        ({"acks": 2}, "acks"),
        ({"batch_size": 0}, "batch_size"),
        ({"linger_ms": -1}, "linger_ms"),
        ({"buffer_memory": 10, "batch_size": 100}, "buffer_memory"),
        ({"partitioner": "random"}, "partitioner"),
        ({"buffer_variant": "nope"}, "buffer_variant"),
        ({"value_serializer": "json"}, "value_serializer"),
    ],
)
def test_bad_configuration_names_the_key(broker, config, match):
    with pytest.raises(KafkaConfigurationError, match=match):
        KafkaProducer(broker=broker, **config)


def test_broker_is_required():
    with pytest.raises(KafkaConfigurationError, match="broker"):
        KafkaProducer()


def test_partitions_for_and_metadata_refresh(broker):
    with KafkaProducer(broker=broker) as producer:
        assert producer.partitions_for("t") == {0, 1, 2, 3}
        producer.send("t", b"x", partition=0).get(timeout=10)
        broker.add_partitions("t", 6)
        # A partition beyond the cached count makes the producer ask again before refusing.
        assert producer.send("t", b"x", partition=5).get(timeout=10).partition == 5
        # A missing topic is created, as a Kafka broker does by default.
        assert producer.partitions_for("missing") == {0}
    with (
        Broker(auto_create_topics_enable=False) as strict,
        KafkaProducer(broker=strict, max_block_ms=50) as producer,
    ):
        with pytest.raises(KafkaTimeoutError, match="not present in metadata"):
            producer.send("missing", b"x")
        assert strict.list_topics() == {}


class AppendWatcher(CountingBroker):
    """Sets ``entered`` when the ``n``-th append call starts."""

    def __init__(self, broker: Broker, n: int) -> None:
        super().__init__(broker)
        self.n = n
        self.entered = threading.Event()

    def _arrive(self, topic, partition, records):
        if len(self.appends) + 1 >= self.n:
            self.entered.set()
        super()._arrive(topic, partition, records)


def test_a_block_retention_log_pushes_back_to_send(broker):
    """A full "block" partition stalls the sender, the accumulator fills, send() times out."""
    broker.create_topic("b", 1, retention_policy="block", retention_records=2)
    watcher = AppendWatcher(broker, 3)
    size = RECORD_OVERHEAD + 1
    producer = KafkaProducer(
        broker=watcher,
        batch_size=size,
        buffer_memory=size,
        max_block_ms=50,
        request_timeout_ms=30000,
    )
    try:
        first = [producer.send("b", b"%d" % i, partition=0) for i in range(2)]
        assert [f.get(timeout=10).offset for f in first] == [0, 1]  # the log is now full
        third = producer.send("b", b"2", partition=0)
        assert watcher.entered.wait(10)  # the sender waits inside append for log space
        fourth = producer.send("b", b"3", partition=0)  # takes the accumulator's only slot
        with pytest.raises(KafkaTimeoutError):
            producer.send("b", b"4", partition=0)
        # A consumer group commits past both records: space in the log, and everything moves.
        broker.commit_offsets("g", -1, "", {TopicPartition("b", 0): 2})
        assert third.get(timeout=10).offset == 2
        broker.commit_offsets("g", -1, "", {TopicPartition("b", 0): 3})
        assert fourth.get(timeout=10).offset == 3
    finally:
        broker.commit_offsets(
            "g",
            -1,
            "",
            {
                TopicPartition("b", 0): broker.end_offsets([TopicPartition("b", 0)])[
                    TopicPartition("b", 0)
                ]
            },
        )
        producer.close()


def test_idempotent_producer_numbers_its_batches_on_one_broker():
    from pcmodel.topics import Broker, KafkaProducer

    with Broker() as broker:
        broker.create_topic("t", 2)
        producer = KafkaProducer(broker=broker, acks="all", enable_idempotence=True,
                                 batch_size=1)  # one record per batch
        try:
            for i in range(6):
                assert producer.send("t", value=b"%d" % i, partition=i % 2).get(
                    timeout=5).offset == i // 2
        finally:
            producer.close(timeout=5)
        # The broker saw sequences 0, 1, 2 per partition: resending batch 0 is a duplicate.
        again = broker.append_idempotent("t", 0, [(None, b"0")], producer_id=0,
                                         producer_epoch=0, first_sequence=0)
        assert again.base_offset == 0
        assert broker.end_offsets([("t", 0)]) == {("t", 0): 3}


# --- batches over the topic's max.message.bytes -----------------------------------------------


def test_a_batch_too_large_for_the_topic_is_sent_again_in_halves(broker):
    # Each 100-byte record weighs 109 bytes in Kafka's format, a batch 61 more: at most 3 fit.
    broker.create_topic("big", configs={"max.message.bytes": "400"})
    counting = CountingBroker(broker)
    with KafkaProducer(broker=counting, linger_ms=60000) as producer:
        futures = [producer.send("big", b"%03d" % i + bytes(97)) for i in range(10)]
        producer.flush()
    assert [f.get(timeout=10).offset for f in futures] == list(range(10))
    assert [n for _, _, n in counting.appends] == [10, 5, 3, 2, 5, 3, 2]
    assert [r.value[:3] for r in read_all(broker, "big")[0]] == [b"%03d" % i for i in range(10)]


def test_only_a_record_too_large_by_itself_fails(broker):
    broker.create_topic("big", configs={"max.message.bytes": "400"})
    outcomes = []
    with KafkaProducer(broker=broker, linger_ms=60000) as producer:
        futures = [producer.send("big", value).add_both(outcomes.append)
                   for value in (b"a" * 100, b"x" * 1000, b"b" * 100)]
        producer.flush()
    assert futures[0].get(timeout=10).offset == 0
    with pytest.raises(MessageSizeTooLargeError, match="max.message.bytes"):
        futures[1].get(timeout=10)
    assert futures[2].get(timeout=10).offset == 1
    assert len(outcomes) == 3 and isinstance(outcomes[1], MessageSizeTooLargeError)
    assert [r.value[:1] for r in read_all(broker, "big")[0]] == [b"a", b"b"]


def test_an_idempotent_producer_renumbers_the_halves(broker):
    broker.create_topic("big", configs={"max.message.bytes": "400"})
    counting = CountingBroker(broker)
    with KafkaProducer(broker=counting, linger_ms=60000, enable_idempotence=True,
                       acks="all") as producer:
        futures = [producer.send("big", bytes(100)) for _ in range(7)]
        producer.flush()
        assert [f.get(timeout=10).offset for f in futures] == list(range(7))
        following = producer.send("big", b"next")
        producer.flush()
        assert following.get(timeout=10).offset == 7  # its sequence follows the halves'
    assert [n for _, _, n in counting.appends] == [7, 4, 2, 2, 3, 1]
    assert broker.end_offsets([TopicPartition("big", 0)]) == {TopicPartition("big", 0): 8}
