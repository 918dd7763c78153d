"""``Cluster(mode="processes")``: every broker its own OS process, ``kill`` a real SIGKILL.

::

    with Cluster(3, mode="processes") as cluster:
        cluster.create_topic("orders", 1, replication_factor=3, min_insync_replicas=2)
        cluster.produce("orders", 0, [(None, b"v")], acks="all").get(timeout=10)
        cluster.kill(cluster.leader("orders", 0))      # SIGKILL; a follower takes over

Each broker is a process hosting the same :class:`~pcmodel.cluster.node.ClusterNode` the
threaded cluster uses (:mod:`pcmodel.cluster.host`); the rules (ISR, high watermark, acks,
leader epochs, truncation, idempotence) are that code, not a second implementation. What
changes is where things live and how they talk:

* **Replication over connections.** A follower fetches from its leader over pcmodel's loopback
  transport (authenticated, pickling), as Kafka followers fetch over the network; produce,
  transaction markers, fetch and the faults reach a broker the same way
  (:mod:`pcmodel.cluster.process_requests`).
* **The controller stays in this process**, a component of the cluster object as in the other
  modes. Brokers heartbeat to it and send it their ISR changes over a connection
  (:class:`~pcmodel.cluster.hosted.ControllerServer`); the heartbeat's answer carries the
  partition states and the brokers' addresses — brokers *pull* their metadata, as KRaft brokers
  fetch the metadata log from the controller quorum. Kafka runs that quorum as separate
  processes; here killing a broker is the lesson, and a controller that cannot die keeps it
  about data replication (a controller quorum is a lesson of its own).
* **Logs on disk.** Each replica's log is journaled to a file in a temporary directory the
  cluster owns (:mod:`pcmodel.cluster.journal`), written to the kernel before a request is
  answered — so it survives a SIGKILL, not a power cut, exactly like Kafka's unflushed page
  cache. ``restart(b)`` starts a new process that replays its journals, then truncates to the
  new leader (KIP-101) and catches up. ``log(b, ...)`` of a dead broker reads its files.
* **Time is real.** The machine's monotonic clock (shared by the processes); ``step`` and
  ``advance`` belong to ``mode="steps"``. Faults apply at once (``isolate``, ``heal`` and
  ``slow`` reach every live broker before they return), so a scenario is driven by faults and
  conditions, not by sleeps.

Clean-up: ``close()`` (or leaving the ``with`` block) stops every broker process, joins every
thread and removes the directory; so does interpreter exit. A cluster whose own process dies
(SIGKILL, an unhandled SIGTERM) leaves nothing either: each broker process notices that its
control pipe broke, stops, and the directory is removed.
"""

from __future__ import annotations

import atexit
import functools
import secrets
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.errors import DuplicateBrokerRegistrationError
from pcmodel.cluster.events import ClusterEvent, ReplicaStatus
from pcmodel.cluster.host import HostSpec
from pcmodel.cluster.hosted import START_TIMEOUT, ControllerServer, HostedBroker
from pcmodel.cluster.journal import journal_path, read_journal, replay_log
from pcmodel.cluster.process_faults import ProcessFaults
from pcmodel.cluster.process_requests import ProcessRequests
from pcmodel.topics.broker_checks import _check_flag
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
)
from pcmodel.topics.log import LogRecord
from pcmodel.topics.structs import TopicPartition

__all__ = ["ProcessCluster"]


class ProcessCluster(ProcessRequests, ProcessFaults, Cluster):
    """A :class:`~pcmodel.cluster.cluster.Cluster` whose brokers are OS processes.

    Made by ``Cluster(brokers, mode="processes", ...)`` with the same settings as the other
    modes, except ``clock`` (processes share the machine's monotonic clock). See the module
    docstring.
    """

    def __init__(self, brokers: int = 3, *, mode: str = "processes",
                 clock: Any = None, **settings: Any) -> None:
        if clock is not None:
            raise IllegalArgumentError("mode='processes' runs on the machine's monotonic "
                                       "clock; leave clock unset (use mode='steps' for "
                                       "virtual time)")
        super().__init__(brokers, mode=mode, clock=time.monotonic, **settings)

    # --- life ------------------------------------------------------------------------------------

    def _start_brokers(self, brokers: int) -> None:
        self._root = tempfile.mkdtemp(prefix="pcmodel-cluster-")
        self._authkey = secrets.token_bytes(32)
        self._versions: dict[TopicPartition, int] = {}
        self._topic_specs: list[tuple] = []
        # Fault injection and topic creation talk to brokers: one at a time, never under
        # the cluster lock (brokers call the controller, which takes it).
        self._faults = threading.RLock()
        #: Held to start or end a broker's process, and by close() to end them all: a
        #: restart racing close() starts none after it (see _start_process).
        self._processes = threading.Lock()
        #: Brokers in a controlled shutdown: their heartbeats are answered but do not
        #: register them again.
        self._shutting_down: set[int] = set()
        self.nodes = [HostedBroker(b) for b in range(brokers)]
        self._fenced_seen = set(range(brokers))  # not registered yet is not "fenced"
        self._server: ControllerServer | None = None
        self._close_at_exit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._close_at_exit)
        try:
            # Kept before it starts, so that close() stops it even if the start is interrupted.
            self._server = ControllerServer({"broker_heartbeat": self._broker_heartbeat,
                                             "alter_isr": self._broker_alter_isr},
                                            self._authkey)
            self._server.start()
            for b in range(brokers):
                self._check_start()
                self._start_process(b, self._start_cancelled)
            self._await(lambda: len(self.controller.alive) == brokers, START_TIMEOUT,
                        "the brokers did not register with the controller",
                        self._start_cancelled)
            self._threads.append(threading.Thread(target=self._controller_loop,
                                                  name="pcmodel-controller"))
            self._threads[-1].start()
            self._start_coordinator_timers()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop every broker process, join the threads, remove the directory; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._notify()
        atexit.unregister(self._close_at_exit)
        for thread in self._threads:
            if thread.ident is not None:  # a start cut short leaves some never started
                thread.join(timeout=10)
        # After a start under way, which sees the close within a tick; a later one starts none.
        with self._processes:
            for node in self.nodes:
                node.request_stop()  # all at once, then wait for each
            for node in self.nodes:
                node.stop()
                with self._lock:
                    node.alive = False  # as a closed cluster of threads says: they are down
        self._stop_coordinator_timers()  # its writes failed with the brokers
        if self._server is not None:
            self._server.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def step(self) -> bool:
        """Not available: a process cluster runs in real time (use ``mode="steps"``)."""
        raise IllegalStateError("step() drives a cluster with mode='steps'; a process "
                                "cluster runs in real time")

    def settle(self, max_seconds: float = 30.0) -> None:
        """Wait until every live, reachable replica is in its ISR with the leader's log end
        and high watermark (and the HW is the log end), or ``max_seconds`` passed."""
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            count = self.change_count()
            if self._settled():
                return
            self.await_change(count, min(self.tick, max(0.0, deadline - time.monotonic())))

    # --- topics, status, logs --------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1, **settings: Any) -> None:
        with self._faults:
            super().create_topic(name, partitions, **settings)
            with self._lock:
                name_, count, tps, config, topic_settings = self._topic_specs[-1]
                live = [n for n in self.nodes if n.alive]
            for node in live:
                mine = [tp for tp in tps if node.node_id in self.controller.partitions[tp].replicas]
                try:
                    node.call("add_replicas", name_, count, mine, config, topic_settings)
                except KafkaConnectionError:
                    pass  # it died meanwhile; it gets the topic when it restarts

    create_topic.__doc__ = Cluster.create_topic.__doc__

    def delete_topic(self, name: str, *, topic_id: uuid.UUID | None = None) -> uuid.UUID:
        with self._faults:
            topic_id = super().delete_topic(name, topic_id=topic_id)
            with self._lock:
                live = [n for n in self.nodes if n.alive]
            for node in self.nodes:
                try:
                    if node in live:
                        node.call("remove_topic", name)
                        continue
                except KafkaConnectionError:
                    pass  # killed meanwhile: remove its files ourselves
                for path in self._directory(node.node_id).glob(f"{name}-*.journal"):
                    if path.name[len(name) + 1:-len(".journal")].isdigit():
                        path.unlink(missing_ok=True)
            return topic_id

    delete_topic.__doc__ = Cluster.delete_topic.__doc__

    def add_partitions(self, name: str, total: int,
                       replica_assignment: Sequence[Sequence[int]] | None = None, *,
                       validate_only: bool = False) -> None:
        if _check_flag("validate_only", validate_only):
            return super().add_partitions(name, total, replica_assignment, validate_only=True)
        with self._faults:
            super().add_partitions(name, total, replica_assignment)
            with self._lock:
                _, _, tps, config, _ = next(t for t in self._topic_specs if t[0] == name)
                live = [n for n in self.nodes if n.alive]
                hosted = {n.node_id: [tp for tp in tps
                                      if n.node_id in self.controller.partitions[tp].replicas]
                          for n in live}
            for node in live:
                try:
                    node.call("add_partitions", name, total, hosted[node.node_id], config)
                except KafkaConnectionError:
                    pass  # killed meanwhile: it gets the partitions when it restarts

    add_partitions.__doc__ = Cluster.add_partitions.__doc__

    def alter_topic_configs(self, name: str, operations: Any, *, incremental: bool = True,
                            validate_only: bool = False) -> None:
        with self._faults:
            super().alter_topic_configs(name, operations, incremental=incremental,
                                        validate_only=validate_only)
            if validate_only:
                return
            with self._lock:
                _, _, _, config, settings = next(t for t in self._topic_specs if t[0] == name)
                live = [n for n in self.nodes if n.alive]
            for node in live:
                try:
                    node.call("reconfigure_topic", name, config, settings["configs"])
                except KafkaConnectionError:
                    pass  # killed meanwhile: it gets the settings when it restarts

    alter_topic_configs.__doc__ = Cluster.alter_topic_configs.__doc__

    def alter_group_configs(self, group_id: str, operations: Any, *, incremental: bool = True,
                            validate_only: bool = False) -> None:
        with self._faults:
            super().alter_group_configs(group_id, operations, incremental=incremental,
                                        validate_only=validate_only)
            if validate_only:
                return
            with self._lock:
                overrides = dict(self._group_configs.get(group_id, {}))
                live = [n for n in self.nodes if n.alive]
            for node in live:
                try:
                    node.call("set_group_configs", group_id, overrides)
                except KafkaConnectionError:
                    pass  # killed meanwhile: it gets the configs when it restarts

    alter_group_configs.__doc__ = Cluster.alter_group_configs.__doc__

    def replica_status(self, topic: str, partition: int) -> list[ReplicaStatus]:
        tp = TopicPartition(topic, partition)
        st = self.metadata_for(tp)
        out = []
        for b in st.replicas:
            node = self.nodes[b]
            start, leo, hw = self._offsets(node, tp)
            out.append(ReplicaStatus(b, node.alive, st.leader == b, leo, hw, b in st.isr,
                                     start))
        return out

    replica_status.__doc__ = Cluster.replica_status.__doc__

    def log(self, broker: int, topic: str, partition: int) -> list[LogRecord]:
        """Every record in one broker's replica, committed or not; a dead broker's from its
        files."""
        tp = TopicPartition(topic, partition)
        node = self._hosting(broker, tp)
        if node.alive:
            try:
                return node.call("log", tp)
            except KafkaConnectionError:
                pass  # killed meanwhile: read its files
        return replay_log(self._journal(broker, tp))[0]

    def metadata_for(self, tp: TopicPartition) -> PartitionState:
        """One partition's state, as the controller has it."""
        with self._lock:
            return self._state(tp)

    # --- the controller's door (called by broker processes) --------------------------------------

    def _broker_heartbeat(self, broker: int, incarnation: int, events: tuple,
                          hw_moves: int) -> tuple[dict, dict, dict, frozenset[int]]:
        """BrokerHeartbeat: register or refresh ``broker``; answer with the states of the
        partitions it hosts (with versions), the addresses of the live brokers, every
        topic's replication settings (for the replicas a reassignment adds) and the brokers
        the controller counts as fenced (whose replicas leaders must not wait for).

        A restarted incarnation's first heartbeats register it: refused with
        ``DuplicateBrokerRegistrationError`` (the broker applies nothing and tries again at
        its next heartbeat) while the previous incarnation's session is valid; accepted, it
        is answered its states fenced, and its next heartbeat unfences it
        (:meth:`~pcmodel.cluster.state_delivery.StateDelivery._register`)."""
        with self._lock:
            node = self._registered(broker, incarnation)
            registering = broker in self._unregistered
            if registering and not self._register(broker):
                raise DuplicateBrokerRegistrationError(
                    f"broker {broker}: the session of its previous incarnation has not "
                    "expired yet; registration refused")
            for event in map(ClusterEvent._make, events):  # truncations, seen by the broker
                self.events.append(event)
                for observe in self._observers:
                    observe(event)
            if broker not in self._shutting_down and not registering:  # (unfenced next time)
                self._apply_changes(self.controller.heartbeat(broker, self.clock()))
            node.heartbeats += 1
            if events or hw_moves != node.hw_moves:
                node.hw_moves = hw_moves
                self._notify()
            states = {tp: (self._versions.get(tp, 0), st)
                      for tp, st in self.controller.partitions.items() if broker in st.replicas}
            handles = {n.node_id: n.handle for n in self.nodes if n.alive}
            fenced = frozenset(b for b in range(len(self.nodes)) if b not in self.controller.alive)
            return states, handles, dict(self.controller.topics), fenced

    def _broker_alter_isr(self, broker: int, incarnation: int, tp: TopicPartition,
                          leader: int, epoch: int, isr: frozenset[int]
                          ) -> tuple[PartitionState, int]:
        """AlterPartition from a leader process: the state in force and its version."""
        with self._lock:
            self._registered(broker, incarnation)
            state = self._alter_isr(tp, leader, epoch, frozenset(isr))
            return state, self._versions.get(tp, 0)

    def _registered(self, broker: int, incarnation: int) -> HostedBroker:
        node = self.nodes[broker]
        if self._closed or not node.alive or node.incarnation != incarnation:
            raise KafkaConnectionError(f"broker {broker} (incarnation {incarnation}) is not "
                                       "registered")
        if broker in self._isolated_from_controller:
            raise KafkaConnectionError(f"broker {broker} cannot reach the controller")
        return node

    # --- internals -------------------------------------------------------------------------------

    def _add_replicas(self, name: str, partitions: int, tps: list[TopicPartition],
                      config: TopicConfig, **topic_settings: Any) -> None:
        # Under the cluster lock: only remember; create_topic tells the brokers afterwards.
        self._topic_specs.append((name, partitions, tps, config, topic_settings))

    def _remove_replicas(self, name: str) -> None:
        # Under the cluster lock: only remember; delete_topic tells the brokers afterwards.
        self._topic_specs = [t for t in self._topic_specs if t[0] != name]

    def _set_group_configs(self, group_id: str, overrides: Any) -> None:
        # Under the cluster lock: the cluster's table already holds them; alter_group_configs
        # tells the live brokers after, and a restarted one gets the table in its spec.
        pass

    def _reconfigure(self, name: str, config: Any, overrides: dict[str, str]) -> None:
        # Under the cluster lock: only remember; alter_topic_configs tells the brokers after.
        self._topic_specs = [(n, count, tps, config, {**st, "configs": overrides})
                             if n == name else (n, count, tps, c, st)
                             for n, count, tps, c, st in self._topic_specs]

    def _grow_replicas(self, name: str, total: int, added: list, config: Any) -> None:
        # Under the cluster lock: only remember; add_partitions tells the brokers afterwards.
        self._topic_specs = [(n, total, list(tps) + list(added), c, st) if n == name
                             else (n, count, tps, c, st)
                             for n, count, tps, c, st in self._topic_specs]

    def _publish(self, tp: TopicPartition) -> None:
        self._versions[tp] = self._versions.get(tp, 0) + 1
        super()._publish(tp)

    def _deliver(self, tp: TopicPartition, *, only: int | None = None,
                 skip: int | None = None) -> None:
        """Nothing to push: brokers pull the states with their heartbeats."""

    def _deliver_all(self, broker: int) -> None:
        """Nothing to push: the heartbeat's answer carries the states."""

    def _tell_fenced(self, fenced: frozenset[int]) -> None:
        """Nothing to push: brokers pull the fenced brokers with their heartbeats."""

    def _start_process(self, broker: int, cancelled: Any = None) -> None:
        """Start ``broker``'s process and count it alive; ``IllegalStateError`` (the process
        ended first) if the cluster is closed before or while it starts. Under ``_processes``,
        as close() ends them: the start polls the close every tick, so close() waits for a
        tick, a fork and a kill at most, never for a whole start."""
        with self._processes:
            try:
                self._start_process_unless_closed(broker, cancelled)
            except KeyboardInterrupt:
                if not self._closed:
                    raise  # the cluster's own start was cancelled
            with self._lock:
                if not self._closed:  # else close() set it down; it ends the process after
                    self.nodes[broker].alive = True
                    return
            self.nodes[broker].kill()  # it came ready just as close() began
            raise IllegalStateError(f"the cluster was closed while broker {broker} started")

    def _start_process_unless_closed(self, broker: int, cancelled: Any) -> None:
        with self._lock:
            self._check_open()
            node = self.nodes[broker]
            topics = tuple(
                (name, count, [tp for tp in tps
                               if broker in self.controller.partitions[tp].replicas],
                 config, settings)
                for name, count, tps, config, settings in self._topic_specs)
            assert self._server is not None
            spec = HostSpec(broker, node.incarnation + 1, str(self._directory(broker)),
                            self._root, self._server.handle, self.replica_lag_time_max,
                            self.tick, topics, frozenset(self._isolated), node.slowness,
                            self.group_initial_rebalance_delay_ms,
                            self.offsets_retention_minutes,
                            (self.producer_id_expiration_ms,
                             self.producer_id_expiration_check_interval_ms),
                            self.consumer_group_settings, self.group_session_timeout_bounds,
                            tuple((g, dict(c)) for g, c in self._group_configs.items()))
        node.start(spec, self._authkey, START_TIMEOUT,
                   lambda: self._closed or (cancelled is not None and cancelled()))

    def _directory(self, broker: int) -> Path:
        path = Path(self._root) / f"broker-{broker}"
        path.mkdir(exist_ok=True)
        return path

    def _journal(self, broker: int, tp: TopicPartition) -> list[tuple]:
        return read_journal(journal_path(self._directory(broker), tp))[0]

    def _hosting(self, broker: int, tp: TopicPartition) -> HostedBroker:
        with self._lock:
            return super()._hosting(broker, tp)

    def _offsets(self, node: HostedBroker, tp: TopicPartition) -> tuple[int, int, int]:
        if node.alive:
            try:
                return node.call("offsets", tp)
            except KafkaConnectionError:
                pass
        records, start, hw = replay_log(self._journal(node.node_id, tp))
        return start, records[-1].offset + 1 if records else start, hw

    def _settled(self) -> bool:
        with self._lock:
            if self._coming_back():
                return False
        for tp, st in self.metadata().items():
            if st.leader is None:
                continue
            try:
                status = {s.broker: s for s in self.replica_status(tp.topic, tp.partition)}
            except KafkaError:
                return False
            lead = status[st.leader]
            if lead.high_watermark != lead.log_end_offset:
                return False
            for b, s in status.items():
                if s.alive and b not in self._isolated and (
                        not s.in_isr or (s.log_end_offset, s.high_watermark)
                        != (lead.log_end_offset, lead.high_watermark)):
                    return False
        return True

    def _await(self, predicate: Any, timeout: float, failure: str,
               cancelled: Any = None) -> None:
        """Wait until ``predicate()``; ``KafkaError`` after ``timeout`` seconds,
        ``IllegalStateError`` once closed, ``KeyboardInterrupt`` once ``cancelled()`` says so
        (checked every tick)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self._check_open()  # first: a broker close() marked down meets some predicates
                if predicate():
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise KafkaError(f"{failure} within {timeout} s")
                if cancelled is not None and cancelled():
                    raise KeyboardInterrupt("the cluster's start was cancelled")
                self._changed.wait(min(remaining, self.tick))


def _close_at_exit(ref: weakref.ReferenceType[ProcessCluster]) -> None:
    cluster = ref()
    if cluster is not None:
        cluster.close()
