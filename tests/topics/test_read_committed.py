"""A KafkaConsumer and transactions: what each isolation level hands the application, where the
position goes past markers and aborted records, and committed offsets a transaction stages.

A transactional producer writes; the consumers read with ``isolation_level`` set. Waiting is on
observable state (``wait_until`` over positions and high watermarks), never on sleeps.
"""

from __future__ import annotations

import pytest

from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.errors import KafkaConfigurationError, KafkaTimeoutError
from pcmodel.topics.log_transactions import ControlRecord
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import ConsumerRecord, TopicPartition
from tests.topics.conftest import drain, wait_until

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)


@pytest.fixture
def topic(broker):
    broker.create_topic("t", 1)
    return "t"


@pytest.fixture
def producer(broker, topic):
    p = KafkaProducer(broker=broker, transactional_id="tx")
    p.init_transactions()
    yield p
    p.close()


def committed_transaction(producer, *values):
    producer.begin_transaction()
    for value in values:
        producer.send("t", value, partition=0)
    producer.commit_transaction()


def aborted_transaction(producer, *values):
    """A transaction whose records reach the log (flushed), then aborted."""
    producer.begin_transaction()
    for value in values:
        producer.send("t", value, partition=0)
    producer.flush()
    producer.abort_transaction()


def reader(make_consumer, level, **config):
    consumer = make_consumer(isolation_level=level, auto_offset_reset="earliest", **config)
    consumer.assign([TP])
    return consumer


def values(records):
    return [r.value for r in records]


def poll_values(consumer, timeout_ms=20):
    return [r.value for records in consumer.poll(timeout_ms=timeout_ms).values() for r in records]


def test_isolation_level_is_checked(make_consumer):
    with pytest.raises(KafkaConfigurationError, match="isolation_level"):
        make_consumer(isolation_level="committed")
    assert make_consumer().config["isolation_level"] == "read_uncommitted"


@pytest.mark.parametrize("level", ["read_committed", "read_uncommitted"])
def test_each_level_reads_what_it_should_and_never_a_marker(broker, producer, make_consumer,
                                                            level):
    committed_transaction(producer, b"c1", b"c2")
    broker.append("t", 0, [(None, b"plain")])
    aborted_transaction(producer, b"a1", b"a2")
    committed_transaction(producer, b"c3")
    end = broker.end_offsets([TP])[TP]
    assert end == 9  # 2 + COMMIT + 1 + 2 + ABORT + 1 + COMMIT

    consumer = reader(make_consumer, level)
    expected = [b"c1", b"c2", b"plain", b"c3"]
    if level == "read_uncommitted":
        expected[3:3] = [b"a1", b"a2"]
    got = drain(consumer, len(expected))
    assert values(got) == expected
    assert all(type(r) is ConsumerRecord for r in got)
    markers = {r.offset for r in broker.fetch({TP: 0})[TP].records if isinstance(r, ControlRecord)}
    assert markers == {2, 6, 8} and markers.isdisjoint(r.offset for r in got)
    # The position is past the last marker: the next record is read, nothing again.
    wait_until(lambda: poll_values(consumer) == [] and consumer.position(TP) == end)
    broker.append("t", 0, [(None, b"next")])
    assert values(drain(consumer, 1)) == [b"next"]


@pytest.mark.parametrize("level", ["read_committed", "read_uncommitted"])
def test_a_fetch_of_markers_and_aborted_records_only_still_moves_the_position(
        broker, producer, make_consumer, level):
    consumer = reader(make_consumer, level)
    aborted_transaction(producer, b"a1", b"a2")  # offsets 0, 1 and the ABORT marker at 2
    if level == "read_committed":
        # Nothing to hand out, yet the position moves past all three (the Java consumer's).
        wait_until(lambda: poll_values(consumer) == [] and consumer.position(TP) == 3)
    else:
        assert values(drain(consumer, 2)) == [b"a1", b"a2"]
        wait_until(lambda: poll_values(consumer) == [] and consumer.position(TP) == 3)
    # The next fetch starts where the last one ended: its records are not dropped as stale.
    committed_transaction(producer, b"c1")
    assert values(drain(consumer, 1)) == [b"c1"]
    wait_until(lambda: poll_values(consumer) == [] and consumer.position(TP) == 5)


def test_read_committed_waits_at_the_last_stable_offset_until_the_commit(
        broker, producer, make_consumer):
    producer.begin_transaction()
    producer.send("t", b"t1", partition=0)
    producer.send("t", b"t2", partition=0)
    producer.flush()
    broker.append("t", 0, [(None, b"after")])  # not transactional, but behind the open one
    committed = reader(make_consumer, "read_committed")
    uncommitted = reader(make_consumer, "read_uncommitted")

    assert values(drain(uncommitted, 3)) == [b"t1", b"t2", b"after"]
    # It fetches, and sees the log end (3), but no record: it reads up to the LSO only.
    wait_until(lambda: poll_values(committed) == [] and committed.highwater(TP) == 3)
    assert poll_values(committed, timeout_ms=100) == []
    assert committed.position(TP) == 0
    assert committed.end_offsets([TP]) == {TP: 0}  # the last stable offset
    assert uncommitted.end_offsets([TP]) == {TP: 3}  # the high watermark
    lag = committed.metrics()["consumer-fetch-manager-metrics"]["records-lag-max"]
    assert lag == 0.0  # counted to the last stable offset, as the Java client counts it

    producer.commit_transaction()
    assert values(drain(committed, 3)) == [b"t1", b"t2", b"after"]
    wait_until(lambda: poll_values(committed) == [] and committed.position(TP) == 4)
    assert committed.end_offsets([TP]) == {TP: 4}


def test_seek_to_end_and_reset_to_latest_stop_at_the_last_stable_offset(
        broker, producer, make_consumer):
    committed_transaction(producer, b"c1")
    producer.begin_transaction()
    producer.send("t", b"open", partition=0)
    producer.flush()  # offsets: c1 0, COMMIT 1, open 2
    latest = make_consumer(isolation_level="read_committed", auto_offset_reset="latest")
    latest.assign([TP])
    assert latest.position(TP) == 2
    sought = reader(make_consumer, "read_committed")
    sought.seek_to_end(TP)
    assert sought.position(TP) == 2
    producer.commit_transaction()
    assert values(drain(latest, 1)) == [b"open"]
    assert values(drain(sought, 1)) == [b"open"]


def test_a_committed_offset_staged_by_a_transaction_is_waited_for(broker, producer,
                                                                  make_consumer):
    broker.append("t", 0, [(None, b"%d" % i) for i in range(8)])
    producer.begin_transaction()
    producer.send_offsets_to_transaction({TP: 5}, "g")
    waiting = make_consumer(group_id="g", isolation_level="read_committed",
                            auto_offset_reset="earliest", enable_auto_commit=False)
    waiting.assign([TP])
    plain = make_consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    plain.assign([TP])

    # read_uncommitted: the offset is not stored yet, so it starts at the earliest record.
    assert plain.committed(TP) is None
    assert drain(plain, 1)[0].value == b"0"
    # read_committed: the lookup is unstable (KIP-447), so it waits instead of resetting.
    with pytest.raises(KafkaTimeoutError, match="transaction"):
        waiting.committed(TP, timeout_ms=50)
    with pytest.raises(KafkaTimeoutError, match="transaction"):
        waiting.position(TP, timeout_ms=50)
    assert poll_values(waiting, timeout_ms=150) == []

    producer.commit_transaction()
    assert waiting.committed(TP) == 5
    assert values(drain(waiting, 3)) == [b"5", b"6", b"7"]


def test_offsets_of_an_aborted_transaction_are_never_committed(broker, producer,
                                                               make_consumer):
    broker.append("t", 0, [(None, b"%d" % i) for i in range(4)])
    producer.begin_transaction()
    producer.send_offsets_to_transaction({TP: 3}, "g")
    producer.abort_transaction()
    consumer = make_consumer(group_id="g", isolation_level="read_committed",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.assign([TP])
    assert consumer.committed(TP, timeout_ms=1000) is None
    assert values(drain(consumer, 4)) == [b"0", b"1", b"2", b"3"]


def test_a_broker_process_answers_a_read_committed_consumer_and_a_transactional_producer():
    import multiprocessing

    from pcmodel.topics.errors import UnstableOffsetCommitError
    from pcmodel.topics.log_transactions import AbortedTransaction
    from pcmodel.topics.remote import start_broker_process

    with start_broker_process(context=multiprocessing.get_context("fork")) as process, \
            process.connect() as remote:
        remote.create_topic("t", 1)
        producer = KafkaProducer(broker=remote, transactional_id="tx")
        consumer = KafkaConsumer(broker=remote, group_id="g", isolation_level="read_committed",
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 fetch_max_wait_ms=20)
        try:
            producer.init_transactions()
            aborted_transaction(producer, b"a1")
            producer.begin_transaction()
            producer.send("t", b"c1", partition=0)
            producer.send_offsets_to_transaction({TP: 1}, "g")
            producer.flush()
            with pytest.raises(UnstableOffsetCommitError):  # the broker's class, unpickled
                remote.committed("g", [TP], require_stable=True)
            producer.commit_transaction()
            fetched = remote.fetch({TP: 0}, isolation_level="read_committed")[TP]
            assert [type(r) for r in fetched.records][1::2] == [ControlRecord, ControlRecord]
            assert fetched.aborted_transactions == (AbortedTransaction(0, 0),)
            consumer.assign([TP])
            assert consumer.committed(TP) == 1
            consumer.seek(TP, 0)
            assert values(drain(consumer, 1)) == [b"c1"]
        finally:
            consumer.close()
            producer.close()
