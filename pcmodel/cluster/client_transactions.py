"""A cluster connection's answers to transactional calls: a cluster has no transactions yet.

A lone :class:`~pcmodel.topics.broker.Broker` coordinates transactions
(:mod:`pcmodel.topics.transactions`); a :class:`~pcmodel.cluster.Cluster` does not: it would
need a replicated transaction log and markers that survive a leader change. So a transactional
producer is refused at ``init_transactions()`` with a message saying so, and every other
transactional call answers as a coordinator that knows no transactional id. Reads accept the
``read_committed`` isolation level, which reads what ``read_uncommitted`` does: with no
transaction, every record is committed and the last stable offset is the high watermark.

:class:`TransactionRequestsMixin` is one part of
:class:`~pcmodel.cluster.client.ClusterConnection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pcmodel.topics.errors import InvalidProducerIdMappingError, UnsupportedVersionError
from pcmodel.topics.structs import TopicPartition
from pcmodel.topics.transactions import (
    DescribedTransaction,
    TransactionListing,
    check_states,
    not_found,
)

__all__ = ["TransactionRequestsMixin"]

_NO_TRANSACTIONS = ("transactions are not supported on a pcmodel Cluster (a lone Broker "
                    "supports them); leave transactional_id unset here")


def _unknown(transactional_id: str) -> InvalidProducerIdMappingError:
    return InvalidProducerIdMappingError(
        f"no transactional id {transactional_id!r} on this cluster: {_NO_TRANSACTIONS}")


class TransactionRequestsMixin:
    """Transactional calls on a cluster: refused, or answered with nothing (see the module)."""

    def _init_transactional_id(self, transactional_id: str) -> tuple[int, int]:
        raise UnsupportedVersionError(
            f"transactional id {transactional_id!r}: {_NO_TRANSACTIONS}")

    def add_partitions_to_txn(self, transactional_id: str, producer_id: int,
                              producer_epoch: int, partitions: Iterable[TopicPartition]) -> None:
        """Raises ``InvalidProducerIdMappingError``: no transactional id exists here."""
        raise _unknown(transactional_id)

    def add_offsets_to_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                           group_id: str) -> None:
        """Raises ``InvalidProducerIdMappingError``: no transactional id exists here."""
        raise _unknown(transactional_id)

    def txn_offset_commit(self, transactional_id: str, group_id: str, producer_id: int,
                          producer_epoch: int, offsets: Mapping[TopicPartition, Any],
                          **member: Any) -> None:
        """Raises ``InvalidProducerIdMappingError``: no transactional id exists here."""
        raise _unknown(transactional_id)

    def end_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                commit: bool) -> None:
        """Raises ``InvalidProducerIdMappingError``: no transactional id exists here."""
        raise _unknown(transactional_id)

    def describe_transactions(self, transactional_ids: Iterable[str]
                              ) -> dict[str, DescribedTransaction]:
        """Every id is unknown (``TransactionalIdNotFoundError`` in its ``error``)."""
        return {tid: not_found(tid) for tid in transactional_ids}

    def list_transactions(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                          duration_filter_ms: int = -1) -> list[TransactionListing]:
        """No transaction: an empty list (an unknown state still raises
        ``IllegalArgumentError``)."""
        check_states(states)
        return []
