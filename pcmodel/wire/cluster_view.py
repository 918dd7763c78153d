"""One broker of a replicated cluster, as its Kafka listener serves it.

A Kafka broker answers from *its own* replicas: it appends only to partitions it leads,
serves consumers only from them (below the high watermark), and tells clients where the other
brokers and leaders are. Two small objects make the listener's handlers do that on a
:class:`~pcmodel.cluster.Cluster` without knowing it is one:

- :class:`ClusterNodeView`, the handlers' :class:`~pcmodel.wire.view.ClusterView`: the live
  brokers and their listeners' addresses, each partition's leader, leader epoch, replicas, ISR
  and offline replicas (the controller's decisions), the group coordinators, and the leader
  checks Kafka makes against a request's ``current_leader_epoch``;
- :class:`NodeConnection`, the handlers' broker: pcmodel's
  :class:`~pcmodel.cluster.client.ClusterConnection` (groups, committed offsets, topics: the
  same requests pcmodel's clients send, through any broker) except that produce, fetch,
  offset lookups and DeleteRecords go to *this* broker, which answers NOT_LEADER_OR_FOLLOWER
  for partitions it does not lead, instead of being routed to the leader: following leaders is
  the client's job.

A cluster has no transactions (:mod:`pcmodel.cluster.client_transactions`), and its listeners
say so in a way real clients act on at once instead of retrying until their own timeout:

- FindCoordinator for a transactional id, and a transactional InitProducerId, answer
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53,
  :class:`~pcmodel.wire.view.NoTransactionCoordinatorError`) with a message saying that a lone
  Broker supports transactions. At those two requests kafka-python and librdkafka treat only
  that code and CLUSTER_AUTHORIZATION_FAILED as fatal, so ``init_transactions()`` raises at
  once (kafka-python's ``TransactionalIdAuthorizationFailedError``, a fatal ``KafkaError`` in
  confluent-kafka) instead of hanging; of the two, it names the transactional id, not the
  cluster, as what is refused. No Kafka code says "this cluster has no transaction
  coordinator", and a retriable one (COORDINATOR_NOT_AVAILABLE) would make clients wait for
  one that never comes.
- The other transactional requests (AddPartitionsToTxn, EndTxn, ...), which a client reaches
  only with a producer id from elsewhere, answer what the cluster connection answers:
  INVALID_PRODUCER_ID_MAPPING (49), no transactional id exists here; a transactional record
  batch is INVALID_TXN_STATE (48), no transaction holds its partition.
- ``read_committed`` consumers work: every record is committed, so the last stable offset is
  the high watermark and no transaction is ever aborted (OffsetFetch's ``require_stable`` and
  ListOffsets' isolation level change nothing either).

Prior art: Kafka's ``KafkaApis`` (``handleProduceRequest``, ``handleFetchRequest``) over
``ReplicaManager``, and ``MetadataCache.getTopicMetadata``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pcmodel.cluster.client import ClusterConnection
from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.errors import NotLeaderForPartitionError, RequestTimedOutError
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.broker import AppendResult, FetchResult
from pcmodel.topics.errors import (
    InvalidTxnStateError,
    KafkaConnectionError,
    KafkaError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.structs import (
    DeletedRecords,
    LogDirDescription,
    OffsetAndTimestamp,
    PartitionProducers,
    PartitionReplicas,
    TopicPartition,
)
from pcmodel.wire.api import CloseConnection, kafka_errors
from pcmodel.wire.view import (
    CLUSTER_ID,
    NOT_LEADER_OR_FOLLOWER,
    BrokerAddress,
    NoTransactionCoordinatorError,
    check_leader_epoch,
)

__all__ = ["ClusterNodeView", "NodeConnection"]

_UNKNOWN_TOPIC_OR_PARTITION = kafka_errors.UnknownTopicOrPartitionError.errno


class NodeConnection(ClusterConnection):
    """Broker ``node_id``'s side of a cluster, for its Kafka listener's handlers.

    Produce, fetch, offset lookups and DeleteRecords are served by this broker alone and raise
    ``NotLeaderForPartitionError`` (NOT_LEADER_OR_FOLLOWER) for a partition it does not lead,
    and :class:`~pcmodel.wire.api.CloseConnection` once the broker is killed (a crashed broker
    answers nothing); everything else is
    :class:`~pcmodel.cluster.client.ClusterConnection`'s.
    """

    def __init__(self, connection: ClusterConnection, node_id: int) -> None:
        super().__init__(connection._cluster, connection._offsets)
        self.node_id = node_id

    def __repr__(self) -> str:
        return f"<NodeConnection broker={self.node_id} of {self._cluster!r}>"

    # --- metadata -----------------------------------------------------------------------------

    def internal_topics(self) -> dict[str, int]:
        """``{"__consumer_offsets": partitions}``: the internal topics Metadata lists."""
        return {OFFSETS_TOPIC: self._offsets.partitions}

    def coordinator_id(self, group_id: str) -> int | None:
        """The broker coordinating ``group_id`` (the leader of its offsets partition)."""
        return self._offsets.coordinator(group_id)

    def group_states(self) -> dict[str, Any]:
        """Kafka's ListGroups: the groups this broker coordinates (a client lists a cluster's
        groups by asking every broker, as kafka-python's ``list_groups`` does)."""
        return self._coordinated_states(self.node_id)

    def all_committed(self, group_id: str) -> dict[TopicPartition, Any]:
        """Every committed offset of ``group_id`` (OffsetFetch for all partitions), from the
        replicated offsets topic: a new coordinator knows them even if it never saw the group."""
        every = [TopicPartition(topic, p) for topic, count in self.list_topics().items()
                 for p in range(count)]
        return {tp: v for tp, v in self.committed(group_id, every).items() if v is not None}

    # --- what this broker serves as leader ----------------------------------------------------

    def fetch(self, offsets: Mapping[TopicPartition, int], *, max_records: int = 500,
              timeout: float = 0.0, isolation_level: str = "read_uncommitted",
              ) -> dict[TopicPartition, FetchResult]:
        """Read committed records (below the high watermark) of partitions this broker leads.

        Long-polls up to ``timeout`` seconds for records. A partition this broker does not
        lead (or no longer leads, or cannot serve because it is down) is left out of the
        answer, which returns at once then: the caller tells the client to find the leader.
        Both isolation levels read the same records: with no transactions, every record is
        committed, so each result's ``last_stable_offset`` is its high watermark and a
        ``read_committed`` result lists no aborted transaction.
        """
        read_committed = check_isolation_level(isolation_level)
        return {tp: _stable(result, read_committed)
                for tp, result in self._fetch(offsets, max_records, timeout).items()}

    def _fetch(self, offsets: Mapping[TopicPartition, int], max_records: int,
               timeout: float) -> dict[TopicPartition, FetchResult]:
        deadline = time.monotonic() + timeout
        while True:
            version = self._cluster.change_count()
            results: dict[TopicPartition, FetchResult] = {}
            budget = max_records
            for tp, offset in offsets.items():
                try:
                    found = self._cluster.fetch(self.node_id, {tp: offset}, max(1, budget))
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
        """An idempotent producer's batch, appended by this broker if it leads the partition;
        a transactional one (``transactional=True``) raises ``InvalidTxnStateError``: no
        transaction can hold the partition on a cluster."""
        if transactional:
            raise InvalidTxnStateError(
                f"{topic}-{partition}: a transactional batch needs a transaction holding the "
                "partition, and a pcmodel Cluster has no transactions (a lone Broker has)")
        return super().append_idempotent(
            topic, partition, records, producer_id=producer_id, producer_epoch=producer_epoch,
            first_sequence=first_sequence, timeout=timeout, acks=acks,
            compression=compression, batch_bytes=batch_bytes)

    def epoch_of_offset(self, tp: TopicPartition, offset: int) -> int:
        """The epoch in which this broker, the leader, wrote the record at ``offset``."""
        return self._cluster.epoch_of_offset(self.node_id, tp.topic, tp.partition, offset)

    def end_offset_for_epoch(self, tp: TopicPartition, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch on this broker: ``(largest epoch <= epoch, its end offset)``."""
        return self._cluster.end_offset_for_epoch(self.node_id, tp.topic, tp.partition, epoch)

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict:
        """Each partition's log start offset, if this broker leads it."""
        return {tp: self._led(tp).beginning_offsets([tp])[tp]
                for tp in map(TopicPartition._make, partitions)}

    def end_offsets(self, partitions: Iterable[TopicPartition], *,
                    isolation_level: str = "read_uncommitted") -> dict:
        """Each partition's high watermark, if this broker leads it (at either isolation
        level: with no transactions, the last stable offset is the high watermark)."""
        check_isolation_level(isolation_level)
        return {tp: self._led(tp).end_offsets([tp])[tp]
                for tp in map(TopicPartition._make, partitions)}

    def offsets_for_times(self, timestamps: Mapping[TopicPartition, int]
                          ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The first committed record at or after each time, if this broker leads the
        partition (records above the high watermark are not visible to consumers)."""
        out: dict[TopicPartition, OffsetAndTimestamp | None] = {}
        for tp, ts in timestamps.items():
            tp = TopicPartition._make(tp)
            broker = self._led(tp)
            found = broker.offsets_for_times({tp: ts})[tp]
            visible = found is not None and found.offset < broker.end_offsets([tp])[tp]
            out[tp] = found if visible else None
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
        others, which the client sends to their leaders."""
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

    # --- internals ----------------------------------------------------------------------------

    def _produce(self, topic: str, partition: int, records: Sequence, timeout: float | None,
                 acks: int | str, producer: tuple[int, int, int] | None,
                 compression: str | None, batch_bytes: int | None) -> AppendResult:
        try:
            return super()._produce(topic, partition, records, timeout, acks, producer,
                                    compression, batch_bytes, broker=self.node_id)
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
        its own to itself, so there it is the controller's decision (the broker checks again
        when the request reaches it, and answers NOT_LEADER_OR_FOLLOWER if it disagrees).
        """
        replicas = getattr(self._cluster.nodes[self.node_id], "replicas", None)
        if replicas is not None:
            replica = replicas.get(tp)
            return None if replica is None else replica.state
        state = self._cluster.metadata().get(tp)
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


def _stable(result: FetchResult, read_committed: bool) -> FetchResult:
    """``result`` as a partition without transactions answers it: stable up to its high
    watermark, and (``read_committed``) with no aborted transaction to skip."""
    if result.error is not None:
        return result
    return result._replace(last_stable_offset=result.high_watermark,
                           aborted_transactions=() if read_committed else None)


class ClusterNodeView:
    """What broker ``node_id``'s listener tells clients. See the module docstring.

    ``addresses()`` returns ``{broker id: (host, port)}`` of every broker's listener.
    """

    cluster_id = CLUSTER_ID

    def __init__(self, connection: NodeConnection,
                 addresses: Callable[[], Mapping[int, tuple[str, int]]]) -> None:
        self.connection = connection
        self.cluster: Cluster = connection._cluster
        self.node_id = connection.node_id
        self._addresses = addresses

    def brokers(self) -> list[BrokerAddress]:
        """The brokers the controller counts as alive, where their listeners are."""
        addresses = self._addresses()
        return [BrokerAddress(b, *addresses[b]) for b in sorted(self.cluster.live_brokers())
                if b in addresses]

    def fenced_brokers(self) -> list[BrokerAddress]:
        """The brokers the controller counts as down, where their listeners were."""
        addresses = self._addresses()
        live = self.cluster.live_brokers()
        return [BrokerAddress(b, *addresses[b]) for b in sorted(addresses) if b not in live]

    def controller_id(self) -> int:
        """The broker named as controller (see ``ClusterConnection.controller_id``)."""
        return self.connection.controller_id()

    def partitions(self, topic: str, count: int) -> list[PartitionReplicas]:
        """The controller's state of each existing partition below ``count``."""
        try:
            described = self.connection.describe_partitions(topic)
        except UnknownTopicOrPartitionError:
            return []
        return [p for p in described if p.partition < count]

    def coordinator(self, group_id: str) -> BrokerAddress | None:
        """The leader of the group's ``__consumer_offsets`` partition, while it is alive."""
        node = self.connection.coordinator_id(group_id)
        addresses = self._addresses()
        if node is None or node not in self.cluster.live_brokers() or node not in addresses:
            return None
        return BrokerAddress(node, *addresses[node])

    def transaction_coordinator(self, transactional_id: str) -> BrokerAddress:
        """None: raises :class:`~pcmodel.wire.view.NoTransactionCoordinatorError` (see the
        module: why this code)."""
        raise NoTransactionCoordinatorError(
            f"transactional id {transactional_id!r}: transactions are not supported on a "
            "pcmodel Cluster (a lone Broker supports them); leave transactional_id unset here")

    def leader_error(self, tp: TopicPartition, current_leader_epoch: int) -> int:
        """Kafka's checks, in Kafka's order, with what this broker was last told: the epoch
        first (FENCED / UNKNOWN_LEADER_EPOCH), then leadership (NOT_LEADER_OR_FOLLOWER);
        a partition the cluster does not have is UNKNOWN_TOPIC_OR_PARTITION."""
        node = self.cluster.nodes[self.node_id]
        state = self.connection.told_state(tp)
        if state is None or not node.alive:
            if tp not in self.cluster.metadata():
                return _UNKNOWN_TOPIC_OR_PARTITION
            return NOT_LEADER_OR_FOLLOWER
        code = check_leader_epoch(state.leader_epoch, current_leader_epoch)
        if code:
            return code
        return 0 if state.leader == self.node_id else NOT_LEADER_OR_FOLLOWER
