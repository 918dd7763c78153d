"""Idempotent producers at the broker: retries are appended once, gaps and old epochs refused."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.errors import InvalidProducerEpochError, OutOfOrderSequenceNumberError
from pcmodel.topics.structs import TopicPartition


@pytest.fixture
def broker():
    with Broker() as b:
        b.create_topic("t", 2)
        yield b


def _append(broker, pid, epoch, seq, values, partition=0):
    return broker.append_idempotent(
        "t", partition, [(None, v) for v in values], producer_id=pid, producer_epoch=epoch,
        first_sequence=seq,
    )


def test_new_producers_get_distinct_ids_at_epoch_0(broker):
    first, second = broker.init_producer_id(), broker.init_producer_id()
    assert first[1] == second[1] == 0 and first[0] != second[0]


def test_a_retried_batch_returns_its_original_offset_and_is_not_appended(broker):
    pid, epoch = broker.init_producer_id()
    original = _append(broker, pid, epoch, 0, [b"a", b"b"])
    _append(broker, pid, epoch, 2, [b"c"])
    assert _append(broker, pid, epoch, 0, [b"a", b"b"]) == original
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 3}


def test_sequences_are_per_partition(broker):
    pid, epoch = broker.init_producer_id()
    _append(broker, pid, epoch, 0, [b"a"], partition=0)
    _append(broker, pid, epoch, 0, [b"b"], partition=1)
    assert broker.end_offsets([TopicPartition("t", 0), TopicPartition("t", 1)]) == {
        ("t", 0): 1, ("t", 1): 1}


def test_a_gap_is_out_of_order_and_appends_nothing(broker):
    pid, epoch = broker.init_producer_id()
    _append(broker, pid, epoch, 0, [b"a"])
    with pytest.raises(OutOfOrderSequenceNumberError, match="expected 1"):
        _append(broker, pid, epoch, 3, [b"d"])
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 1}


def test_a_bumped_epoch_fences_the_old_instance(broker):
    pid, epoch = broker.init_producer_id()
    _append(broker, pid, epoch, 0, [b"a"])
    _append(broker, pid, epoch + 1, 0, [b"b"])  # bumped by the producer: from sequence 0
    with pytest.raises(InvalidProducerEpochError):
        _append(broker, pid, epoch, 1, [b"c"])
