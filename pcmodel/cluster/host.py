"""A cluster broker in its own process: a ClusterNode, the server it answers on, its duties.

This module runs inside each broker process of a ``Cluster(mode="processes")``. It is a *host*
for the same :class:`~pcmodel.cluster.node.ClusterNode` the threaded cluster uses (produce,
fetch, ISR, HW, leader epochs are not written twice), plus what a separate process needs:

* a request server (:class:`~pcmodel.cluster.host_server.NodeServer`, in its own module with
  the process's entry point: pcmodel's broker server, authenticated and pickling, on loopback)
  answering the cluster (produce and transaction markers, answered when replicated through
  :mod:`pcmodel.cluster.host_writes`; fetch, status, faults) and the other brokers (a follower's
  fetch and OffsetsForLeaderEpoch), and pcmodel's client methods on the node's
  :class:`~pcmodel.topics.broker.Broker` (group coordinator calls, and a coordinator's
  ``group_metadata`` / ``load_group``);
* a heartbeat thread (the controller's answer carries the partition states and the other
  brokers' addresses, as KRaft brokers learn metadata from the controller) and a duties
  thread: fetch from each leader it follows, and the leader's periodic bookkeeping;
* replicas that journal their log to a file (:mod:`pcmodel.cluster.journal`), so a broker
  killed with SIGKILL comes back with its log;
* producers' compressed batches that cross to another process by their codec's name (a
  leader's fetch lists the batches its records came in; a codec's functions do not pickle).

Locking: one lock (``NodeHost.lock``) guards the node, as the cluster lock does in one process.
It is released around every call to another *broker* (a follower's fetch may wait for the
leader, which may be fetching from us), and held around calls to the controller, which never
calls a broker back while it holds its own lock — so no cycle of waits exists. While the lock
is released in the middle of a follower's fetch, a heartbeat may bring the partition a new
leader or epoch; the follower then drops the answer of the old one (``_LeaderLink``).
"""

from __future__ import annotations

import copyreg
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from pcmodel.cluster.consumer_group_settings import (
    DEFAULT_CONSUMER_GROUP_SETTINGS,
    DEFAULT_GROUP_SESSION_TIMEOUT_BOUNDS,
)
from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.errors import NotLeaderForPartitionError
from pcmodel.cluster.events import ClusterEvent
from pcmodel.cluster.follower import replicate_once
from pcmodel.cluster.host_writes import HostWrites
from pcmodel.cluster.journal import DurableReplica, durable_replicas, journal_path
from pcmodel.cluster.node import ClusterNode
from pcmodel.topics.broker_static_configs import ConsumerGroupConfigs
from pcmodel.topics.client import BrokerHandle, RemoteBroker
from pcmodel.topics.compression import CompressedBatch, get_codec
from pcmodel.topics.config_resources import AlterConfigOp
from pcmodel.topics.errors import KafkaConnectionError, KafkaError
from pcmodel.topics.group_offsets import DEFAULT_OFFSETS_RETENTION_MINUTES
from pcmodel.topics.idempotence import (
    DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
    DEFAULT_PRODUCER_ID_EXPIRATION_MS,
)
from pcmodel.topics.structs import TopicPartition

__all__ = ["HostSpec", "NodeHost"]

log = logging.getLogger(__name__)

#: How long a broker waits for another broker or the controller to answer (ms).
PEER_TIMEOUT_MS = 5000


def _compressed_batch_by_codec_name(batch: CompressedBatch) -> tuple:
    """How a producer's compressed batch crosses to another process (a leader's fetch lists
    the batches of the records it sends): its codec by name, since a codec's functions do
    not pickle, with its compressed bytes and what the log set on it."""
    return _compressed_batch, (batch.codec.name, batch.data, batch.count,
                               batch.uncompressed_size, batch.base_offset, batch.append_time,
                               batch.log_append_time, batch.max_timestamp, batch.wire)


def _compressed_batch(codec: str, data: bytes, count: int, uncompressed_size: int,
                      base_offset: int, append_time: int, log_append_time: bool,
                      max_timestamp: int, wire: bytes | None) -> CompressedBatch:
    """The batch :func:`_compressed_batch_by_codec_name` sent, as it was."""
    batch = CompressedBatch(get_codec(codec), data, count, uncompressed_size)
    batch.base_offset, batch.append_time = base_offset, append_time
    batch.log_append_time, batch.max_timestamp, batch.wire = log_append_time, max_timestamp, wire
    return batch


copyreg.pickle(CompressedBatch, _compressed_batch_by_codec_name)


class HostSpec(NamedTuple):
    """Everything a broker process needs to start (picklable)."""

    node_id: int
    incarnation: int
    directory: str
    root: str
    controller: BrokerHandle
    replica_lag_time_max: float
    tick: float
    #: ``(name, partitions, hosted partitions, config, local log settings)`` per topic.
    topics: tuple
    isolated: frozenset[int]
    slowness: float
    group_initial_rebalance_delay_ms: int = 0
    offsets_retention_minutes: int = DEFAULT_OFFSETS_RETENTION_MINUTES
    #: ``(producer_id_expiration_ms, producer_id_expiration_check_interval_ms)``.
    producer_id_expiration: tuple[int, int] = (DEFAULT_PRODUCER_ID_EXPIRATION_MS,
                                               DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS)
    #: The cluster's consumer group settings, checked there (every incarnation gets them).
    consumer_group_settings: ConsumerGroupConfigs = DEFAULT_CONSUMER_GROUP_SETTINGS
    #: The cluster's ``(group_min_session_timeout_ms, group_max_session_timeout_ms)``.
    group_session_timeout_bounds: tuple[int, int] = DEFAULT_GROUP_SESSION_TIMEOUT_BOUNDS
    #: ``(group id, {config: value})`` of each group with configs set on it, checked there.
    group_configs: tuple = ()


class NodeHost(HostWrites):
    """One broker of a process cluster: the node, its peers, its duties. See the module doc."""

    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.node_id = spec.node_id
        self.lock = threading.Lock()
        #: Appends (wake followers long-polling) and answered produces (wake the cluster).
        self.changed = threading.Condition(self.lock)
        self.node = ClusterNode(spec.node_id, clock=time.monotonic, alter_isr=self._alter_isr,
                                replica_lag_time_max=spec.replica_lag_time_max,
                                group_initial_rebalance_delay_ms=spec
                                .group_initial_rebalance_delay_ms,
                                consumer_group_settings=spec.consumer_group_settings,
                                group_session_timeout_bounds=spec.group_session_timeout_bounds,
                                offsets_retention_minutes=spec.offsets_retention_minutes,
                                replica_factory=durable_replicas(spec.directory),
                                log_dir=spec.directory,
                                producer_id_expiration_ms=spec.producer_id_expiration[0],
                                producer_id_expiration_check_interval_ms=spec
                                .producer_id_expiration[1])
        self.node.slowness = spec.slowness
        self.isolated = set(spec.isolated)
        self.completed: dict[int, tuple[bool, Any]] = {}
        self._versions: dict[TopicPartition, int] = {}
        self._handles: dict[int, BrokerHandle] = {}
        self._links: dict[int, RemoteBroker] = {}
        self._links_lock = threading.Lock()
        self._events: list[ClusterEvent] = []
        self._stopping = threading.Event()
        for name, count, mine, config, settings in spec.topics:
            for tp in {TopicPartition(name, p) for p in range(count)} - set(mine):
                # A replica reassigned away while this broker was down (Kafka deletes such
                # stray logs at startup too).
                journal_path(spec.directory, tp).unlink(missing_ok=True)
            self.node.add_replicas(name, count, mine, config, **settings)  # recovers journals
        for group_id, overrides in spec.group_configs:
            self.set_group_configs(group_id, overrides)
        self._controller = RemoteBroker(spec.controller, request_timeout_ms=PEER_TIMEOUT_MS,
                                        connect_timeout_ms=PEER_TIMEOUT_MS)
        self._duties = threading.Thread(target=self._run_duties,
                                        name=f"pcmodel-broker-{spec.node_id}-duties")
        self._heartbeats = threading.Thread(target=self._run_heartbeats,
                                            name=f"pcmodel-broker-{spec.node_id}-heartbeat")

    def start(self) -> None:
        """Start the threads: heartbeats (a slow leader never delays them), and the duties
        (replication, leader bookkeeping)."""
        self._heartbeats.start()
        self._duties.start()

    def interrupt(self) -> None:
        """Begin stopping: waits in progress (long polls, answers) return now."""
        self._stopping.set()
        with self.lock:
            self.changed.notify_all()

    def stop(self) -> None:
        """Stop the duties, close the connections, the journals and the broker."""
        self.interrupt()
        for thread in (self._heartbeats, self._duties):
            if thread.is_alive():
                thread.join(10)
        self._controller.close()
        with self._links_lock:
            for link in self._links.values():
                link.close()
            self._links.clear()
        with self.lock:
            for replica in self.node.replicas.values():
                if isinstance(replica, DurableReplica):
                    replica.close()
        self.node.broker.close()

    # --- requests from the cluster ---------------------------------------------------------------

    def delete_records_as_leader(self, tp: TopicPartition, offset: int) -> int:
        """DeleteRecords as the partition's leader (see ``ClusterNode``); returns the offset
        the records were deleted below."""
        def delete() -> int:
            with self.lock:
                target = self.node.delete_records_as_leader(tp, offset)
                self.changed.notify_all()  # followers long-polling: the start moved
                return target

        return self._as_leader(delete)

    def fetch(self, offsets: dict, max_records: int,
              isolation_level: str = "read_uncommitted", whole_batches: bool = False) -> dict:
        """A consumer's fetch (below the high watermark, or the last stable offset); with
        ``whole_batches`` (a Kafka listener's) in whole producers' batches."""
        def read() -> dict:
            with self.lock:
                return self.node.fetch(offsets, max_records, isolation_level, whole_batches)

        return self._as_leader(read)

    def offsets(self, tp: TopicPartition) -> tuple[int, int, int]:
        """``(log_start_offset, log_end_offset, high_watermark)`` of the local replica (zeros
        for one a reassignment added that the next heartbeat creates)."""
        with self.lock:
            return self.node.local_offsets(tp)

    def log(self, tp: TopicPartition) -> list:
        """Every record of the local replica, committed or not."""
        with self.lock:
            return self.node.local_records(tp)

    def add_replicas(self, name: str, count: int, mine: list, config: TopicConfig,
                     settings: dict) -> None:
        """A topic was created: create it locally, with a replica for each hosted partition."""
        with self.lock:
            if name not in self.node.broker.list_topics():
                self.node.add_replicas(name, count, mine, config, **settings)

    def remove_topic(self, name: str) -> None:
        """A topic was deleted: drop its replicas, their files and the local log."""
        with self.lock:
            if name in self.node.broker.list_topics():
                self.node.remove_topic(name)

    def reconfigure_topic(self, name: str, config: TopicConfig,
                          overrides: dict[str, str]) -> None:
        """A topic's settings changed: its replicas and local log here take them."""
        with self.lock:
            if name in self.node.broker.list_topics():
                self.node.reconfigure_topic(name, config, overrides)

    def set_group_configs(self, group_id: str, overrides: dict[str, str]) -> None:
        """Group ``group_id``'s configs are now ``overrides`` (the cluster checked them)."""
        with self.lock:
            self.node.broker.alter_group_configs(
                group_id, [(name, AlterConfigOp.SET, value) for name, value in overrides.items()],
                incremental=False)

    def add_partitions(self, name: str, total: int, mine: list, config: TopicConfig) -> None:
        """A topic grew to ``total`` partitions; replicas for those in ``mine``."""
        with self.lock:
            if self.node.broker.list_topics().get(name, total) < total:
                self.node.add_partitions(name, total, mine, config)

    def end_offset_for_epoch(self, tp: TopicPartition, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch as a client asks it (no check of its leader epoch)."""
        with self.lock:
            return self.node.offsets_for_leader_epoch(tp, epoch, None)

    def epoch_of_offset(self, tp: TopicPartition, offset: int) -> int:
        """The leader epoch that wrote ``offset`` here, for ListOffsets."""
        with self.lock:
            return self.node.epoch_of_offset(tp, offset)

    def describe_producers(self, tp: TopicPartition) -> tuple[Any, ...]:
        """The idempotent producers this broker's replica of ``tp`` remembers."""
        with self.lock:
            return self.node.describe_producers(tp)

    def expire_producers(self, now_ms: int | None) -> dict[TopicPartition, tuple[int, ...]]:
        """This broker's producer-expiration check, now, as at ``now_ms``."""
        with self.lock:
            return self.node.expire_producers(now_ms)

    def describe_log_dirs(self, partitions: list[TopicPartition] | None) -> tuple[Any, ...]:
        """This broker's log directory (its journals') and the replicas in it."""
        with self.lock:
            return self.node.describe_log_dirs(partitions)

    def alter_replica_log_dirs(self, targets: dict[TopicPartition, str],
                               existing: list[TopicPartition]) -> dict[TopicPartition, Any]:
        """AlterReplicaLogDirs on this broker (one log directory: nothing moves)."""
        with self.lock:
            return self.node.alter_replica_log_dirs(targets, existing)

    def set_isolated(self, isolated: frozenset[int]) -> None:
        """The brokers cut off from replication traffic now."""
        with self.lock:
            self.isolated = set(isolated)

    def set_slowness(self, seconds: float) -> None:
        """Each replica fetch of this broker takes ``seconds`` from now on."""
        with self.lock:
            self.node.slowness = seconds
            self.node.next_fetch_at = time.monotonic() + seconds

    # --- requests from other brokers -------------------------------------------------------------

    def replica_fetch(self, follower: int, tp: TopicPartition, fetch_offset: int,
                      leader_epoch: int, max_wait: float) -> Any:
        """A follower's fetch; with nothing new, waits up to ``max_wait`` for an append."""
        with self.lock:
            self._check_route(follower)
            response = self.node.replica_fetch(follower, tp, fetch_offset, leader_epoch)
            if response.records or response.error is not None or max_wait <= 0:
                return response
            self.changed.wait(max_wait)
            self._check_route(follower)
            return self.node.replica_fetch(follower, tp, fetch_offset, leader_epoch)

    def offsets_for_leader_epoch(self, follower: int, tp: TopicPartition, epoch: int,
                                 leader_epoch: int) -> tuple[int, int]:
        """Where ``epoch`` ends in this leader's log (KIP-101)."""
        with self.lock:
            self._check_route(follower)
            return self.node.offsets_for_leader_epoch(tp, epoch, leader_epoch)

    def replica_offsets(self, topic: str, partition: int) -> tuple[int, int, int]:
        """The local broker's ``replica_offsets`` (what clients of the cluster ask for)."""
        return self.node.broker.replica_offsets(topic, partition)

    # --- duties ----------------------------------------------------------------------------------

    def _run_duties(self) -> None:
        long_poll = False
        while not self._stopping.is_set():
            try:
                with self.lock:
                    moved, waited = self._replicate_round(long_poll)
                    self.node.maintain()
            except Exception:  # a bug, not a fault: say so, keep the broker going
                log.exception("broker %d: its periodic duties failed", self.node_id)
                moved = waited = False
            long_poll = not moved
            if not moved and not waited:
                self._stopping.wait(self.spec.tick)

    def _run_heartbeats(self) -> None:
        while not self._stopping.is_set():
            try:
                self._heartbeat()
            except Exception:  # a bug, not a fault
                log.exception("broker %d: a heartbeat failed", self.node_id)
            self._stopping.wait(self.spec.tick)

    def _heartbeat(self) -> None:
        with self.lock:
            events, self._events = self._events, []
            hw_moves = self.node.hw_moves
        try:
            states, handles, topics, fenced = self._controller.call(
                "broker_heartbeat", self.node_id, self.spec.incarnation, tuple(events), hw_moves)
        except KafkaError:
            with self.lock:
                self._events[:0] = events  # report them once the controller hears us again
            return
        with self.lock:
            self._handles = handles
            self.node.ineligible = fenced
            self._reconcile(states, topics)
            for tp, (version, state) in states.items():
                if tp in self.node.replicas and version > self._versions.get(tp, -1):
                    self._versions[tp] = version
                    self.node.apply_state(tp, state)

    def _reconcile(self, states: dict, topics: dict) -> None:
        """Host exactly the replicas the controller assigns here: a reassignment adds some
        (of partitions this broker already knows: a topic being created arrives by its own
        call) and removes others (of topics that still exist: a deletion has its own call)."""
        counts = self.node.broker.list_topics()
        for tp in states:
            if tp not in self.node.replicas and counts.get(tp.topic, 0) > tp.partition:
                self.node.add_replica(tp, topics[tp.topic])
        for tp in [tp for tp in self.node.replicas if tp not in states and tp.topic in topics]:
            self.node.remove_replica(tp)
            self._versions.pop(tp, None)

    def _replicate_round(self, long_poll: bool) -> tuple[bool, bool]:
        """One fetch from the leader of each followed partition; (records moved, waited)."""
        now = time.monotonic()
        if now < self.node.next_fetch_at:
            return False, False
        followed = [r for r in self.node.followed()
                    if self.node_id not in self.isolated and r.state.leader not in self.isolated]
        wait = self.spec.tick / len(followed) if long_poll and followed else 0.0
        moved = False
        for replica in followed:
            state = replica.state  # a heartbeat may have changed it during an earlier fetch
            if state is None or state.leader in (None, self.node_id) or \
                    state.leader in self.isolated or self.node_id in self.isolated:
                continue
            leader = _LeaderLink(self, replica, wait)
            moved |= replicate_once(self.node_id, replica, leader, self._truncated(replica.tp))
        if self.node.slowness:
            self.node.next_fetch_at = now + self.node.slowness
        return moved, bool(followed) and wait > 0

    def _truncated(self, tp: TopicPartition) -> Any:
        def report(offset: int, gone: tuple) -> None:
            self._events.append(ClusterEvent(time.monotonic(), "truncated", self.node_id, tp,
                                             (offset, len(gone)), gone))
        return report

    def _as_leader(self, request: Callable[[], Any]) -> Any:
        """Run a client request; if this broker is not the leader, refresh its partition
        states from the controller and run it once more.

        The controller may have elected this broker a moment before its next heartbeat
        brings the news; a client that found the leader in the controller's metadata should
        not be turned away for that (a Kafka client would retry after a metadata refresh).
        """
        try:
            return request()
        except NotLeaderForPartitionError:
            self._heartbeat()
            return request()

    # --- internals -------------------------------------------------------------------------------

    def _alter_isr(self, tp: TopicPartition, leader: int, epoch: int,
                   isr: frozenset[int]) -> PartitionState:
        """AlterPartition at the controller (called with the lock held, see the module doc)."""
        try:
            state, version = self._controller.call("alter_isr", self.node_id,
                                                   self.spec.incarnation, tp, leader, epoch, isr)
        except KafkaConnectionError:
            raise
        except KafkaError as exc:
            if exc.__class__.__module__.startswith("pcmodel.cluster"):
                raise  # the controller's refusal: NotLeaderForPartition, FencedLeaderEpoch
            raise KafkaConnectionError(f"the controller did not answer: {exc}") from exc
        self._versions[tp] = max(version, self._versions.get(tp, -1))
        return state

    def _check_route(self, follower: int) -> None:
        if follower in self.isolated or self.node_id in self.isolated:
            raise KafkaConnectionError(f"no route between broker {follower} and broker "
                                       f"{self.node_id}: replication traffic is cut")

    def call_peer(self, broker: int, method: str, *args: Any) -> Any:
        """Call another broker with the lock released (held by the caller, see the module doc)."""
        handle = self._handles.get(broker)
        if handle is None:
            raise KafkaConnectionError(f"broker {broker}'s address is unknown yet")
        self.lock.release()
        try:
            with self._links_lock:
                link = self._links.get(broker)
                if link is not None and link.handle != handle:
                    link.close()
                    link = None
            if link is None:
                link = RemoteBroker(handle, request_timeout_ms=PEER_TIMEOUT_MS,
                                    connect_timeout_ms=PEER_TIMEOUT_MS)
                with self._links_lock:
                    self._links[broker], old = link, self._links.get(broker)
                if old is not None:
                    old.close()
            return link.call(method, *args)
        finally:
            self.lock.acquire()


class _LeaderLink:
    """The leader as :func:`~pcmodel.cluster.follower.replicate_once` sees it: two requests.

    The host's lock is released during each request; if the replica learned of a new leader
    or epoch meanwhile (a client request refreshed the states), the answer belongs to the
    old term and is dropped (a retriable error ``replicate_once`` expects).
    """

    def __init__(self, host: NodeHost, replica: Any, max_wait: float) -> None:
        self._host = host
        self._replica = replica
        self._term = (replica.state.leader, replica.state.leader_epoch)
        self._max_wait = max_wait

    def offsets_for_leader_epoch(self, tp: TopicPartition, epoch: int,
                                 leader_epoch: int) -> tuple[int, int]:
        return self._call("offsets_for_leader_epoch", self._host.node_id, tp, epoch,
                          leader_epoch)

    def replica_fetch(self, follower: int, tp: TopicPartition, fetch_offset: int,
                      leader_epoch: int) -> Any:
        return self._call("replica_fetch", follower, tp, fetch_offset, leader_epoch,
                          self._max_wait)

    def _call(self, method: str, *args: Any) -> Any:
        answer = self._host.call_peer(self._term[0], method, *args)
        state = self._replica.state
        if state is None or (state.leader, state.leader_epoch) != self._term:
            raise KafkaConnectionError(f"{self._replica.tp} has a new leader; the answer of "
                                       "the old one is dropped")
        return answer
