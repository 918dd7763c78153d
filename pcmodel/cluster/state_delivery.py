"""How the controller's decisions reach the brokers (a mixin of ``Cluster``).

Every change the controller makes to a partition's state is *published* (the cluster's events:
a new leader, clean or unclean; a new ISR; replicas that start or finish moving) and
*delivered* to the brokers that can hear the controller: Kafka's LeaderAndIsr, or, in KRaft,
the brokers replaying the metadata log. A broker listed among the replicas creates its replica
if it has none yet (a reassignment added it); one that holds a replica but is no longer listed
deletes it. A broker that could not hear (down, cut off) catches up when it can
(:meth:`StateDelivery._partitions_of` lists what it must hear about). Heartbeats and the
leaders' ISR changes (AlterPartition) come the other way, through here too.

A cluster of processes publishes the same way but delivers nothing: its brokers pull the states
with their heartbeats (:mod:`pcmodel.cluster.host`).

Called with the cluster lock held.
"""

from __future__ import annotations

from pcmodel.cluster.controller import PartitionState
from pcmodel.cluster.node import ClusterNode
from pcmodel.topics.errors import KafkaConnectionError
from pcmodel.topics.structs import TopicPartition

__all__ = ["StateDelivery"]


class StateDelivery:
    """The controller-to-broker traffic of :class:`~pcmodel.cluster.cluster.Cluster`."""

    def _heartbeat(self, node: ClusterNode) -> None:
        if node.alive and node.node_id not in self._isolated_from_controller:
            self._apply_changes(self.controller.heartbeat(node.node_id, self.clock()))

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
            if node.alive and node.node_id not in self._isolated_from_controller:
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
                    b in self._isolated_from_controller):
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
