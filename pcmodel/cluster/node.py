"""A cluster node: one :class:`~pcmodel.topics.broker.Broker` plus its replicas' state.

The node answers the requests other parties send it — a producer's Produce, a consumer's or a
follower's Fetch, a follower's OffsetsForLeaderEpoch — and does its own periodic work: as
follower, fetch from each leader (replication *is* consumption: the same ``Broker.fetch`` a
consumer uses, with the follower's broker id so that it may read past the high watermark); as
leader, drop laggards from the ISR and answer produce requests whose records got committed.

Reachability (killed, isolated, slowed brokers) is the cluster's business: a node's methods
are only called by parties that can reach it. Every method runs with the cluster lock held and
returns at once; waiting (for replication, for data) is done by the caller.

Prior art: Kafka ``ReplicaManager`` (``appendRecords``, ``fetchMessages``), the follower's
``ReplicaFetcherThread`` and ``AbstractFetcherThread`` (truncation, then fetch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from pcmodel.cluster.consumer_group_settings import (
    DEFAULT_CONSUMER_GROUP_SETTINGS,
    DEFAULT_GROUP_SESSION_TIMEOUT_BOUNDS,
)
from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.epochs import EpochEntry
from pcmodel.cluster.errors import (
    FencedLeaderEpochError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    UnknownLeaderEpochError,
)
from pcmodel.cluster.node_replicas import LocalReplicas
from pcmodel.cluster.partition_markers import NodeMarkers
from pcmodel.cluster.producers import BatchInfo
from pcmodel.cluster.purgatory import DelayedProduce, ProduceFuture, ProduceResult
from pcmodel.cluster.replica import Replica
from pcmodel.topics.broker import Broker, FetchError, FetchResult
from pcmodel.topics.broker_log_dirs import IN_MEMORY
from pcmodel.topics.broker_static_configs import ConsumerGroupConfigs
from pcmodel.topics.broker_topics import delete_records_target
from pcmodel.topics.config_resources import AlterConfigOp
from pcmodel.topics.errors import KafkaConnectionError, UnknownTopicOrPartitionError
from pcmodel.topics.group_offsets import DEFAULT_OFFSETS_RETENTION_MINUTES
from pcmodel.topics.idempotence import (
    DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
    DEFAULT_PRODUCER_ID_EXPIRATION_MS,
)
from pcmodel.topics.log import LogRecord
from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.log_transactions import TransactionalBatch
from pcmodel.topics.structs import TopicPartition

__all__ = ["ClusterNode", "ReplicaFetchResponse"]


class ReplicaFetchResponse(NamedTuple):
    """What a leader returns to a follower's fetch: records, its HW, log start and epochs,
    and what its log keeps beside the records: the idempotent producers' ``batches``, the
    ``transactional_batches`` (transactional producers' batches and markers) of the range,
    and ``stored_batches``, the producers' batches the records came in (their edges and
    codecs, :class:`~pcmodel.topics.log_batches.StoredBatch`)."""

    records: tuple[LogRecord, ...]
    high_watermark: int
    log_start_offset: int
    epochs: tuple[EpochEntry, ...]
    error: FetchError | None
    batches: tuple[BatchInfo, ...] = ()
    transactional_batches: tuple[TransactionalBatch, ...] = ()
    stored_batches: tuple[StoredBatch, ...] = ()


class ClusterNode(LocalReplicas, NodeMarkers):
    """Broker ``node_id`` of a cluster. See the module docstring.

    ``alter_isr(tp, leader, epoch, isr) -> PartitionState`` is how the node asks the controller
    to change an ISR; it raises if the controller is unreachable or refuses.
    ``producer_id_expiration_ms`` and ``producer_id_expiration_check_interval_ms`` are Kafka's
    settings of those names: every ``check_interval`` (of ``clock``), and at the first
    :meth:`maintain` after the node starts, each replica forgets the idempotent producers
    whose newest batch is older than the expiration time by the wall clock.
    ``timestamp_clock`` (epoch ms) is the broker's wall clock (the cluster's: see
    :func:`~pcmodel.cluster.clock.wall_clock_on`).
    ``group_initial_rebalance_delay_ms``, ``consumer_group_settings`` (checked, see
    :mod:`pcmodel.cluster.consumer_group_settings`), ``group_session_timeout_bounds`` (the
    broker's ``group_min/max_session_timeout_ms``) and ``offsets_retention_minutes`` are
    handed to the node's :class:`~pcmodel.topics.broker.Broker`.
    """

    def __init__(
        self,
        node_id: int,
        *,
        clock: Callable[[], float],
        timestamp_clock: Callable[[], int] = wall_clock_ms,
        alter_isr: Callable[[TopicPartition, int, int, frozenset[int]], PartitionState],
        replica_lag_time_max: float,
        max_fetch_records: int = 500,
        group_initial_rebalance_delay_ms: int = 0,
        consumer_group_settings: ConsumerGroupConfigs = DEFAULT_CONSUMER_GROUP_SETTINGS,
        group_session_timeout_bounds: tuple[int, int] = DEFAULT_GROUP_SESSION_TIMEOUT_BOUNDS,
        offsets_retention_minutes: int = DEFAULT_OFFSETS_RETENTION_MINUTES,
        replica_factory: Callable[..., Replica] = Replica,
        log_dir: str = IN_MEMORY,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        producer_id_expiration_check_interval_ms: int =
        DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
    ) -> None:
        self.node_id = node_id
        #: The broker's wall clock (epoch ms): record timestamps, commit and expiry dates.
        self.timestamp_clock = timestamp_clock
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self._producers_check_interval = producer_id_expiration_check_interval_ms / 1000
        # Due at the first maintain(): a restarted broker forgets at once the producers its
        # journals remember that expired meanwhile, as Kafka skips them when it loads them.
        self._producers_checked_at = float("-inf")
        #: When the leaders' next ISR shrink check is due (Kafka's ``isr-expiration`` task:
        #: at start, then every half lag limit, on a fixed rate).
        self._isr_check_at = float("-inf")
        #: Where this broker keeps its replicas' logs (a broker process: its journals).
        self.log_dir = log_dir
        # The cluster runs the offsets-retention check (it tombstones what expires in the
        # offsets topic): the broker never runs it by itself.
        self.broker = Broker(clock=clock, timestamp_clock=timestamp_clock,
                             group_initial_rebalance_delay_ms=group_initial_rebalance_delay_ms,
                             offsets_retention_minutes=offsets_retention_minutes,
                             offsets_retention_check_interval_ms=None,
                             group_min_session_timeout_ms=group_session_timeout_bounds[0],
                             group_max_session_timeout_ms=group_session_timeout_bounds[1],
                             **consumer_group_settings._asdict())
        #: Builds each hosted replica: ``replica_factory(node_id, broker, tp, config)`` (a broker
        #: process passes one whose replicas keep their log in a file).
        self.replica_factory = replica_factory
        self.replicas: dict[TopicPartition, Replica] = {}
        self.alive = True
        #: Seconds each of this broker's replica fetches takes (``Cluster.slow``).
        self.slowness = 0.0
        self.next_fetch_at = 0.0
        self._clock = clock
        self._alter_isr = alter_isr
        self._lag_max = replica_lag_time_max
        self._max_fetch = max_fetch_records
        self._waiting: list[DelayedProduce] = []
        #: How often a high watermark led here moved (wakes consumers waiting for data).
        self.hw_moves = 0
        #: The brokers fenced or shutting down, as the controller last told this one (Kafka's
        #: metadata cache): its leaders neither wait for nor add their replicas to the ISR.
        self.ineligible: frozenset[int] = frozenset()

    def __repr__(self) -> str:
        led = sum(r.is_leader for r in self.replicas.values())
        return f"<ClusterNode {self.node_id} {'alive' if self.alive else 'dead'} " \
            f"replicas={len(self.replicas)} leading={led}>"

    # --- setup and role changes -----------------------------------------------------------------

    def add_replicas(self, name: str, count: int, tps: Sequence[TopicPartition],
                     config: TopicConfig, **topic_settings) -> None:
        """Create topic ``name`` (``count`` partitions) on the local broker, and a replica for
        each partition hosted here; the other local logs stay empty."""
        # The controller judged the name: no local topic may refuse it as colliding (a.b and
        # a_b that one request created both exist, as in Kafka).
        self.broker.create_topic(name, count, created_with=self.broker.topic_ids(),
                                 **topic_settings)
        for p in range(count):
            self.broker.set_high_watermark(name, p, 0)  # nothing committed yet
        for tp in tps:
            self.replicas[tp] = self.replica_factory(self.node_id, self.broker, tp, config)

    def reconfigure_topic(self, name: str, config: TopicConfig,
                          overrides: Mapping[str, str]) -> None:
        """Topic ``name``'s settings changed: its replicas here take ``config``, its local
        log the topic's configs ``overrides`` (a new ``retention.ms`` applies to the records
        already there, a new ``message.timestamp.type`` to the next appends)."""
        for tp, replica in self.replicas.items():
            if tp.topic == name:
                replica.config = config
        self.broker.alter_topic_configs(
            name, [(key, AlterConfigOp.SET, value) for key, value in overrides.items()],
            incremental=False)

    def remove_topic(self, name: str) -> None:
        """Delete topic ``name`` here: its replicas, its local log; waiting produces fail."""
        for tp in [tp for tp in self.replicas if tp.topic == name]:
            self._fail_waiting(tp, UnknownTopicOrPartitionError(f"topic {name!r} was deleted"))
            self.replicas.pop(tp).delete()
        self.broker.delete_topic(name)

    def add_replica(self, tp: TopicPartition, config: TopicConfig) -> None:
        """Host a replica of ``tp`` from now on (a reassignment added this broker); it starts
        empty and catches up as a follower once it learns the leader. Nothing if hosted."""
        if tp not in self.replicas:
            self.replicas[tp] = self.replica_factory(self.node_id, self.broker, tp, config)

    def remove_replica(self, tp: TopicPartition) -> None:
        """Stop hosting ``tp`` (a reassignment removed this broker): the replica and its local
        records go, waiting produces fail. Nothing if not hosted."""
        if tp in self.replicas:
            self._fail_waiting(tp, NotLeaderForPartitionError(
                f"broker {self.node_id} no longer hosts {tp.topic}-{tp.partition}: it was "
                "reassigned"))
            self.replicas.pop(tp).delete()

    def add_partitions(self, name: str, total: int, tps: Sequence[TopicPartition],
                       config: TopicConfig) -> None:
        """Grow topic ``name`` to ``total`` partitions here; replicas for ``tps`` hosted here
        (those already hosted keep theirs, with their state)."""
        before = self.broker.list_topics()[name]
        self.broker.add_partitions(name, total)
        for p in range(before, total):
            self.broker.set_high_watermark(name, p, 0)  # nothing committed yet
        for tp in tps:
            self.add_replica(tp, config)

    def apply_state(self, tp: TopicPartition, state: PartitionState) -> None:
        """LeaderAndIsr from the controller; a lost leadership fails the waiting produces, a
        state without this broker among the replicas removes the replica."""
        replica = self.replicas.get(tp)
        if replica is None:
            return
        # The controller takes a replica out of the ISR only when its broker is fenced or
        # shutting down (a leader's own changes arrive through _leader_maintenance): the
        # leader stops waiting for it, as Kafka's waits only for eligible replicas.
        taken_out = replica.state.isr - state.isr if replica.state is not None else ()
        if self._take_state(replica, state) and replica.is_leader:
            replica.forget_followers(taken_out)
            self._leader_maintenance(replica)

    def crash(self) -> None:
        """The process died: waiting produces get a broken connection; logs stay (on disk)."""
        self.alive = False
        for waiting in self._waiting:
            waiting.future.set_exception(KafkaConnectionError(
                f"broker {self.node_id} died before answering: the outcome is unknown"))
        self._waiting.clear()
        for replica in self.replicas.values():
            replica.state = None  # a restarted broker learns its roles again
            replica.followers = {}
        self._producers_checked_at = float("-inf")  # a restart checks its producers at once
        self._isr_check_at = float("-inf")  # and starts its ISR checks again

    # --- requests --------------------------------------------------------------------------------

    def produce(self, tp: TopicPartition, records: Sequence, acks: int | str,
                timeout: float, future: ProduceFuture,
                producer: tuple[int, int, int] | None = None,
                compression: str | None = None, batch_bytes: int | None = None,
                transactional: bool = False) -> None:
        """Append as leader; answer ``future`` now (acks 0/1) or when committed (``"all"``).

        ``producer`` is ``(producer_id, producer_epoch, first_sequence)`` for an idempotent
        producer: a batch this replica already has is not appended again, and is answered
        with its original offsets (once they are committed, for ``acks="all"``).
        ``transactional`` appends it to the producer's transaction (see
        :meth:`Replica.append_as_leader <pcmodel.cluster.replica.Replica.append_as_leader>`).
        Raises ``NotLeaderForPartitionError``, ``NotEnoughReplicasError`` (``acks="all"`` and
        the ISR is smaller than ``min_insync_replicas``: nothing appended),
        ``OutOfOrderSequenceNumberError``, ``InvalidProducerEpochError``,
        ``InvalidTxnStateError``; later, on ``future``,
        ``NotEnoughReplicasAfterAppendError`` or ``RequestTimedOutError``.
        """
        replica = self._leader_replica(tp)
        state = replica.state
        assert state is not None
        min_isr = replica.min_isr
        count = len(records)
        # Before the producer's sequence numbers, as Kafka's Partition.appendRecordsToLeader:
        # a pipelining producer whose batches are all refused as retriable retries them in
        # order, where an out-of-order verdict on the second would make it start over with a
        # new epoch (and store the first again).
        if acks == "all" and len(state.isr) < min_isr:
            raise NotEnoughReplicasError(
                f"{tp}: the ISR {sorted(state.isr)} has fewer than min_insync_replicas="
                f"{min_isr} replicas; nothing was written"
            )
        repeated = None
        if producer is not None:
            repeated = replica.producers.check(producer[0], producer[1], producer[2], count)
        if repeated is not None:
            base, append_time = repeated.base_offset, repeated.log_append_time
        else:
            appended = replica.append_as_leader(records, compression, producer, batch_bytes,
                                                transactional)
            base, append_time = appended.base_offset, appended.log_append_time_ms
        result = ProduceResult(tp.topic, tp.partition, -1 if acks == 0 else base, count,
                               self.node_id, state.leader_epoch, append_time)
        self._answer(replica, base, result, acks == "all", timeout, future)

    def fetch(self, offsets: dict[TopicPartition, int], max_records: int,
              isolation_level: str = "read_uncommitted",
              whole_batches: bool = False) -> dict[TopicPartition, FetchResult]:
        """A consumer's fetch: below the HW, or with ``isolation_level="read_committed"``
        below the last stable offset, with the transactions the consumer needs to drop
        aborted records; with ``whole_batches`` (a Kafka listener's) in whole producers'
        batches, from the start of the one holding each offset (see ``Broker.fetch``).
        Raises ``NotLeaderForPartitionError``."""
        for tp in offsets:
            self._leader_replica(tp)
        return self.broker.fetch(offsets, max_records=max_records, timeout=0,
                                 isolation_level=isolation_level, whole_batches=whole_batches)

    def delete_records_as_leader(self, tp: TopicPartition, offset: int) -> int:
        """DeleteRecords: delete the records below ``offset`` (``-1``: the high watermark)
        and move the log start there; followers follow at their next fetch. Returns the
        offset. Raises ``NotLeaderForPartitionError``, ``UnknownTopicOrPartitionError``,
        ``OffsetOutOfRangeError`` (below ``-1`` or beyond the high watermark)."""
        replica = self._leader_replica(tp)
        target = delete_records_target(tp, offset, replica.high_watermark)
        replica.advance_start(target)
        return target

    def replica_fetch(self, follower: int, tp: TopicPartition, fetch_offset: int,
                      leader_epoch: int) -> ReplicaFetchResponse:
        """A follower's fetch: records from ``fetch_offset`` up to the log end.

        Updates what the leader knows of the follower (its LEO, caught-up time), then the ISR
        and the HW. Raises ``NotLeaderForPartitionError``, ``FencedLeaderEpochError`` (the
        follower's epoch is older), ``UnknownLeaderEpochError`` (newer: this leader is behind).
        """
        replica = self._leader_replica(tp, leader_epoch)
        start, leo, _ = replica.offsets
        replica.trim_epochs(start)
        if not start <= fetch_offset <= leo:
            return ReplicaFetchResponse((), replica.high_watermark, start, (),
                                        FetchError.OFFSET_OUT_OF_RANGE)
        # Whole batches, so that the follower copies them with their edges; a fetch from
        # inside a batch gets it from its start, and the follower takes only what it lacks.
        fetched = self.broker.fetch({tp: fetch_offset}, max_records=self._max_fetch,
                                    timeout=0, replica_id=follower, whole_batches=True)[tp]
        records = fetched.records
        if records and records[0].offset < fetch_offset:
            records = tuple(r for r in records if r.offset >= fetch_offset)
        replica.record_follower_fetch(follower, fetch_offset, self._clock())
        self._leader_maintenance(replica, fetched=follower)
        end = records[-1].offset + 1 if records else fetch_offset
        return ReplicaFetchResponse(records, replica.high_watermark, start,
                                    replica.epochs.entries, None,
                                    replica.producers.batches_from(fetch_offset, end),
                                    fetched.transactional_batches,
                                    tuple(b for b in fetched.batches
                                          if b.last_offset >= fetch_offset))

    def offsets_for_leader_epoch(self, tp: TopicPartition, epoch: int,
                                 leader_epoch: int | None) -> tuple[int, int]:
        """Where ``epoch`` ends in the leader's log (KIP-101's OffsetsForLeaderEpoch);
        ``leader_epoch=None`` skips the check of the asker's current leader epoch."""
        replica = self._leader_replica(tp, leader_epoch)
        replica.trim_epochs()
        return replica.epochs.end_offset_for(epoch, replica.leo)

    def epoch_of_offset(self, tp: TopicPartition, offset: int) -> int:
        """The leader epoch in which the leader's record at ``offset`` was written (its epoch
        cache; ``-1`` below the first entry), as ListOffsets answers it for an offset found
        in the log. Raises as :meth:`offsets_for_leader_epoch` unless this broker leads."""
        replica = self._leader_replica(tp, None)
        replica.trim_epochs()
        return replica.epochs.epoch_at(offset)

    # --- periodic work ---------------------------------------------------------------------------

    def maintain(self) -> None:
        """Leader duties: the high watermarks, expire produce requests that waited too long,
        and once the check is due (every ``replica_lag_time_max / 2``, as Kafka's
        ``ReplicaManager`` schedules ``maybeShrinkIsr``) drop laggards from the ISRs, so a
        stuck follower leaves 1 to 1.5 lag limits after its last catch-up; and every
        replica's: forget expired producers once that check is due."""
        now = self._clock()
        if now - self._producers_checked_at >= self._producers_check_interval:
            self._producers_checked_at = now
            self.expire_producers()
        shrink = self._isr_check_due(now)
        for replica in list(self.replicas.values()):  # an ISR change may remove one
            if replica.is_leader:
                self._leader_maintenance(replica, shrink=shrink)
        still = []
        for waiting in self._waiting:
            if now >= waiting.deadline:
                waiting.future.set_exception(RequestTimedOutError(
                    f"{waiting.tp}: offsets {waiting.base}..{waiting.required - 1} were not "
                    f"replicated to the ISR in time (they may still be committed later)"))
            else:
                still.append(waiting)
        self._waiting = still

    def followed(self) -> list[Replica]:
        """The replicas this node follows, with a known leader, in a fixed order."""
        return [r for tp, r in sorted(self.replicas.items())
                if r.state is not None and r.state.leader not in (None, self.node_id)]

    # --- internals -------------------------------------------------------------------------------

    def _local_replica(self, tp: TopicPartition) -> Replica:
        replica = self.replicas.get(tp)
        if replica is None:
            if tp.topic in self.broker.list_topics():
                raise NotLeaderForPartitionError(f"broker {self.node_id} holds no replica of {tp}")
            raise UnknownTopicOrPartitionError(f"broker {self.node_id} knows no partition {tp}")
        return replica

    def _leader_replica(self, tp: TopicPartition, leader_epoch: int | None = None) -> Replica:
        replica = self._local_replica(tp)
        if not replica.is_leader:
            raise NotLeaderForPartitionError(
                f"broker {self.node_id} is not the leader of {tp}; refresh metadata and retry")
        if leader_epoch is not None and leader_epoch != replica.leader_epoch:
            error = FencedLeaderEpochError if leader_epoch < replica.leader_epoch \
                else UnknownLeaderEpochError
            raise error(f"{tp}: request epoch {leader_epoch}, leader {self.node_id} has "
                        f"{replica.leader_epoch}")
        return replica

    def _answer(self, replica: Replica, base: int, result: ProduceResult, wait: bool,
                timeout: float, future: ProduceFuture) -> None:
        """Answer a write appended at ``base`` (``result.count`` records): now, or with
        ``wait`` once the high watermark passes it (in the purgatory until then)."""
        state = replica.state
        assert state is not None
        self._leader_maintenance(replica)
        if not wait:
            future.set_result(result)
            return
        waiting = DelayedProduce(replica.tp, base, base + result.count, state.leader_epoch,
                                 self._clock() + timeout, future, result)
        if not waiting.try_complete(replica.high_watermark, len(state.isr), replica.min_isr):
            self._waiting.append(waiting)

    def _isr_check_due(self, now: float) -> bool:
        """Whether the periodic ISR shrink check is due at ``now``; if so, schedule the next
        on the same fixed-rate grid (missed ones are not run twice)."""
        period = self._lag_max / 2
        if now < self._isr_check_at - 1e-9:  # a float's rounding is not a missed check
            return False
        if self._isr_check_at == float("-inf"):
            self._isr_check_at = now
        missed = int((now - self._isr_check_at) / period + 1e-9)
        self._isr_check_at += (missed + 1) * period
        return True

    def _leader_maintenance(self, replica: Replica, fetched: int | None = None,
                            shrink: bool = False) -> None:
        """The leader's checks: the ISR (``fetched``: the follower whose fetch this is may
        join; with ``shrink``, the periodic check, laggards leave), then the high watermark
        and the produces waiting for it."""
        state = replica.state
        assert state is not None
        wanted = replica.desired_isr(self._clock(), self._lag_max, fetched, self.ineligible,
                                     shrink)
        if wanted != state.isr:
            try:
                new = self._alter_isr(replica.tp, self.node_id, state.leader_epoch, wanted)
            except (KafkaConnectionError, NotLeaderForPartitionError, FencedLeaderEpochError):
                pass  # the controller is unreachable or moved on: the next LeaderAndIsr says
            else:
                # The ISR change may have completed a reassignment that moves the leadership
                # elsewhere, or this replica out of the partition.
                if not self._take_state(replica, new):
                    return
        if replica.is_leader:
            if replica.maybe_increment_hw(self._clock(), self._lag_max, self.ineligible):
                self.hw_moves += 1
            self._complete_waiting(replica)

    def _take_state(self, replica: Replica, state: PartitionState) -> bool:
        """Apply ``state`` to ``replica``; False if it removed the replica."""
        if self.node_id not in state.replicas:
            self.remove_replica(replica.tp)
            return False
        if replica.apply_state(state, self._clock()) and not replica.is_leader:
            self._fail_waiting(replica.tp, NotLeaderForPartitionError(
                f"broker {self.node_id} lost the leadership of {replica.tp} while the produce "
                "waited"))
        return True

    def _complete_waiting(self, replica: Replica) -> None:
        if not self._waiting:
            return
        assert replica.state is not None
        hw, isr = replica.high_watermark, len(replica.state.isr)
        min_isr = replica.min_isr
        self._waiting = [w for w in self._waiting
                         if w.tp != replica.tp or not w.try_complete(hw, isr, min_isr)]

    def _fail_waiting(self, tp: TopicPartition, error: Exception) -> None:
        for waiting in self._waiting:
            if waiting.tp == tp:
                waiting.future.set_exception(error)
        self._waiting = [w for w in self._waiting if w.tp != tp]
