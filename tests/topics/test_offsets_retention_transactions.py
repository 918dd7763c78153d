"""Offsets retention on one broker while a transaction holds offsets of a group pending.

Kafka's coordinator (``OffsetMetadataManager.cleanupExpiredOffsets``) judges pending
transactional offsets per group and per partition: the committed offset of a partition with
an offset staged by an ongoing transaction is not expired, the group's other offsets expire as
usual, and a group with any offset staged is not deleted, however empty. Once the transaction
ends, the next check judges the group as any other.

Time is the test's: the broker's wall clock and its monotonic clock are hand clocks, and the
check runs when the test calls it (or, in one test, when a call finds it due).
"""

from __future__ import annotations

import pytest

from pcmodel.topics.broker import Broker, ExpiredOffsets
from pcmodel.topics.group_offsets import pending_by_group
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.topics.conftest import FakeClock, WallClock, join_alone

pytestmark = pytest.mark.timeout(30)

MINUTE = 60_000
A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)
#: Long enough that no transaction here times out unless a test means it to.
TXN_TIMEOUT_MS = 600_000


def make_broker(wall: WallClock, **settings) -> Broker:
    """A broker with topic ``a`` (two partitions) whose offsets are kept a minute."""
    settings.setdefault("offsets_retention_check_interval_ms", None)  # the test runs it
    broker = Broker(timestamp_clock=wall, clock=FakeClock(), offsets_retention_minutes=1,
                    **settings)
    broker.create_topic("a", 2)
    return broker


def left_empty(broker: Broker, offsets: dict) -> None:
    """Group ``g``: one member commits ``offsets``, then leaves; the group is ``Empty``."""
    joined = join_alone(broker, "g", ["a"], session_timeout_ms=1_800_000)
    if offsets:
        broker.commit_offsets("g", joined.generation, joined.member_id, offsets)
    broker.leave_group("g", joined.member_id)
    assert broker.describe_group("g").state == "Empty"


def stage(broker: Broker, offsets: dict, timeout_ms: int = TXN_TIMEOUT_MS):
    """Transaction ``tx`` stages ``offsets`` for ``g``; returns ``end(commit)``."""
    pid, epoch = broker.init_producer_id(transactional_id="tx",
                                         transaction_timeout_ms=timeout_ms)
    broker.add_offsets_to_txn("tx", pid, epoch, "g")
    if offsets:
        broker.txn_offset_commit("tx", "g", pid, epoch, offsets)
    return lambda commit: broker.end_txn("tx", pid, epoch, commit)


def offsets_of(broker: Broker, group: str) -> dict:
    found = broker.committed(group, [A0, A1])
    return {tp: v.offset for tp, v in found.items() if v is not None}


@pytest.mark.parametrize("commit", [True, False], ids=["committed", "aborted"])
def test_a_pending_partition_keeps_its_offset_and_the_group_while_the_others_expire(commit):
    wall = WallClock()
    with make_broker(wall) as broker:
        left_empty(broker, {A0: 3, A1: 4})
        end = stage(broker, {A1: OffsetAndMetadata(9, "by the txn")})
        wall.now += 2 * MINUTE  # both offsets are past their retention
        assert broker.expire_offsets() == {"g": ExpiredOffsets((A0,), False)}
        assert offsets_of(broker, "g") == {A1: 4}  # pending in the transaction: kept
        assert broker.list_groups() == ["g"]
        assert broker.describe_group("g").state == "Empty"
        assert broker.expire_offsets() == {}  # the next check too, while it is open

        end(commit)
        assert offsets_of(broker, "g") == {A1: 9 if commit else 4}
        # Judged as any group now: an empty group's offsets count from when it became
        # empty, so the one just committed goes too, and the group with it.
        assert broker.expire_offsets() == {"g": ExpiredOffsets((A1,), True)}
        assert broker.list_groups() == []


def test_the_check_a_call_finds_due_keeps_them_too():
    wall = WallClock()
    with make_broker(wall, offsets_retention_check_interval_ms=MINUTE) as broker:
        left_empty(broker, {A0: 3, A1: 4})
        end = stage(broker, {A1: OffsetAndMetadata(9)})
        wall.now += 2 * MINUTE
        assert offsets_of(broker, "g") == {A1: 4}  # this lookup ran the check
        assert broker.list_groups() == ["g"]
        end(False)
        wall.now += MINUTE
        assert offsets_of(broker, "g") == {}
        assert broker.list_groups() == []


def test_an_empty_group_with_only_a_staged_offset_is_kept_until_the_transaction_ends():
    wall = WallClock()
    with make_broker(wall) as broker:
        left_empty(broker, {})  # no offset committed: only the transaction's
        end = stage(broker, {A0: OffsetAndMetadata(7)})
        wall.now += 2 * MINUTE
        assert broker.expire_offsets() == {}
        assert broker.list_groups() == ["g"]
        end(True)
        assert offsets_of(broker, "g") == {A0: 7}
        assert broker.describe_group("g").protocol_type == "consumer"  # the same group


def test_a_group_added_to_a_transaction_with_nothing_staged_is_judged_as_any_other():
    # Kafka opens a transaction at the group's coordinator with the first staged offset
    # (TxnOffsetCommit), not with AddOffsetsToTxn.
    wall = WallClock()
    with make_broker(wall) as broker:
        left_empty(broker, {A0: 3})
        stage(broker, {})
        wall.now += 2 * MINUTE
        assert broker.expire_offsets() == {"g": ExpiredOffsets((A0,), True)}


def test_a_transaction_past_its_timeout_is_aborted_first_and_holds_nothing():
    wall = WallClock()
    with make_broker(wall) as broker:
        left_empty(broker, {A0: 3, A1: 4})
        stage(broker, {A1: OffsetAndMetadata(9)}, timeout_ms=MINUTE)
        wall.now += 2 * MINUTE  # the transaction timed out; its abort check is due
        assert broker.expire_offsets() == {"g": ExpiredOffsets((A0, A1), True)}
        assert broker.describe_transactions(["tx"])["tx"].state == "CompleteAbort"


def test_a_transactions_offsets_stored_by_a_cluster_coordinator_answer_their_date():
    wall = WallClock()
    with make_broker(wall) as broker:
        dated = broker.store_txn_offsets("g", {A0: OffsetAndMetadata(5)})
        assert dated == wall.now
        wall.now += 30_000
        assert broker.commit_offsets("g", -1, "", {A1: 6}) == wall.now
        # Dated as it said: a minute after that date, A0 expires, A1 (30 s younger) not yet.
        assert broker.expire_offsets(dated + MINUTE) == {"g": ExpiredOffsets((A0,), False)}


def test_offsets_pending_at_another_coordinator_are_kept_as_the_brokers_own():
    # A cluster's transaction coordinators stage offsets elsewhere and tell the check.
    wall = WallClock()
    with make_broker(wall) as broker:
        left_empty(broker, {A0: 3, A1: 4})
        wall.now += 2 * MINUTE
        assert broker.expire_offsets(pending={"g": [A1]}) == {"g": ExpiredOffsets((A0,), False)}
        assert offsets_of(broker, "g") == {A1: 4}
        assert broker.expire_offsets() == {"g": ExpiredOffsets((A1,), True)}


def test_a_malformed_pending_is_refused_and_nothing_expires():
    wall = WallClock()
    with make_broker(wall) as broker:
        left_empty(broker, {A0: 3})
        wall.now += 2 * MINUTE
        with pytest.raises(TypeError, match="TopicPartition"):
            broker.expire_offsets(pending={"g": ["a-0"]})
        assert offsets_of(broker, "g") == {A0: 3}


def test_pending_offsets_are_gathered_per_group_from_every_source():
    # Two transactions (or a broker's and a cluster's log) staging offsets of one group:
    # the check holds back the union; a group named with no partition is still held.
    pending = pending_by_group([("g", [A0]), ("h", ()), ("g", {A1: None}), ("g", [A0])])
    assert pending == {"g": frozenset({A0, A1}), "h": frozenset()}
