"""Fault injection on a cluster: kill, stop, restart, isolate, heal, slow (a mixin of ``Cluster``).

Every method takes the cluster lock, changes who can reach whom, records an event and wakes
the brokers' threads. A killed broker keeps its log (a crashed process's data is on disk) and is
noticed by the controller only when its session expires; a stopped one (Kafka's controlled
shutdown) tells the controller first, which moves its leaderships and ISR places at once;
``isolate`` cuts replication traffic (and, with ``controller=True``, heartbeats too: a full
network partition, where a deposed leader may go on accepting ``acks=1`` writes that are lost
when it returns).
"""

from __future__ import annotations

import math

from pcmodel.topics.errors import IllegalArgumentError

__all__ = ["FaultInjection", "check_slowness"]


def check_slowness(seconds: object) -> float:
    """``seconds`` for :meth:`FaultInjection.slow`, as a float; ``IllegalArgumentError``
    unless it is a finite number >= 0 (a fetch that never comes is ``isolate``)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds < 0:
        raise IllegalArgumentError(f"slow() needs a finite number of seconds >= 0, got "
                                   f"{seconds!r}")
    return float(seconds)


class FaultInjection:
    """The fault methods of :class:`~pcmodel.cluster.cluster.Cluster`."""

    def kill(self, broker: int) -> None:
        """Crash ``broker``: it stops at once; its log stays for a restart. Idempotent."""
        with self._lock:
            node = self._node(broker)
            if node.alive:
                node.crash()
                self._event("killed", broker)
                self._notify()

    def stop(self, broker: int) -> None:
        """Stop ``broker`` as Kafka stops a broker told to (SIGTERM, ``kafka-server-stop.sh``):
        a *controlled shutdown*. Idempotent; its log stays for a restart.

        Unlike :meth:`kill`, the controller hears of it first: at once, not a session timeout
        later, the broker leaves every ISR and each partition it led gets a new leader from
        the rest of its ISR (or none: a partition whose ISR is the broker alone goes offline,
        unless its topic allows an unclean election). Produces waiting on it for replication
        are answered ``NotLeaderForPartitionError``, which a producer retries at the new
        leader, where a crash leaves them with an unknown outcome. Only then does the broker
        stop. A broker cut off from the controller cannot tell it, and stops as after a crash.
        """
        with self._lock:
            node = self._node(broker)
            if not node.alive:
                return
            if broker not in self._isolated_from_controller:
                self._apply_changes(self.controller.fence(broker))  # node hears it too
            node.crash()
            self._event("stopped", broker)
            self._notify()

    def restart(self, broker: int) -> None:
        """Start a killed or stopped broker again: it re-registers, truncates, catches up,
        rejoins ISRs."""
        with self._lock:
            node = self._node(broker)
            if node.alive:
                return
            # A restarted broker is a new incarnation: the controller forgets the old one
            # (if its session had not expired yet) before registering it again.
            self._apply_changes(self.controller.fence(broker))
            node.alive = True
            node.next_fetch_at = 0.0
            self._event("restarted", broker)
            self._heartbeat(node)
            for tp in self._partitions_of(node):
                self._deliver(tp, only=broker)
            self._notify()

    def isolate(self, broker: int, *, controller: bool = False) -> None:
        """Cut ``broker`` off from replication traffic (and from the controller if asked)."""
        with self._lock:
            self._node(broker)
            self._isolated.add(broker)
            if controller:
                self._isolated_from_controller.add(broker)
            self._event("isolated", broker, detail="with controller" if controller else None)
            self._notify()

    def heal(self, broker: int | None = None) -> None:
        """End the isolation of ``broker`` (of every broker if ``None``)."""
        with self._lock:
            healed = sorted(self._isolated) if broker is None else [broker]
            for b in healed:
                if b in self._isolated:
                    self._isolated.discard(b)
                    self._isolated_from_controller.discard(b)
                    self._event("healed", b)
                    if self.nodes[b].alive:
                        self._heartbeat(self.nodes[b])
                        for tp in self._partitions_of(self.nodes[b]):
                            self._deliver(tp, only=b)
            self._notify()

    def slow(self, broker: int, seconds: float) -> None:
        """Make each replica fetch of ``broker`` take ``seconds`` (``0`` restores it)."""
        seconds = check_slowness(seconds)
        with self._lock:
            node = self._node(broker)
            node.slowness = seconds
            node.next_fetch_at = self.clock() + seconds
            self._event("slowed", broker, detail=seconds)
            self._notify()
