"""Transactions on one broker, through its client methods: Kafka's coordinator rules.

InitProducerId with a transactional id fences older instances and aborts what they left open;
AddPartitionsToTxn / AddOffsetsToTxn / TxnOffsetCommit / EndTxn check the producer's id and
epoch and the transaction's state; a partition takes a transactional batch only inside a
transaction that holds it; markers and staged offsets are written in one step; timed-out
transactions are aborted and their producers fenced; idle ids expire. The broker's wall clock
is the test's, so every timeout happens at a moment the test names.
"""

from __future__ import annotations

import threading

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import (
    FencedInstanceIdError,
    IllegalArgumentError,
    IllegalGenerationError,
    InvalidProducerEpochError,
    InvalidProducerIdMappingError,
    InvalidRequestError,
    InvalidTransactionTimeoutError,
    InvalidTxnStateError,
    ProducerFencedError,
    TransactionalIdNotFoundError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
    UnstableOffsetCommitError,
)
from pcmodel.topics.log_transactions import ControlRecord, visible_records
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from pcmodel.topics.transactions import TransactionListing
from tests.topics.conftest import WallClock

pytestmark = pytest.mark.timeout(30)

START = 1_700_000_000_000
T0, T1, OUT = TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("out", 0)


@pytest.fixture
def wall() -> WallClock:
    return WallClock(START)


@pytest.fixture
def broker(wall):
    with Broker(timestamp_clock=wall) as b:
        b.create_topic("t", 2)
        b.create_topic("out", 1)
        yield b


class Producer:
    """A transactional producer's calls, by hand, with its sequence numbers."""

    def __init__(self, broker: Broker, transactional_id: str = "tx", timeout_ms: int = 60_000):
        self.broker, self.tid = broker, transactional_id
        self.pid, self.epoch = broker.init_producer_id(transactional_id=transactional_id,
                                                       transaction_timeout_ms=timeout_ms)
        self.sequences: dict[TopicPartition, int] = {}

    def send(self, tp: TopicPartition, *values: bytes, add: bool = True):
        if add:
            self.broker.add_partitions_to_txn(self.tid, self.pid, self.epoch, [tp])
        seq = self.sequences.get(tp, 0)
        result = self.broker.append_idempotent(
            tp.topic, tp.partition, [(None, v) for v in values], producer_id=self.pid,
            producer_epoch=self.epoch, first_sequence=seq, transactional=True)
        self.sequences[tp] = seq + len(values)
        return result

    def end(self, commit: bool) -> None:
        self.broker.end_txn(self.tid, self.pid, self.epoch, commit)


def read(broker: Broker, tp: TopicPartition, level: str = "read_uncommitted") -> list[bytes]:
    """What a consumer at ``level`` hands the application, read from offset 0."""
    result = broker.fetch({tp: 0}, max_records=10_000, isolation_level=level)[tp]
    return [r.value for r in visible_records(result.records, result.transactional_batches,
                                             result.aborted_transactions or (),
                                             level == "read_committed")]


def test_a_committed_transaction_becomes_visible_to_read_committed_all_at_once(broker):
    producer = Producer(broker)
    producer.send(T0, b"a", b"b")
    producer.send(T1, b"c")
    assert read(broker, T0, "read_committed") == [] and read(broker, T1, "read_committed") == []
    assert read(broker, T0) == [b"a", b"b"]  # read_uncommitted sees them at once
    assert broker.end_offsets([T0], isolation_level="read_committed") == {T0: 0}
    assert broker.end_offsets([T0]) == {T0: 2}
    producer.end(commit=True)
    assert read(broker, T0, "read_committed") == [b"a", b"b"]
    assert read(broker, T1, "read_committed") == [b"c"]
    # Each partition got a COMMIT marker after the records, which takes an offset.
    last = broker.fetch({T0: 0})[T0].records[-1]
    assert type(last) is ControlRecord and last.commit and last.offset == 2
    assert broker.end_offsets([T0], isolation_level="read_committed") == {T0: 3}


def test_an_aborted_transaction_is_hidden_from_read_committed_but_not_from_read_uncommitted(
        broker):
    producer = Producer(broker)
    producer.send(T0, b"gone")
    producer.end(commit=False)
    broker.append("t", 0, [(None, b"plain")])
    assert read(broker, T0, "read_committed") == [b"plain"]
    assert read(broker, T0) == [b"gone", b"plain"]
    result = broker.fetch({T0: 0}, isolation_level="read_committed")[T0]
    assert [(a.producer_id, a.first_offset) for a in result.aborted_transactions] == [
        (producer.pid, 0)]
    assert broker.fetch({T0: 0})[T0].aborted_transactions is None  # read_uncommitted


def test_the_last_stable_offset_stops_at_the_oldest_open_transaction(broker):
    first, second = Producer(broker, "one"), Producer(broker, "two")
    broker.append("t", 0, [(None, b"before")])
    first.send(T0, b"1")
    second.send(T0, b"2")
    broker.append("t", 0, [(None, b"after")])
    assert read(broker, T0, "read_committed") == [b"before"]
    second.end(commit=True)  # the older transaction still holds the stable offset back
    assert read(broker, T0, "read_committed") == [b"before"]
    first.end(commit=False)
    assert read(broker, T0, "read_committed") == [b"before", b"2", b"after"]


def test_a_read_committed_fetch_waiting_at_the_stable_offset_wakes_at_the_commit(broker):
    producer = Producer(broker)
    producer.send(T0, b"x")
    started, results = threading.Event(), []

    def fetch() -> None:
        started.set()
        results.append(broker.fetch({T0: 0}, timeout=60, isolation_level="read_committed"))

    reader = threading.Thread(target=fetch, daemon=True)
    reader.start()
    started.wait(5)
    producer.end(commit=True)
    reader.join(20)  # far less than the fetch's own timeout: only the markers' wake-up ends it
    assert not reader.is_alive()
    records = results[0][T0].records
    assert records[0].value == b"x" and type(records[1]) is ControlRecord and records[1].commit


def test_a_new_instance_fences_the_old_one_and_aborts_what_it_left_open(broker):
    zombie = Producer(broker)
    zombie.send(T0, b"half")
    heir = Producer(broker)
    assert heir.pid == zombie.pid and heir.epoch == zombie.epoch + 2  # fenced, then bumped
    assert read(broker, T0, "read_committed") == []
    marker = broker.fetch({T0: 0})[T0].records[-1]
    assert type(marker) is ControlRecord and not marker.commit
    with pytest.raises(ProducerFencedError):
        zombie.end(commit=True)
    with pytest.raises(ProducerFencedError):
        broker.add_partitions_to_txn("tx", zombie.pid, zombie.epoch, [T1])
    with pytest.raises(InvalidProducerEpochError):  # its appends are fenced by the partition
        zombie.send(T0, b"late", add=False)
    heir.send(T0, b"whole")
    heir.end(commit=True)
    assert read(broker, T0, "read_committed") == [b"whole"]


def test_a_transactional_batch_needs_a_transaction_holding_its_partition(broker):
    producer = Producer(broker)
    with pytest.raises(InvalidTxnStateError, match="not added"):
        producer.send(T0, b"x", add=False)
    producer.send(T1, b"y")  # the transaction holds t-1, not t-0
    with pytest.raises(InvalidTxnStateError):
        producer.send(T0, b"x", add=False)
    producer.end(commit=True)
    with pytest.raises(InvalidTxnStateError):  # ended: a new transaction adds it again
        producer.send(T1, b"z", add=False)
    assert broker.end_offsets([T0]) == {T0: 0}


def test_a_plain_batch_from_a_producer_with_a_transaction_open_there_is_refused(broker):
    producer = Producer(broker)
    producer.send(T0, b"in")
    with pytest.raises(InvalidTxnStateError, match="non-transactional"):
        broker.append_idempotent("t", 0, [(None, b"out")], producer_id=producer.pid,
                                 producer_epoch=producer.epoch, first_sequence=1)


def test_ending_a_transaction_checks_its_state(broker):
    producer = Producer(broker)
    with pytest.raises(InvalidTxnStateError, match="Empty"):
        producer.end(commit=True)  # nothing was added: there is no transaction
    producer.send(T0, b"a")
    producer.end(commit=True)
    producer.end(commit=True)  # a retry of the commit: nothing more happens
    assert len(broker.fetch({T0: 0})[T0].records) == 2
    with pytest.raises(InvalidTxnStateError, match="CompleteCommit"):
        producer.end(commit=False)


def test_the_producer_must_own_the_transactional_id(broker):
    producer = Producer(broker)
    with pytest.raises(InvalidProducerIdMappingError):
        broker.add_partitions_to_txn("tx", producer.pid + 1, 0, [T0])
    with pytest.raises(InvalidProducerIdMappingError):
        broker.end_txn("never-initialised", producer.pid, producer.epoch, True)
    with pytest.raises(InvalidRequestError):
        broker.add_partitions_to_txn("", producer.pid, producer.epoch, [T0])


def test_adding_partitions_is_all_or_nothing(broker):
    producer = Producer(broker)
    with pytest.raises(UnknownTopicOrPartitionError):
        broker.add_partitions_to_txn("tx", producer.pid, producer.epoch,
                                     [T0, TopicPartition("t", 9)])
    assert broker.describe_transactions(["tx"])["tx"].state == "Empty"
    broker.create_topic("jobs", 1, retention_policy="block", retention_records=5)
    with pytest.raises(InvalidRequestError, match="block"):
        broker.add_partitions_to_txn("tx", producer.pid, producer.epoch,
                                     [T0, TopicPartition("jobs", 0)])


def test_the_transaction_timeout_is_bounded_by_the_brokers_maximum(wall):
    with Broker(timestamp_clock=wall, transaction_max_timeout_ms=1000) as broker:
        with pytest.raises(InvalidTransactionTimeoutError, match="1..1000"):
            broker.init_producer_id(transactional_id="tx", transaction_timeout_ms=1001)
        with pytest.raises(InvalidTransactionTimeoutError):
            broker.init_producer_id(transactional_id="tx", transaction_timeout_ms=0)
        assert broker.init_producer_id(transactional_id="tx", transaction_timeout_ms=1000)


def test_offsets_staged_in_a_transaction_are_stored_only_when_it_commits(broker):
    producer = Producer(broker)
    producer.send(OUT, b"result")
    with pytest.raises(InvalidTxnStateError, match="not added"):
        broker.txn_offset_commit("tx", "g", producer.pid, producer.epoch, {T0: 5})
    broker.add_offsets_to_txn("tx", producer.pid, producer.epoch, "g")
    broker.txn_offset_commit("tx", "g", producer.pid, producer.epoch,
                             {T0: OffsetAndMetadata(5, "m")})
    assert broker.committed("g", [T0]) == {T0: None}
    with pytest.raises(UnstableOffsetCommitError):
        broker.committed("g", [T0], require_stable=True)
    assert broker.committed("g", [T1], require_stable=True) == {T1: None}  # not staged
    producer.end(commit=True)
    assert broker.committed("g", [T0], require_stable=True)[T0].offset == 5
    producer.send(OUT, b"again")
    broker.add_offsets_to_txn("tx", producer.pid, producer.epoch, "g")
    broker.txn_offset_commit("tx", "g", producer.pid, producer.epoch, {T0: 9})
    producer.end(commit=False)
    assert broker.committed("g", [T0])[T0].offset == 5  # the aborted offsets are dropped


def test_staged_offsets_are_fenced_when_the_consumer_they_name_left_its_generation(broker):
    join = broker.join_group("g", "", protocols=[("range", b"")], timeout=5)
    broker.sync_group("g", join.member_id, join.generation,
                      assignments={join.member_id: b""}, timeout=5)
    producer = Producer(broker)
    producer.send(OUT, b"r")
    broker.add_offsets_to_txn("tx", producer.pid, producer.epoch, "g")
    commit = lambda **member: broker.txn_offset_commit(  # noqa: E731
        "tx", "g", producer.pid, producer.epoch, {T0: 1}, **member)
    with pytest.raises(IllegalGenerationError):
        commit(member_id=join.member_id, generation=join.generation + 1)
    with pytest.raises(UnknownMemberIdError):
        commit(member_id="someone-else", generation=join.generation)
    with pytest.raises(UnknownMemberIdError):
        commit(member_id=join.member_id, generation=join.generation,
               group_instance_id="not-held")
    commit(member_id=join.member_id, generation=join.generation)
    commit()  # a bare group id names no member: accepted whoever is in the group
    # A named member must say its generation (Kafka's validateOffsetCommit), and an unnamed
    # one cannot claim a generation.
    with pytest.raises(IllegalGenerationError):
        commit(member_id=join.member_id)
    with pytest.raises(UnknownMemberIdError):
        commit(generation=join.generation)
    broker.add_offsets_to_txn("tx", producer.pid, producer.epoch, "nobody")
    with pytest.raises(IllegalGenerationError, match="does not exist"):
        broker.txn_offset_commit("tx", "nobody", producer.pid, producer.epoch, {T0: 1},
                                 member_id="m", generation=1)
    assert "nobody" not in broker.list_groups()  # refused without making the group
    # Generation -1 is accepted for a group with no members, whatever member it names.
    broker.txn_offset_commit("tx", "nobody", producer.pid, producer.epoch, {T1: 2},
                             member_id="m", group_instance_id="i-1")
    producer.end(commit=True)
    assert broker.committed("g", [T0])[T0].offset == 1
    assert broker.committed("nobody", [T1])[T1].offset == 2


def test_a_static_member_replaced_by_another_instance_fences_staged_offsets(broker):
    first = broker.join_group("g", "", protocols=[("range", b"")], timeout=5,
                              group_instance_id="i-1")
    broker.sync_group("g", first.member_id, first.generation,
                      assignments={first.member_id: b""}, timeout=5, group_instance_id="i-1")
    second = broker.join_group("g", "", protocols=[("range", b"")], timeout=5,
                               group_instance_id="i-1")
    producer = Producer(broker)
    producer.send(OUT, b"r")
    broker.add_offsets_to_txn("tx", producer.pid, producer.epoch, "g")
    with pytest.raises(FencedInstanceIdError):
        broker.txn_offset_commit("tx", "g", producer.pid, producer.epoch, {T0: 1},
                                 member_id=first.member_id, generation=first.generation,
                                 group_instance_id="i-1")
    assert second.member_id != first.member_id

    # An instance id alone still names a member: the one holding it.
    with pytest.raises(FencedInstanceIdError):
        broker.txn_offset_commit("tx", "g", producer.pid, producer.epoch, {T0: 1},
                                 group_instance_id="i-1")


def test_offsets_may_be_staged_while_the_group_waits_for_its_leaders_assignment(broker):
    """Unlike a commit, TxnOffsetCommit does not look at the group's state (Kafka's
    validateOffsetCommit with isTransactional): the member and generation are enough."""
    first = broker.join_group("g", "", protocols=[("range", b"")], timeout=5)
    assert broker.describe_group("g").state.value == "CompletingRebalance"
    producer = Producer(broker)
    producer.send(OUT, b"r")
    broker.add_offsets_to_txn("tx", producer.pid, producer.epoch, "g")
    broker.txn_offset_commit("tx", "g", producer.pid, producer.epoch, {T0: 7},
                             member_id=first.member_id, generation=first.generation)
    producer.end(commit=True)
    assert broker.committed("g", [T0])[T0].offset == 7

def test_a_transaction_open_longer_than_its_timeout_is_aborted_and_its_producer_fenced(
        wall, broker):
    producer = Producer(broker, timeout_ms=10_000)
    producer.send(T0, b"slow")
    wall.now += 10_000
    assert broker.abort_timed_out_transactions() == []  # not longer than the timeout yet
    wall.now += 1
    assert broker.abort_timed_out_transactions() == ["tx"]
    assert read(broker, T0, "read_committed") == []
    assert broker.end_offsets([T0], isolation_level="read_committed") == {T0: 2}
    with pytest.raises(ProducerFencedError, match="timed out"):
        producer.end(commit=True)
    described = broker.describe_transactions(["tx"])["tx"]
    assert (described.state, described.producer_epoch) == ("CompleteAbort", producer.epoch + 1)


def test_the_timeout_check_runs_by_itself_once_its_interval_passed(wall):
    with Broker(timestamp_clock=wall,
                transaction_abort_timed_out_transaction_cleanup_interval_ms=5_000) as broker:
        broker.create_topic("t", 1)
        producer = Producer(broker, timeout_ms=1_000)
        producer.send(T0, b"slow")
        wall.now += 4_999
        assert read(broker, T0, "read_committed") == []
        assert broker.describe_transactions(["tx"])["tx"].state == "Ongoing"
        wall.now += 1  # the interval since the broker started: the next call checks
        broker.fetch({T0: 0}, isolation_level="read_committed")
        assert broker.describe_transactions(["tx"])["tx"].state == "CompleteAbort"


def test_an_idle_transactional_id_expires_but_not_while_its_transaction_is_open(wall):
    day = 86_400_000
    with Broker(timestamp_clock=wall, transactional_id_expiration_ms=day,
                transaction_max_timeout_ms=2 * day,
                transaction_abort_timed_out_transaction_cleanup_interval_ms=None) as broker:
        broker.create_topic("t", 1)
        idle = Producer(broker, "idle")
        busy = Producer(broker, "busy", timeout_ms=2 * day)
        busy.send(T0, b"open")
        wall.now += day
        assert broker.expire_transactional_ids() == ["idle"]
        described = broker.describe_transactions(["idle"])["idle"]
        assert isinstance(described.error, TransactionalIdNotFoundError)
        with pytest.raises(InvalidProducerIdMappingError):
            broker.add_partitions_to_txn("idle", idle.pid, idle.epoch, [T0])
        again = Producer(broker, "idle")
        assert again.pid != idle.pid  # a new id: the old one's state is gone


def test_describe_and_list_transactions(wall, broker):
    producer = Producer(broker)
    Producer(broker, "other")
    producer.send(T1, b"a")
    producer.send(T0, b"b")
    described = broker.describe_transactions(["tx"])["tx"]
    assert described.state == "Ongoing" and described.partitions == (T0, T1)
    assert described.start_time_ms == START and described.timeout_ms == 60_000
    assert broker.list_transactions() == [
        TransactionListing("other", producer.pid + 1, "Empty"),
        TransactionListing("tx", producer.pid, "Ongoing")]
    assert [t.transactional_id for t in broker.list_transactions(states=["Ongoing"])] == ["tx"]
    assert broker.list_transactions(producer_ids=[producer.pid + 1])[0].transactional_id == \
        "other"
    wall.now += 5_000
    # Kafka filters by when the last transaction began, whatever the state: "other" never
    # began one (time -1), so it is always old enough.
    assert [t.transactional_id for t in broker.list_transactions(duration_filter_ms=4_999)] \
        == ["other", "tx"]
    assert [t.transactional_id for t in broker.list_transactions(duration_filter_ms=5_000)] \
        == ["other"]
    with pytest.raises(IllegalArgumentError, match="unknown transaction states"):
        broker.list_transactions(states=["Running"])


def test_a_deleted_topic_gets_no_marker_and_the_transaction_still_ends(broker):
    producer = Producer(broker)
    producer.send(T0, b"a")
    producer.send(OUT, b"b")
    broker.delete_topic("t")
    producer.end(commit=True)
    assert read(broker, OUT, "read_committed") == [b"b"]


def test_an_exhausted_epoch_gets_a_new_producer_id(broker):
    producer = Producer(broker)
    broker._producers.set_epoch(producer.pid, 32_766)
    broker._transactions._transactions["tx"].producer_epoch = 32_766
    heir = Producer(broker)
    assert (heir.pid, heir.epoch) == (producer.pid + 1, 0)
    heir.send(T0, b"fresh")
    heir.end(commit=True)
    assert read(broker, T0, "read_committed") == [b"fresh"]


def test_a_producer_bumps_its_own_epoch_and_a_retry_of_the_bump_is_answered_alike(broker):
    producer = Producer(broker)
    bumped = broker.init_producer_id(producer.pid, producer.epoch, transactional_id="tx")
    assert bumped == (producer.pid, producer.epoch + 1)
    retried = broker.init_producer_id(producer.pid, producer.epoch, transactional_id="tx")
    assert retried == bumped  # its answer was lost: the same answer again, no second bump
    with pytest.raises(ProducerFencedError, match="epoch"):
        broker.init_producer_id(producer.pid, producer.epoch + 5, transactional_id="tx")
    with pytest.raises(ProducerFencedError, match="no longer owns"):
        broker.init_producer_id(producer.pid + 1, 0, transactional_id="tx")
    heir = Producer(broker)  # a new instance takes over: nothing to retry any more
    with pytest.raises(ProducerFencedError, match="fenced"):
        broker.init_producer_id(producer.pid, bumped[1], transactional_id="tx")
    assert broker.describe_transactions(["tx"])["tx"].producer_epoch == heir.epoch


def test_describe_producers_says_where_a_producers_open_transaction_began(broker):
    broker.append("t", 0, [(None, b"plain")])
    producer = Producer(broker)
    producer.send(T0, b"a")
    producer.send(T0, b"b")
    (active,) = broker.describe_producers([T0])[T0].active_producers
    assert (active.producer_id, active.current_transaction_start_offset) == (producer.pid, 1)
    producer.end(commit=True)
    (active,) = broker.describe_producers([T0])[T0].active_producers
    assert active.current_transaction_start_offset == -1


def test_a_producer_is_not_forgotten_while_its_transaction_is_open(wall):
    hour = 3_600_000
    with Broker(timestamp_clock=wall, producer_id_expiration_ms=hour,
                transaction_max_timeout_ms=3 * hour,
                transaction_abort_timed_out_transaction_cleanup_interval_ms=None) as broker:
        broker.create_topic("t", 1)
        producer = Producer(broker, timeout_ms=3 * hour)
        producer.send(T0, b"a")
        wall.now += 2 * hour
        assert broker.expire_producers() == {}
        producer.end(commit=True)
        assert broker.expire_producers() == {T0: (producer.pid,)}
