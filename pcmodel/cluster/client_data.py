"""Produce and fetch of :class:`~pcmodel.cluster.client.ClusterConnection`: to the leaders.

A produce goes to the partition's leader, as the controller last elected it, with the
producer's ``acks``; one that reaches a former or dead leader fails with a retriable error and
the producer's retries send it again, to the new leader. An idempotent producer's batch carries
its producer id, epoch and sequence (a retry is answered, not stored twice, even by a new
leader); a transactional producer's batch is sent only if the producer's ongoing transaction
holds the partition (:mod:`pcmodel.cluster.client_transactions`). A fetch asks each partition's
leader, at the consumer's isolation level, and skips a partition without a reachable leader
until it has one again. A consumer closing in this process ends its fetch's wait at once (the
fetch's ``cancel`` event, :meth:`DataRequestsMixin.wake_fetches`).

:class:`DataRequestsMixin` is one part of ``ClusterConnection``, which provides ``_cluster`` and
the transactional checks of
:class:`~pcmodel.cluster.client_transactions.TransactionRequestsMixin`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pcmodel.topics.broker import AppendResult, FetchError, FetchResult
from pcmodel.topics.broker_checks import (
    INT64_MAX,
    _check_cancel,
    _check_flag,
    _check_init_producer_ids,
    _check_int,
    _check_mapping,
    _check_timeout,
)
from pcmodel.topics.errors import IllegalArgumentError, KafkaError
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.structs import TopicPartition, validate_topic_partition

__all__ = ["DataRequestsMixin"]

_ACKS = {0: 0, 1: 1, -1: "all", "all": "all"}


class DataRequestsMixin:
    """Produce and fetch, sent to the partitions' leaders (ClusterConnection part)."""

    _cluster: Any

    def init_producer_id(self, producer_id: int = -1, producer_epoch: int = -1, *,
                         transactional_id: str | None = None,
                         transaction_timeout_ms: int = 60_000) -> tuple[int, int]:
        """Without ``transactional_id``: a new idempotent producer id at epoch 0, whatever
        ``producer_id`` and ``producer_epoch`` say (Kafka's coordinator answers a
        non-transactional InitProducerId with a new id; a producer that needs a new epoch
        bumps it itself). With a ``transactional_id``: the id's producer id and epoch from its
        transaction coordinator (see :mod:`~pcmodel.cluster.client_transactions`).
        ``IllegalArgumentError`` for an id or epoch beyond its field of InitProducerId (int64,
        int16), ``InvalidRequestError`` when exactly one of them is -1."""
        _check_init_producer_ids(producer_id, producer_epoch)
        if transactional_id is not None:
            return self._init_transactional_id(transactional_id, transaction_timeout_ms,
                                               producer_id, producer_epoch)
        # Never the given id with its epoch bumped: nothing here knows whether the controller
        # issued it, or its current epoch, and a bump would let any caller fence another
        # producer (TransactionCoordinator.handleInitProducerId, transactionalId null).
        return self._cluster.init_producer_id()

    def append(self, topic: str, partition: int, records: Sequence, *,
               timeout: float | None = None, acks: int | str = 1,
               compression: str | None = None, batch_bytes: int | None = None
               ) -> AppendResult:
        """Produce to the leader with ``acks``; errors as ``Cluster.produce`` (most retriable).
        ``compression`` is how the leader stores the batch (followers store copies decoded),
        ``batch_bytes`` its size as a Kafka client sent it (see ``Broker.append``)."""
        return self._produce(topic, partition, records, timeout, acks, None, compression,
                             batch_bytes)

    def append_idempotent(self, topic: str, partition: int, records: Sequence, *,
                          producer_id: int, producer_epoch: int, first_sequence: int,
                          timeout: float | None = None, acks: int | str = "all",
                          compression: str | None = None, batch_bytes: int | None = None,
                          transactional: bool = False) -> AppendResult:
        """Produce as an idempotent producer: a repeated batch is answered, not stored again.
        ``transactional`` marks a transactional producer's batch: ``InvalidTxnStateError``
        (nothing appended) unless the producer's ongoing transaction holds the partition."""
        _check_flag("transactional", transactional)
        if transactional:
            self._check_in_transaction(producer_id, producer_epoch,
                                       validate_topic_partition((topic, partition)))
        return self._produce(topic, partition, records, timeout, acks,
                             (producer_id, producer_epoch, first_sequence), compression,
                             batch_bytes, transactional=transactional)

    def fetch(self, offsets: Mapping[TopicPartition, int], *, max_records: int = 500,
              timeout: float = 0.0, isolation_level: str = "read_uncommitted",
              cancel: threading.Event | None = None) -> dict[TopicPartition, FetchResult]:
        """Read committed records from each partition's leader; long-polls up to ``timeout``.

        A partition without a reachable leader is left out of the answer (the client keeps its
        position and asks again), as a Kafka consumer refreshes metadata and retries. Each
        leader answers at ``isolation_level`` as ``Broker.fetch`` does (``read_committed``:
        below its last stable offset, with the aborted transactions of what it read).
        ``TypeError`` for ``offsets`` that are not a mapping, ``IllegalArgumentError`` for an
        offset below 0 or above ``2**63 - 1`` (an int64 in Fetch) and for a ``timeout`` that is
        not a finite number of seconds >= 0 (``TypeError``: not a number), before any wait.

        ``cancel`` (a ``threading.Event``) abandons the wait: once it is set the fetch stops
        waiting and returns what it read (nothing) when it next wakes, at the latest when
        :meth:`wake_fetches` is called (a consumer's ``close()``); ``TypeError`` for anything
        but an event or ``None``.
        """
        if timeout is None:
            raise TypeError("timeout must be a number of seconds, got None")
        _check_timeout(timeout)  # a NaN or infinite one would make the long poll never end
        _check_mapping("offsets", offsets, "TopicPartition to int")
        for tp, offset in offsets.items():  # a leader's refusal would be taken for its absence
            _check_int(f"offset of {tp}", offset, 0, IllegalArgumentError, INT64_MAX)
        _check_cancel(cancel)
        if check_isolation_level(isolation_level):
            self._check_transactions_due()  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeout
        while True:
            version = self._cluster.change_count()
            results: dict[TopicPartition, FetchResult] = {}
            by_leader: dict[int, dict[TopicPartition, int]] = {}
            metadata = self._cluster.metadata()
            for tp, offset in offsets.items():
                state = metadata.get(tp)
                if state is None:
                    results[tp] = FetchResult((), -1, -1, FetchError.UNKNOWN_TOPIC_OR_PARTITION)
                elif state.leader is not None:
                    by_leader.setdefault(state.leader, {})[tp] = offset
            for leader, wanted in sorted(by_leader.items()):
                try:
                    results.update(self._cluster.fetch(leader, wanted, max_records,
                                                       isolation_level))
                except KafkaError:
                    continue  # a former or dead leader: ask the new one next time
            if any(r.records or r.error for r in results.values()):
                return results
            remaining = deadline - time.monotonic()
            # cancel is read after version: a wake_fetches() since then has moved the count,
            # so the wait below returns at once.
            if remaining <= 0 or (cancel is not None and cancel.is_set()):
                return results
            self._cluster.await_change(version, remaining)

    def wake_fetches(self) -> None:
        """Wake every fetch waiting at the cluster: one whose ``cancel`` event is set returns,
        the others read again and go on waiting. Returns at once. A fetch waits for the
        cluster's change count to move (``await_change``), so this counts a change: every
        other waiter on the cluster wakes for nothing too (the brokers' and the controller's
        loops run a round early, as after any append) and, as after any change, checks what
        it waits for and waits again."""
        self._cluster.wake_waiters()

    # --- internals ----------------------------------------------------------------------------

    def _produce(self, topic: str, partition: int, records: Sequence, timeout: float | None,
                 acks: int | str, producer: tuple[int, int, int] | None,
                 compression: str | None, batch_bytes: int | None,
                 broker: int | None = None, transactional: bool = False) -> AppendResult:
        """Produce to the partition's leader, or to ``broker`` (which refuses unless it leads
        it), and wait for the answer; errors as :meth:`Cluster.produce
        <pcmodel.cluster.cluster.Cluster.produce>`'s future."""
        # True == 1 and 1.0 == 1: only the values themselves, not what compares equal to them.
        if isinstance(acks, bool) or not isinstance(acks, (int, str)) or acks not in _ACKS:
            raise IllegalArgumentError(f"acks must be one of {tuple(_ACKS)}, got {acks!r}")
        wait = 30.0 if timeout is None else timeout
        result = self._cluster.produce(topic, partition, records, acks=_ACKS[acks],
                                       timeout=wait, broker=broker, producer=producer,
                                       compression=compression, batch_bytes=batch_bytes,
                                       transactional=transactional).get(timeout=wait + 5)
        start = self._cluster.nodes[result.broker].broker.replica_offsets(topic, partition)[0]
        return AppendResult(result.base_offset, start, result.log_append_time)
