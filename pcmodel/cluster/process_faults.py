"""Fault injection on a process cluster: the same faults and controlled shutdown, done to
processes (a mixin of ``ProcessCluster``).

``kill`` is a SIGKILL of the broker's process (reaped at once; its files stay); ``stop`` a
controlled shutdown, after which the process closes its files and exits; ``restart``
starts a new process that replays them; ``isolate``, ``heal`` and ``slow`` reach every live
broker before they return, so what a test does next already happens under the fault. Faults
are applied one at a time (``_faults``), never under the cluster lock: brokers call the
controller, which takes it.
"""

from __future__ import annotations

from pcmodel.cluster.hosted import START_TIMEOUT
from pcmodel.cluster.injection import FaultInjection, check_slowness
from pcmodel.topics.broker_checks import _check_flag
from pcmodel.topics.errors import KafkaConnectionError, KafkaError

__all__ = ["ProcessFaults"]


class ProcessFaults:
    """The fault methods of :class:`~pcmodel.cluster.process_cluster.ProcessCluster`."""

    def kill(self, broker: int) -> None:
        """SIGKILL ``broker``'s process; its files stay for a restart. Idempotent."""
        with self._faults:
            with self._lock:
                node = self._node(broker)
                if not node.alive:
                    return
                node.alive = False
                self._event("killed", broker)
                self._notify()
            with self._processes:  # not while close() ends it too
                node.kill()

    def stop(self, broker: int) -> None:
        """A controlled shutdown of ``broker``'s process (see :meth:`Cluster.stop
        <pcmodel.cluster.injection.FaultInjection.stop>`): the controller moves its leaderships
        and takes it out of the ISRs; the broker learns that with its next heartbeat (its
        waiting produces are answered, not left unknown); then it is asked to stop, closes
        its files and exits. Returns once it has. Idempotent."""
        with self._faults:
            with self._lock:
                node = self._node(broker)
                if not node.alive:
                    return
                # Unregistered, its new incarnation has nothing to tell the controller.
                told = broker not in self._isolated_from_controller | self._unregistered
                if told:
                    self._shutting_down.add(broker)
                    self._apply_changes(self.controller.fence(broker))
                    heard = node.heartbeats
            try:
                if told:
                    # As a Kafka broker stops only once its metadata shows it leads nothing:
                    # until then a client with old metadata could still write to it. Its
                    # heartbeats come one after another, so the second after the fence begins
                    # once the states the first brought are applied. Then the produces those
                    # states failed must reach their callers before the connection goes.
                    self._await(lambda: node.heartbeats >= heard + 2 or not node.alive,
                                START_TIMEOUT, f"broker {broker} did not hear its shutdown")
                    self._await(lambda: node.pending_produces() == 0 or not node.alive,
                                START_TIMEOUT, f"broker {broker}'s produces were not answered")
            except KafkaError:
                pass  # it stops all the same, as a Kafka broker whose controlled shutdown failed
            finally:  # also when interrupted: a broker marked down must not run on
                with self._lock:
                    self._shutting_down.discard(broker)
                    was_alive, node.alive = node.alive, False
                    if was_alive:
                        self._event("stopped", broker)
                        self._notify()
                with self._processes:  # not while close() ends it too
                    node.stop()

    def restart(self, broker: int) -> None:
        """Start a new process for a killed or stopped broker: it replays its journals,
        registers, truncates to its leaders, catches up and rejoins the ISRs. Returns once it
        is registered and unfenced (at once if it is isolated from the controller): as in
        :meth:`Cluster.restart <pcmodel.cluster.injection.FaultInjection.restart>`, not before
        the previous incarnation's session is over.

        ``IllegalStateError`` if the cluster is closed, also while this waits: a ``close()``
        during the start or the registration ends the new process before it returns (it
        waits for the start to see it, within a tick, not for a whole start)."""
        with self._faults:
            with self._lock:
                self._check_open()
                node = self._node(broker)
                if node.alive and node.exitcode is None:
                    return
                node.alive = False  # it ended on its own: start it again all the same
                self._unregistered.add(broker)
            self._start_process(broker)
            with self._lock:
                self._check_open()  # closed since: close() ends the process
                self._event("restarted", broker)
                self._notify()
            self._await(lambda: (broker in self.controller.alive
                                 and broker not in self._unregistered)
                        or broker in self._isolated_from_controller or not node.alive,
                        START_TIMEOUT, f"broker {broker} did not register after its restart")

    def isolate(self, broker: int, *, controller: bool = False) -> None:
        _check_flag("controller", controller)
        with self._faults:
            with self._lock:
                self._check_open()
                self._node(broker)
                self._isolated.add(broker)
                if controller:
                    self._cut_off(broker)
                    self._isolated_from_controller.add(broker)
                self._event("isolated", broker,
                            detail="with controller" if controller else None)
                self._notify()
            self._push_isolation()

    isolate.__doc__ = FaultInjection.isolate.__doc__

    def heal(self, broker: int | None = None) -> None:
        with self._faults:
            with self._lock:
                self._check_open()
                healed = sorted(self._isolated) if broker is None else [broker]
                for b in healed:
                    self._node(b)
                    if b in self._isolated:
                        self._isolated.discard(b)
                        self._isolated_from_controller.discard(b)
                        self._reconnected(b)
                        self._event("healed", b)
                self._notify()
            self._push_isolation()

    heal.__doc__ = FaultInjection.heal.__doc__

    def slow(self, broker: int, seconds: float) -> None:
        seconds = check_slowness(seconds)
        with self._faults:
            with self._lock:
                self._check_open()
                node = self._node(broker)
                node.slowness = seconds
                self._event("slowed", broker, detail=seconds)
                self._notify()
            if node.alive:
                try:
                    node.call("set_slowness", seconds)
                except KafkaConnectionError:
                    pass  # killed meanwhile: it starts slow when it restarts

    slow.__doc__ = FaultInjection.slow.__doc__

    # --- internals -------------------------------------------------------------------------------

    def _push_isolation(self) -> None:
        with self._lock:
            isolated = frozenset(self._isolated)
            live = [n for n in self.nodes if n.alive]
        for node in live:
            try:
                node.call("set_isolated", isolated)
            except KafkaConnectionError:
                pass  # killed meanwhile: it learns the isolation when it restarts
