"""What a listener tells clients about the cluster it belongs to: brokers, leaders, coordinators.

Kafka clients learn the cluster from Metadata (which brokers exist, where they listen, who leads
each partition with which leader epoch, which replicas are in sync) and FindCoordinator (which
broker coordinates a group, or a transactional id), and every broker checks, before serving a
partition, that it is the leader the client thinks it is (the request's
``current_leader_epoch``), and stamps each fetched record batch with the leader epoch its
records were written in. The handlers ask those questions of a :class:`ClusterView`, so that
the same handlers serve a single :class:`~pcmodel.topics.broker.Broker`
(:class:`SingleBrokerView`: it is the whole cluster and leads everything, epoch 0) and each
broker of a replicated :class:`~pcmodel.cluster.Cluster`
(:class:`pcmodel.wire.cluster_view.ClusterNodeView`).

Prior art: Kafka's ``MetadataCache`` (what a broker knows of the cluster) and
``Partition.checkCurrentLeaderEpoch``.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from pcmodel.topics.broker import CLUSTER_ID
from pcmodel.topics.structs import PartitionReplicas, TopicPartition
from pcmodel.wire.api import kafka_errors

__all__ = ["CLUSTER_ID", "BrokerAddress", "ClusterView", "SingleBrokerView",
           "check_leader_epoch"]

NONE = 0
NOT_LEADER_OR_FOLLOWER = kafka_errors.NotLeaderForPartitionError.errno
FENCED_LEADER_EPOCH = kafka_errors.FencedLeaderEpochError.errno
UNKNOWN_LEADER_EPOCH = kafka_errors.UnknownLeaderEpochError.errno


class BrokerAddress(NamedTuple):
    """A broker as Metadata lists it: its id and where its Kafka listener is."""

    node_id: int
    host: str
    port: int


class ClusterView(Protocol):
    """What one listener's handlers may ask about the cluster. Answers are snapshots."""

    #: The cluster id Metadata reports.
    cluster_id: str

    def brokers(self) -> list[BrokerAddress]:
        """The live brokers, in id order."""

    def fenced_brokers(self) -> list[BrokerAddress]:
        """The brokers the controller fenced (they stopped heartbeating), in id order, where
        their listeners were: still registered, no longer in Metadata (DescribeCluster v2
        lists them when asked)."""

    def controller_id(self) -> int:
        """The broker id Metadata names as controller (where admin clients send requests)."""

    def partitions(self, topic: str, count: int) -> list[PartitionReplicas]:
        """Leadership of the ``count`` partitions of ``topic``, in partition order."""

    def coordinator(self, group_id: str) -> BrokerAddress | None:
        """The broker coordinating ``group_id`` (``None`` while there is none)."""

    def transaction_coordinator(self, transactional_id: str) -> BrokerAddress:
        """The broker coordinating ``transactional_id``'s transactions; raises
        ``CoordinatorNotAvailableError`` (retriable: COORDINATOR_NOT_AVAILABLE) while none
        does, as while a cluster elects the leader of the id's ``__transaction_state``
        partition."""

    def leader_error(self, tp: TopicPartition, current_leader_epoch: int) -> int:
        """Kafka's error code for serving ``tp`` as its leader here (0: go ahead).

        ``current_leader_epoch`` is the epoch the client believes in (``-1``: it does not say).
        """

    def written_epochs(self, tp: TopicPartition, first_offset: int,
                       last_offset: int) -> list[tuple[int, int]]:
        """The leader epochs in which this broker, ``tp``'s leader, wrote the records from
        ``first_offset`` to ``last_offset`` (a fetch's): ``(epoch, first offset written in it)``
        pairs, oldest first, the first starting at ``first_offset`` (``[]``: all in epoch 0).
        Fetch writes them into its record batches (*partitionLeaderEpoch*). Raises Kafka's
        errors (``NotLeaderForPartitionError``) if this broker no longer leads ``tp``.
        """


def check_leader_epoch(local_epoch: int, current_leader_epoch: int) -> int:
    """Kafka's rule for a request's ``current_leader_epoch`` against the broker's epoch.

    An older epoch than the broker's is FENCED_LEADER_EPOCH (the client's metadata is stale),
    a newer one UNKNOWN_LEADER_EPOCH (this broker has not heard of the change yet), ``-1``
    (absent) or the same epoch passes. Kafka checks the epoch before checking leadership, so a
    client with stale metadata asking a former leader hears FENCED_LEADER_EPOCH.
    """
    if current_leader_epoch < 0 or current_leader_epoch == local_epoch:
        return NONE
    return FENCED_LEADER_EPOCH if current_leader_epoch < local_epoch else UNKNOWN_LEADER_EPOCH


class SingleBrokerView:
    """A lone broker: the only broker, the controller, every partition's leader (epoch 0),
    sole replica and sole in-sync replica, and the coordinator of every group and every
    transactional id."""

    cluster_id = CLUSTER_ID

    def __init__(self, node_id: int, host: str, port: int) -> None:
        self.address = BrokerAddress(node_id, host, port)

    def brokers(self) -> list[BrokerAddress]:
        """Just this broker."""
        return [self.address]

    def fenced_brokers(self) -> list[BrokerAddress]:
        """None: a lone broker that answers is alive."""
        return []

    def controller_id(self) -> int:
        """This broker."""
        return self.address.node_id

    def partitions(self, topic: str, count: int) -> list[PartitionReplicas]:
        """This broker leads every partition, in epoch 0."""
        me = (self.address.node_id,)
        return [PartitionReplicas(p, me[0], 0, me, me, ()) for p in range(count)]

    def coordinator(self, group_id: str) -> BrokerAddress:
        """This broker coordinates every group."""
        return self.address

    def transaction_coordinator(self, transactional_id: str) -> BrokerAddress:
        """This broker coordinates every transactional id (its
        :mod:`~pcmodel.topics.transactions` coordinator)."""
        return self.address

    def leader_error(self, tp: TopicPartition, current_leader_epoch: int) -> int:
        """Only the epoch is checked: this broker leads every partition, in epoch 0."""
        return check_leader_epoch(0, current_leader_epoch)

    def written_epochs(self, tp: TopicPartition, first_offset: int,
                       last_offset: int) -> list[tuple[int, int]]:
        """Every record was written in epoch 0, the only one (as Metadata, ListOffsets and
        OffsetForLeaderEpoch answer)."""
        return [(0, first_offset)]
