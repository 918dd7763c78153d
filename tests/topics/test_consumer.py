"""KafkaConsumer on its own: polling, positions, commits, seeks, pause, resets, config, errors."""

from __future__ import annotations

import json
import threading

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    InvalidGroupIdError,
    InvalidTopicError,
    KafkaConfigurationError,
    KafkaTimeoutError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    SerializationError,
    UnassignedPartitionError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import ConsumerRecord, OffsetAndMetadata
from tests.topics.conftest import FAST, FakeClock, drain, fill, tp, wait_until

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def topic(broker):
    broker.create_topic("t", 2)
    return "t"


def values(records):
    return [r.value for r in records]


def test_records_of_a_partition_come_in_offset_order_with_their_fields(broker, make_consumer):
    broker.create_topic("t", 2)
    broker.append("t", 0, [(b"k", b"v0", [("h", b"1")], 123)])
    fill(broker, "t", 0, [b"v1", b"v2"])
    fill(broker, "t", 1, [b"w0"])
    consumer = make_consumer(auto_offset_reset="earliest")
    consumer.assign([tp("t", 0), tp("t", 1)])
    got = drain(consumer, 4)
    by_partition = {p: [r for r in got if r.partition == p] for p in (0, 1)}
    assert [r.offset for r in by_partition[0]] == [0, 1, 2]
    assert values(by_partition[0]) == [b"v0", b"v1", b"v2"]
    assert values(by_partition[1]) == [b"w0"]
    first = by_partition[0][0]
    assert isinstance(first, ConsumerRecord)
    assert (first.topic, first.key, first.headers, first.timestamp) == ("t", b"k", [("h", b"1")],
                                                                         123)
    assert (first.timestamp_type, first.serialized_key_size, first.serialized_value_size) == (
        0, 1, 2)
    assert by_partition[0][1].serialized_key_size == -1
    assert consumer.position(tp("t", 0)) == 3
    assert consumer.highwater(tp("t", 0)) == 3


def test_poll_respects_max_records_and_max_poll_records(broker, make_consumer, topic):
    fill(broker, topic, 0, [bytes([i]) for i in range(10)])
    consumer = make_consumer(auto_offset_reset="earliest", max_poll_records=4)
    consumer.assign([tp(topic, 0)])
    wait_until(lambda: consumer.poll(timeout_ms=0, max_records=1) != {})
    batch = consumer.poll(timeout_ms=1000, max_records=3)
    assert [r.offset for r in batch[tp(topic, 0)]] == [1, 2, 3]
    batch = consumer.poll(timeout_ms=1000)
    assert [r.offset for r in batch[tp(topic, 0)]] == [4, 5, 6, 7]
    with pytest.raises(IllegalArgumentError):
        consumer.poll(max_records=0)


def test_deserializers_and_a_failing_one_consumes_nothing(broker, make_consumer, topic):
    broker.append(topic, 0, [(b"k1", json.dumps({"n": 1}).encode()), (None, b"not json"),
                             (b"k3", b"3")])
    consumer = make_consumer(
        auto_offset_reset="earliest",
        key_deserializer=lambda b: b.decode(),
        value_deserializer=json.loads,
    )
    consumer.assign([tp(topic, 0)])
    [first] = drain(consumer, 1)  # the records before the bad one come first
    assert (first.key, first.value) == ("k1", {"n": 1})
    for _ in range(2):  # and the bad one raises, again and again: it is not consumed
        with pytest.raises(SerializationError, match="value_deserializer") as info:
            consumer.poll(timeout_ms=1000)
        assert isinstance(info.value.__cause__, ValueError)
        assert consumer.position(tp(topic, 0)) == 1
    consumer.seek(tp(topic, 0), 2)
    [third] = drain(consumer, 1)
    assert (third.offset, third.key, third.value) == (2, "k3", 3)


def test_commit_committed_position_seek_and_replay(broker, make_consumer, topic):
    fill(broker, topic, 0, [bytes([i]) for i in range(6)])
    t0 = tp(topic, 0)
    consumer = make_consumer(group_id="g", enable_auto_commit=False,
                             auto_offset_reset="earliest")
    consumer.assign([t0])
    assert consumer.committed(t0) is None
    assert [r.offset for r in drain(consumer, 6)] == list(range(6))
    assert consumer.position(t0) == 6
    consumer.commit({t0: 4})
    assert consumer.committed(t0) == 4
    consumer.commit()
    # The position's commit carries the leader epoch of the last record read (0: a lone broker).
    assert consumer.committed(t0, metadata=True) == OffsetAndMetadata(6, "", 0)
    consumer.commit({t0: OffsetAndMetadata(5, "why")})
    assert consumer.committed(t0, metadata=True) == OffsetAndMetadata(5, "why")
    consumer.seek(t0, 2)  # replay
    assert consumer.position(t0) == 2
    assert [r.offset for r in drain(consumer, 4)] == [2, 3, 4, 5]
    consumer.seek_to_beginning()
    assert [r.offset for r in drain(consumer, 6)] == list(range(6))
    consumer.seek_to_end(t0)
    assert consumer.position(t0) == 6  # the end is looked up here, lazily, as in Kafka
    fill(broker, topic, 0, [b"new"])
    assert values(drain(consumer, 1)) == [b"new"]
    # A new consumer of the group starts from the committed offset.
    other = make_consumer(group_id="g", enable_auto_commit=False)
    other.assign([t0])
    assert other.position(t0) == 5


def test_bad_seeks_and_commits_change_nothing(broker, make_consumer, topic):
    fill(broker, topic, 0, [b"a", b"b"])
    t0, t1 = tp(topic, 0), tp(topic, 1)
    consumer = make_consumer(group_id="g", auto_offset_reset="earliest")
    consumer.assign([t0])
    assert consumer.position(t0) == 0
    with pytest.raises(IllegalArgumentError):
        consumer.seek(t0, -1)
    # kafka-python documents ValueError for seek() and IllegalStateError for position();
    # the Java client throws IllegalStateException for all: the error is all of them.
    for call in (lambda: consumer.seek(t1, 0), lambda: consumer.position(t1),
                 lambda: consumer.pause(t1), lambda: consumer.resume(t1)):
        with pytest.raises(UnassignedPartitionError, match="not assigned") as info:
            call()
        assert isinstance(info.value, IllegalStateError) and isinstance(info.value, ValueError)
    with pytest.raises(IllegalArgumentError):
        consumer.commit({t0: -1})
    with pytest.raises(TypeError):
        consumer.seek(t0, "1")
    with pytest.raises(UnknownTopicOrPartitionError):
        consumer.commit({tp("missing", 0): 1})
    assert consumer.position(t0) == 0
    assert consumer.committed(t0) is None
    with pytest.raises(UnknownTopicOrPartitionError):
        consumer.assign([tp(topic, 0), tp("missing", 0)])
    assert consumer.assignment() == {t0}
    no_group = make_consumer()
    no_group.assign([t0])
    with pytest.raises(IllegalStateError, match="group_id"):
        no_group.commit()


def test_commit_of_an_unassigned_partition_and_beyond_the_end_is_stored(
    broker, make_consumer, topic
):
    """As in Kafka: any partition, any offset; an offset past the end resets on fetch."""
    fill(broker, topic, 0, [b"a", b"b"])
    t0, t1 = tp(topic, 0), tp(topic, 1)
    consumer = make_consumer(group_id="g", auto_offset_reset="earliest")
    consumer.assign([t0])
    consumer.commit({t1: 7, t0: 5})
    assert consumer.committed(t1) == 7 and consumer.committed(t0) == 5
    reader = make_consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    reader.assign([t0])
    assert reader.position(t0) == 5
    assert [r.value for r in drain(reader, 2)] == [b"a", b"b"]  # reset to the earliest


def test_seek_beyond_the_end_is_out_of_range_on_the_next_fetch(broker, make_consumer, topic):
    fill(broker, topic, 0, [b"a", b"b"])
    t0 = tp(topic, 0)
    strict = make_consumer(auto_offset_reset="none")
    strict.assign([t0])
    strict.seek(t0, 3)
    assert strict.position(t0) == 3
    with pytest.raises(OffsetOutOfRangeError):
        for _ in range(100):
            strict.poll(timeout_ms=100)
    latest = make_consumer(auto_offset_reset="latest")
    latest.assign([t0])
    latest.seek(t0, 9)
    fill(broker, topic, 0, [b"c"])
    wait_until(lambda: latest.poll(timeout_ms=50) == {} and latest.position(t0) == 3)


def test_offset_lookups_of_a_missing_partition_time_out(make_consumer, topic):
    consumer = make_consumer()
    missing = tp(topic, 9)
    for lookup in (consumer.beginning_offsets, consumer.end_offsets):
        with pytest.raises(KafkaTimeoutError):
            lookup([missing], timeout_ms=50)
    with pytest.raises(KafkaTimeoutError):
        consumer.offsets_for_times({missing: 0}, timeout_ms=50)


def test_offset_lookup_waits_for_a_partition_being_created(broker, make_consumer, topic):
    consumer = make_consumer()
    missing = tp(topic, 5)
    result = []
    looker = threading.Thread(
        target=lambda: result.append(consumer.end_offsets([missing], timeout_ms=30_000))
    )
    looker.start()
    broker.add_partitions(topic, 6)
    looker.join(30)
    assert result == [{missing: 0}]


def test_several_groups_read_the_same_log_independently(broker, make_consumer, topic):
    fill(broker, topic, 0, [b"a", b"b", b"c"])
    t0 = tp(topic, 0)
    readers = {}
    for group in ("billing", "audit"):
        readers[group] = make_consumer(topic, group_id=group, auto_offset_reset="earliest",
                                       enable_auto_commit=False)
    for consumer in readers.values():
        assert values(sorted(drain(consumer, 3), key=lambda r: r.offset)) == [b"a", b"b", b"c"]
    readers["billing"].commit()
    assert broker.committed("billing", [t0])[t0].offset == 3
    assert broker.committed("audit", [t0])[t0] is None
    assert broker.end_offsets([t0])[t0] == 3  # reading removed nothing


def test_pause_and_resume(broker, make_consumer, topic):
    t0, t1 = tp(topic, 0), tp(topic, 1)
    fill(broker, topic, 0, [b"a0", b"a1"])
    fill(broker, topic, 1, [b"b0"])
    consumer = make_consumer(auto_offset_reset="earliest")
    consumer.assign([t0, t1])
    consumer.pause(t0)
    assert consumer.paused() == {t0}
    assert values(drain(consumer, 1)) == [b"b0"]
    fill(broker, topic, 1, [b"b1"])
    assert values(drain(consumer, 1)) == [b"b1"]  # t0's records did not come meanwhile
    assert consumer.position(t0) == 0
    consumer.resume(t0)
    assert consumer.paused() == set()
    assert values(drain(consumer, 2)) == [b"a0", b"a1"]


def test_auto_commit_commits_consumed_positions_at_the_next_poll(broker, make_consumer, topic):
    clock = FakeClock()
    t0 = tp(topic, 0)
    fill(broker, topic, 0, [b"a", b"b", b"c"])
    consumer = make_consumer(group_id="g", auto_offset_reset="earliest", clock=clock,
                             auto_commit_interval_ms=1_000)
    consumer.assign([t0])
    drain(consumer, 3)
    assert consumer.committed(t0) is None  # interval not elapsed
    clock.advance(1.5)
    consumer.poll(timeout_ms=0)
    assert consumer.committed(t0) == 3
    consumer.seek(t0, 1)
    consumer.close()  # close commits too
    assert broker.committed("g", [t0])[t0].offset == 1


@pytest.mark.parametrize(("policy", "expected"), [("earliest", [b"old", b"new"]),
                                                  ("latest", [b"new"])])
def test_auto_offset_reset_without_a_committed_offset(broker, make_consumer, topic, policy,
                                                      expected):
    fill(broker, topic, 0, [b"old"])
    consumer = make_consumer(group_id="g", auto_offset_reset=policy)
    consumer.assign([tp(topic, 0)])
    consumer.position(tp(topic, 0))  # positions are fixed before the new record arrives
    fill(broker, topic, 0, [b"new"])
    assert values(drain(consumer, len(expected))) == expected


def test_auto_offset_reset_none_raises_until_there_is_a_position(broker, make_consumer, topic):
    t0 = tp(topic, 0)
    fill(broker, topic, 0, [b"a", b"b"])
    consumer = make_consumer(group_id="g", auto_offset_reset="none")
    consumer.assign([t0])
    with pytest.raises(NoOffsetForPartitionError):
        consumer.poll(timeout_ms=0)
    with pytest.raises(NoOffsetForPartitionError):
        consumer.position(t0)
    broker.commit_offsets("g", -1, "", {t0: 1})
    assert values(drain(consumer, 1)) == [b"b"]


def test_retention_delete_resets_a_position_that_fell_behind(broker, make_consumer):
    broker.create_topic("r", 1, retention_records=3)
    r0 = tp("r", 0)
    fill(broker, "r", 0, [b"0", b"1"])
    for group in ("g", "s"):
        broker.commit_offsets(group, -1, "", {r0: 0})
    fill(broker, "r", 0, [b"2", b"3", b"4", b"5"])  # offsets 0..2 are deleted
    assert broker.beginning_offsets([r0]) == {r0: 3}
    early = make_consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    early.assign([r0])
    assert early.position(r0) == 0  # the committed offset, below the log start
    assert values(drain(early, 3)) == [b"3", b"4", b"5"]
    strict = make_consumer(group_id="s", auto_offset_reset="none", enable_auto_commit=False)
    strict.assign([r0])

    def raises_out_of_range():
        try:
            strict.poll(timeout_ms=20)
        except OffsetOutOfRangeError:
            return True
        return False

    wait_until(raises_out_of_range)
    assert strict.position(r0) == 0
    strict.seek_to_beginning()
    assert values(drain(strict, 3)) == [b"3", b"4", b"5"]


def test_iteration_stops_after_consumer_timeout_ms(broker, make_consumer, topic):
    fill(broker, topic, 0, [b"a", b"b", b"c"])
    consumer = make_consumer(auto_offset_reset="earliest", consumer_timeout_ms=200)
    consumer.assign([tp(topic, 0)])
    assert values(list(consumer)) == [b"a", b"b", b"c"]
    assert consumer.position(tp(topic, 0)) == 3


def test_commit_async_callback_runs_in_the_polling_thread(broker, make_consumer, topic):
    t0 = tp(topic, 0)
    fill(broker, topic, 0, [b"a"])
    consumer = make_consumer(group_id="g", auto_offset_reset="earliest",
                             enable_auto_commit=False)
    consumer.assign([t0])
    drain(consumer, 1)
    calls = []
    future = consumer.commit_async(
        callback=lambda offsets, exc: calls.append((offsets, exc, threading.get_ident()))
    )
    assert future.result(0) == {t0: OffsetAndMetadata(1, "", 0)}
    assert calls == []  # not yet: callbacks run inside poll()
    consumer.poll(timeout_ms=0)
    assert calls == [({t0: OffsetAndMetadata(1, "", 0)}, None, threading.get_ident())]
    assert consumer.committed(t0) == 1


def test_the_fetch_buffer_is_a_bounded_buffer_that_fills_when_poll_lags(broker, make_consumer,
                                                                       topic):
    # A fetch that brings nothing is not repeated before a poll(), and this test never polls
    # until the end: each fetch must still be waiting at the broker when the next append comes,
    # even on a busy machine (with the suite's 20 ms wait, a 20 ms pause here failed the test;
    # close() waits for the last fetch, so not much longer than 2 s).
    consumer = make_consumer(auto_offset_reset="earliest", fetch_buffer_batches=2,
                             fetch_buffer_instrument="counters", fetch_max_wait_ms=2_000)
    consumer.assign([tp(topic, 0)])
    consumer.position(tp(topic, 0))
    assert consumer.fetch_buffer.maxsize == 2
    for batch in range(3):  # three appends, each fetched as its own batch; no poll() yet
        fill(broker, topic, 0, [bytes([batch, i]) for i in range(10)])
        wait_until(lambda n=batch: consumer.highwater(tp(topic, 0)) == 10 * (n + 1))
    # The fetcher ran ahead: two batches fill the buffer, the third waits for space.
    assert consumer.fetch_buffer.full()
    assert [r.offset for r in drain(consumer, 30)] == list(range(30))
    assert consumer.fetch_buffer.stats().puts == 3


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"bootstrap_servers": "localhost:9092"}, "broker="),
        ({"fetch_min_bytes": 0}, "fetch_min_bytes"),
        ({"fetch_min_byte": 1}, "did you mean 'fetch_min_bytes'"),
        ({"isolation_level": "serializable"}, "isolation_level"),
        ({"auto_offset_reset": "oldest"}, "auto_offset_reset"),
        ({"fetch_max_wait_ms": 40_000}, "request_timeout_ms"),
        ({"partition_assignment_strategy": []}, "partition_assignment_strategy"),
        ({"max_poll_records": 0}, "max_poll_records"),
        ({"heartbeat_interval_ms": 5_000, "session_timeout_ms": 3_000}, "heartbeat_interval_ms"),
        ({"partition_assignment_strategy": ["fastest"]}, "choose from"),
        ({"value_deserializer": "json"}, "value_deserializer"),
        ({"group_id": ""}, "group_id"),
        ({"fetch_buffer_variant": "monitor"}, "fetch_buffer_variant"),
    ],
)
def test_bad_configuration_names_the_key(broker, config, match):
    with pytest.raises(KafkaConfigurationError, match=match):
        KafkaConsumer(broker=broker, **config)


def test_subscription_modes_are_exclusive_and_checked(broker, make_consumer, topic):
    consumer = make_consumer(group_id="g")
    with pytest.raises(IllegalStateError, match="subscribe"):
        consumer.poll()
    with pytest.raises(InvalidTopicError):
        consumer.subscribe(["no spaces allowed"])
    with pytest.raises(InvalidTopicError):
        # A constructor that fails leaves no thread behind (the suite's leak check sees it).
        KafkaConsumer("no spaces", broker=broker, group_id="g")
    with pytest.raises(IllegalStateError):
        consumer.subscribe([topic], pattern="t.*")
    with pytest.raises(TypeError, match="ConsumerRebalanceListener"):
        consumer.subscribe([topic], listener=object())
    assert consumer.subscription() is None
    consumer.subscribe(topic)  # a single name is accepted, as in kafka-python
    assert consumer.subscription() == {topic}
    with pytest.raises(IllegalStateError, match="mutually exclusive"):
        consumer.assign([tp(topic, 0)])
    consumer.unsubscribe()
    consumer.assign([tp(topic, 0)])
    with pytest.raises(IllegalStateError, match="mutually exclusive"):
        consumer.subscribe([topic])
    with pytest.raises(InvalidGroupIdError):
        make_consumer().subscribe([topic])


def test_a_closed_consumer_refuses_every_call(broker, make_consumer, topic):
    consumer = make_consumer(group_id="g")
    consumer.assign([tp(topic, 0)])
    consumer.close()
    consumer.close()  # idempotent
    for call in (
        lambda: consumer.poll(),
        lambda: consumer.commit(),
        lambda: consumer.seek(tp(topic, 0), 0),
        lambda: consumer.position(tp(topic, 0)),
        lambda: consumer.subscribe([topic]),
        lambda: consumer.assign([tp(topic, 1)]),
        lambda: consumer.committed(tp(topic, 0)),
        lambda: consumer.end_offsets([tp(topic, 0)]),
    ):
        with pytest.raises(IllegalStateError, match="closed"):
            call()


def test_a_broker_failure_in_the_fetcher_reaches_poll():
    broker = Broker()
    broker.create_topic("t", 1)
    consumer = KafkaConsumer(broker=broker, fetch_max_wait_ms=20, auto_offset_reset="earliest")
    try:
        consumer.assign([tp("t", 0)])
        consumer.position(tp("t", 0))
        broker.close()

        def fails():
            try:
                consumer.poll(timeout_ms=20)
            except IllegalStateError:
                return True
            return False

        wait_until(fails)
    finally:
        consumer.close()


def test_offset_queries_and_replay_from_a_time(broker, make_consumer, topic):
    t0 = tp(topic, 0)
    broker.append(topic, 0, [(None, b"a", (), 100), (None, b"b", (), 200), (None, b"c", (), 300)])
    consumer = make_consumer(auto_offset_reset="latest")
    consumer.assign([t0])
    assert consumer.beginning_offsets([t0]) == {t0: 0}
    assert consumer.end_offsets([t0]) == {t0: 3}
    assert consumer.position(t0) == 3  # latest
    found = consumer.offsets_for_times({t0: 150})[t0]
    assert (found.offset, found.timestamp) == (1, 200)
    consumer.seek(t0, found.offset)
    assert values(drain(consumer, 2)) == [b"b", b"c"]
    assert consumer.topics() == {topic}
    assert consumer.partitions_for_topic(topic) == {0, 1}


def test_subscribing_to_a_missing_topic_creates_it_as_kafka_does(broker, make_consumer):
    consumer = make_consumer(group_id="g", auto_offset_reset="earliest")
    consumer.subscribe(["fresh"])
    assert broker.list_topics()["fresh"] == 1  # num_partitions, Kafka's default of 1
    wait_until(lambda: consumer.poll(timeout_ms=50) == {} and consumer.assignment())
    assert consumer.assignment() == {tp("fresh", 0)}


def test_without_auto_creation_subscribe_waits_for_the_topic():
    with Broker(auto_create_topics_enable=False) as broker:
        consumer = KafkaConsumer(broker=broker, group_id="g", auto_offset_reset="earliest", **FAST)
        try:
            consumer.subscribe(["later"])
            assert consumer.poll(timeout_ms=10) == {} and consumer.assignment() == set()
            assert "later" not in broker.list_topics()
            broker.create_topic("later", 2)
            broker.append("later", 1, [(None, b"v")])
            got = drain(consumer, 1)
            assert [(r.partition, r.value) for r in got] == [(1, b"v")]
        finally:
            consumer.close()
