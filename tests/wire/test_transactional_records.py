"""Transactional records through the listener, in raw protocol: Produce of transactional and
control batches, Fetch at both isolation levels (the last stable offset, aborted transactions,
Kafka's batches), ListOffsets' isolation level and OffsetFetch's ``require_stable``."""

from __future__ import annotations

import struct

import pytest
from kafka.protocol.consumer import ListOffsetsRequest
from kafka.protocol.consumer.group import OffsetFetchRequest

from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.log_transactions import ControlRecord
from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import (
    fetch_request,
    fetched_batches,
    fetched_records,
    produce_request,
    record_batch,
)
from tests.wire.test_transactions import add_offsets, end, started, txn_commit

NONE, INVALID_REQUEST, INVALID_TXN_STATE, TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 0, 42, 48, 53
INVALID_PRODUCER_EPOCH, INVALID_RECORD, UNSTABLE_OFFSET_COMMIT = 47, 87, 88
T0 = TopicPartition("t", 0)


def produce(raw, values, ids, sequence=0, *, tid="tx", transactional=True, control=False,
            topic="t", partition=0, timestamp=None):
    batch = record_batch(values, producer=(*ids, sequence), transactional=transactional,
                         control=control,
                         timestamp=wall_clock_ms() if timestamp is None else timestamp)
    response = raw.request(produce_request(topic, partition, batch, acks=-1,
                                           transactional_id=tid))
    return response.responses[0].partition_responses[0]


def fetch(raw, offset=0, *, isolation_level=1, **options):
    response = raw.request(fetch_request({("t", 0): offset}, isolation_level=isolation_level,
                                         **options))
    return response.responses[0].partitions[0]


def values(partition_data) -> list[bytes]:
    """The values of a fetched partition's records, markers left out (as consumers do)."""
    return [r.value for b in fetched_batches(partition_data) if not b.is_control_batch
            for r in b]


def logged_values(broker, tp=T0) -> list[bytes]:
    """The values in ``tp``'s log, markers left out."""
    return [r.value for r in broker.fetch({tp: 0})[tp].records
            if not isinstance(r, ControlRecord)]


def marker_type(batch) -> int:
    """A control batch's marker: 0 ABORT, 1 COMMIT (Kafka's ControlRecordType, in its key)."""
    (record,) = list(batch)
    return struct.unpack(">hh", record.key)[1]


# --- Produce --------------------------------------------------------------------------------


def test_a_transactional_batch_is_appended_in_the_producers_transaction(broker, raw):
    broker.create_topic("t", 1)
    ids = started(raw, broker)
    part = produce(raw, [b"a", b"b"], ids)
    assert (part.error_code, part.base_offset) == (NONE, 0)
    result = broker.fetch({T0: 0})[T0]
    assert [r.value for r in result.records] == [b"a", b"b"]
    assert [(b.base_offset, b.last_offset, b.producer_id, b.producer_epoch, b.is_control)
            for b in result.transactional_batches] == [(0, 1, *ids, False)]
    assert result.last_stable_offset == 0  # the transaction is open from offset 0


def test_a_transactional_batch_outside_a_transaction_is_invalid_txn_state(broker, raw):
    broker.create_topic("t", 2)
    ids = started(raw, broker)  # holds t-0 only
    assert produce(raw, [b"a"], ids, partition=1).error_code == INVALID_TXN_STATE
    assert end(raw, ids, committed=True) == NONE
    assert produce(raw, [b"b"], ids, 1).error_code == INVALID_TXN_STATE  # it ended
    # t-0 holds only the marker of the empty transaction; t-1 nothing.
    assert broker.end_offsets([T0, TopicPartition("t", 1)]) == {T0: 1,
                                                                TopicPartition("t", 1): 0}


def test_transactional_batches_need_the_requests_transactional_id(broker, raw):
    broker.create_topic("t", 1)
    ids = started(raw, broker)
    part = produce(raw, [b"a"], ids, tid=None)
    assert part.error_code == TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert "transactional_id" in part.error_message
    assert broker.end_offsets([T0]) == {T0: 0}


@pytest.mark.parametrize(("producer", "transactional"), [((0, 0), True), ((-1, -1), True)])
def test_control_batches_and_anonymous_transactional_ones_are_invalid_record(
        broker, raw, producer, transactional):
    broker.create_topic("t", 1)
    started(raw, broker)
    control = producer[0] >= 0
    part = produce(raw, [b"marker?"], producer, -1 if producer[0] < 0 else 0,
                   transactional=transactional, control=control)
    assert part.error_code == INVALID_RECORD
    assert ("control records" if control else "producer id") in part.error_message
    assert broker.end_offsets([T0]) == {T0: 0}


def test_a_fenced_producers_batch_is_invalid_producer_epoch(broker, raw):
    from tests.wire.test_transactions import init

    broker.create_topic("t", 1)
    old = started(raw, broker)
    init(raw)  # a newer instance: the old one's transaction is aborted, its epoch fenced
    assert produce(raw, [b"late"], old, 0).error_code == INVALID_PRODUCER_EPOCH
    assert logged_values(broker) == []


# --- Fetch ----------------------------------------------------------------------------------


def test_read_committed_stops_at_the_last_stable_offset(broker, raw):
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"before")])
    ids = started(raw, broker)
    assert produce(raw, [b"open"], ids).error_code == NONE
    broker.append("t", 0, [(None, b"after")])
    committed = fetch(raw)
    assert values(committed) == [b"before"]
    assert (committed.high_watermark, committed.last_stable_offset) == (3, 1)
    assert committed.aborted_transactions == []
    uncommitted = fetch(raw, isolation_level=0)
    assert values(uncommitted) == [b"before", b"open", b"after"]
    assert uncommitted.last_stable_offset == 1 and uncommitted.aborted_transactions is None
    # At the last stable offset a read_committed fetch has nothing to read while it is open.
    assert fetched_records(fetch(raw, 1)) == []
    assert end(raw, ids, committed=True) == NONE
    after = fetch(raw, 1)
    assert after.last_stable_offset == after.high_watermark == 4
    assert [(b.base_offset, b.is_control_batch) for b in fetched_batches(after)] == [
        (1, False), (2, False), (3, True)]  # the open record, the plain one, the marker
    assert values(after) == [b"open", b"after"]


def test_batches_are_kafkas_transactional_and_control_batches(broker, raw):
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"plain")])
    ids = started(raw, broker)
    assert produce(raw, [b"t1", b"t2"], ids).error_code == NONE
    assert produce(raw, [b"t3"], ids, 2).error_code == NONE
    assert end(raw, ids, committed=True) == NONE
    broker.append("t", 0, [(None, b"plain again")])
    batches = fetched_batches(fetch(raw))
    assert [(b.base_offset, b.last_offset_delta, b.is_transactional, b.is_control_batch,
             b.producer_id, b.producer_epoch) for b in batches] == [
        (0, 0, False, False, -1, -1),
        (1, 1, True, False, *ids), (3, 0, True, False, *ids),
        (4, 0, True, True, *ids),
        (5, 0, False, False, -1, -1)]
    assert marker_type(batches[3]) == 1  # COMMIT


def test_read_committed_lists_the_aborted_transactions_it_sends(broker, raw):
    broker.create_topic("t", 1)
    ids = started(raw, broker)
    assert produce(raw, [b"x", b"y"], ids).error_code == NONE
    assert end(raw, ids, committed=False) == NONE
    committed = fetch(raw)
    assert [(a.producer_id, a.first_offset) for a in committed.aborted_transactions] == [
        (ids[0], 0)]
    batches = fetched_batches(committed)
    # The aborted records are sent: the consumer drops them, knowing the transaction aborted.
    assert [(b.base_offset, b.is_control_batch) for b in batches] == [(0, False), (2, True)]
    assert marker_type(batches[1]) == 0  # ABORT
    assert fetch(raw, isolation_level=0).aborted_transactions is None


def test_a_fetch_that_long_polls_over_a_compacted_gap_sends_each_record_once(broker, raw):
    broker.create_topic("c", 1, configs={"cleanup.policy": "compact", "segment.ms": "1000"})
    old = wall_clock_ms() - 10_000
    for key in (b"a", b"b", b"a", b"c", b"a"):
        broker.append("c", 0, [(key, b"v", (), old)])
    broker.append("c", 0, [(b"d", b"v")])  # rolls the segment: the cleaner leaves gaps
    assert [r.offset for r in broker.fetch({("c", 0): 0})[("c", 0)].records] == [1, 3, 4, 5]
    # min_bytes not reached: the fetch reads again from after what it has, until max_wait_ms.
    response = raw.request(fetch_request({("c", 0): 0}, min_bytes=1 << 20, max_wait_ms=200))
    assert [r.offset for r in fetched_records(response.responses[0].partitions[0])] == [
        1, 3, 4, 5]


@pytest.mark.parametrize("level", [2, -1])
def test_an_unknown_isolation_level_is_invalid_request(broker, raw, level):
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"a")])
    part = fetch(raw, isolation_level=level, max_wait_ms=10_000)  # answered at once
    assert (part.error_code, part.records or b"") == (INVALID_REQUEST, b"")


# --- ListOffsets, OffsetFetch ---------------------------------------------------------------


def list_offsets(raw, timestamp, isolation_level, version=7):
    Topic = ListOffsetsRequest.ListOffsetsTopic  # noqa: N806
    response = raw.request(ListOffsetsRequest[version](
        replica_id=-1, isolation_level=isolation_level, topics=[Topic(name="t", partitions=[
            Topic.ListOffsetsPartition(partition_index=0, current_leader_epoch=-1,
                                       timestamp=timestamp)])]))
    part = response.topics[0].partitions[0]
    return part.error_code, part.offset


def test_list_offsets_latest_is_the_last_stable_offset_for_read_committed(broker, raw):
    broker.create_topic("t", 1)
    now = wall_clock_ms()
    broker.append("t", 0, [(None, b"before", (), now - 2_000)])
    ids = started(raw, broker)
    assert produce(raw, [b"open"], ids, timestamp=now - 1_000).error_code == NONE
    assert list_offsets(raw, -1, 0) == (NONE, 2)
    assert list_offsets(raw, -1, 1) == (NONE, 1)
    assert list_offsets(raw, -1, 1, version=1) == (NONE, 2)  # v1 has no isolation level
    # A record found by time is one a read_committed consumer can read, or none.
    assert list_offsets(raw, now - 2_000, 1) == (NONE, 0)
    assert list_offsets(raw, now - 1_500, 0) == (NONE, 1)
    assert list_offsets(raw, now - 1_500, 1) == (NONE, -1)
    assert list_offsets(raw, -3, 0) == (NONE, 1)  # the largest timestamp
    assert list_offsets(raw, -3, 1) == (NONE, -1)
    assert list_offsets(raw, -1, 3) == (INVALID_REQUEST, -1)
    assert end(raw, ids, committed=True) == NONE
    assert list_offsets(raw, -1, 1) == (NONE, 3)
    assert list_offsets(raw, now - 1_500, 1) == (NONE, 1)


def offset_fetch(raw, version, require_stable, topics=(("t", [0, 1]),)):
    if version >= 8:
        Group = OffsetFetchRequest.OffsetFetchRequestGroup  # noqa: N806
        topics = None if topics is None else [
            Group.OffsetFetchRequestTopics(name=n, partition_indexes=ps) for n, ps in topics]
        response = raw.request(OffsetFetchRequest[version](
            groups=[Group(group_id="g", topics=topics)], require_stable=require_stable))
        group = response.groups[0]
        code, found = group.error_code, group.topics
    else:
        topics = None if topics is None else [OffsetFetchRequest.OffsetFetchRequestTopic(
            name=n, partition_indexes=ps) for n, ps in topics]
        response = raw.request(OffsetFetchRequest[version](
            group_id="g", topics=topics, require_stable=require_stable))
        code, found = response.error_code, response.topics
    return code, {(t.name, p.partition_index): (p.error_code, p.committed_offset)
                  for t in found for p in t.partitions}


@pytest.mark.parametrize("version", [7, 8, 9])
def test_offset_fetch_requiring_stable_offsets_waits_for_the_transaction(broker, raw, version):
    broker.create_topic("t", 2)
    broker.commit_offsets("g", -1, "", {TopicPartition("t", 1): 5})
    ids = started(raw, broker)
    assert add_offsets(raw, ids, "g") == NONE
    assert txn_commit(raw, ids, "g", {("t", 0): 4}) == {("t", 0): NONE}
    assert offset_fetch(raw, version, True) == (NONE, {("t", 0): (UNSTABLE_OFFSET_COMMIT, -1),
                                                      ("t", 1): (NONE, 5)})
    assert offset_fetch(raw, version, False) == (NONE, {("t", 0): (NONE, -1),
                                                       ("t", 1): (NONE, 5)})
    # Asking for all partitions lists those with a committed offset, each answered as above.
    broker.commit_offsets("g", -1, "", {T0: 1})
    assert offset_fetch(raw, version, True, topics=None) == (
        NONE, {("t", 0): (UNSTABLE_OFFSET_COMMIT, -1), ("t", 1): (NONE, 5)})
    assert end(raw, ids, committed=True) == NONE
    assert offset_fetch(raw, version, True) == (NONE, {("t", 0): (NONE, 4), ("t", 1): (NONE, 5)})


def test_offset_fetch_before_v7_cannot_require_stable_offsets(broker, raw):
    broker.create_topic("t", 2)
    ids = started(raw, broker)
    assert add_offsets(raw, ids, "g") == NONE
    assert txn_commit(raw, ids, "g", {("t", 0): 4}) == {("t", 0): NONE}
    assert offset_fetch(raw, 6, True) == (NONE, {("t", 0): (NONE, -1), ("t", 1): (NONE, -1)})
