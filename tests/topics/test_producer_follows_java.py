"""The producer where kafka-python and the Java client differ, answering as the Java client does.

- ``send()`` to a partition the topic does not have (yet) waits up to ``max_block_ms`` for it,
  as ``KafkaProducer.waitOnMetadata``: a partition added meanwhile takes the record; none
  added is ``KafkaTimeoutError`` in Java's words. kafka-python raises at once.
- A negative partition is refused at once, as Java's ``ProducerRecord`` refuses it.
- ``max_request_size`` bounds a record weighed as Java's ``ensureValidRecordSize`` weighs it:
  a batch of that record alone, at its largest (``estimateBatchSizeUpperBound``).
- Records a forced close (``close(0)``, or a ``close(timeout)`` that ran out) gives up on fail
  with a plain ``KafkaError("Producer is closed forcefully.")``, Java's ``KafkaException`` from
  ``RecordAccumulator.abortIncompleteBatches`` (kafka-python: ``IllegalStateError``).
"""

from __future__ import annotations

import threading

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
)
from pcmodel.topics.producer import KafkaProducer
from tests.conftest import wait_until


@pytest.fixture
def broker():
    b = Broker()
    b.create_topic("t", 2)
    yield b
    b.close()


class WatchedBroker:
    """Forwards to a broker; ``waiting`` is set once a client waits for a metadata change."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.waiting = threading.Event()

    def connect(self) -> WatchedBroker:
        return self

    def await_metadata_change(self, version: int, timeout: float) -> int:
        self.waiting.set()
        return self.broker.await_metadata_change(version, timeout)

    def __getattr__(self, name: str):
        return getattr(self.broker, name)


def test_a_partition_added_while_send_waits_takes_the_record(broker):
    watched = WatchedBroker(broker)
    outcome: list = []
    with KafkaProducer(broker=watched, max_block_ms=20_000) as producer:
        producer.send("t", b"known", partition=1).get(timeout=10)
        sender = threading.Thread(
            target=lambda: outcome.append(producer.send("t", b"new", partition=3)))
        sender.start()
        assert watched.waiting.wait(10), "send() did not wait for the partition"
        broker.add_partitions("t", 4)
        sender.join(10)
        assert not sender.is_alive()
        metadata = outcome[0].get(timeout=10)
    assert (metadata.partition, metadata.offset) == (3, 0)
    assert [r.value for r in broker.fetch({("t", 3): 0})[("t", 3)].records] == [b"new"]


def test_a_partition_that_never_appears_times_out_in_javas_words(broker):
    with KafkaProducer(broker=broker, max_block_ms=50) as producer:
        with pytest.raises(KafkaTimeoutError) as caught:
            producer.send("t", b"x", partition=2)
        producer.flush()
        assert producer.metrics()["producer-metrics"]["record-send-total"] == 0
    assert caught.value.args[0].startswith(
        "Partition 2 of topic t with partition count 2 is not present in metadata after 50 ms.")
    assert "create_partitions()" in caught.value.args[0]


def test_a_negative_partition_is_refused_at_once(broker):
    with (KafkaProducer(broker=broker, max_block_ms=60_000) as producer,
          pytest.raises(IllegalArgumentError, match="Invalid partition: -1")):
        producer.send("t", b"x", partition=-1)


def test_a_forced_close_fails_unsent_records_with_javas_kafka_exception(broker):
    entered, release = threading.Event(), threading.Event()

    class SlowBroker(WatchedBroker):
        def append(self, *args, **kwargs):
            entered.set()
            assert release.wait(20), "the test never released the append"
            return self.broker.append(*args, **kwargs)

    producer = KafkaProducer(broker=SlowBroker(broker), batch_size=1, enable_idempotence=False)
    first = producer.send("t", b"1", partition=0)
    assert entered.wait(10)
    second = producer.send("t", b"2", partition=0)
    closer = threading.Thread(target=producer.close, kwargs={"timeout": 0})
    closer.start()
    wait_until(producer._aborted.is_set)
    release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert first.succeeded()
    with pytest.raises(KafkaError) as caught:
        second.get(timeout=10)
    assert caught.value.args == ("Producer is closed forcefully.",)
    assert type(caught.value) is KafkaError  # not IllegalStateError, as in kafka-python
    assert not isinstance(caught.value, IllegalStateError)


def test_max_request_size_weighs_a_record_as_a_batch_of_its_own(broker):
    # 61 (batch header) + 21 (most framing) + 1 (no key) + 2 (value length) + value + 1 (no
    # headers): a value of 914 bytes makes exactly 1000.
    with KafkaProducer(broker=broker, max_request_size=1000) as producer:
        assert producer.send("t", b"x" * 914, partition=0).get(timeout=10).offset == 0
        with pytest.raises(MessageSizeTooLargeError) as caught:
            producer.send("t", b"x" * 915, partition=0)
        assert caught.value.args[0].startswith(
            "The message is 1001 bytes when serialized which is larger than 1000, which is "
            "the value of max_request_size")
        with pytest.raises(MessageSizeTooLargeError, match="is 1001 bytes"):
            producer.send("t", b"x" * 907, partition=0, headers=[("h", b"12345")])
