"""The broker and the cluster refuse an integer that Kafka's wire cannot carry, and take one at
exactly the limit.

Kafka carries offsets, timestamps, producer ids and retention times as int64, epochs of leaders
and coordinators, sequences and timeouts as int32, producer epochs as int16. A value stored
beyond its field cannot be read back by a Kafka client through the listener (the encoder fails
on it), and no Kafka broker takes it. Each entry point below once stored or answered a value
one past its limit; it now refuses it before anything changes, with the error its neighbouring
checks give (``IllegalArgumentError``; ``InvalidTimestampError`` for a create time;
``InvalidRequestError`` for a ConsumerGroupHeartbeat field), naming the limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.broker import Broker
from pcmodel.topics.broker_checks import INT16_MAX, INT32_MAX, INT64_MAX
from pcmodel.topics.broker_results import FetchError
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidRequestError,
    InvalidTimestampError,
    NoError,
    OffsetOutOfRangeError,
)
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)
#: A topic that takes any create time after the broker's clock (Long.MAX_VALUE: no bound).
LATE = "late"


class Target(NamedTuple):
    """What a case calls: ``conn`` (a lone broker, or a connection to a cluster) and ``backing``
    (the broker or the cluster, for an admin client)."""

    conn: Any
    backing: Broker | Cluster


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "broker":
        broker = Broker()
        try:
            broker.create_topic("t", 1)
            broker.create_topic(LATE, 1, configs={
                "message.timestamp.after.max.ms": str(INT64_MAX)})
            yield Target(broker, broker)
        finally:
            broker.close()
        return
    cluster = Cluster(3, mode="steps")
    try:
        conn = cluster.connect()
        conn.create_topic("t", 1, replication_factor=3)
        conn.create_topic(LATE, 1, replication_factor=3, configs={
            "message.timestamp.after.max.ms": str(INT64_MAX)})
        yield Target(conn, cluster)
    finally:
        cluster.close()


def _committed(target: Target, group: str = "g") -> OffsetAndMetadata | None:
    return target.conn.committed(group, [TP])[TP]


def _admin_alter(target: Target, offset: int) -> Any:
    admin = KafkaAdminClient(broker=target.backing)
    try:
        return admin.alter_group_offsets("g", {TP: OffsetAndMetadata(offset, "", -1)})
    finally:
        admin.close()


def _txn_commit(target: Target, offset: int) -> None:
    conn = target.conn
    producer_id, epoch = conn.init_producer_id(transactional_id="tx")
    conn.add_offsets_to_txn("tx", producer_id, epoch, "g")
    conn.txn_offset_commit("tx", "g", producer_id, epoch, {TP: offset})
    conn.end_txn("tx", producer_id, epoch, True)


def _append_idempotent(target: Target, producer_id: int, epoch: int, sequence: int) -> Any:
    return target.conn.append_idempotent("t", 0, [(None, b"x")], producer_id=producer_id,
                                         producer_epoch=epoch, first_sequence=sequence)


def _join(target: Target, rebalance_timeout_ms: int) -> Any:
    return target.conn.join_group("gj", "", protocol_type="consumer",
                                  protocols=[("range", b"")],
                                  rebalance_timeout_ms=rebalance_timeout_ms)


def _heartbeat(target: Target, rebalance_timeout_ms: int) -> Any:
    return target.conn.consumer_group_heartbeat(
        "gc", "", 0, rebalance_timeout_ms=rebalance_timeout_ms, subscribed_topic_names=["t"],
        owned_partitions={})


class Case(NamedTuple):
    """``call(target, value)`` with ``limit`` is taken, then ``check``ed; with ``limit + 1``
    it raises ``error``."""

    name: str
    limit: int
    call: Callable[[Target, int], Any]
    check: Callable[[Target, Any], bool]
    error: type[Exception] = IllegalArgumentError
    targets: tuple[str, ...] = ("broker", "cluster")


CASES = [
    Case("commit offset", INT64_MAX,
         lambda t, v: t.conn.commit_offsets("g", -1, "", {TP: v}),
         lambda t, _: _committed(t).offset == INT64_MAX),
    Case("commit leader epoch", INT32_MAX,
         lambda t, v: t.conn.commit_offsets("g", -1, "", {TP: OffsetAndMetadata(5, "", v)}),
         lambda t, _: _committed(t).leader_epoch == INT32_MAX),
    Case("commit retention_time_ms", INT64_MAX,
         lambda t, v: t.conn.commit_offsets("g", -1, "", {TP: 5}, retention_time_ms=v),
         lambda t, _: _committed(t).offset == 5),
    Case("admin alter_group_offsets", INT64_MAX, _admin_alter,
         lambda t, answer: answer == {TP: NoError} and _committed(t).offset == INT64_MAX),
    Case("txn_offset_commit", INT64_MAX, _txn_commit,
         lambda t, _: _committed(t).offset == INT64_MAX),
    Case("offsets_for_times", INT64_MAX,
         lambda t, v: t.conn.offsets_for_times({TP: v}), lambda t, found: found == {TP: None}),
    Case("list_offsets timestamp", INT64_MAX,
         lambda t, v: t.conn.list_offsets({TP: v}), lambda t, found: found == {TP: None}),
    Case("delete_records", INT64_MAX,
         lambda t, v: t.conn.delete_records({TP: v}),
         lambda t, answer: isinstance(answer[TP].error, OffsetOutOfRangeError)),
    Case("fetch offset", INT64_MAX,
         lambda t, v: t.conn.fetch({TP: v}),
         lambda t, answer: answer[TP].error is FetchError.OFFSET_OUT_OF_RANGE),
    Case("produce create time", INT64_MAX,
         lambda t, v: t.conn.append(LATE, 0, [(None, b"x", (), v)]),
         lambda t, answer: answer.base_offset == 0, error=InvalidTimestampError),
    Case("idempotent producer_id", INT64_MAX,
         lambda t, v: _append_idempotent(t, v, 0, 0), lambda t, answer: answer.base_offset == 0),
    Case("idempotent producer_epoch", INT16_MAX,
         lambda t, v: _append_idempotent(t, 7, v, 0), lambda t, answer: answer.base_offset == 0),
    Case("idempotent first_sequence", INT32_MAX,
         lambda t, v: _append_idempotent(t, 7, 0, v), lambda t, answer: answer.base_offset == 0),
    Case("marker producer_id", INT64_MAX,
         lambda t, v: t.conn.write_txn_marker("t", 0, v, 0, False, 0),
         lambda t, offset: offset == 0),
    Case("marker producer_epoch", INT16_MAX,
         lambda t, v: t.conn.write_txn_marker("t", 0, 7, v, False, 0),
         lambda t, offset: offset == 0),
    Case("marker coordinator_epoch", INT32_MAX,
         lambda t, v: t.conn.write_txn_marker("t", 0, 7, 0, False, v),
         lambda t, offset: offset == 0),
    Case("join_group rebalance_timeout_ms", INT32_MAX, _join,
         lambda t, joined: joined.generation == 1),
    Case("consumer_group_heartbeat rebalance_timeout_ms", INT32_MAX, _heartbeat,
         lambda t, answer: answer.member_epoch == 1, error=InvalidRequestError),
    # A lone broker refuses any id it never issued; a cluster's connection takes any in range
    # and answers with a new id, as Kafka does for a producer without a transactional id.
    Case("init_producer_id producer_id", INT64_MAX,
         lambda t, v: t.conn.init_producer_id(v, 0),
         lambda t, ids: ids[0] != INT64_MAX and ids[1] == 0, targets=("cluster",)),
]


def _cases() -> list[Any]:
    return [pytest.param(case, kind, id=f"{case.name}-{kind}")
            for case in CASES for kind in case.targets]


BOTH = pytest.mark.parametrize("target", ["broker", "cluster"], indirect=True)


def _state(target: Target) -> tuple[Any, ...]:
    """What a refused call must leave as it was: the logs' ends, the group's offset."""
    conn = target.conn
    return (conn.end_offsets([TP, TopicPartition(LATE, 0)]), _committed(target))


@pytest.mark.parametrize(("case", "target"), _cases(), indirect=["target"])
def test_one_past_the_limit_is_refused_and_changes_nothing(case, target):
    before = _state(target)
    with pytest.raises(case.error, match=re.escape(str(case.limit))):
        case.call(target, case.limit + 1)
    assert _state(target) == before


@pytest.mark.parametrize(("case", "target"), _cases(), indirect=["target"])
def test_exactly_the_limit_is_taken(case, target):
    assert case.check(target, case.call(target, case.limit))


@BOTH
def test_a_bump_past_the_int16_epoch_gives_a_new_producer_id(target):
    """An idempotent producer's epoch is an int16: once it has reached ``2**15 - 1``,
    InitProducerId gives a new producer id at epoch 0 rather than epoch ``2**15``."""
    conn = target.conn
    producer_id, _ = conn.init_producer_id()
    epoch = INT16_MAX  # as far as the producer bumped it itself
    new_id, new_epoch = conn.init_producer_id(producer_id, epoch)
    assert new_id != producer_id and new_epoch == 0


def test_transaction_timeouts_are_java_ints():
    """``transaction.max.timeout.ms`` is an INT setting and InitProducerId carries
    ``TransactionTimeoutMs`` as an int32: one past ``2**31 - 1`` is refused, before anything
    changes; exactly it is taken."""
    with pytest.raises(IllegalArgumentError, match=str(INT32_MAX)):
        Broker(transaction_max_timeout_ms=INT32_MAX + 1)
    broker = Broker(transaction_max_timeout_ms=INT32_MAX)
    try:
        with pytest.raises(IllegalArgumentError, match=str(INT32_MAX)):
            broker.init_producer_id(transactional_id="tx", transaction_timeout_ms=INT32_MAX + 1)
        assert broker.describe_transactions(["tx"])["tx"].error is not None  # never begun
        broker.init_producer_id(transactional_id="tx", transaction_timeout_ms=INT32_MAX)
    finally:
        broker.close()


def test_a_cluster_refuses_a_transaction_timeout_beyond_an_int32():
    cluster = Cluster(3, mode="steps")
    try:
        with pytest.raises(IllegalArgumentError, match=str(INT32_MAX)):
            cluster.connect().init_producer_id(transactional_id="tx",
                                               transaction_timeout_ms=INT32_MAX + 1)
    finally:
        cluster.close()
