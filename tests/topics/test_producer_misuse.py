"""KafkaProducer called with wrong arguments or out of order: each call fails at once with an
error naming what was wrong, changes nothing, and leaves the producer working.

The checks the other producer tests make (bad topics, partitions, headers, serializers and
settings) are not repeated here.
"""

from __future__ import annotations

import enum
import logging
import sys

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    InvalidGroupIdError,
    KafkaConfigurationError,
)
from pcmodel.topics.partitioner import Partitioner
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.server import BrokerServer
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

pytestmark = pytest.mark.timeout(30)

T0 = TopicPartition("t", 0)


@pytest.fixture
def broker():
    b = Broker()
    b.create_topic("t", 2)
    yield b
    b.close()


class Topics(enum.StrEnum):
    T = "t"


class MixinTopics(str, enum.Enum):  # str() of a member is "MixinTopics.T", not its text
    T = "t"


@pytest.mark.parametrize("topic", [Topics.T, MixinTopics.T])
def test_a_str_subclass_topic_is_sent_as_its_text(broker, topic):
    with KafkaProducer(broker=broker) as producer:
        assert producer.partitions_for(topic) == {0, 1}
        metadata = producer.send(topic, b"v", partition=0).get(timeout=10)
    assert type(metadata.topic) is str and metadata.topic == "t"
    assert broker.end_offsets([T0]) == {T0: 1}


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # A lone surrogate has no UTF-8 form: refused at send(), not deep in the sizing.
        ({"headers": [("\ud800", b"v")]}, IllegalArgumentError, "header key .* UTF-8"),
        # Beyond a Java long, it would fail the whole batch at the broker.
        ({"timestamp_ms": 2**63}, IllegalArgumentError, "timestamp_ms must be <= "),
        ({"timestamp_ms": 1.5}, TypeError, "timestamp_ms must be an int"),
    ],
)
def test_a_bad_send_argument_is_refused_with_nothing_queued(broker, kwargs, error, match):
    with KafkaProducer(broker=broker) as producer:
        with pytest.raises(error, match=match):
            producer.send("t", b"v", partition=0, **kwargs)
        assert producer.send("t", b"ok", partition=0).get(timeout=10).offset == 0


class Choosing(Partitioner):
    """Chooses ``chosen`` for every keyless record, whatever the topic has."""

    def __init__(self, chosen: object) -> None:
        super().__init__()
        self.chosen = chosen

    def _partition_keyless(self, topic, all_partitions, available):
        return self.chosen

    def _on_new_batch(self, topic, prev_partition):
        pass


@pytest.mark.parametrize("chosen", [2, -1, "0", None])
def test_a_partitioner_subclass_choosing_no_partition_of_the_topic_fails_send(broker, chosen):
    # As a client partitioner's choice is checked; before, the record was retried for
    # delivery_timeout_ms against a partition the topic does not have.
    with KafkaProducer(broker=broker, partitioner=Choosing(chosen)) as producer:
        with pytest.raises(IllegalArgumentError, match=f"Choosing chose partition {chosen!r}"):
            producer.send("t", b"v")
        producer.flush()
        assert producer.metrics()["producer-metrics"]["record-send-total"] == 0


class Raw(bytes):
    pass


class Key(enum.StrEnum):
    H = "h"


class Partition(enum.IntEnum):
    FIRST = 0


def test_subclasses_of_bytes_str_and_int_reach_a_broker_process_as_plain_values(broker):
    # A broker process refuses any other type, which failed the whole batch; here one batch
    # (linger_ms) holds a plain record and one of each kind.
    server = BrokerServer(broker).start()
    try:
        with KafkaProducer(broker=server.handle, linger_ms=60_000, retries=0) as producer:
            futures = [
                producer.send("t", b"plain", partition=Partition.FIRST),
                producer.send("t", Raw(b"v"), key=Raw(b"k"), partition=0),
                producer.send("t", b"v", headers=[(Key.H, Raw(b"x"))], partition=0),
                producer.send("t", b"v", timestamp_ms=Partition.FIRST, partition=0),
            ]
            producer.flush(timeout=10)
            assert [f.get(timeout=10).offset for f in futures] == [0, 1, 2, 3]
    finally:
        server.stop()


def test_partitions_for_after_close_says_the_producer_is_closed(broker):
    producer = KafkaProducer(broker=broker)
    producer.close()
    with pytest.raises(IllegalStateError, match=r"partitions_for\(\) on a closed KafkaProducer"):
        producer.partitions_for("t")


def test_a_callback_calling_sys_exit_is_logged_and_the_sender_goes_on(broker, caplog):
    # A long linger keeps the record unsent until flush(): its callback runs in the sender.
    with KafkaProducer(broker=broker, linger_ms=60_000) as producer, \
            caplog.at_level(logging.ERROR, "pcmodel.topics.producer"):
        first = producer.send("t", b"a", partition=0).add_callback(lambda _: sys.exit(1))
        producer.flush(timeout=10)
        first.get(timeout=10)
        # The sender thread survived: the next record is sent.
        second = producer.send("t", b"b", partition=0)
        producer.flush(timeout=10)
        assert second.get(timeout=10).offset == 1
    assert any(record.exc_info and record.exc_info[0] is SystemExit
               for record in caplog.records)


def test_sys_exit_in_a_callback_run_by_the_calling_thread_exits(broker):
    with KafkaProducer(broker=broker) as producer:
        sent = producer.send("t", b"a", partition=0)
        sent.get(timeout=10)  # resolved: add_callback runs the callback here, at once
        with pytest.raises(SystemExit):
            sent.add_callback(lambda _: sys.exit(1))


class ConnectCounter:
    """A broker that counts connections: a refused setting must fail before any."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.connects = 0

    def connect(self) -> Broker:
        self.connects += 1
        return self.broker


@pytest.mark.parametrize(
    "config, match",
    [
        ({"buffer_instrument": "bad"}, "buffer_instrument='bad'"),
        ({"client_id": 5}, "client_id must be a str"),
        ({"client_id": b"p"}, "client_id must be a str"),
        ({"acks": 1.0}, "acks must be"),
        # Kafka types it INT: 6.5 passed, and (above 5) silently turned idempotence off.
        ({"max_in_flight_requests_per_connection": 6.5}, "must be an int >= 1"),
    ],
)
def test_a_bad_setting_is_refused_before_the_broker_is_contacted(broker, config, match):
    counter = ConnectCounter(broker)
    with pytest.raises(KafkaConfigurationError, match=match):
        KafkaProducer(broker=counter, **config)
    assert counter.connects == 0


def test_a_broker_class_instead_of_an_instance_says_to_make_one():
    with pytest.raises(KafkaConfigurationError, match=r"pass an instance: broker=Broker\(\)"):
        KafkaProducer(broker=Broker)


# --- transactional calls -------------------------------------------------------------------


@pytest.fixture
def txn_producer(broker):
    producer = KafkaProducer(broker=broker, transactional_id="tx", max_block_ms=5000)
    producer.init_transactions()
    yield producer
    producer.close()


CALLS = {
    "init_transactions": lambda p: p.init_transactions(),
    "begin_transaction": lambda p: p.begin_transaction(),
    "commit_transaction": lambda p: p.commit_transaction(),
    "abort_transaction": lambda p: p.abort_transaction(),
    "send_offsets_to_transaction": lambda p: p.send_offsets_to_transaction({T0: 1}, "g"),
}


@pytest.mark.parametrize("call", CALLS)
def test_after_close_every_transactional_call_says_the_producer_is_closed(broker, call):
    # As the Java client's throwIfProducerClosed(); before, begin and commit went through.
    producer = KafkaProducer(broker=broker, transactional_id="tx")
    producer.init_transactions()
    producer.close()
    with pytest.raises(IllegalStateError, match=rf"{call}\(\) on a closed KafkaProducer"):
        CALLS[call](producer)


@pytest.mark.parametrize(
    "offsets, group, error, match",
    [
        ("t-0", "g", TypeError, "offsets must be a mapping"),
        (None, "g", TypeError, "offsets must be a mapping"),
        ([(T0, 1)], "g", TypeError, "offsets must be a mapping"),  # was read as a dict
        ({T0: "1"}, "g", TypeError, "offset of t-0 must be an int"),
        ({T0: -5}, "g", IllegalArgumentError, "offset of t-0 must be >= 0"),
        ({T0: OffsetAndMetadata(1, 5, -1)}, "g", TypeError, "metadata"),
        ({T0: 1}, "", InvalidGroupIdError, "group_id"),
    ],
)
def test_bad_offsets_are_refused_and_the_transaction_stays_committable(
        broker, txn_producer, offsets, group, error, match):
    txn_producer.begin_transaction()
    txn_producer.send("t", b"v", partition=0)
    with pytest.raises(error, match=match):
        txn_producer.send_offsets_to_transaction(offsets, group)
    # Nothing was staged and the transaction is not abortable: it commits its record.
    txn_producer.commit_transaction()
    assert broker.end_offsets([T0]) == {T0: 2}  # the record and the COMMIT marker
