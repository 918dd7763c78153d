"""One broker's replica of one partition: its log, its leader epochs, and its role.

As leader, a replica tracks what each follower has fetched (:class:`FollowerState`) and, from
that, the ISR and the high watermark (the rules are the pure functions of
:mod:`pcmodel.cluster.isr`). As follower, it truncates to where it agrees with the leader (the
leader-epoch rule of :mod:`pcmodel.cluster.epochs`) and then appends copies of the leader's
records at the leader's offsets, in the leader's batches (their edges and codecs). The log
itself is the node's ordinary :class:`~pcmodel.topics.broker.Broker` partition log: a cluster
node is a broker plus this state.

Transactions live in that log too: a leader appends a transactional producer's batches and the
markers that end its transactions (:meth:`Replica.write_marker`), and a follower copies both
with the records, so that every replica holds the same open transactions and last stable
offset (:mod:`pcmodel.topics.log_transactions`), and the same fencing of the producers' old
epochs (:mod:`pcmodel.cluster.producers`).

Called with the cluster lock held; nothing here blocks.

Prior art: Kafka ``Partition.scala`` (``makeLeader``, ``makeFollower``,
``updateFollowerFetchState``) and ``Replica.scala``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from pcmodel.cluster import isr as rules
from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.epochs import LeaderEpochCache
from pcmodel.cluster.producers import BatchInfo, MarkerInfo, ProducerState, appended_batch
from pcmodel.topics.broker import AppendResult, Broker
from pcmodel.topics.log import LogRecord
from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_replica import copied_transactions
from pcmodel.topics.log_transactions import TransactionalBatch
from pcmodel.topics.structs import TopicPartition

__all__ = ["FollowerState", "Replica"]


@dataclass
class FollowerState:
    """The leader's view of one follower (Kafka's remote ``Replica``).

    ``leo`` is the offset of its last fetch (``None`` until it fetched from this leader).
    """

    leo: int | None = None
    last_fetch_time: float | None = None
    leader_leo_at_last_fetch: int = 0
    last_caught_up: float = float("-inf")


class Replica:
    """The state of partition ``tp`` on broker ``node_id``. See the module docstring."""

    def __init__(self, node_id: int, broker: Broker, tp: TopicPartition, config: TopicConfig):
        self.node_id = node_id
        self.broker = broker
        self.tp = tp
        self.config = config
        self.epochs = LeaderEpochCache()
        self.producers = ProducerState()
        #: The latest partition state this broker was told (it may lag the controller's).
        self.state: PartitionState | None = None
        self.followers: dict[int, FollowerState] = {}
        self.leader_epoch_start = 0
        self.needs_truncation = False

    # --- observers -----------------------------------------------------------------------------

    @property
    def offsets(self) -> tuple[int, int, int]:
        """``(log_start_offset, log_end_offset, high_watermark)`` of the local log."""
        return self.broker.replica_offsets(self.tp.topic, self.tp.partition)

    @property
    def leo(self) -> int:
        """The local log end offset."""
        return self.offsets[1]

    @property
    def high_watermark(self) -> int:
        """The local high watermark (a follower's lags the leader's by one fetch)."""
        return self.offsets[2]

    @property
    def open_transactions(self) -> dict[int, int]:
        """The transactions open in the local log: ``{producer_id: first offset}``."""
        return self.broker.replica_open_transactions(self.tp.topic, self.tp.partition)

    @property
    def is_leader(self) -> bool:
        """Whether this broker was told it leads the partition."""
        return self.state is not None and self.state.leader == self.node_id

    @property
    def leader_epoch(self) -> int:
        """The leader epoch this broker knows (``-1`` before any state arrived)."""
        return -1 if self.state is None else self.state.leader_epoch

    def __repr__(self) -> str:
        role = "leader" if self.is_leader else "follower"
        start, leo, hw = self.offsets
        return f"<Replica {self.tp.topic}-{self.tp.partition}@{self.node_id} {role} " \
            f"epoch={self.leader_epoch} log=[{start},{leo}) hw={hw}>"

    # --- role changes (LeaderAndIsr) -----------------------------------------------------------

    def apply_state(self, state: PartitionState, now: float) -> bool:
        """Take the controller's decision; return whether this broker's role or leader changed.

        Becoming leader (Kafka ``makeLeader``) records the new epoch at the current LEO and
        gives every ISR follower a fresh caught-up time, so none is dropped before it could
        fetch. Becoming a follower of a new leader (``makeFollower``) schedules truncation.
        """
        old = self.state
        self.state = state
        new_term = old is None or old.leader_epoch != state.leader_epoch or (
            old.leader != state.leader
        )
        if not new_term:
            return False
        if state.leader == self.node_id:
            self.leader_epoch_start = self.leo
            self.epochs.assign(state.leader_epoch, self.leader_epoch_start)
            self.followers = {
                r: FollowerState(last_caught_up=now if r in state.isr else float("-inf"))
                for r in state.replicas
                if r != self.node_id
            }
            self.needs_truncation = False
            self._set_hw(min(self.high_watermark, self.leo))
        else:
            self.followers = {}
            self.needs_truncation = state.leader is not None
        return True

    # --- leader side ---------------------------------------------------------------------------

    def forget_followers(self, brokers: Iterable[int]) -> None:
        """Know nothing of ``brokers``' fetches any more (the controller took them out of the
        ISR: fenced, or shutting down): until they fetch again they are neither caught up nor
        waited for."""
        for r in brokers:
            if r in self.followers:
                self.followers[r] = FollowerState()

    def leos(self) -> dict[int, int]:
        """Every replica's known LEO, the leader's own included (followers that fetched)."""
        known = {r: f.leo for r, f in self.followers.items() if f.leo is not None}
        known[self.node_id] = self.leo
        return known

    def record_follower_fetch(self, follower: int, fetch_offset: int, now: float) -> None:
        """A follower fetched from ``fetch_offset``: it has everything below it."""
        f = self.followers.setdefault(follower, FollowerState())
        leader_leo = self.leo
        f.last_caught_up = rules.caught_up_time(
            fetch_offset=fetch_offset, fetch_time=now, leader_leo=leader_leo,
            previous_fetch_time=f.last_fetch_time,
            leader_leo_at_previous_fetch=f.leader_leo_at_last_fetch,
            last_caught_up=f.last_caught_up,
        )
        f.leo = fetch_offset
        f.last_fetch_time = now
        f.leader_leo_at_last_fetch = leader_leo

    def desired_isr(self, now: float, lag_max: float, fetched: int | None = None,
                    ineligible: AbstractSet[int] = frozenset(),
                    shrink: bool = True) -> frozenset[int]:
        """The ISR the leader wants now: laggards out (if ``shrink``: at the periodic check
        only), and ``fetched`` (the follower whose fetch this is, if any) in if it can join,
        unless its broker is ``ineligible`` (:func:`~pcmodel.cluster.isr.isr_at_check`)."""
        assert self.state is not None
        return rules.isr_at_check(
            leader=self.node_id, isr=self.state.isr, high_watermark_now=self.high_watermark,
            leos=self.leos(), last_caught_up={r: f.last_caught_up
                                              for r, f in self.followers.items()},
            now=now, replica_lag_time_max=lag_max, leader_epoch_start=self.leader_epoch_start,
            fetched=fetched, ineligible=ineligible, shrink=shrink,
        )

    @property
    def min_isr(self) -> int:
        """The ``min.insync.replicas`` this leader enforces: the topic's, capped at the
        partition's replica count (Kafka's effective min ISR)."""
        assert self.state is not None
        return rules.effective_min_isr(self.config.min_insync_replicas, len(self.state.replicas))

    def maybe_increment_hw(self, now: float, lag_max: float,
                           ineligible: AbstractSet[int] = frozenset()) -> bool:
        """Move the HW to the smallest LEO over the (controller-confirmed) ISR and the
        followers about to join it (:func:`~pcmodel.cluster.isr.joining_replicas`: not those
        on ``ineligible`` brokers, fenced or shutting down); never back, and not at all while
        the ISR is smaller than :attr:`min_isr`."""
        assert self.state is not None
        hw, leos = self.high_watermark, self.leos()
        joining = rules.joining_replicas(
            self.state.isr, self.node_id, leos,
            {r: f.last_caught_up for r, f in self.followers.items()}, now, lag_max, ineligible)
        new = rules.high_watermark(hw, self.state.isr, leos, self.min_isr, joining)
        if new != hw:
            self._set_hw(new)
            return True
        return False

    def append_as_leader(self, records: list, compression: str | None,
                         producer: tuple[int, int, int] | None,
                         batch_bytes: int | None = None,
                         transactional: bool = False) -> AppendResult:
        """Append a producer's batch to the local log; return where it landed.

        ``producer`` is ``(producer_id, producer_epoch, first_sequence)`` of an idempotent
        batch, remembered with the records so that a retry is recognised (also by a follower
        that copies them). ``compression`` and ``batch_bytes`` are as in ``Broker.append``.
        ``transactional`` makes it part of the producer's transaction (see
        ``Broker.append_as_leader``: ``InvalidTxnStateError`` for a plain batch of a producer
        whose transaction is open here, nothing appended).
        """
        appended = self.broker.append_as_leader(
            self.tp.topic, self.tp.partition, records, compression=compression,
            batch_bytes=batch_bytes, producer=producer,
            transactional=transactional)
        if producer is not None:
            self.producers.record(appended_batch(producer, appended, len(records)))
        return appended

    def write_marker(self, producer_id: int, producer_epoch: int, commit: bool,
                     coordinator_epoch: int = 0) -> AppendResult:
        """Append the marker that ends ``producer_id``'s transaction here (COMMIT or ABORT);
        return where it went. From then on the producer's epochs below ``producer_epoch`` are
        fenced here. Raises (nothing appended) ``InvalidProducerEpochError`` if the marker's
        epoch is older than the producer's newest here, ``TransactionCoordinatorFencedError``
        if its coordinator epoch is older than the producer's last marker's."""
        self.producers.check_epoch(producer_id, producer_epoch)
        self.producers.check_coordinator_epoch(producer_id, coordinator_epoch)
        appended = self.broker.append_marker_as_leader(
            self.tp.topic, self.tp.partition, producer_id, producer_epoch, commit,
            coordinator_epoch)
        self.producers.record_marker(MarkerInfo(producer_id, producer_epoch,
                                                appended.base_offset, coordinator_epoch,
                                                appended.max_timestamp_ms))
        return appended

    # --- follower side -------------------------------------------------------------------------

    def truncate(self, offset: int) -> tuple[LogRecord, ...]:
        """Drop the local records at ``offset`` and above; return them (the lost suffix)."""
        leo = self.leo
        if offset >= leo:
            return ()
        gone = self.broker.fetch(
            {self.tp: offset}, max_records=leo - offset, replica_id=self.node_id
        )[self.tp].records
        self.broker.truncate_replica(self.tp.topic, self.tp.partition, offset)
        self.epochs.truncate_from_end(offset)
        self.producers.truncate(offset)
        return gone

    def append_copy(
        self, records: tuple[LogRecord, ...], leader_hw: int, leader_epochs: tuple,
        batches: tuple[BatchInfo, ...] = (),
        transactional_batches: tuple[TransactionalBatch, ...] = (),
    ) -> None:
        """Copy fetched records at the leader's offsets; adopt its epochs, producer batches,
        transactional batches and markers, and its HW."""
        if records:
            leo = self.copy_records(records, batches, transactional_batches)
            self.epochs.copy_from(leader_epochs, leo)
        self._set_hw(min(leader_hw, self.leo))

    def copy_records(self, records: tuple[LogRecord, ...], batches: tuple[BatchInfo, ...],
                     transactional_batches: tuple[TransactionalBatch, ...]) -> int:
        """Append ``records`` at their offsets with what the log and the producer state keep
        of them: the idempotent ``batches`` wholly copied, the transactional batches and
        markers (the producers' epochs the markers fence). Returns the new log end offset.
        A follower's copy and a journal's replay both come here."""
        leo = self.broker.append_replica(self.tp.topic, self.tp.partition, records,
                                         transactional_batches)
        for batch in batches:
            if batch.base_offset + batch.count <= leo:
                self.producers.record(batch)
        for batch, marker in copied_transactions(records, transactional_batches):
            if marker is not None:
                self.producers.record_marker(MarkerInfo(
                    batch.producer_id, batch.producer_epoch, marker.offset,
                    marker.coordinator_epoch, marker.timestamp))
        return leo

    def copy_batches(self, stored_batches: tuple[StoredBatch, ...]) -> None:
        """Keep the leader's producers' batches over the records :meth:`append_copy` just
        copied (its fetch lists them), as Kafka's follower appends the leader's batches as
        they are: once this replica leads, a fetch answers the same batches, with the same
        base offsets and codecs."""
        if stored_batches:
            self.broker.copy_replica_batches(self.tp.topic, self.tp.partition, stored_batches)

    def advance_start(self, offset: int) -> bool:
        """Delete the local records below ``offset`` (never past the log end): the leader's
        DeleteRecords, or a follower following its leader's log start. True if it moved."""
        before = self.offsets[0]
        if offset <= before:  # a follower's every fetch asks: most find nothing to delete
            return False
        moved = self.broker.advance_replica_start(self.tp.topic, self.tp.partition,
                                                  offset) > before
        if moved:
            self.trim_epochs()
        return moved

    def trim_epochs(self, start: int | None = None) -> None:
        """Drop the epochs whose records all left from the start of the local log (``start``,
        when the caller has just read it), as Kafka truncates its epoch cache from the start.
        DeleteRecords does it at once; retention, which the local log applies by itself,
        before the cache answers anyone."""
        self.epochs.truncate_from_start(self.offsets[0] if start is None else start)

    def restart_at(self, offset: int) -> None:
        """Empty the local log and continue at the leader's log start (retention moved it)."""
        self.broker.restart_replica_at(self.tp.topic, self.tp.partition, offset)
        self.epochs.truncate_from_end(0)
        self.producers.truncate(0)

    def delete(self) -> None:
        """The broker stops hosting this replica (it was reassigned away, or its topic was
        deleted): the local log is emptied, as Kafka deletes the partition's directory."""
        Replica.restart_at(self, 0)
        self._set_hw(0)

    def _set_hw(self, offset: int) -> None:
        self.broker.set_high_watermark(self.tp.topic, self.tp.partition, offset)
