"""Replication: a cluster of brokers, leaders and followers, ISR, high watermark, acks, faults.

A :class:`Cluster` holds N brokers (each an ordinary :class:`~pcmodel.topics.broker.Broker`
plus replica state) and a controller. Every partition of a replicated topic has a leader and
followers; followers copy the leader by fetching from it; the leader keeps the in-sync replicas
(ISR) and the high watermark, below which consumers read. Kill, restart, isolate or slow a
broker and watch what ``acks=1`` loses and ``acks="all"`` keeps.

Modules, one idea each: :mod:`~pcmodel.cluster.isr` (the leader's ISR and high-watermark rules,
pure functions), :mod:`~pcmodel.cluster.epochs` (leader epochs and truncation, KIP-101),
:mod:`~pcmodel.cluster.replica` (one replica's state), :mod:`~pcmodel.cluster.node` (one
broker's request handling), :mod:`~pcmodel.cluster.purgatory` (produce requests waiting for
replication), :mod:`~pcmodel.cluster.controller` (placement, liveness, elections),
:mod:`~pcmodel.cluster.cluster` (the whole and fault injection),
:mod:`~pcmodel.cluster.driving` (its steps on virtual time, or its threads),
:mod:`~pcmodel.cluster.faults` (seeded fault schedules that replay),
:mod:`~pcmodel.cluster.errors` (Kafka's replication errors). The coordinators keep their
state in replicated internal topics: groups in :mod:`~pcmodel.cluster.offsets`, transactions
in :mod:`~pcmodel.cluster.transaction_log`; a partition's transactional batches and markers
are :mod:`~pcmodel.cluster.partition_markers`. Process mode
(``Cluster(mode="processes")``: each broker an OS process, ``kill`` a SIGKILL):
:mod:`~pcmodel.cluster.process_cluster` (the cluster's side),
:mod:`~pcmodel.cluster.process_faults` (the faults done to processes),
:mod:`~pcmodel.cluster.hosted` (starting, calling and killing one broker process; the
controller's door),
:mod:`~pcmodel.cluster.host` (inside a broker process; its entry point and server in
:mod:`~pcmodel.cluster.host_server`), :mod:`~pcmodel.cluster.journal`
(a replica's log on disk, recovered after a SIGKILL).
"""

from pcmodel.cluster.clock import VirtualClock
from pcmodel.cluster.cluster import Cluster, ClusterEvent, ReplicaStatus
from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.errors import (
    FencedLeaderEpochError,
    LeaderNotAvailableError,
    NotEnoughReplicasAfterAppendError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    NotLeaderOrFollowerError,
    RequestTimedOutError,
)
from pcmodel.cluster.purgatory import ProduceFuture, ProduceResult

__all__ = [
    "Cluster",
    "ClusterEvent",
    "FencedLeaderEpochError",
    "LeaderNotAvailableError",
    "NotEnoughReplicasAfterAppendError",
    "NotEnoughReplicasError",
    "NotLeaderForPartitionError",
    "NotLeaderOrFollowerError",
    "PartitionState",
    "ProduceFuture",
    "ProduceResult",
    "ReplicaStatus",
    "RequestTimedOutError",
    "TopicConfig",
    "VirtualClock",
]
