"""Completing a decided transaction on a cluster: its markers, its offsets, its completion.

Steps 2 and 3 of ending a transaction (:mod:`pcmodel.cluster.transaction_log`): once the
coordinator has stored its decision (PrepareCommit or PrepareAbort), it writes a COMMIT (ABORT)
marker to the leader of every partition of the transaction, and for a commit the staged offsets
to the offsets topic, then stores the transaction complete. Each write is retried through
leader changes for a while; what cannot be written then is left *unfinished*: the id's next
call tries again first and answers CONCURRENT_TRANSACTIONS (retriable) until it succeeds, and
a coordinator that takes over finishes it from the Prepare record. A marker or an offset
written twice does no harm, so trying again is always safe.

:class:`TransactionCompletion` is one part of
:class:`~pcmodel.cluster.transaction_log.TransactionLog`, which provides ``cluster``,
``offsets``, ``marker_wait``, ``_unfinished`` and ``_write``; every method is called with its
lock held.

Prior art: Kafka's ``TransactionMarkerChannelManager`` (``addTxnMarkersToSend``, retrying
markers of partitions whose leader is unknown) and ``TransactionCoordinator``
(``sendTxnMarkersCallback``, then ``completeTransitionTo`` CompleteCommit/CompleteAbort).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pcmodel.cluster.errors import LeaderNotAvailableError
from pcmodel.topics.errors import (
    ConcurrentTransactionsError,
    IllegalStateError,
    InvalidProducerEpochError,
    KafkaError,
    TransactionCoordinatorFencedError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from pcmodel.topics.transactions import EndedTransaction

__all__ = ["TransactionCompletion"]

#: How long one marker or offsets write may wait for the followers (seconds).
WRITE_TIMEOUT = 10.0


class TransactionCompletion:
    """Writing a decided transaction's markers and offsets (TransactionLog part)."""

    cluster: Any
    offsets: Any
    marker_wait: float
    _unfinished: dict[str, EndedTransaction]

    def _finish(self, entry: Any, ended: EndedTransaction) -> None:
        """Steps 2 and 3 of ending a transaction (see the module), or leave it unfinished."""
        self._unfinished[ended.transactional_id] = ended
        self._try_finish(entry, ended.transactional_id, wait=self.marker_wait)

    def _finish_unfinished(self, entry: Any, transactional_id: str) -> None:
        """Before the id's next call: finish its last transaction, or answer
        CONCURRENT_TRANSACTIONS (retriable) while that cannot be done."""
        if transactional_id in self._unfinished and \
                not self._try_finish(entry, transactional_id, wait=0.0):
            raise ConcurrentTransactionsError(
                f"the last transaction of {transactional_id!r} is still writing its markers; "
                "try again")

    def _try_finish(self, entry: Any, transactional_id: str, wait: float) -> bool:
        """Write the markers (and offsets) of the id's decided transaction, then store it
        complete; True once done. Each write is tried again through leader changes for up to
        ``wait`` seconds (once at least). Markers already written are written again on the
        next try, which does no harm."""
        ended = self._unfinished[transactional_id]
        deadline = self.cluster.clock() + wait
        for tp in ended.partitions:
            if not self._write_marker(entry, ended, tp, deadline):
                return False
        if ended.commit:
            for group_id, offsets in ended.offsets.items():
                if not self._store_offsets(group_id, offsets, deadline):
                    return False
        del self._unfinished[transactional_id]
        try:
            self._write(entry, [(transactional_id.encode(), json.dumps(
                entry.coordinator.export(transactional_id)).encode())])
        except KafkaError:
            pass  # the log still says Prepare: a new coordinator writes the markers again
        return True

    def _write_marker(self, entry: Any, ended: EndedTransaction, tp: TopicPartition,
                      deadline: float) -> bool:
        """Write the transaction's marker to ``tp``'s leader, retrying through leader changes
        until ``deadline``; True once it is committed, or needs no writing: the topic was
        deleted, or the partition refuses the producer's epoch (a newer epoch of it wrote
        there since, so this transaction is long over there) or this coordinator's epoch (a
        newer coordinator wrote the producer's marker there since); Kafka's coordinator
        likewise stops sending such a marker."""
        while True:
            version = self.cluster.change_count()
            try:
                self.cluster.write_marker(
                    tp.topic, tp.partition, ended.producer_id, ended.producer_epoch,
                    ended.commit, coordinator_epoch=entry.leader_epoch,
                    timeout=WRITE_TIMEOUT).get(timeout=WRITE_TIMEOUT + 5)
                return True
            except UnknownTopicOrPartitionError:
                if tp not in self.cluster.metadata():
                    return True  # deleted while the transaction was open: nothing to mark
            except (InvalidProducerEpochError, TransactionCoordinatorFencedError):
                return True
            except KafkaError:
                pass  # no leader, a leader that died, too few in-sync replicas: again
            if self.cluster.clock() >= deadline:
                return False
            self._pause(version)

    def _store_offsets(self, group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata],
                       deadline: float) -> bool:
        """A committed transaction's offsets: stored at the group's coordinator and written to
        the offsets topic as a plain commit is, through :meth:`OffsetsTopic.commit_checked
        <pcmodel.cluster.offsets.OffsetsTopic.commit_checked>`, so that an offsets-retention
        check never runs between the two (its tombstones would follow the commit's record, or
        miss it); retried through coordinator changes until ``deadline``. True once stored."""
        existing = self.cluster.metadata()
        stored = {tp: value for tp, value in offsets.items() if tp in existing}
        if not stored:
            return True

        def store_at_coordinator() -> int:
            """The group's coordinator takes the offsets (Kafka's coordinator replays them on
            the COMMIT marker); returns the date the record carries."""
            node = self.cluster.nodes[self.offsets.load(group_id)]
            if not node.alive:
                raise LeaderNotAvailableError(
                    f"the coordinator of group {group_id!r} is down; its successor is next")
            return node.broker.store_txn_offsets(group_id, stored)  # the coordinator's date

        while True:
            version = self.cluster.change_count()
            try:
                future = self.offsets.commit_checked(group_id, stored, store_at_coordinator,
                                                     timeout=WRITE_TIMEOUT)
                if future is not None:
                    future.get(timeout=WRITE_TIMEOUT + 5)
                return True
            except KafkaError:
                pass  # the group's coordinator failed meanwhile: again, at the next one
            if self.cluster.clock() >= deadline:
                return False
            self._pause(version)

    def _pause(self, version: int) -> None:
        """Wait for the cluster to change before trying again: a stepped cluster moves only
        when driven, so it is driven one tick (as a produce's ``get`` drives it). Raises
        ``IllegalStateError`` once the cluster is closed: nothing will change any more (the
        cluster's timer, in the middle of an abort, stops there)."""
        if self.cluster.closed:
            raise IllegalStateError("the cluster is closed")
        if self.cluster.mode == "steps":
            self.cluster.advance()
        else:
            self.cluster.await_change(version, 0.05)
