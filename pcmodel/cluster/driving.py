"""How a cluster moves: one step at a time on virtual time, or on threads (a mixin of ``Cluster``).

``mode="steps"``: nothing happens until :meth:`Driving.step` runs one round of every broker's
duties (heartbeat, one fetch per followed partition, leader bookkeeping) in broker order, or
:meth:`Driving.advance` moves the virtual clock first. ``mode="threads"``: each broker's thread
runs the same round whenever something changed or a tick passed, and a controller thread
expires silent brokers and balances the leaders. Either way a round runs with the cluster lock
held.

The coordinators' timers hang on the same tick: Kafka's transaction coordinator aborts
timed-out transactions and expires transactional ids on a schedule, and its group coordinator
expires committed offsets and deletes the groups left empty with none
(:mod:`pcmodel.cluster.offsets_retention`), whether or not a client calls. They run with the
cluster lock *released*, since the coordinators take their own locks and then the cluster's
(:mod:`pcmodel.cluster.transaction_log`, :mod:`pcmodel.cluster.offsets`): a step runs the
checks that are due after its round, as the virtual clock advances; on threads (and in the
process of a cluster of processes) the controller's round, seeing a check due, wakes its
:class:`CoordinatorTimer` thread (``pcmodel-transactions``, ``pcmodel-offsets``, started with
the cluster's other threads), which runs it, so that a check waiting for its writes to
replicate holds up neither the controller, nor the brokers, nor the other check. Before the
first transactional call, and before the first client connects, there is nothing to check,
and between two checks the test is a comparison or two.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pcmodel.cluster.clock import VirtualClock, check_seconds
from pcmodel.cluster.follower import replicate_once
from pcmodel.cluster.node import ClusterNode
from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.topics.errors import IllegalStateError, KafkaError

__all__ = ["CoordinatorTimer", "Driving"]


class Driving:
    """The stepping and the threads of :class:`~pcmodel.cluster.cluster.Cluster`."""

    # --- driving ------------------------------------------------------------------------------

    def step(self) -> bool:
        """One round of every live broker's duties and the controller's; True if data moved.

        Order: the controller expires silent brokers and balances the leaders when that is
        due; then each broker in id order heartbeats,
        fetches once for every partition it follows, and does its leader bookkeeping; then
        the coordinators run their checks that are due (see the module): the transaction
        coordinators abort the timed-out transactions and expire ids, the group coordinators
        expire committed offsets and delete the groups left empty with none.
        """
        with self._lock:
            self._check_open()
            moved = False
            self._controller_round()
            for node in self.nodes:
                moved |= self._node_round(node)
        self._run_transaction_checks()
        self._run_retention_check()
        return moved

    def advance(self, seconds: float | None = None) -> bool:
        """Move the virtual clock by ``seconds`` (one tick by default), then :meth:`step`.
        ``IllegalArgumentError`` unless ``seconds`` is a finite number >= 0."""
        if not isinstance(self.clock, VirtualClock):
            raise IllegalStateError("advance() needs a cluster with a VirtualClock; "
                                    "a real-time cluster moves on its own")
        self.clock.advance(self.tick if seconds is None else check_seconds("advance()", seconds))
        return self.step()

    def run_for(self, seconds: float) -> None:
        """Advance virtual time tick by tick for ``seconds``, stepping after each tick.
        ``IllegalArgumentError`` unless ``seconds`` is a finite number >= 0."""
        end = self.clock() + check_seconds("run_for()", seconds)
        while self.clock() < end - 1e-9:
            self.advance(min(self.tick, end - self.clock()))

    def settle(self, max_seconds: float = 30.0) -> None:
        """Step until nothing moves and every live replica of every partition is in the ISR
        with its leader's LEO, or ``max_seconds`` of virtual time passed (a finite number
        >= 0, else ``IllegalArgumentError``)."""
        self._drive_until(self._settled, check_seconds("settle()", max_seconds))

    # --- one broker's round (with the lock held) ----------------------------------------------

    def _node_round(self, node: ClusterNode) -> bool:
        """One round of ``node``'s duties; True if records moved (notifies if anything did)."""
        hw_moves = sum(n.hw_moves for n in self.nodes)
        moved = self._node_duties(node)
        if moved or sum(n.hw_moves for n in self.nodes) != hw_moves:
            self._notify()
        return moved

    def _node_duties(self, node: ClusterNode) -> bool:
        if not node.alive:
            return False
        self._heartbeat(node)
        moved = False
        now = self.clock()
        if now >= node.next_fetch_at:
            for replica in node.followed():
                moved |= self._replicate(node, replica)
            if node.slowness:
                node.next_fetch_at = now + node.slowness
        node.maintain()
        return moved

    def _replicate(self, node: ClusterNode, replica: Any) -> bool:
        """One fetch by ``node`` from the leader of ``replica``'s partition; True if it copied."""
        leader = self.nodes[replica.state.leader]
        if not leader.alive or not self._links(node.node_id, leader.node_id):
            return False

        def truncated(offset: int, gone: tuple) -> None:
            self._event("truncated", node.node_id, replica.tp, (offset, len(gone)), gone)

        return replicate_once(node.node_id, replica, leader, truncated)

    def _coming_back(self) -> bool:
        """True while a restarted broker is not back yet: not registered, or registered and
        still fenced (the controller counts it alive only once it has caught up). Until then
        a partition only it can lead has no leader, so nothing else shows it is missing. A
        broker cut off is not waited for: it comes back when it is healed. Call with the
        cluster lock held."""
        if self._unregistered - self._isolated:  # restarted, not registered yet
            return True
        return any(node.alive and node.node_id not in self._isolated
                   and node.node_id not in self.controller.alive for node in self.nodes)

    def _settled(self) -> bool:
        if self._coming_back():
            return False
        for tp, st in self.controller.partitions.items():
            if st.leader is None:
                continue
            _, leo, hw = self.nodes[st.leader].replicas[tp].offsets
            if hw != leo:
                return False
            for b in st.replicas:
                node = self.nodes[b]
                if node.alive and b not in self._isolated and (
                        b not in st.isr or node.replicas[tp].offsets[1:] != (leo, hw)):
                    return False
        return True

    def _drive_until_done(self, future: ProduceFuture, timeout: float) -> None:
        """Stepped mode: advance virtual time until ``future`` is answered or ``timeout``."""
        self._drive_until(future.done, timeout)

    def _drive_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Stepped mode: a step, then tick after tick until ``predicate()`` holds or
        ``timeout`` seconds of virtual time passed; return whether it holds."""
        end = self.clock() + timeout
        self.step()
        while not predicate():
            if self.clock() >= end:
                return False
            self.advance()
        return True

    # --- threads ------------------------------------------------------------------------------

    def _start_threads(self) -> None:
        for node in self.nodes:
            t = threading.Thread(target=self._node_loop, args=(node,),
                                 name=f"pcmodel-broker-{node.node_id}")
            self._threads.append(t)
        self._threads.append(threading.Thread(target=self._controller_loop,
                                              name="pcmodel-controller"))
        for t in self._threads:
            t.start()
        self._start_coordinator_timers()

    def _node_loop(self, node: ClusterNode) -> None:
        with self._lock:
            while not self._closed:
                moved = self._node_round(node)
                # Waiting releases the lock, so clients get in between two rounds.
                self._changed.wait(0 if moved else self.tick)

    def _controller_loop(self) -> None:
        with self._lock:
            while not self._closed:
                self._controller_round()
                self._changed.wait(self.tick)

    def _controller_round(self) -> None:
        """The controller's duties at a tick (with the cluster lock held)."""
        now = self.clock()
        self._apply_changes(self.controller.expire_sessions(now))
        self._apply_changes(self.controller.balance_leaders(now))
        self._wake_coordinator_timers()

    # --- the coordinators' timers ------------------------------------------------------------

    def _run_transaction_checks(self) -> None:
        """Run the transaction coordinators' checks that are due (without the cluster lock)."""
        log = self._transaction_log
        if log is not None:
            log.run_due_checks()

    def _run_retention_check(self) -> None:
        """Run the group coordinators' offsets-retention check if it is due (without the
        cluster lock)."""
        offsets = self._offsets_topic
        if offsets is not None:
            offsets.expire_if_due()

    def _start_coordinator_timers(self) -> None:
        """Start the timer threads of a cluster that runs by itself, with its other threads:
        each sleeps until its check is due (a thread started later, at the first check due,
        would belong to whoever happened to be using the cluster then)."""
        def closed() -> bool:
            return self._closed

        self._timers = {
            "transactions": CoordinatorTimer("pcmodel-transactions",
                                             self._run_transaction_checks, closed),
            "offsets": CoordinatorTimer("pcmodel-offsets", self._run_retention_check, closed),
        }
        for timer in self._timers.values():
            timer.start()

    def _wake_coordinator_timers(self) -> None:
        """On a cluster that runs by itself, wake the timer thread of each check that is due.
        With the cluster lock held: reads a few numbers."""
        if not self._timers:
            return
        log = self._transaction_log
        if log is not None and log.due():
            self._timers["transactions"].wake()
        offsets = self._offsets_topic
        if offsets is not None and offsets.retention_due():
            self._timers["offsets"].wake()

    def _stop_coordinator_timers(self) -> None:
        """Once the cluster is closed and its brokers stopped (which fails the writes a check
        may be waiting for): end the timer threads."""
        for timer in self._timers.values():
            timer.stop()


class CoordinatorTimer:
    """A coordinator's periodic check on a thread of its own, on a cluster that runs by itself
    (Kafka's coordinators schedule theirs). :meth:`wake` (the controller's tick, when the
    check is due) makes the thread run ``run()`` once; ``closed()`` says the cluster is
    closed, and the thread then ends."""

    def __init__(self, name: str, run: Callable[[], object],
                 closed: Callable[[], bool]) -> None:
        self._run = run
        self._closed = closed
        self._due = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name)

    def start(self) -> None:
        """Start the thread; it sleeps until woken."""
        self._thread.start()

    def wake(self) -> None:
        """Have the thread run the check (once, however often woken meanwhile). Never
        blocks."""
        self._due.set()

    def stop(self) -> None:
        """End the thread (call it once ``closed()`` says True); waits up to 10 s for it."""
        self._due.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._closed():
                return
            try:
                self._run()
            except (KafkaError, TimeoutError):
                if self._closed():
                    return
                # Kafka's scheduler logs a failed run and keeps its schedule: the check is
                # due again an interval later.
