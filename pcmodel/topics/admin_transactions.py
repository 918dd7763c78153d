"""The transactions part of :class:`~pcmodel.topics.admin.KafkaAdminClient`: which
transactional ids the coordinator knows, and what each one's transaction holds.

``list_transactions`` and ``describe_transactions`` (Kafka's ListTransactions and
DescribeTransactions, what ``kafka-transactions.sh list`` and ``describe`` print), with
kafka-python 3's arguments and results: :class:`TransactionListing` rows per broker, and one
:class:`TransactionDescription` per transactional id. A lone broker is its own transaction
coordinator, broker 0; on a cluster each transactional id's coordinator is the leader of its
partition of ``__transaction_state``, and the listing merges every coordinator's.

kafka-python's ``abort_transaction`` and ``find_hanging_transactions`` are not here: they mend
a *hanging* transaction, one a partition holds open after its coordinator forgot it, which
needs markers lost on the way; a lone broker writes its markers in the same step as the commit
or abort, so none can hang.

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
    """Transaction administration (KafkaAdminClient part: the client provides ``_conn`` and
    ``_check_open()``)."""

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
        ``broker_ids`` chooses the brokers asked (a lone broker is broker 0). Returns at once.
        Raises ``IllegalArgumentError`` for an unknown state, a pattern that does not compile
        or a broker that is not one.
        """
        self._check_open()
        asked = _names(broker_ids, "broker_ids")
        if any(b != 0 or isinstance(b, bool) for b in asked):
            raise IllegalArgumentError(
                f"broker_ids {asked!r}: the transaction coordinator is broker 0")
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
        return {0: rows}

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
                0, answer.state, answer.producer_id, answer.producer_epoch, answer.timeout_ms,
                answer.start_time_ms, set(answer.partitions))
        return found
