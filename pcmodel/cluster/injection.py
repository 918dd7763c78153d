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

from pcmodel.cluster.clock import check_seconds
from pcmodel.topics.broker_checks import _check_flag

__all__ = ["FaultInjection", "check_slowness"]


def check_slowness(seconds: object) -> float:
    """``seconds`` for :meth:`FaultInjection.slow`, as a float; ``IllegalArgumentError``
    unless it is a finite number >= 0 (a fetch that never comes is ``isolate``)."""
    return check_seconds("slow()", seconds)


class FaultInjection:
    """The fault methods of :class:`~pcmodel.cluster.cluster.Cluster`.

    Each raises ``IllegalArgumentError`` for a broker id the cluster does not have, and every
    one but the idempotent :meth:`kill` and :meth:`stop` raises ``IllegalStateError`` once the
    cluster is closed (a closed cluster's brokers stay down), before anything changes."""

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
            # A broker cut off from the controller cannot tell it; nor can one whose new
            # incarnation is not registered yet (the controller's broker is the old one).
            if broker not in self._isolated_from_controller | self._unregistered:
                self._apply_changes(self.controller.fence(broker))  # node hears it too
            node.crash()
            self._event("stopped", broker)
            self._notify()

    def restart(self, broker: int) -> None:
        """Start a killed or stopped broker again: it registers, truncates, catches up,
        rejoins ISRs.

        A restarted broker is a new incarnation, which the controller registers only once
        the old one's session is over, as Kafka's does (DUPLICATE_BROKER_REGISTRATION until
        then; the broker retries at each heartbeat): at once after :meth:`stop` (a controlled
        shutdown fences the broker) or once the session expired, else up to
        ``broker_session_timeout_ms`` after its last heartbeat. Until registered it leads and
        follows nothing. Registered, it is fenced until its next heartbeat: only then may
        leaders add it to ISRs and offline partitions elect it."""
        with self._lock:
            self._check_open()
            node = self._node(broker)
            if node.alive:
                return
            node.alive = True
            node.next_fetch_at = 0.0
            self._unregistered.add(broker)
            self._event("restarted", broker)
            self._heartbeat(node)
            self._notify()

    def isolate(self, broker: int, *, controller: bool = False) -> None:
        """Cut ``broker`` off from replication traffic (and from the controller if asked: it
        neither heartbeats nor hears any decision, and its Kafka listener goes on answering
        Metadata from the view it had, :meth:`metadata_image`)."""
        _check_flag("controller", controller)
        with self._lock:
            self._check_open()
            self._node(broker)
            self._isolated.add(broker)
            if controller:
                self._cut_off(broker)
                self._isolated_from_controller.add(broker)
            self._event("isolated", broker, detail="with controller" if controller else None)
            self._notify()

    def heal(self, broker: int | None = None) -> None:
        """End the isolation of ``broker`` (of every broker if ``None``)."""
        with self._lock:
            self._check_open()
            healed = sorted(self._isolated) if broker is None else [broker]
            for b in healed:
                self._node(b)  # an id the cluster does not have is refused, not ignored
                if b in self._isolated:
                    self._isolated.discard(b)
                    self._isolated_from_controller.discard(b)
                    self._reconnected(b)
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
            self._check_open()
            node = self._node(broker)
            node.slowness = seconds
            node.next_fetch_at = self.clock() + seconds
            self._event("slowed", broker, detail=seconds)
            self._notify()
