"""Transactions on a cluster: the coordinator's state in a replicated internal topic, as Kafka's
``__transaction_state``.

A transactional id's coordinator is the leader of the id's partition of the transaction log
(a stable hash of the id), as a group's coordinator is the leader of its offsets partition
(:mod:`pcmodel.cluster.offsets`). The rules are those of a lone broker's coordinator
(:class:`~pcmodel.topics.transactions.TransactionCoordinator`, the same class); what the cluster
adds is that nothing is decided until it is *stored*: every change of an id's metadata is a
record ``key = transactional id``, ``value = its metadata`` (JSON) produced with ``acks="all"``
to the id's partition, and a call is answered only once its record is committed. A broker that
becomes leader of the partition loads the records (up to its high watermark,
:mod:`pcmodel.cluster.internal_topics`) and carries on where the last coordinator stopped: the
producers keep their ids and epochs, ongoing transactions stay ongoing.

Ending a transaction takes three steps, each stored before the next, as in Kafka:

1. the decision: the id's record in state PrepareCommit (or PrepareAbort), with the
   transaction's partitions and staged offsets;
2. the markers: a COMMIT (ABORT) marker written to the leader of every partition of the
   transaction (:meth:`Cluster.write_marker <pcmodel.cluster.cluster.Cluster.write_marker>`,
   replicated like any record, retried through leader changes), and, for a commit, the staged
   offsets written to the offsets topic;
3. the record in state CompleteCommit (CompleteAbort).

(Steps 2 and 3 are :mod:`pcmodel.cluster.transaction_markers`.)

A coordinator that fails between 1 and 3 leaves a Prepare record: its successor loads it and
writes the markers again (a marker written twice does no harm). While the markers of an id's
last transaction cannot all be written (a partition has no leader), the id's next calls are
answered CONCURRENT_TRANSACTIONS, retriable. A ``read_committed`` consumer of one partition
sees the transaction once that partition's marker is committed; another partition's marker may
follow a moment later, as in Kafka.

If a record cannot be stored (the coordinator failed, the ISR is too small), the call fails
with a retriable error and the coordinator's state is loaded again from the log: nothing is
half-applied. The calls of a cluster connection retry for up to 30 seconds, as Kafka clients
retry NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE.

Timeouts and the expiration of transactional ids run on the cluster's clock, as Kafka's
coordinator runs them on a timer, with or without any client about
(:mod:`pcmodel.cluster.transaction_timers`).
Producer ids come from the controller, as the idempotent producers' do.

Prior art: Kafka's ``TransactionStateManager`` (``partitionFor``, ``appendTransactionToLog``,
``loadTransactionsForTxnTopicPartition``), ``TransactionMarkerChannelManager`` and
``TransactionLog`` (the record's key and value).
"""

from __future__ import annotations

import itertools
import json
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import NamedTuple, TypeVar

from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.internal_topics import (
    acknowledged_end,
    create_internal_topic,
    latest_values,
)
from pcmodel.cluster.offsets import OffsetsTopic
from pcmodel.cluster.transaction_markers import WRITE_TIMEOUT, TransactionCompletion
from pcmodel.cluster.transaction_settings import filled_transaction_settings
from pcmodel.cluster.transaction_timers import TransactionTimers
from pcmodel.topics.errors import (
    ConcurrentTransactionsError,
    CoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.group_offsets import pending_by_group
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from pcmodel.topics.transactions import (
    DescribedTransaction,
    EndedTransaction,
    TransactionCoordinator,
    TransactionListing,
    check_states,
)

__all__ = ["TRANSACTION_TOPIC", "TransactionLog"]

TRANSACTION_TOPIC = "__transaction_state"
#: Kafka's configs of the transaction log (``TransactionStateManager.transactionTopicConfigs``):
#: compacted (only each id's latest record counts), uncompressed, never an unclean leader
#: election; its ``min.insync.replicas`` is ``transaction.state.log.min.isr``, set at creation.
TRANSACTION_TOPIC_CONFIGS = {"cleanup.policy": "compact", "compression.type": "uncompressed",
                             "segment.bytes": str(100 * 1024 * 1024),
                             "unclean.leader.election.enable": "false"}
#: How long one call waits for a coordinator (seconds).
CALL_WAIT = 30.0
#: How long ending a transaction waits for its markers before it answers (seconds).
MARKER_WAIT = 5.0

T = TypeVar("T")


class _Loaded(NamedTuple):
    """A partition of the transaction log as its current leader loaded it."""

    leader: int
    leader_epoch: int
    coordinator: TransactionCoordinator


class _ControllerProducerIds:
    """Producer ids for a cluster's coordinators: the controller's, unique across brokers.

    A coordinator also tells its producer ids of each new epoch; on a cluster the partitions
    learn it from the transaction's markers and batches instead.
    """

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def new_producer_id(self) -> int:
        return self._cluster.init_producer_id()[0]

    def set_epoch(self, producer_id: int, epoch: int) -> None:
        return None


class TransactionLog(TransactionCompletion, TransactionTimers):
    """A cluster's transaction coordinators and their replicated log. Create one per cluster
    (it creates the topic); thread-safe: every connection of the cluster shares it.

    ``settings`` are the cluster's ``transaction_settings``, by the names of
    :mod:`pcmodel.cluster.transaction_settings`, which fills in Kafka's default for each one
    left out (:func:`~pcmodel.cluster.transaction_settings.filled_transaction_settings`):
    ``partitions`` and ``replication_factor`` are Kafka's ``transaction.state.log.num.
    partitions`` and ``transaction.state.log.replication.factor``; records need
    ``min_insync_replicas`` in-sync replicas (Kafka's ``transaction.state.log.min.isr``,
    default 2, capped at the replica count). ``max_timeout_ms``, ``id_expiration_ms`` and
    the two check intervals are Kafka's ``transaction.max.timeout.ms``,
    ``transactional.id.expiration.ms``,
    ``transaction.abort.timed.out.transaction.cleanup.interval.ms`` and
    ``transaction.remove.expired.transaction.cleanup.interval.ms``. Raises
    ``IllegalArgumentError`` for a setting it does not know or a value that is not an int of
    at least 1.

    Every method that calls a coordinator raises ``CoordinatorNotAvailableError`` (retriable)
    when none answered within 30 seconds, besides the errors of
    :class:`~pcmodel.topics.transactions.TransactionCoordinator`.
    """

    def __init__(self, cluster: Cluster, offsets: OffsetsTopic, **settings: int) -> None:
        filled = filled_transaction_settings(settings)
        self.cluster = cluster
        self.offsets = offsets
        self.partitions = create_internal_topic(cluster, TRANSACTION_TOPIC, filled.partitions,
                                                filled.replication_factor,
                                                filled.min_insync_replicas,
                                                TRANSACTION_TOPIC_CONFIGS)
        self.max_timeout_ms = filled.max_timeout_ms
        self.id_expiration_ms = filled.id_expiration_ms
        self.timed_out_check_interval_ms = filled.timed_out_check_interval_ms
        self.expired_id_check_interval_ms = filled.expired_id_check_interval_ms
        #: How long one call waits for a coordinator (seconds of the cluster's clock).
        self.call_wait = CALL_WAIT
        #: How long ending a transaction tries to write its markers before it answers (the
        #: rest follow: see the module); well below a Kafka client's request timeout.
        self.marker_wait = MARKER_WAIT
        self._producer_ids = _ControllerProducerIds(cluster)
        # One coordinator call at a time, held while its record is written: simple, and what
        # a teaching cluster needs (Kafka serialises the calls of one id the same way).
        self._lock = threading.RLock()
        #: How deep this log's methods are nested in the thread holding ``_lock`` (0: none
        #: runs); read only with the lock held.
        self._depth = 0
        self._loaded: dict[int, _Loaded] = {}
        #: Decided transactions whose markers are not all written yet, by transactional id.
        self._unfinished: dict[str, EndedTransaction] = {}
        #: Per partition of the log, as last loaded: per group, the partitions its ongoing
        #: transactions have staged offsets of (a partition that cannot be loaded now keeps
        #: what it had).
        self._staged: dict[int, dict[str, frozenset[TopicPartition]]] = {}
        #: What :meth:`pending_offsets` answers: replaced, never changed.
        self._pending_offsets: Mapping[str, frozenset[TopicPartition]] = {}
        self._start_clock()

    def partition_for(self, transactional_id: str) -> int:
        """The transaction-log partition of ``transactional_id`` (a stable hash of it)."""
        return zlib.crc32(transactional_id.encode()) % self.partitions

    def coordinator(self, transactional_id: str) -> int | None:
        """The broker coordinating ``transactional_id``: the leader of its partition."""
        return self.cluster.leader(TRANSACTION_TOPIC, self.partition_for(transactional_id))

    # --- the producer's calls ------------------------------------------------------------------

    def init_producer_id(self, transactional_id: str, timeout_ms: int,
                         expected: tuple[int, int] | None = None) -> tuple[int, int]:
        """InitProducerId with a transactional id (see :meth:`TransactionCoordinator.
        init_producer_id <pcmodel.topics.transactions.TransactionCoordinator.init_producer_id>`):
        a transaction left open is aborted (its markers written) before the answer."""
        return self._call(transactional_id, lambda c, now_ms: c.init_producer_id(
            transactional_id, timeout_ms, now_ms, expected))

    def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                       partitions: Iterable[TopicPartition]) -> None:
        """AddPartitionsToTxn. Raises ``UnknownTopicOrPartitionError`` for a partition the
        cluster does not have, and as the coordinator's ``add_partitions``."""
        tps = list(partitions)
        existing = self.cluster.metadata()
        for tp in tps:
            if tp not in existing or tp.topic == TRANSACTION_TOPIC:
                raise UnknownTopicOrPartitionError.no_partition(tp)
        self._call(transactional_id, lambda c, now_ms: (c.add_partitions(
            transactional_id, producer_id, producer_epoch, tps, now_ms), None))

    def add_group(self, transactional_id: str, producer_id: int, producer_epoch: int,
                  group_id: str) -> None:
        """AddOffsetsToTxn (the coordinator's ``add_group``)."""
        self._call(transactional_id, lambda c, now_ms: (c.add_group(
            transactional_id, producer_id, producer_epoch, group_id, now_ms), None))

    def stage_offsets(self, transactional_id: str, producer_id: int, producer_epoch: int,
                      group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata]
                      ) -> None:
        """TxnOffsetCommit, once the group's coordinator checked the consumer (the
        coordinator's ``stage_offsets``): the offsets are stored with the id's metadata."""
        self._call(transactional_id, lambda c, now_ms: (c.stage_offsets(
            transactional_id, producer_id, producer_epoch, group_id, offsets, now_ms), None))

    def end(self, transactional_id: str, producer_id: int, producer_epoch: int,
            commit: bool) -> None:
        """EndTxn: store the decision, write the markers (and a commit's offsets), store the
        completion. Answered once the decision is stored and the markers written, or written
        as far as they could be within ``marker_wait`` seconds (the rest follow, see the
        module)."""
        self._call(transactional_id, lambda c, now_ms: (None, c.end(
            transactional_id, producer_id, producer_epoch, commit, now_ms)))

    # --- the partitions' and the group coordinators' questions --------------------------------

    def holds(self, producer_id: int, producer_epoch: int, tp: TopicPartition) -> bool:
        """Whether the producer's ongoing transaction holds ``tp`` (the check a partition
        leader makes before it appends a transactional batch, Kafka's KIP-890 verification).
        Raises ``CoordinatorNotAvailableError`` (retriable) if the answer may be in a
        partition of the log that cannot be loaded now."""
        with self._locked():
            loaded, missing = self._load_all()
            if any(entry.coordinator.holds(producer_id, producer_epoch, tp) for entry in loaded):
                return True
            if missing:
                raise CoordinatorNotAvailableError(
                    f"the transaction of producer {producer_id} cannot be checked now: "
                    f"transaction log partitions {missing} have no coordinator")
            return False

    def unstable(self, group_id: str, partitions: Iterable[TopicPartition]
                 ) -> list[TopicPartition]:
        """Those of ``partitions`` of which a transaction not yet completed has staged an
        offset for ``group_id`` (an offsets lookup with ``require_stable`` waits then); all of
        them while a partition of the log cannot be loaded, since one of its transactions
        might have."""
        tps = list(partitions)
        with self._locked():
            self._check_due()
            loaded, missing = self._load_all()
            if missing:
                return tps
            return [tp for tp in tps
                    if any(entry.coordinator.unstable(group_id, tp) for entry in loaded)
                    or any(ended.commit and tp in ended.offsets.get(group_id, {})
                           for ended in self._unfinished.values())]

    def pending_offsets(self) -> Mapping[str, frozenset[TopicPartition]]:
        """Per group, the partitions whose offsets a transaction holds pending: staged by an
        ongoing transaction (TxnOffsetCommit), or committed by one that has not stored them
        yet. The offsets-retention check keeps those offsets, and those groups, as Kafka's
        coordinator keeps the offset of a partition with a pending transactional offset and a
        group with open transactions (:mod:`pcmodel.cluster.offsets_retention`). Read it, do
        not change it.

        As of the end of the last call: it returns at once, without the log's lock, since the
        check asks with the group writes held back, which a call holding the lock may be
        waiting for (a committed transaction's offsets)."""
        return self._pending_offsets

    # --- admin ---------------------------------------------------------------------------------

    def describe(self, transactional_id: str) -> DescribedTransaction:
        """DescribeTransactions for one id, from its coordinator. The start time is a date of
        the cluster's wall clock (:meth:`now_ms`)."""
        return self._call(transactional_id,
                          lambda c, now_ms: (c.describe(transactional_id), None))

    def listing(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                duration_ms: int = -1) -> list[TransactionListing]:
        """ListTransactions over every coordinator that can answer now, by transactional id
        (Kafka's admin client asks every broker and merges what they answer)."""
        states, producer_ids = list(states), list(producer_ids)
        check_states(states)
        with self._locked():
            self._check_due()
            loaded, _ = self._load_all()
            now_ms = self.now_ms()
            found = [listing for entry in loaded
                     for listing in entry.coordinator.listing(states, producer_ids,
                                                              duration_ms, now_ms)]
        return sorted(found)

    # --- internals (with the lock held) --------------------------------------------------------

    def _call(self, transactional_id: str,
              call: Callable[[TransactionCoordinator, int], tuple[T, EndedTransaction | None]]
              ) -> T:
        """Run ``call`` at the id's coordinator, store what it changed, write the markers of
        the transaction it ended; retry on a coordinator that failed, for up to
        ``call_wait`` seconds."""
        deadline = self.cluster.clock() + self.call_wait
        p = self.partition_for(transactional_id)
        while True:
            version = self.cluster.change_count()
            try:
                with self._locked():
                    self._check_due()
                    entry = self._load(p)
                    self._finish_unfinished(entry, transactional_id)
                    before = entry.coordinator.export(transactional_id)
                    result, ended = call(entry.coordinator, self.now_ms())
                    if ended is not None or entry.coordinator.export(transactional_id) != before:
                        self._store(entry, transactional_id, ended)
                    if ended is not None:
                        self._finish(entry, ended)
                    return result
            except (KafkaConnectionError, CoordinatorNotAvailableError) as exc:
                if self.cluster.clock() >= deadline:
                    raise CoordinatorNotAvailableError(
                        f"no coordinator of transactional id {transactional_id!r} answered "
                        f"within {self.call_wait:g} s ({exc}); try again") from exc
            except ConcurrentTransactionsError:
                if self.cluster.clock() >= deadline:
                    raise
            self._pause(version)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The log's lock, counted in ``_depth`` (see :meth:`run_due_checks`)."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._note_pending_offsets()

    def _note_pending_offsets(self) -> None:
        """Work out :meth:`pending_offsets` again, at the end of a call (with the lock
        held)."""
        for p, entry in self._loaded.items():
            self._staged[p] = entry.coordinator.pending_offsets()
        staged = (pair for groups in self._staged.values() for pair in groups.items())
        committing = ((group, offsets) for ended in self._unfinished.values() if ended.commit
                      for group, offsets in ended.offsets.items() if offsets)
        self._pending_offsets = pending_by_group(itertools.chain(staged, committing))

    def _load(self, p: int) -> _Loaded:
        """Partition ``p``'s coordinator, loading it from its log if its leader is new."""
        state = self.cluster.metadata()[TopicPartition(TRANSACTION_TOPIC, p)]
        if state.leader is None or not self.cluster.nodes[state.leader].alive:
            raise CoordinatorNotAvailableError(
                f"transaction log partition {p} has no leader right now")
        entry = self._loaded.get(p)
        if entry is not None and (entry.leader, entry.leader_epoch) == (state.leader,
                                                                        state.leader_epoch):
            return entry
        self._loaded.pop(p, None)
        try:
            end = acknowledged_end(self.cluster, TRANSACTION_TOPIC, p, state.leader,
                                   state.leader_epoch)
            values = latest_values(self.cluster, TRANSACTION_TOPIC, p, state.leader, end)
        except KafkaError as exc:  # still loading, or the leader just died
            raise CoordinatorNotAvailableError(
                f"transaction log partition {p} is loading at broker {state.leader}: "
                f"{exc}") from exc
        coordinator = TransactionCoordinator(self._producer_ids,  # type: ignore[arg-type]
                                             max_timeout_ms=self.max_timeout_ms,
                                             id_expiration_ms=self.id_expiration_ms)
        entry = _Loaded(state.leader, state.leader_epoch, coordinator)
        for key, value in values.items():
            tid = key.decode()
            ended = coordinator.restore(tid, json.loads(value))
            if ended is not None:
                self._unfinished[tid] = ended  # its markers are written again
            else:
                self._unfinished.pop(tid, None)
        self._loaded[p] = entry
        for tid in [tid for tid in self._unfinished if self.partition_for(tid) == p]:
            self._try_finish(entry, tid, wait=0.0)  # the rest at the id's next call
        return entry

    def _load_all(self) -> tuple[list[_Loaded], list[int]]:
        """Every partition's coordinator that can be loaded now, and the partitions that
        cannot."""
        loaded, missing = [], []
        for p in range(self.partitions):
            try:
                loaded.append(self._load(p))
            except (CoordinatorNotAvailableError, KafkaConnectionError):
                missing.append(p)
        return loaded, missing

    def _store(self, entry: _Loaded, transactional_id: str,
               ended: EndedTransaction | None) -> None:
        """Write the id's metadata (with ``ended``: its decision, a Prepare state) and wait for
        it to be committed; if it cannot be, forget the partition's state (the next call loads
        it again from the log) and raise ``CoordinatorNotAvailableError``."""
        fields = entry.coordinator.export(transactional_id, ended)
        value = None if fields is None else json.dumps(fields).encode()
        try:
            self._write(entry, [(transactional_id.encode(), value)])
        except KafkaError as exc:
            self._loaded.pop(self.partition_for(transactional_id), None)
            raise CoordinatorNotAvailableError(
                f"the coordinator of transactional id {transactional_id!r} could not store "
                f"the change ({exc}); try again") from exc

    def _write(self, entry: _Loaded, records: list[tuple[bytes, bytes | None]]) -> None:
        p = self.partition_for(records[0][0].decode())
        future = self.cluster.produce(TRANSACTION_TOPIC, p, records, acks="all",
                                      broker=entry.leader, timeout=WRITE_TIMEOUT)
        future.get(timeout=WRITE_TIMEOUT + 5)
