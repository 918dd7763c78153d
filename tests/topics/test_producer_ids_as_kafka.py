"""Producer ids and epochs as Kafka hands them out and checks them.

Kafka's coordinator answers every InitProducerId without a transactional id with a new
producer id at epoch 0, whatever ids the request carries (``TransactionCoordinator.
handleInitProducerId``), and answers INVALID_REQUEST when exactly one of the producer id and
epoch is -1 (``KafkaApis.handleInitProducerIdRequest``). An idempotent producer whose batch
failed for good bumps its epoch itself (``TransactionManager.bumpIdempotentProducerEpoch``);
each partition then refuses the older epoch (``ProducerAppendInfo.checkProducerEpoch``). A
batch may carry a producer id with epoch -1: Kafka's broker takes it, with any sequence.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.broker import Broker
from pcmodel.topics.broker_checks import INT16_MAX, INT64_MAX
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidProducerEpochError,
    InvalidRecordError,
    InvalidRequestError,
)
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(60)

T0 = TopicPartition("t", 0)


@pytest.fixture
def broker():
    with Broker() as b:
        b.create_topic("t", 2)
        yield b


@pytest.fixture(scope="module")
def cluster():
    with Cluster(3, mode="steps") as c:
        c.connect().create_topic("t", 1, replication_factor=3)
        yield c


def _append(broker, producer, sequence, value=b"v", partition=0):
    pid, epoch = producer
    return broker.append_idempotent("t", partition, [(None, value)], producer_id=pid,
                                    producer_epoch=epoch, first_sequence=sequence)


def _values(broker, partition=0):
    tp = TopicPartition("t", partition)
    return [r.value for r in broker.fetch({tp: 0})[tp].records]


# --- InitProducerId without a transactional id ------------------------------------------------


def test_a_lone_broker_answers_a_given_id_with_a_new_one_at_epoch_0(broker):
    pid, epoch = broker.init_producer_id()
    again = broker.init_producer_id(pid, epoch)
    assert again[1] == 0 and again[0] != pid
    never_issued = broker.init_producer_id(5, 3)  # not "never issued here": a new id
    assert never_issued[1] == 0 and never_issued[0] not in (5, pid, again[0])


def test_a_second_init_producer_id_does_not_fence_the_first_producer(broker):
    first = broker.init_producer_id()
    _append(broker, first, 0, b"a")
    other = broker.init_producer_id(*first)  # another client, the same ids
    _append(broker, other, 0, b"x")
    assert _append(broker, first, 1, b"b").base_offset == 2
    assert _values(broker) == [b"a", b"x", b"b"]


def test_the_range_checks_stay(broker):
    with pytest.raises(IllegalArgumentError, match="producer_id"):
        broker.init_producer_id(INT64_MAX + 1, 0)
    with pytest.raises(IllegalArgumentError, match="producer_epoch"):
        broker.init_producer_id(0, INT16_MAX + 1)
    with pytest.raises(TypeError, match="producer_epoch"):
        broker.init_producer_id(0, 1.0)


@pytest.mark.parametrize("ids", [(5, -1), (-1, 3)])
@pytest.mark.parametrize("transactional_id", [None, "tx"])
def test_exactly_one_of_id_and_epoch_missing_is_an_invalid_request(broker, ids,
                                                                   transactional_id):
    with pytest.raises(InvalidRequestError, match="give both"):
        broker.init_producer_id(*ids, transactional_id=transactional_id)
    assert broker.list_transactions() == []  # the transactional id was not taken either


@pytest.mark.parametrize("ids", [(5, -1), (-1, 3)])
def test_a_cluster_answers_exactly_one_missing_as_an_invalid_request(cluster, ids):
    conn = cluster.connect()
    with pytest.raises(InvalidRequestError, match="give both"):
        conn.init_producer_id(*ids)
    assert conn.init_producer_id(-1, -1)[1] == 0
    assert conn.init_producer_id(-5, 3)[1] == 0  # only -1 means "none" in Kafka's check


# --- epochs the producer bumps itself ---------------------------------------------------------


def test_a_partition_refuses_an_epoch_older_than_the_newest_it_saw(broker):
    pid, epoch = broker.init_producer_id()
    _append(broker, (pid, epoch), 0, b"a")
    _append(broker, (pid, epoch + 1), 0, b"b")  # the producer bumped its epoch itself
    with pytest.raises(InvalidProducerEpochError, match="has seen epoch 1"):
        _append(broker, (pid, epoch), 1, b"zombie")
    _append(broker, (pid, epoch), 0, b"c", partition=1)  # another partition never saw it
    assert _values(broker) == [b"a", b"b"]


class FailsFirstNumberedAppend:
    """A connection to ``broker`` whose first numbered append fails for good (nothing
    appended); it notes every InitProducerId and every numbered append's ids."""

    def __init__(self, broker: Broker, first_epoch: int = 0) -> None:
        self._broker = broker
        self._first_epoch = first_epoch  # the epoch the first InitProducerId answers
        self.init_calls: list[tuple] = []
        self.numbered: list[tuple[int, int, int]] = []

    def connect(self) -> FailsFirstNumberedAppend:
        return self

    def __getattr__(self, name):
        return getattr(self._broker, name)

    def init_producer_id(self, *args, **kwargs):
        self.init_calls.append(args)
        pid, epoch = self._broker.init_producer_id(*args, **kwargs)
        return (pid, self._first_epoch) if len(self.init_calls) == 1 else (pid, epoch)

    def append_idempotent(self, topic, partition, records, **numbering):
        self.numbered.append((numbering["producer_id"], numbering["producer_epoch"],
                              numbering["first_sequence"]))
        if len(self.numbered) == 1:
            raise InvalidRecordError("refused for good")
        return self._broker.append_idempotent(topic, partition, records, **numbering)


def test_a_producer_bumps_its_epoch_itself_after_a_batch_failed_for_good(broker):
    conn = FailsFirstNumberedAppend(broker)
    with KafkaProducer(broker=conn, enable_idempotence=True) as producer:
        with pytest.raises(InvalidRecordError):
            producer.send("t", b"lost", partition=0).get(timeout=10)
        assert producer.send("t", b"kept", partition=0).get(timeout=10).offset == 0
    (pid, _, _), second = conn.numbered
    assert second == (pid, 1, 0)  # the same id, the next epoch, numbered from 0 again
    assert conn.init_calls == [()]  # no InitProducerId for the bump: Kafka's broker gives ids


def test_past_the_largest_epoch_the_producer_asks_for_a_new_id(broker):
    conn = FailsFirstNumberedAppend(broker, first_epoch=INT16_MAX)
    with KafkaProducer(broker=conn, enable_idempotence=True) as producer:
        with pytest.raises(InvalidRecordError):
            producer.send("t", b"lost", partition=0).get(timeout=10)
        assert producer.send("t", b"kept", partition=0).get(timeout=10).offset == 0
    (pid, epoch, _), second = conn.numbered
    assert epoch == INT16_MAX and conn.init_calls == [(), ()]
    assert second[0] != pid and second[1:] == (0, 0)  # a new id, epoch 0, from sequence 0


# --- a producer id with epoch -1 in a batch ---------------------------------------------------


def test_a_batch_with_an_id_and_epoch_minus_1_is_taken_with_any_sequence(broker):
    first = _append(broker, (5, -1), 7, b"a")
    assert _append(broker, (5, -1), 7, b"a") == first  # a retry is still answered
    _append(broker, (5, -1), 3, b"b")  # Kafka checks no sequence without an epoch
    _append(broker, (5, 0), 9, b"c")  # nor a new epoch's after one without
    with pytest.raises(InvalidProducerEpochError):
        _append(broker, (5, -1), 0, b"zombie")
    assert _values(broker) == [b"a", b"b", b"c"]


def test_an_epoch_below_minus_1_is_older_than_any_a_partition_saw(broker):
    with pytest.raises(InvalidProducerEpochError):
        _append(broker, (5, -2), 0)
    with pytest.raises(IllegalArgumentError, match="producer_epoch"):
        _append(broker, (5, -INT16_MAX - 2), 0)  # beyond the int16 of a record batch
    assert _values(broker) == []


def test_the_kafka_listener_takes_an_id_with_epoch_minus_1_and_answers_init_as_kafka(broker):
    """Through the Kafka listener: a produced batch with producer id 5 and epoch -1 is
    appended (error 0), not INVALID_REQUEST; InitProducerId with an id and its epoch gets a
    new id at epoch 0, with one of them -1 INVALID_REQUEST (42)."""
    pytest.importorskip("kafka", reason="the Kafka listener needs kafka-python")
    from kafka.protocol.producer import InitProducerIdRequest

    from tests.wire.conftest import RawClient, produce_request, record_batch

    def init(producer_id, producer_epoch):
        return raw.request(InitProducerIdRequest[4](
            transactional_id=None, transaction_timeout_ms=60000, producer_id=producer_id,
            producer_epoch=producer_epoch))

    with broker.serve_kafka() as listener, RawClient(listener.address) as raw:
        batch = record_batch([b"a"], producer=(5, -1, 7))
        answer = raw.request(produce_request("t", 0, batch)).responses[0]
        assert (answer.partition_responses[0].error_code,
                answer.partition_responses[0].base_offset) == (0, 0)
        first = init(-1, -1)
        again = init(first.producer_id, first.producer_epoch)
        assert (again.error_code, again.producer_epoch) == (0, 0)
        assert again.producer_id != first.producer_id
        assert (init(first.producer_id, -1).error_code, init(-1, 0).error_code) == (42, 42)
    assert _values(broker) == [b"a"]
