"""What a process cluster asks one of its broker processes on a client's behalf: produce,
transaction markers, fetch, DeleteRecords, and the questions only that broker can answer
(leader epochs, producers, log directories) (a mixin of
:class:`~pcmodel.cluster.process_cluster.ProcessCluster`).

Each method finds its broker under the cluster lock, then calls the broker's process with the
lock released: the call may take a while, and the broker may call the controller, which takes
that lock, meanwhile. The rules are the node's (:class:`~pcmodel.cluster.node.ClusterNode`);
each method has the docstring of the ``Cluster`` method it stands in for. A produce or a marker
that waits for replication is answered later, when the broker reports it
(:meth:`HostedBroker.produce <pcmodel.cluster.hosted.HostedBroker.produce>`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pcmodel.cluster.cluster import _ACKS, Cluster
from pcmodel.cluster.partition_markers import check_marker, check_transactional
from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.topics.broker import FetchResult
from pcmodel.topics.broker_checks import _check_flag, _check_int, _check_partitions
from pcmodel.topics.broker_log_dirs import checked_targets
from pcmodel.topics.errors import IllegalArgumentError, KafkaError
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.structs import TopicPartition

__all__ = ["ProcessRequests"]


class ProcessRequests:
    """Requests forwarded to one broker process (ProcessCluster part; see the module)."""

    def end_offset_for_epoch(self, broker: int, topic: str, partition: int,
                             epoch: int) -> tuple[int, int]:
        with self._lock:
            self._check_open()
            node = self._reachable_node(broker)
        return node.call("end_offset_for_epoch", TopicPartition(topic, partition), epoch)

    end_offset_for_epoch.__doc__ = Cluster.end_offset_for_epoch.__doc__

    def epoch_of_offset(self, broker: int, topic: str, partition: int, offset: int) -> int:
        with self._lock:
            self._check_open()
            node = self._reachable_node(broker)
        return node.call("epoch_of_offset", TopicPartition(topic, partition), offset)

    epoch_of_offset.__doc__ = Cluster.epoch_of_offset.__doc__

    def describe_producers(self, broker: int, topic: str, partition: int) -> tuple[Any, ...]:
        tp = TopicPartition(topic, partition)
        with self._lock:
            self._check_open()
            self._state(tp)
            node = self._reachable_node(broker)
        return node.call("describe_producers", tp)

    describe_producers.__doc__ = Cluster.describe_producers.__doc__

    def expire_producers(self, broker: int, now_ms: int | None = None) -> dict[Any, Any]:
        if now_ms is not None:
            _check_int("now_ms", now_ms, 0, IllegalArgumentError)
        with self._lock:
            self._check_open()
            node = self._reachable_node(broker)
        return node.call("expire_producers", now_ms)

    expire_producers.__doc__ = Cluster.expire_producers.__doc__

    def describe_log_dirs(self, broker: int, partitions: Any = None) -> tuple[Any, ...]:
        asked = None if partitions is None else _check_partitions("partitions", partitions)
        with self._lock:
            self._check_open()
            node = self._reachable_node(broker)
        return node.call("describe_log_dirs", asked)

    describe_log_dirs.__doc__ = Cluster.describe_log_dirs.__doc__

    def alter_replica_log_dirs(self, broker: int, targets: Any) -> dict[Any, Any]:
        asked = checked_targets(targets)
        with self._lock:
            self._check_open()
            existing = [tp for tp in asked if tp in self.controller.partitions]
            node = self._reachable_node(broker)
        return node.call("alter_replica_log_dirs", asked, existing)

    alter_replica_log_dirs.__doc__ = Cluster.alter_replica_log_dirs.__doc__

    def produce(self, topic: str, partition: int, records: Sequence, *,
                acks: int | str = 1, timeout: float = 30.0, broker: int | None = None,
                producer: tuple[int, int, int] | None = None,
                compression: str | None = None,
                batch_bytes: int | None = None,
                transactional: bool = False) -> ProduceFuture:
        if acks not in _ACKS:
            raise IllegalArgumentError(f"acks must be one of {_ACKS}, got {acks!r}")
        check_transactional(producer, transactional)
        tp = TopicPartition(topic, partition)
        future = ProduceFuture()
        with self._lock:
            self._check_open()
            try:
                node = self._produce_target(tp, broker)
            except KafkaError as e:
                future.set_exception(e)
                return future
        node.produce(future, tp, list(records), acks, timeout, producer, compression,
                     batch_bytes, transactional)
        with self._lock:
            self._notify()
        return future

    produce.__doc__ = Cluster.produce.__doc__

    def write_marker(self, topic: str, partition: int, producer_id: int, producer_epoch: int,
                     commit: bool, *, coordinator_epoch: int = 0,
                     timeout: float = 30.0, broker: int | None = None) -> ProduceFuture:
        check_marker(producer_id, producer_epoch, commit, coordinator_epoch, timeout)
        tp = TopicPartition(topic, partition)
        future = ProduceFuture()
        with self._lock:
            self._check_open()
            try:
                node = self._produce_target(tp, broker)
            except KafkaError as e:
                future.set_exception(e)
                return future
        node.write_marker(future, tp, producer_id, producer_epoch, commit, coordinator_epoch,
                          timeout)
        with self._lock:
            self._notify()
        return future

    write_marker.__doc__ = Cluster.write_marker.__doc__

    def delete_records(self, topic: str, partition: int, offset: int) -> int:
        tp = TopicPartition(topic, partition)
        with self._lock:
            self._check_open()
            self._check_deletable(tp)
            node = self._produce_target(tp, None)
        target = node.call("delete_records_as_leader", tp, offset)
        with self._lock:
            self._notify()
        return target

    delete_records.__doc__ = Cluster.delete_records.__doc__

    def fetch(self, broker: int, offsets: dict[TopicPartition, int], max_records: int = 500,
              isolation_level: str = "read_uncommitted",
              whole_batches: bool = False) -> dict[TopicPartition, FetchResult]:
        check_isolation_level(isolation_level)
        _check_flag("whole_batches", whole_batches)
        with self._lock:
            self._check_open()
            node = self._reachable_node(broker)
        return node.call("fetch", dict(offsets), max_records, isolation_level, whole_batches)

    fetch.__doc__ = Cluster.fetch.__doc__
