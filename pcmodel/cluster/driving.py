"""How a cluster moves: one step at a time on virtual time, or on threads (a mixin of ``Cluster``).

``mode="steps"``: nothing happens until :meth:`Driving.step` runs one round of every broker's
duties (heartbeat, one fetch per followed partition, leader bookkeeping) in broker order, or
:meth:`Driving.advance` moves the virtual clock first. ``mode="threads"``: each broker's thread
runs the same round whenever something changed or a tick passed, and a controller thread
expires silent brokers and balances the leaders. Either way a round runs with the cluster lock
held.

The transaction coordinators' timer (Kafka's coordinator aborts timed-out transactions and
expires transactional ids on a schedule, whether or not a client calls) hangs on the same tick,
and runs with the cluster lock *released*, since the coordinators take their own lock and then
the cluster's (:mod:`pcmodel.cluster.transaction_log`): a step runs the checks that are due
after its round, as the virtual clock advances; on threads (and in the process of a cluster of
processes) the controller's round, seeing a check due, wakes the ``pcmodel-transactions`` thread
(started with the cluster's other threads), which runs it, so that a check waiting for its
markers to replicate holds up neither the controller nor the brokers. Before the first
transactional call there is nothing to check, and between two checks the test is two
comparisons.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pcmodel.cluster.clock import VirtualClock
from pcmodel.cluster.follower import replicate_once
from pcmodel.cluster.node import ClusterNode
from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.topics.errors import IllegalStateError, KafkaError

__all__ = ["Driving"]


class Driving:
    """The stepping and the threads of :class:`~pcmodel.cluster.cluster.Cluster`."""

    # --- driving ------------------------------------------------------------------------------

    def step(self) -> bool:
        """One round of every live broker's duties and the controller's; True if data moved.

        Order: the controller expires silent brokers and balances the leaders when that is
        due; then each broker in id order heartbeats,
        fetches once for every partition it follows, and does its leader bookkeeping; then
        the transaction coordinators abort the timed-out transactions and expire ids, if
        that is due (see the module).
        """
        with self._lock:
            self._check_open()
            moved = False
            self._controller_round()
            for node in self.nodes:
                moved |= self._node_round(node)
        self._run_transaction_checks()
        return moved

    def advance(self, seconds: float | None = None) -> bool:
        """Move the virtual clock by ``seconds`` (one tick by default), then :meth:`step`."""
        if not isinstance(self.clock, VirtualClock):
            raise IllegalStateError("advance() needs a cluster with a VirtualClock; "
                                    "a real-time cluster moves on its own")
        self.clock.advance(self.tick if seconds is None else seconds)
        return self.step()

    def run_for(self, seconds: float) -> None:
        """Advance virtual time tick by tick for ``seconds``, stepping after each tick."""
        end = self.clock() + seconds
        while self.clock() < end - 1e-9:
            self.advance(min(self.tick, end - self.clock()))

    def settle(self, max_seconds: float = 30.0) -> None:
        """Step until nothing moves and every live replica of every partition is in the ISR
        with its leader's LEO, or ``max_seconds`` of virtual time passed."""
        self._drive_until(self._settled, max_seconds)

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

    def _settled(self) -> bool:
        if self._unregistered - self._isolated:  # restarted, not registered yet
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
        self._start_transaction_timer()

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
        self._wake_transaction_timer()

    # --- the transaction coordinators' timer --------------------------------------------------

    def _run_transaction_checks(self) -> None:
        """Run the transaction coordinators' checks that are due (without the cluster lock)."""
        log = self._transaction_log
        if log is not None:
            log.run_due_checks()

    def _start_transaction_timer(self) -> None:
        """Start the timer thread of a cluster that runs by itself, with its other threads: it
        sleeps until a check is due (a thread started later, at the first check due, would
        belong to whoever happened to be using the cluster then)."""
        self._transaction_timer = threading.Thread(target=self._transaction_timer_loop,
                                                   name="pcmodel-transactions")
        self._transaction_timer.start()

    def _wake_transaction_timer(self) -> None:
        """On a cluster that runs by itself, wake the timer thread if a transaction check is
        due. With the cluster lock held: reads two numbers."""
        log = self._transaction_log
        if self._transaction_timer is None or log is None or not log.due():
            return
        self._transactions_due.set()

    def _transaction_timer_loop(self) -> None:
        while True:
            self._transactions_due.wait()
            self._transactions_due.clear()
            if self._closed:
                return
            try:
                self._run_transaction_checks()
            except KafkaError:
                if self._closed:
                    return
                # Kafka's scheduler logs a failed run and keeps its schedule: the check is
                # due again an interval later.

    def _stop_transaction_timer(self) -> None:
        """Once the cluster is closed and its brokers stopped (which fails the writes a check
        may be waiting for): end the timer thread."""
        timer = self._transaction_timer
        if timer is not None:
            self._transactions_due.set()
            timer.join(timeout=10)
