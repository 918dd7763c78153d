"""Producer expiration on one broker: Kafka's ``producer.id.expiration.ms`` and its check.

A partition forgets an idempotent producer that wrote nothing to it for the expiration time,
measured from the largest timestamp of its newest batch there; a producer a partition does not
know has its next batch appended whatever its sequence number. The broker's wall clock is the
test's, so every expiry happens at a moment the test names.
"""

from __future__ import annotations

import threading

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidProducerEpochError,
    InvalidRecordError,
    OutOfOrderSequenceNumberError,
)
from pcmodel.topics.idempotence import ProducerSequences
from pcmodel.topics.structs import ActiveProducer, TopicPartition
from tests.topics.conftest import WallClock

pytestmark = pytest.mark.timeout(30)

HOUR = 3_600_000
START = 1_700_000_000_000
T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


def make_broker(wall: WallClock, **settings) -> Broker:
    broker = Broker(timestamp_clock=wall, **settings)
    broker.create_topic("t", 2)
    return broker


def append(broker, producer, seq, value=b"v", partition=0, timestamp=None):
    pid, epoch = producer
    record = (None, value) if timestamp is None else (None, value, (), timestamp)
    return broker.append_idempotent("t", partition, [record], producer_id=pid,
                                    producer_epoch=epoch, first_sequence=seq)


def values(broker, partition=0):
    found = broker.fetch({TopicPartition("t", partition): 0})[TopicPartition("t", partition)]
    return [r.value for r in found.records]


def test_a_producer_silent_for_the_expiration_time_is_forgotten_and_its_retry_stored_again():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_ms=HOUR,
                     producer_id_expiration_check_interval_ms=1) as broker:
        producer = broker.init_producer_id()
        first = append(broker, producer, 0, b"a")
        wall.now += HOUR - 1
        assert append(broker, producer, 0, b"a") == first  # still remembered: not stored again
        wall.now += 1
        assert broker.describe_producers([T0])[T0].active_producers == ()
        append(broker, producer, 0, b"a")  # the horizon passed: the retry is a new batch
        assert values(broker) == [b"a", b"a"]


def test_expiry_counts_from_the_batch_timestamp_not_from_the_append():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_ms=HOUR,
                     producer_id_expiration_check_interval_ms=1) as broker:
        producer = broker.init_producer_id()
        append(broker, producer, 0, timestamp=START - HOUR + 1)  # stamped long ago
        assert broker.describe_producers([T0])[T0].active_producers == (
            ActiveProducer(producer[0], 0, 0, START - HOUR + 1),)
        wall.now += 1
        assert broker.describe_producers([T0])[T0].active_producers == ()


def test_each_partition_forgets_on_its_own():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_ms=HOUR,
                     producer_id_expiration_check_interval_ms=None) as broker:
        producer = broker.init_producer_id()
        append(broker, producer, 0, partition=0)
        wall.now += HOUR // 2
        append(broker, producer, 0, partition=1)
        wall.now += HOUR // 2
        assert broker.expire_producers() == {T0: (producer[0],)}
        assert broker.describe_producers([T0, T1])[T1].active_producers == (
            ActiveProducer(producer[0], 0, 0, START + HOUR // 2),)
        assert broker.expire_producers() == {}
        assert broker.expire_producers(START + 2 * HOUR) == {T1: (producer[0],)}


def test_the_ids_forgotten_are_listed_in_order():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_check_interval_ms=None) as broker:
        low, high = broker.init_producer_id(), broker.init_producer_id()
        append(broker, high, 0)  # the higher id wrote first
        append(broker, low, 0)
        assert broker.expire_producers(START + 86_400_000) == {T0: (low[0], high[0])}


def test_the_check_runs_once_its_interval_has_passed():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_ms=HOUR,
                     producer_id_expiration_check_interval_ms=10 * 60_000) as broker:
        producer = broker.init_producer_id()
        wall.now += 9 * 60_000
        append(broker, producer, 0)  # checked at START (construction): not due yet
        wall.now += HOUR - 1  # the check is due, the producer one ms from expiry
        assert len(broker.describe_producers([T0])[T0].active_producers) == 1
        wall.now += 1  # expired now, but the last check was just made: the next is due later
        assert len(broker.describe_producers([T0])[T0].active_producers) == 1
        wall.now += 10 * 60_000
        assert broker.describe_producers([T0])[T0].active_producers == ()


def test_without_a_check_interval_only_expire_producers_forgets():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_ms=HOUR,
                     producer_id_expiration_check_interval_ms=None) as broker:
        producer = broker.init_producer_id()
        append(broker, producer, 0)
        wall.now += 10 * HOUR
        assert len(broker.describe_producers([T0])[T0].active_producers) == 1
        assert broker.expire_producers() == {T0: (producer[0],)}
        assert broker.describe_producers([T0])[T0].active_producers == ()


def test_an_unknown_producer_starts_at_any_sequence_a_known_one_cannot_skip():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_ms=HOUR,
                     producer_id_expiration_check_interval_ms=1) as broker:
        producer = broker.init_producer_id()
        append(broker, producer, 0, b"a")
        append(broker, producer, 1, b"b")
        wall.now += HOUR
        append(broker, producer, 7, b"h")  # forgotten: any sequence continues it
        with pytest.raises(OutOfOrderSequenceNumberError, match="expected 8"):
            append(broker, producer, 9, b"j")  # known again: a gap is refused
        append(broker, producer, 8, b"i")
        assert values(broker) == [b"a", b"b", b"h", b"i"]
        other = broker.init_producer_id()
        append(broker, other, 41, b"x", partition=1)  # never known there
        assert values(broker, 1) == [b"x"]


def test_a_new_epoch_of_a_known_producer_still_starts_at_zero():
    wall = WallClock(START)
    with make_broker(wall) as broker:
        producer = broker.init_producer_id()
        append(broker, producer, 0)
        bumped = (producer[0], producer[1] + 1)  # the producer bumps its epoch itself
        with pytest.raises(OutOfOrderSequenceNumberError, match="expected 0"):
            append(broker, bumped, 1)
        append(broker, bumped, 0)
        with pytest.raises(InvalidProducerEpochError):
            append(broker, producer, 1)


def test_a_partition_that_forgot_the_producer_forgot_its_epoch_too():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_ms=HOUR,
                     producer_id_expiration_check_interval_ms=1) as broker:
        producer = broker.init_producer_id()
        append(broker, producer, 0)
        bumped = (producer[0], producer[1] + 1)  # the producer bumps its epoch itself
        append(broker, bumped, 0)
        with pytest.raises(InvalidProducerEpochError):
            append(broker, producer, 1)
        wall.now += HOUR
        assert broker.describe_producers([T0])[T0].active_producers == ()
        append(broker, producer, 5)  # forgotten with its epochs, as Kafka: any epoch, sequence


def test_bad_settings_are_refused():
    for name, value in (("producer_id_expiration_ms", 0),
                        ("producer_id_expiration_check_interval_ms", 0),
                        ("producer_id_expiration_ms", None)):
        with pytest.raises((IllegalArgumentError, TypeError), match=name):
            Broker(**{name: value})
    with Broker() as broker, pytest.raises(IllegalArgumentError, match="now_ms"):
        broker.expire_producers(-1)


def test_the_broker_describes_its_expiration_time():
    with Broker(producer_id_expiration_ms=HOUR) as broker:
        entries = {e.name: e for e in broker.describe_broker_configs()}
        assert entries["producer.id.expiration.ms"].value == str(HOUR)
        assert entries["producer.id.expiration.ms"].read_only
        # Kafka's check interval is an internal config: DescribeConfigs does not list it.
        assert "producer.id.expiration.check.interval.ms" not in entries
    with Broker() as broker:
        assert {e.name: e.value for e in broker.describe_broker_configs()}[
            "producer.id.expiration.ms"] == "86400000"


def test_an_append_under_way_is_not_expired_under_it():
    """A state whose append holds its lock is judged at the next check, so the batch being
    appended is remembered (its retry is not stored twice)."""
    sequences = ProducerSequences(expiration_ms=HOUR)
    pid, _ = sequences.init_producer_id()

    class Result:
        max_timestamp_ms = START

    sequences.append("p", pid, 0, 0, 1, Result)
    appending, release = threading.Event(), threading.Event()

    def slow_append():
        appending.set()
        assert release.wait(10)
        return Result

    worker = threading.Thread(target=sequences.append, args=("p", pid, 0, 1, 1, slow_append))
    worker.start()
    assert appending.wait(10)
    assert sequences.expire(START + HOUR) == ()  # the append holds the state
    release.set()
    worker.join(10)
    assert sequences.active("p") == (ActiveProducer(pid, 0, 1, START),)
    assert sequences.expire(START + HOUR) == ((pid, "p"),)
    assert sequences.active("p") == ()


def test_an_append_that_finds_its_state_expired_starts_again_with_a_new_one():
    """The expiry may land between an append's lookup of its state and its taking the
    state's lock: the append must then use a new state, or its batch would be forgotten."""
    sequences = ProducerSequences(expiration_ms=HOUR)
    pid, _ = sequences.init_producer_id()

    class Result:
        max_timestamp_ms = START

    sequences.append("p", pid, 0, 0, 1, Result)
    lookup = sequences._state_for

    def lookup_then_expire(*args):
        state = lookup(*args)
        sequences.expire(START + HOUR)  # lands before the append takes the state's lock
        return state

    sequences._state_for = lookup_then_expire
    sequences.append("p", pid, 0, 1, 1, Result)
    assert sequences.active("p") == (ActiveProducer(pid, 0, 1, START),)


def test_a_refused_first_batch_of_a_new_epoch_changes_nothing():
    wall = WallClock(START)
    with make_broker(wall, producer_id_expiration_ms=HOUR,
                     producer_id_expiration_check_interval_ms=None) as broker:
        producer = broker.init_producer_id()
        append(broker, producer, 0)
        bumped = (producer[0], producer[1] + 1)  # the producer bumps its epoch itself
        with pytest.raises(OutOfOrderSequenceNumberError, match="expected 0"):
            append(broker, bumped, 3)
        (described,) = broker.describe_producers([T0])[T0].active_producers
        assert (described.producer_epoch, described.last_sequence) == (producer[1], 0)
        wall.now += HOUR
        assert broker.expire_producers() == {T0: (producer[0],)}  # as if never sent
        append(broker, bumped, 3)  # forgotten: any sequence continues it
        assert values(broker) == [b"v", b"v"]


def test_a_producer_whose_only_batch_was_refused_is_not_remembered():
    sequences = ProducerSequences(expiration_ms=HOUR)

    def refuse():
        raise InvalidRecordError("refused by the log")

    with pytest.raises(InvalidRecordError):
        sequences.append(T0, 7, 0, 5, 1, refuse)
    assert sequences._partitions == {}  # nothing left that could never expire

    class Result:
        max_timestamp_ms = START

    sequences.append(T0, 7, 0, 9, 1, Result)  # still unknown: any sequence
    assert sequences.active(T0) == (ActiveProducer(7, 0, 9, START),)
