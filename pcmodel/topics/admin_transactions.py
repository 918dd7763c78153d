"""The transactions part of :class:`~pcmodel.topics.admin.KafkaAdminClient`: which
transactional ids the coordinator knows, and what each one's transaction holds.

``list_transactions`` and ``describe_transactions`` (Kafka's ListTransactions and
DescribeTransactions, what ``kafka-transactions.sh list`` and ``describe`` print), with
kafka-python 3's arguments and results: :class:`TransactionListing` rows per broker, and one
:class:`TransactionDescription` per transactional id. A lone broker is its own transaction
coordinator, broker 0; on a cluster each transactional id's coordinator is the leader of its
partition of ``__transaction_state``, and each broker lists the ids it coordinates.

kafka-python's ``abort_transaction`` and ``find_hanging_transactions`` are not here: they mend
a *hanging* transaction, one a partition holds open after its coordinator forgot it, which
needs markers lost on the way; a lone broker writes its markers in the same step as the commit
or abort, and a cluster's coordinator stores its decision before the markers and writes them
until they are written, so none can hang (short of an unclean election that loses records of
the transaction log).

Prior art: kafka-python's ``kafka/admin/_transactions.py``; the Java ``Admin`` interface
(``listTransactions``, ``describeTransactions``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.structs import TopicPartition
from pcmodel.topics.transactions import TransactionListing

__all__ = ["TransactionAdminMixin", "TransactionDescription", "TransactionListing"]


class TransactionDescription(NamedTuple):
    """One transactional id's transaction, as kafka-python 3's ``describe_transactions``
    returns it: the broker coordinating it, its state (Kafka's names: ``"Ongoing"``,
    ``"CompleteCommit"``...), its producer id and epoch, its timeout, when the ongoing (or
    last) transaction began (epoch ms, ``-1`` if none did) and the partitions it holds."""

    coordinator_id: int
    state: str
    producer_id: int
    producer_epoch: int
    transaction_timeout_ms: int
    transaction_start_time_ms: int
    topic_partitions: set[TopicPartition]


def _names(values: Iterable[object] | None, what: str) -> list:
    if values is None:
        return []
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list, not the {type(values).__name__} {values!r}")
    return list(values)


class TransactionAdminMixin:
    """Transaction administration (KafkaAdminClient part: the client provides ``_conn``,
    ``_check_open()`` and ``_replicated()``)."""

    def list_transactions(
        self,
        broker_ids: Iterable[int] | None = None,
        producer_id_filters: Iterable[int] | None = None,
        state_filters: Iterable[str] | None = None,
        duration_filter_ms: int | None = None,
        transactional_id_pattern: str | None = None,
    ) -> dict[int, list[TransactionListing]]:
        """The transactional ids each coordinator knows (Kafka's ListTransactions), as
        ``{broker id: [TransactionListing]}``, each list by transactional id.

        Filters keep the ids of one of ``producer_id_filters``, in one of ``state_filters``
        (Kafka's state names), whose transaction has been ongoing for longer than
        ``duration_filter_ms``, and whose id matches the regular expression
        ``transactional_id_pattern`` (anywhere in it, as Kafka's ``Pattern.find``).
        ``broker_ids`` chooses the brokers asked (default: every live one; a lone broker is
        broker 0), each listing the ids it coordinates, as Kafka's brokers answer. Returns at
        once. Raises ``IllegalArgumentError`` for an unknown state, a pattern that does not
        compile or a broker that is not one.
        """
        self._check_open()
        asked = _names(broker_ids, "broker_ids")
        brokers = self._conn.broker_ids() if self._replicated() else (0,)
        for broker_id in asked:
            if isinstance(broker_id, bool) or broker_id not in brokers:
                raise IllegalArgumentError(f"broker {broker_id!r} is not a broker here; the "
                                           f"brokers are {list(brokers)}")
        if not asked:
            asked = list(self._conn.live_broker_ids()) if self._replicated() else [0]
        pattern = None
        if transactional_id_pattern is not None:
            try:
                pattern = re.compile(transactional_id_pattern)
            except (re.error, TypeError) as exc:
                raise IllegalArgumentError(
                    f"transactional_id_pattern {transactional_id_pattern!r} is not a regular "
                    f"expression: {exc}") from None
        rows = self._conn.list_transactions(
            _names(state_filters, "state_filters"),
            _names(producer_id_filters, "producer_id_filters"),
            -1 if duration_filter_ms is None else duration_filter_ms)
        if pattern is not None:
            rows = [row for row in rows if pattern.search(row.transactional_id)]
        by_broker: dict[int, list[TransactionListing]] = {b: [] for b in asked}
        for row in rows:
            coordinator = self._coordinator_of(row.transactional_id)
            if coordinator in by_broker:
                by_broker[coordinator].append(row)
        return by_broker

    def describe_transactions(
        self, transactional_ids: Iterable[str]
    ) -> dict[str, TransactionDescription]:
        """Each transactional id's transaction (Kafka's DescribeTransactions), as
        ``{transactional id: TransactionDescription}`` in the order asked. Returns at once.
        Raises, as kafka-python does, the first failed id's error:
        ``TransactionalIdNotFoundError`` for an id the coordinator does not know.
        """
        self._check_open()
        ids = _names(transactional_ids, "transactional_ids")
        found: dict[str, TransactionDescription] = {}
        for tid, answer in self._conn.describe_transactions(ids).items():
            if answer.error is not None:
                detail = answer.error.args[0] if answer.error.args else ""
                raise type(answer.error)(
                    f"DescribeTransactions failed for transactional id {tid!r}: {detail}")
            found[tid] = TransactionDescription(
                self._coordinator_of(tid), answer.state, answer.producer_id,
                answer.producer_epoch, answer.timeout_ms, answer.start_time_ms,
                set(answer.partitions))
        return found

    def _coordinator_of(self, transactional_id: str) -> int:
        """The broker coordinating ``transactional_id``: broker 0 alone, on a cluster the
        leader of its ``__transaction_state`` partition (``-1`` while it has none)."""
        if not self._replicated():
            return 0
        return self._conn.transaction_coordinator_id(transactional_id)
