"""The broker side of one broker of a replicated cluster, for its Kafka listener's handlers.

:class:`NodeConnection` is pcmodel's :class:`~pcmodel.cluster.client.ClusterConnection` (groups,
committed offsets, topics: the same requests pcmodel's clients send, through any broker) except
that produce, fetch, offset lookups, DeleteRecords and WriteTxnMarkers go to *this* broker,
which answers NOT_LEADER_OR_FOLLOWER for partitions it does not lead instead of routing them to
the leader: following leaders is the client's job. Its companion, the handlers' view of the
cluster, is :class:`~pcmodel.wire.cluster_view.ClusterNodeView`.

Transactions run as on a Kafka cluster. A transactional id's coordinator is the leader of the
id's partition of the replicated ``__transaction_state`` topic
(:mod:`pcmodel.cluster.transaction_log`, created at the first FindCoordinator for a
transactional id; Metadata lists it as an internal topic from then on):

- FindCoordinator for a transactional id names that leader, or answers
  COORDINATOR_NOT_AVAILABLE (retriable) while the partition has no live leader.
- InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and
  DescribeTransactions are answered by the coordinator; any other broker answers
  NOT_COORDINATOR (16) at once, as Kafka's ``TransactionCoordinator`` does. TxnOffsetCommit
  goes to the *group's* coordinator, as in Kafka, and is answered NOT_COORDINATOR elsewhere.
  ListTransactions lists the ids this broker coordinates (an admin client asks every broker).
- A transactional batch is appended by the partition's leader (NOT_LEADER_OR_FOLLOWER
  elsewhere, checked first) once the coordinator confirms that the producer's ongoing
  transaction holds the partition (Kafka's KIP-890 verification), else INVALID_TXN_STATE.
  If the coordinator cannot tell now, the batch is answered NOT_ENOUGH_REPLICAS, retriable:
  Kafka's ``ReplicaManager`` answers that too, since older clients do not retry the
  coordinator errors at a produce.
- Fetch at ``read_committed`` reads below this leader's last stable offset and sends the
  aborted transactions of what it read; ListOffsets at ``read_committed`` answers the last
  stable offset; OffsetFetch with ``require_stable`` answers UNSTABLE_OFFSET_COMMIT
  (retriable) while a transaction has staged an offset of the partition for the group.
- When the coordinator's broker dies, its listener closes: the client's request fails, it
  asks FindCoordinator again and retries at the new leader of the partition, which loaded the
  coordinator's state from the log; the transaction carries on there. (librdkafka does;
  kafka-python 3.0.12 instead loses a request it was about to send to a coordinator that
  refuses the connection, and its transaction waits for that request until the producer's
  ``delivery_timeout_ms`` has passed.)

Kafka 4's consumer groups (KIP-848) are answered the same way: ConsumerGroupHeartbeat and
ConsumerGroupDescribe only by the group's coordinator (the leader of its ``__consumer_offsets``
partition), NOT_COORDINATOR elsewhere, COORDINATOR_NOT_AVAILABLE while the partition has no
leader and COORDINATOR_LOAD_IN_PROGRESS while the new leader loads it
(:mod:`pcmodel.cluster.client_consumer_groups`); ListGroups lists the consumer groups this
broker coordinates.

Why NOT_COORDINATOR rather than answering at any broker through the cluster connection (which
would route the call to the coordinator, waiting up to 30 seconds for one): kafka-python and
librdkafka both handle NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE at every transactional
request the same way, by asking FindCoordinator again and retrying, so a quick "not here" costs
a round trip. A request held while the cluster elects a coordinator costs more: kafka-python's
transaction manager takes a request that times out on the client's side
(``request_timeout_ms``, 30 seconds) as a fatal error, and the producer is unusable after it.
So no broker waits for another broker's coordinator on a client's behalf, and clients see the
answers a Kafka cluster gives.

Prior art: Kafka's ``KafkaApis`` (``handleProduceRequest``, ``handleFetchRequest``) over
``ReplicaManager`` (its ``appendRecords`` maps the coordinator errors of a transactional
batch's verification to NOT_ENOUGH_REPLICAS), ``MetadataCache.getTopicMetadata``, and
``TransactionStateManager.getTransactionState`` (NOT_COORDINATOR for an id whose partition
this broker does not lead).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pcmodel.cluster.client import ClusterConnection
from pcmodel.cluster.errors import (
    LeaderNotAvailableError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.topics.broker import AppendResult, FetchResult
from pcmodel.topics.broker_checks import _check_flag, _check_list, _check_mapping
from pcmodel.topics.broker_transactions import _check_transactional_id
from pcmodel.topics.consumer_group_errors import CoordinatorLoadInProgressError
from pcmodel.topics.errors import (
    CoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    NotCoordinatorError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.structs import (
    DeletedRecords,
    LogDirDescription,
    OffsetAndTimestamp,
    PartitionProducers,
    TopicPartition,
    validate_topic_partition,
)
from pcmodel.topics.transactions import DescribedTransaction, TransactionListing, check_states
from pcmodel.wire.api import CloseConnection
from pcmodel.wire.node_metadata import NodeMetadata

__all__ = ["NodeConnection"]


class NodeConnection(NodeMetadata, ClusterConnection):
    """Broker ``node_id``'s side of a cluster, for its Kafka listener's handlers.

    Produce, fetch, offset lookups, DeleteRecords and WriteTxnMarkers are served by this broker
    alone and raise ``NotLeaderForPartitionError`` (NOT_LEADER_OR_FOLLOWER) for a partition it
    does not lead, and :class:`~pcmodel.wire.api.CloseConnection` once the broker is killed (a
    crashed broker answers nothing). The transactional calls are served only if this broker is
    the coordinator (``NotCoordinatorError`` otherwise, ``CoordinatorNotAvailableError`` while
    there is none). Topics, partitions and the controller's id are this broker's own view
    (:class:`~pcmodel.wire.node_metadata.NodeMetadata`, stale while it is cut off from the
    controller). Everything else is :class:`~pcmodel.cluster.client.ClusterConnection`'s.
    """

    def __init__(self, connection: ClusterConnection, node_id: int) -> None:
        super().__init__(connection._cluster, connection._offsets)
        self.node_id = node_id

    def __repr__(self) -> str:
        return f"<NodeConnection broker={self.node_id} of {self._cluster!r}>"

    # --- metadata -----------------------------------------------------------------------------

    def internal_topics(self) -> dict[str, int]:
        """The internal topics Metadata lists, with their partition counts:
        ``__consumer_offsets``, and ``__transaction_state`` once the first transactional id
        created it (as Kafka creates it at the first FindCoordinator for one)."""
        topics = {OFFSETS_TOPIC: self._offsets.partitions}
        log = self._cluster.transaction_log(create=False)
        if log is not None:
            topics[TRANSACTION_TOPIC] = log.partitions
        return topics

    def group_states(self) -> dict[str, Any]:
        """Kafka's ListGroups: the groups this broker coordinates (a client lists a cluster's
        groups by asking every broker, as kafka-python's ``list_groups`` does)."""
        return self._coordinated_states(self.node_id)

    def consumer_group_states(self) -> dict[str, str]:
        """ListGroups' consumer groups: those this broker coordinates (see
        :meth:`group_states`)."""
        return self._coordinated_consumer_states(self.node_id)

    def _consumer_group_coordinator(self, group_id: str) -> Any:
        """This broker, if it coordinates ``group_id`` and has loaded its offsets partition,
        for ConsumerGroupHeartbeat and ConsumerGroupDescribe, which Kafka answers only at the
        coordinator: ``NotCoordinatorError`` / ``CoordinatorNotAvailableError`` as
        :meth:`_check_coordinator`, ``CoordinatorLoadInProgressError`` while it loads (all
        retriable: the client asks FindCoordinator again)."""
        self._check_coordinator(self._offsets.coordinator(group_id), f"group {group_id!r}")
        try:
            self._offsets.load(group_id)
        except LeaderNotAvailableError as exc:
            raise CoordinatorLoadInProgressError(
                f"broker {self.node_id} is loading the state of group {group_id!r}: "
                f"{exc}; retry") from None
        return self._cluster.nodes[self.node_id].broker

    def all_committed(self, group_id: str) -> dict[TopicPartition, Any]:
        """Every committed offset of ``group_id`` (OffsetFetch for all partitions), from the
        replicated offsets topic: a new coordinator knows them even if it never saw the group."""
        every = [TopicPartition(topic, p) for topic, count in self.list_topics().items()
                 for p in range(count)]
        return {tp: v for tp, v in self.committed(group_id, every).items() if v is not None}

    # --- what this broker serves as leader ----------------------------------------------------

    def fetch(self, offsets: Mapping[TopicPartition, int], *, max_records: int = 500,
              timeout: float = 0.0, isolation_level: str = "read_uncommitted",
              whole_batches: bool = False) -> dict[TopicPartition, FetchResult]:
        """Read committed records (below the high watermark) of partitions this broker leads;
        at ``read_committed`` only below the last stable offset, with the transactional
        batches and the aborted transactions of the records read, as this leader's log has
        them. With ``whole_batches`` (what the Kafka listener asks) each partition answers
        the producers' batches as this leader stores them, from the start of the one holding
        its offset (see ``Broker.fetch``).

        Long-polls up to ``timeout`` seconds for records. A partition this broker does not
        lead (or no longer leads, or cannot serve because it is down) is left out of the
        answer, which returns at once then: the caller tells the client to find the leader.
        Raises ``IllegalArgumentError`` for an unknown isolation level, ``TypeError`` for
        ``offsets`` that are not a mapping.
        """
        check_isolation_level(isolation_level)
        _check_mapping("offsets", offsets, "TopicPartition to int")
        deadline = time.monotonic() + timeout
        while True:
            version = self._cluster.change_count()
            results: dict[TopicPartition, FetchResult] = {}
            budget = max_records
            for tp, offset in offsets.items():
                try:
                    found = self._cluster.fetch(self.node_id, {tp: offset}, max(1, budget),
                                                isolation_level, whole_batches)
                except KafkaError:
                    continue  # not the leader (any more), or this broker is down
                results.update(found)
                budget -= len(found[tp].records)
            self._check_alive()
            if len(results) < len(offsets) or any(r.records or r.error
                                                  for r in results.values()):
                return results
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return results
            self._cluster.await_change(version, remaining)

    def append_idempotent(self, topic: str, partition: int, records: Sequence, *,
                          producer_id: int, producer_epoch: int, first_sequence: int,
                          timeout: float | None = None, acks: int | str = "all",
                          compression: str | None = None, batch_bytes: int | None = None,
                          transactional: bool = False) -> AppendResult:
        """An idempotent producer's batch, appended by this broker if it leads the partition.

        A transactional one (``transactional=True``) is checked in Kafka's order: leadership
        first (``NotLeaderForPartitionError``), then the coordinator's word that the
        producer's ongoing transaction holds the partition (``InvalidTxnStateError``, nothing
        appended); ``NotEnoughReplicasError`` (retriable) while the coordinator cannot tell.
        """
        _check_flag("transactional", transactional)
        if transactional:
            tp = validate_topic_partition((topic, partition))
            self._check_alive()
            self._led(tp)
            try:
                self._check_in_transaction(producer_id, producer_epoch, tp)
            except CoordinatorNotAvailableError as exc:
                # Kafka's ReplicaManager answers this too: a produce error every client
                # retries, where a coordinator error at a produce is one some do not.
                raise NotEnoughReplicasError(
                    f"{tp}: the transaction of producer {producer_id} cannot be verified "
                    f"now ({exc.args[0] if exc.args else exc}); retry") from exc
        return self._produce(topic, partition, records, timeout, acks,
                             (producer_id, producer_epoch, first_sequence), compression,
                             batch_bytes, transactional=transactional)

    def epoch_of_offset(self, tp: TopicPartition, offset: int) -> int:
        """The epoch in which this broker, the leader, wrote the record at ``offset``."""
        return self._cluster.epoch_of_offset(self.node_id, tp.topic, tp.partition, offset)

    def end_offset_for_epoch(self, tp: TopicPartition, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch on this broker: ``(largest epoch <= epoch, its end offset)``."""
        return self._cluster.end_offset_for_epoch(self.node_id, tp.topic, tp.partition, epoch)

    def _epochs_source(self, tp: TopicPartition) -> tuple[int, int]:
        """A fetch's epochs are this broker's own, with the leader epoch it was told."""
        state = self.told_state(tp)
        return self.node_id, -1 if state is None else state.leader_epoch

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict:
        """Each partition's log start offset, if this broker leads it."""
        return {tp: self._led(tp).beginning_offsets([tp])[tp]
                for tp in map(TopicPartition._make, partitions)}

    def end_offsets(self, partitions: Iterable[TopicPartition], *,
                    isolation_level: str = "read_uncommitted") -> dict:
        """Each partition's high watermark, or at ``read_committed`` its last stable offset
        (the first offset of the oldest transaction still open, at most the high watermark),
        if this broker leads it."""
        check_isolation_level(isolation_level)
        return {tp: self._led(tp).end_offsets([tp], isolation_level=isolation_level)[tp]
                for tp in map(TopicPartition._make, partitions)}

    def offsets_for_times(self, timestamps: Mapping[TopicPartition, int]
                          ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The first committed record at or after each time, if this broker leads the
        partition (its broker finds none above the high watermark), with the epoch this
        broker wrote it in. ``TypeError`` for ``timestamps`` that are not a mapping."""
        out: dict[TopicPartition, OffsetAndTimestamp | None] = {}
        for tp, ts in _check_mapping("timestamps", timestamps, "TopicPartition to int").items():
            tp = TopicPartition._make(tp)
            out[tp] = self._with_written_epoch(tp, self._led(tp).offsets_for_times({tp: ts})[tp])
        return out

    def max_timestamp_offsets(self, partitions: Iterable[TopicPartition]
                              ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The first record with the largest timestamp, if this broker leads the partition
        (``None`` if that record is not below the high watermark)."""
        return {tp: self._led(tp).max_timestamp_offsets([tp])[tp]
                for tp in map(TopicPartition._make, partitions)}

    def delete_records(self, offsets: Mapping[TopicPartition, int],
                       timeout: float | None = None) -> dict[TopicPartition, DeletedRecords]:
        """DeleteRecords for the partitions this broker leads (and its wait for the
        followers: see ``ClusterConnection.delete_records``); NOT_LEADER_OR_FOLLOWER for the
        others, which the client sends to their leaders; ``TypeError`` for non-mapping offsets."""
        offsets = _check_mapping("offsets", offsets, "TopicPartition to int")
        asked = {TopicPartition._make(tp): offset for tp, offset in offsets.items()}
        results: dict[TopicPartition, DeletedRecords] = {}
        for tp in asked:
            try:
                self._led(tp)
            except KafkaError as exc:
                results[tp] = DeletedRecords(-1, exc)
        results.update(super().delete_records(
            {tp: offset for tp, offset in asked.items() if tp not in results}, timeout))
        return {tp: results[tp] for tp in asked}

    def describe_producers(self, partitions: Iterable[TopicPartition],
                           broker_id: int | None = None,
                           ) -> dict[TopicPartition, PartitionProducers]:
        """DescribeProducers answered by this broker's own replicas, leader or follower
        (NOT_LEADER_OR_FOLLOWER where it holds none), as a Kafka broker answers it."""
        return super().describe_producers(partitions, self.node_id)

    def describe_log_dirs(self, partitions: Iterable[TopicPartition] | None = None,
                          broker_id: int | None = None) -> tuple[LogDirDescription, ...]:
        """DescribeLogDirs answered by this broker: its own log directory and replicas."""
        return super().describe_log_dirs(partitions, self.node_id)

    def alter_replica_log_dirs(self, targets: Mapping[TopicPartition, str],
                               broker_id: int | None = None,
                               ) -> dict[TopicPartition, KafkaError | None]:
        """AlterReplicaLogDirs answered by this broker, for its own replicas."""
        return super().alter_replica_log_dirs(targets, self.node_id)

    def write_txn_marker(self, topic: str, partition: int, producer_id: int,
                         producer_epoch: int, commit: bool, coordinator_epoch: int = 0) -> int:
        """WriteTxnMarkers for one partition, if this broker leads it
        (``NotLeaderForPartitionError`` otherwise, ``UnknownTopicOrPartitionError`` if the
        cluster has no such partition): the marker is written and its offset returned once
        every in-sync replica has it, as ``ClusterConnection.write_txn_marker``. Leadership
        is checked here and again where the marker is appended, so a leader that loses the
        partition in between refuses it too, as Kafka's does."""
        tp = validate_topic_partition((topic, partition))
        self._check_alive()
        self._led(tp)
        return super().write_txn_marker(tp.topic, tp.partition, producer_id, producer_epoch,
                                        commit, coordinator_epoch)

    def _write_marker(self, tp: TopicPartition, producer_id: int, producer_epoch: int,
                      commit: bool, coordinator_epoch: int, broker: int | None = None) -> int:
        # ``broker`` is ignored: this connection always writes at its own broker.
        try:
            return super()._write_marker(tp, producer_id, producer_epoch, commit,
                                         coordinator_epoch, broker=self.node_id)
        except KafkaConnectionError:
            self._check_alive()
            raise
        except TimeoutError:
            raise RequestTimedOutError(f"{tp}: the marker was not answered in time") from None

    # --- transactions: answered by the coordinator only ---------------------------------------

    def init_producer_id(self, producer_id: int = -1, producer_epoch: int = -1, *,
                         transactional_id: str | None = None,
                         transaction_timeout_ms: int = 60_000) -> tuple[int, int]:
        """A new idempotent producer id (any broker hands one out), or with a
        ``transactional_id`` the id's producer id and epoch, if this broker is its
        coordinator (``NotCoordinatorError`` otherwise); errors as
        ``ClusterConnection.init_producer_id``."""
        if transactional_id is not None:
            self._coordinate(transactional_id)
        return super().init_producer_id(producer_id, producer_epoch,
                                        transactional_id=transactional_id,
                                        transaction_timeout_ms=transaction_timeout_ms)

    def add_partitions_to_txn(self, transactional_id: str, producer_id: int,
                              producer_epoch: int, partitions: Iterable[TopicPartition]) -> None:
        """AddPartitionsToTxn, if this broker coordinates ``transactional_id``."""
        self._coordinate(transactional_id)
        super().add_partitions_to_txn(transactional_id, producer_id, producer_epoch, partitions)

    def add_offsets_to_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                           group_id: str) -> None:
        """AddOffsetsToTxn, if this broker coordinates ``transactional_id``."""
        self._coordinate(transactional_id)
        super().add_offsets_to_txn(transactional_id, producer_id, producer_epoch, group_id)

    def end_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                commit: bool) -> None:
        """EndTxn, if this broker coordinates ``transactional_id``."""
        self._coordinate(transactional_id)
        super().end_txn(transactional_id, producer_id, producer_epoch, commit)

    def txn_offset_commit(self, transactional_id: str, group_id: str, producer_id: int,
                          producer_epoch: int, offsets: Mapping[TopicPartition, Any],
                          *, generation: int = -1, member_id: str = "",
                          group_instance_id: str | None = None) -> None:
        """TxnOffsetCommit, if this broker coordinates ``group_id`` (the group's coordinator
        takes it, as in Kafka: ``NotCoordinatorError`` elsewhere).
        ``CoordinatorNotAvailableError`` while the transaction has no coordinator, rather than
        holding the request until one is elected. ``TypeError`` for non-mapping ``offsets``."""
        _check_transactional_id(transactional_id)
        _check_mapping("offsets", offsets, "TopicPartition to OffsetAndMetadata or int")
        self._check_coordinator(self._offsets.coordinator(group_id), f"group {group_id!r}")
        if self._cluster.transaction_log().coordinator(transactional_id) is None:
            raise CoordinatorNotAvailableError(
                f"transactional id {transactional_id!r} has no coordinator right now; retry")
        super().txn_offset_commit(transactional_id, group_id, producer_id, producer_epoch,
                                  offsets, generation=generation, member_id=member_id,
                                  group_instance_id=group_instance_id)

    def describe_transactions(self, transactional_ids: Iterable[str]
                              ) -> dict[str, DescribedTransaction]:
        """DescribeTransactions of the ids this broker coordinates; each other id is answered
        with ``NotCoordinatorError`` (or ``CoordinatorNotAvailableError``) in its
        ``error``, as Kafka answers each id apart (``TypeError`` for a bare str)."""
        out: dict[str, DescribedTransaction] = {}
        for tid in _check_list("transactional_ids", transactional_ids):
            try:
                self._coordinate(tid)
            except (NotCoordinatorError, CoordinatorNotAvailableError) as exc:
                out[tid] = DescribedTransaction(tid, "", -1, -1, -1, -1, (), exc)
            else:
                out.update(super().describe_transactions([tid]))
        return out

    def list_transactions(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                          duration_filter_ms: int = -1) -> list[TransactionListing]:
        """ListTransactions of the ids this broker coordinates: an admin client asks every
        broker and merges what they answer, as in Kafka. Lists none (and creates no
        ``__transaction_state``) before the first transactional id; TypeError for a bare str."""
        states = _check_list("states", states)
        producer_ids = _check_list("producer_ids", producer_ids, "int")
        check_states(states)
        log = self._cluster.transaction_log(create=False)
        if log is None:
            return []
        return [listing for listing in super().list_transactions(states, producer_ids,
                                                                  duration_filter_ms)
                if log.coordinator(listing.transactional_id) == self.node_id]

    # --- internals ----------------------------------------------------------------------------

    def _coordinate(self, transactional_id: str) -> None:
        """Return if this broker coordinates ``transactional_id`` (the leader of its
        ``__transaction_state`` partition, created at the first call); raise
        ``InvalidRequestError`` for an empty id, as Kafka checks it first, and see
        :meth:`_check_coordinator`."""
        _check_transactional_id(transactional_id)
        node = self._cluster.transaction_log().coordinator(transactional_id)
        self._check_coordinator(node, f"transactional id {transactional_id!r}")

    def _check_coordinator(self, node: int | None, what: str) -> None:
        """Raise unless ``node``, the coordinator of ``what``, is this broker:
        ``CloseConnection`` if this broker is down, ``CoordinatorNotAvailableError`` while
        ``what`` has no coordinator, ``NotCoordinatorError`` if another broker is it."""
        self._check_alive()
        if node is None:
            raise CoordinatorNotAvailableError(
                f"{what} has no coordinator right now (its partition is electing a leader); "
                "find the coordinator again and retry")
        if node != self.node_id:
            raise NotCoordinatorError(
                f"broker {self.node_id} does not coordinate {what}: broker {node} does; "
                "find the coordinator again and retry")

    def _produce(self, topic: str, partition: int, records: Sequence, timeout: float | None,
                 acks: int | str, producer: tuple[int, int, int] | None,
                 compression: str | None, batch_bytes: int | None,
                 broker: int | None = None, transactional: bool = False) -> AppendResult:
        # ``broker`` is ignored: this connection always produces to its own broker.
        try:
            return super()._produce(topic, partition, records, timeout, acks, producer,
                                    compression, batch_bytes, broker=self.node_id,
                                    transactional=transactional)
        except KafkaConnectionError:
            self._check_alive()
            raise
        except TimeoutError:
            wait = 30.0 if timeout is None else timeout
            raise RequestTimedOutError(f"{topic}-{partition}: no answer within {wait} s") \
                from None

    def _check_alive(self) -> None:
        """A broker that died answers nothing: its connections are closed (CloseConnection),
        never answered with an error the client might not retry."""
        if not self._cluster.nodes[self.node_id].alive:
            raise CloseConnection(f"broker {self.node_id} is down")

    def told_state(self, tp: TopicPartition) -> Any:
        """The state of ``tp`` this broker was last told (``None`` if it hosts no replica).

        In a threads cluster that is the broker's own replica state; a broker process keeps
        its own to itself, so there it is the broker's metadata image (the broker checks again
        when the request reaches it, and answers NOT_LEADER_OR_FOLLOWER if it disagrees).
        """
        replicas = getattr(self._cluster.nodes[self.node_id], "replicas", None)
        if replicas is not None:
            replica = replicas.get(tp)
            return None if replica is None else replica.state
        state = self.metadata_image().partitions.get(tp)
        return state if state is not None and self.node_id in state.replicas else None

    def _led(self, tp: TopicPartition) -> Any:
        """This broker's local broker, if it is alive and leads ``tp``."""
        node = self._cluster.nodes[self.node_id]
        state = self.told_state(tp)
        if not node.alive or state is None or state.leader != self.node_id:
            if tp not in self._cluster.metadata():
                raise UnknownTopicOrPartitionError(f"no partition {tp} in the cluster")
            raise NotLeaderForPartitionError(
                f"broker {self.node_id} is not the leader of {tp}; refresh metadata and retry")
        return node.broker
