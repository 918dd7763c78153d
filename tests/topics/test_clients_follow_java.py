"""The consumer and producer behave as the Java client does where kafka-python differs or is
silent; each test names the rule of the Java client it checks."""

from __future__ import annotations

import pytest

from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.errors import IllegalStateError, KafkaError
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import ConsumerRebalanceListener, OffsetAndMetadata
from tests.topics.conftest import FakeClock, drain, fill, tp, wait_until


class _GenerationLog(ConsumerRebalanceListener):
    """Notes each callback with the consumer's generation at the time it ran."""

    def __init__(self) -> None:
        self.consumer = None
        self.events: list[tuple[str, list, int]] = []

    def _note(self, event, partitions):
        generation = self.consumer.group_metadata().generation_id
        self.events.append((event, sorted(partitions), generation))

    def on_partitions_revoked(self, revoked):
        self._note("revoked", revoked)

    def on_partitions_assigned(self, assigned):
        self._note("assigned", assigned)


def test_cooperative_member_revokes_a_dropped_topic_before_joining(broker, make_consumer):
    # ConsumerCoordinator.onJoinPrepare (COOPERATIVE): the partitions of topics no longer
    # subscribed are revoked before the JoinGroup, so one rebalance completes the change.
    broker.create_topic("a", 2)
    broker.create_topic("b", 2)
    listener = _GenerationLog()
    consumer = make_consumer(group_id="g", partition_assignment_strategy=("cooperative-sticky",))
    listener.consumer = consumer
    consumer.subscribe(["a", "b"], listener=listener)
    wait_until(lambda: consumer.poll(timeout_ms=20) is not None and len(consumer.assignment()) == 4)
    first = consumer.group_metadata().generation_id

    consumer.subscribe(["a"], listener=listener)
    wait_until(lambda: consumer.poll(timeout_ms=20) is not None
               and consumer.assignment() == {tp("a", 0), tp("a", 1)}
               and broker.describe_group("g").state == "Stable"
               and consumer.group_metadata().generation_id > first)
    for _ in range(5):  # a second round would start within these polls
        consumer.poll(timeout_ms=20)

    revoked = [e for e in listener.events if e[0] == "revoked"]
    assert revoked == [("revoked", [tp("b", 0), tp("b", 1)], first)]
    assert consumer.group_metadata().generation_id == first + 1
    assert broker.describe_group("g").state == "Stable"


def test_assign_makes_a_due_auto_commit_of_the_partitions_it_drops(broker, make_consumer):
    # ClassicKafkaConsumer.assign(): maybeAutoCommitOffsetsAsync before the new assignment,
    # since no rebalance will commit what was consumed of the old one.
    broker.create_topic("t", 2)
    fill(broker, "t", 0, [b"a", b"b", b"c"])
    clock = FakeClock()
    consumer = make_consumer(group_id="g", enable_auto_commit=True,
                             auto_commit_interval_ms=1000, auto_offset_reset="earliest",
                             clock=clock)
    consumer.assign([tp("t", 0)])
    assert len(drain(consumer, 3)) == 3

    consumer.assign([tp("t", 0), tp("t", 1)])  # not due yet: nothing is committed
    assert consumer.committed(tp("t", 0)) is None

    clock.advance(1.5)
    consumer.assign([tp("t", 1)])
    assert consumer.committed(tp("t", 0)) == 3


def test_cooperative_rejoin_auto_commits_the_partitions_it_keeps(broker, make_consumer):
    # ConsumerCoordinator.onJoinPrepare commits every consumed position before joining, with
    # either protocol, not only those of the partitions being revoked.
    broker.create_topic("t", 1)
    broker.create_topic("u", 1)
    fill(broker, "t", 0, [b"a", b"b"])
    clock = FakeClock()  # never moves: no auto-commit falls due on its own
    consumer = make_consumer(group_id="g", enable_auto_commit=True, auto_offset_reset="earliest",
                             partition_assignment_strategy=("cooperative-sticky",), clock=clock)
    consumer.subscribe(["t"])
    assert len(drain(consumer, 2)) == 2
    assert consumer.committed(tp("t", 0)) is None

    consumer.subscribe(["t", "u"])
    wait_until(lambda: consumer.poll(timeout_ms=20) is not None
               and tp("u", 0) in consumer.assignment())
    assert tp("t", 0) in consumer.assignment()
    assert consumer.committed(tp("t", 0)) == 2


def test_unsubscribe_revokes_and_leaves_without_an_auto_commit(broker, make_consumer):
    # ClassicKafkaConsumer.unsubscribe(): onLeavePrepare (the revocation callback), then
    # maybeLeaveGroup; no commit (kafka-python commits first).
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a", b"b"])
    revoked = []

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, partitions):
            revoked.append(set(partitions))

        def on_partitions_assigned(self, partitions):
            pass

    clock = FakeClock()  # never moves: no auto-commit falls due on its own
    consumer = make_consumer(group_id="g", enable_auto_commit=True, auto_offset_reset="earliest",
                             clock=clock)
    consumer.subscribe(["t"], listener=Listener())
    assert len(drain(consumer, 2)) == 2
    consumer.unsubscribe()
    assert revoked == [{tp("t", 0)}]
    assert consumer.committed(tp("t", 0)) is None
    assert broker.describe_group("g").state == "Empty"


def test_a_record_without_key_or_value_is_sent(broker, make_consumer):
    # The Java client's ProducerRecord takes a null key and a null value together; only a
    # compacted topic refuses such a record (for its missing key).
    broker.create_topic("t", 1)
    with KafkaProducer(broker=broker) as producer:
        metadata = producer.send("t").get(timeout=10)
    assert (metadata.offset, metadata.serialized_key_size, metadata.serialized_value_size) == (
        0, -1, -1)
    consumer = make_consumer(auto_offset_reset="earliest")
    consumer.assign([tp("t", 0)])
    [record] = drain(consumer, 1)
    assert (record.key, record.value) == (None, None)


def test_listing_named_partitions_answers_none_for_one_never_committed(broker):
    # Admin.listConsumerGroupOffsets (ListConsumerGroupOffsetsHandler): a partition asked for
    # by name without a committed offset maps to null; it is not left out.
    broker.create_topic("t", 2)
    admin = KafkaAdminClient(broker=broker)
    try:
        admin.alter_group_offsets("g", {tp("t", 0): OffsetAndMetadata(3, "", -1)})
        wanted = [tp("t", 0), tp("t", 1)]
        expected = {tp("t", 0): OffsetAndMetadata(3, "", -1), tp("t", 1): None}
        assert admin.list_group_offsets({"g": wanted}) == {"g": expected}
        assert admin.list_consumer_group_offsets("g", partitions=wanted) == expected
        assert admin.list_group_offsets({"g": None}) == {"g": {tp("t", 0): expected[tp("t", 0)]}}
    finally:
        admin.close()


def test_close_from_a_callback_closes_as_close_zero(broker):
    # KafkaProducer.close(Duration): invoked from a callback, the timeout is overridden to 0
    # (a warning is logged): records not yet sent fail, and close() returns instead of raising.
    broker.create_topic("t", 2)
    producer = KafkaProducer(broker=broker, linger_ms=60_000)
    outcomes = []

    def close_now(_metadata):
        try:
            producer.close(timeout=5)
            outcomes.append("closed")
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            outcomes.append(exc)

    first = producer.send("t", b"first", partition=0)
    first.add_callback(close_now)
    second = producer.send("t", b"second", partition=1)
    producer.flush(timeout=10)  # both batches ready: the first one's callback closes

    assert outcomes == ["closed"]
    assert first.get(timeout=0).offset == 0
    with pytest.raises(KafkaError, match="Producer is closed forcefully"):  # Java's words
        second.get(timeout=0)
    with pytest.raises(IllegalStateError):
        producer.send("t", b"third")
    producer.close(timeout=5)  # and again from the application: nothing left to do
    assert broker.end_offsets([tp("t", 0), tp("t", 1)]) == {tp("t", 0): 1, tp("t", 1): 0}


def test_seek_to_end_and_beginning_are_resolved_when_the_position_is_next_needed(
        broker, make_consumer):
    # ClassicKafkaConsumer.seekToEnd / seekToBeginning only request an offset reset
    # (SubscriptionState.requestOffsetReset); the offset is looked up at the next position().
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a"])
    consumer = make_consumer(group_id="g", auto_offset_reset="earliest")
    consumer.assign([tp("t", 0)])
    consumer.commit({tp("t", 0): 1})
    assert consumer.position(tp("t", 0)) == 1

    consumer.seek_to_end()
    fill(broker, "t", 0, [b"b", b"c"])
    assert consumer.position(tp("t", 0)) == 3
    assert consumer.poll(timeout_ms=50) == {}

    consumer.seek_to_beginning(tp("t", 0))
    consumer.commit()  # no position while the reset waits: nothing of it is committed
    assert consumer.committed(tp("t", 0)) == 1
    assert [r.value for r in drain(consumer, 3)] == [b"a", b"b", b"c"]
