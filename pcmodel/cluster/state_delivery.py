"""How the controller's decisions reach the brokers (a mixin of ``Cluster``).

Every change the controller makes to a partition's state is *published* (the cluster's events:
a new leader, clean or unclean; a new ISR; replicas that start or finish moving) and
*delivered* to the brokers that can hear the controller: Kafka's LeaderAndIsr, or, in KRaft,
the brokers replaying the metadata log. A broker listed among the replicas creates its replica
if it has none yet (a reassignment added it); one that holds a replica but is no longer listed
deletes it. A broker that could not hear (down, cut off) catches up when it can
(:meth:`StateDelivery._partitions_of` lists what it must hear about). Heartbeats and the
leaders' ISR changes (AlterPartition) come the other way, through here too, and so does a
restarted broker's registration: refused while its previous incarnation's session is valid,
then fenced until the heartbeat after it has been told its partitions' states (Kafka's
BrokerRegistration, then a heartbeat that asks to be unfenced).

A cluster of processes publishes the same way but delivers nothing: its brokers pull the states
with their heartbeats (:mod:`pcmodel.cluster.host`).

What a broker was last told is also what its Kafka listener answers Metadata with
(:meth:`StateDelivery.metadata_image`), topic ids included: a broker cut off from the
controller goes on answering its stale view, as a Kafka broker answers from its own metadata
image.

Called with the cluster lock held, except :meth:`StateDelivery.metadata_image`, which takes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import NamedTuple

from pcmodel.cluster.controller import PartitionState
from pcmodel.cluster.errors import DuplicateBrokerRegistrationError
from pcmodel.cluster.node import ClusterNode
from pcmodel.topics.errors import KafkaConnectionError
from pcmodel.topics.structs import TopicPartition

__all__ = ["MetadataImage", "StateDelivery"]


class MetadataImage(NamedTuple):
    """What one broker knows of the cluster (Kafka's metadata image): every partition's
    state and the brokers counted as alive (registered, unfenced), as the controller last
    told it, and every topic's id (KIP-516). ``current`` is False for a broker cut off from
    the controller, whose image is the one it had when it stopped hearing."""

    partitions: Mapping[TopicPartition, PartitionState]
    live: frozenset[int]
    current: bool = True
    topic_ids: Mapping[str, uuid.UUID] = {}


class StateDelivery:
    """The controller-to-broker traffic of :class:`~pcmodel.cluster.cluster.Cluster`."""

    def metadata_image(self, broker: int) -> MetadataImage:
        """Broker ``broker``'s own view of the cluster, which its Kafka listener answers
        Metadata from: the controller's decisions as they are now, or, for a broker cut off
        from the controller (``isolate(broker, controller=True)``), as they were when it was
        cut off, however much has changed since (a Kafka broker answers from the metadata
        records it has replicated). Never blocks beyond the cluster lock."""
        with self._lock:
            image = self._images.get(broker)
            return image if image is not None else self._current_image()

    def _current_image(self) -> MetadataImage:
        return MetadataImage(dict(self.controller.partitions), frozenset(self.controller.alive),
                             topic_ids=dict(self.controller.topic_ids))

    def _cut_off(self, broker: int) -> None:
        """``broker`` stops hearing the controller: its image stays as it is now."""
        if broker not in self._images:
            self._images[broker] = self._current_image()._replace(current=False)

    def _reconnected(self, broker: int) -> None:
        """``broker`` hears the controller again: its image follows the controller's."""
        self._images.pop(broker, None)

    def _heartbeat(self, node: ClusterNode) -> None:
        """``node`` heartbeats to the controller, if it can reach it; a restarted one
        registers first (:meth:`_register`)."""
        if not node.alive or node.node_id in self._isolated_from_controller:
            return
        if node.node_id in self._unregistered:
            self._register(node.node_id)
        else:
            self._apply_changes(self.controller.heartbeat(node.node_id, self.clock()))

    def _register(self, broker: int) -> bool:
        """A restarted ``broker`` asks to register its new incarnation; True if it did.

        Refused while the previous incarnation's session is valid (the broker tries again at
        its next heartbeat). Accepted, the broker is registered fenced and catches up: it is
        told the states of its partitions now, and its next heartbeat unfences it, as a
        Kafka broker asks to be unfenced once it has replayed the metadata log up to its
        registration."""
        try:
            changed = self.controller.register(broker, self.clock())
        except DuplicateBrokerRegistrationError:
            return False
        self._unregistered.discard(broker)
        self._apply_changes(changed)
        self._deliver_all(broker)
        return True

    def _deliver_all(self, broker: int) -> None:
        """Send ``broker`` the state of every partition it hosts or must host (it could not
        hear the controller, or has just registered)."""
        for tp in self._partitions_of(self.nodes[broker]):
            self._deliver(tp, only=broker)

    def _alter_isr(self, tp: TopicPartition, leader: int, epoch: int,
                   isr: frozenset[int]) -> PartitionState:
        if leader in self._isolated_from_controller:
            raise KafkaConnectionError(f"broker {leader} cannot reach the controller")
        before = self.controller.partitions[tp]
        state = self.controller.alter_isr(tp, leader, epoch, isr)
        if state != before:  # the ISR, and the replicas if it completed a reassignment
            self._publish(tp)
            self._deliver(tp, skip=leader)
        return state

    def _apply_changes(self, tps: list[TopicPartition]) -> None:
        """Record and deliver the controller's decisions (events for leader and ISR changes)."""
        fenced = {b for b in range(len(self.nodes)) if b not in self.controller.alive}
        for b in sorted(fenced - self._fenced_seen):
            self._event("fenced", b)
        for b in sorted(self._fenced_seen - fenced):
            self._event("unfenced", b)
        self._fenced_seen = fenced
        self._tell_fenced(frozenset(fenced))
        for tp in tps:
            self._publish(tp)
            self._deliver(tp)
        if tps:
            self._notify()

    def _tell_fenced(self, fenced: frozenset[int]) -> None:
        """Tell the brokers that can hear the controller which brokers are fenced: their
        leaders then neither wait for those replicas nor ask to add them to an ISR."""
        for node in self.nodes:
            if node.alive and node.node_id not in self._isolated_from_controller \
                    and node.node_id not in self._unregistered:
                node.ineligible = fenced

    def _publish(self, tp: TopicPartition) -> None:
        """Events for what changed in ``tp``'s state since it was last published."""
        st = self.controller.partitions[tp]
        prev = self._published.get(tp)
        self._published[tp] = st
        if prev is None or (prev.leader, prev.leader_epoch) != (st.leader, st.leader_epoch):
            if st.leader is None:
                kind = "offline"
            elif prev is None or st.leader in prev.isr:
                kind = "clean"
            else:
                kind = "unclean"
            self._event("leader", st.leader, tp, (kind, st.leader_epoch))
        if prev is None or prev.isr != st.isr:
            self._event("isr", st.leader, tp, tuple(sorted(st.isr)))
        if prev is not None and (prev.replicas, prev.adding, prev.removing) != (
                st.replicas, st.adding, st.removing):
            self._event("replicas", st.leader, tp, (st.replicas, st.adding, st.removing))

    def _deliver(self, tp: TopicPartition, *, only: int | None = None,
                 skip: int | None = None) -> None:
        """Send the partition's state to every live broker that can hear us and hosts it, or
        must start or stop hosting it (a reassignment)."""
        st = self.controller.partitions[tp]
        for node in self.nodes:
            b = node.node_id
            if b == skip or (only is not None and b != only) or not node.alive or (
                    b in self._isolated_from_controller) or b in self._unregistered:
                continue
            if b in st.replicas:
                node.add_replica(tp, self.controller.topics[tp.topic])
            node.apply_state(tp, st)  # removes the replica of a broker no longer listed

    def _partitions_of(self, node: ClusterNode) -> list[TopicPartition]:
        """The partitions ``node`` hosts or must host: what it missed while it could not hear
        the controller includes reassignments that added or removed its replicas."""
        assigned = {tp for tp, st in self.controller.partitions.items()
                    if node.node_id in st.replicas}
        return sorted(assigned | set(node.replicas))
