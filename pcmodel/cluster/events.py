"""What a cluster reports: events (for timelines and charts) and the status of each replica."""

from __future__ import annotations

from typing import Any, NamedTuple

from pcmodel.topics.log import LogRecord
from pcmodel.topics.structs import TopicPartition

__all__ = ["ClusterEvent", "ReplicaStatus"]


class ClusterEvent(NamedTuple):
    """Something that happened, for timelines and charts.

    ``kind`` is one of ``"killed"``, ``"stopped"`` (a controlled shutdown), ``"restarted"``,
    ``"isolated"``, ``"healed"``, ``"slowed"``,
    ``"fenced"`` (the controller noticed a dead broker), ``"unfenced"`` (the controller counts
    a registered broker as alive again: a restarted one has caught up, and only now opens
    its Kafka listener, as a Kafka broker enables its request processing once unfenced; a
    process cluster's brokers at their first registration), ``"leader"`` (new leader; ``detail``
    says ``clean`` or ``unclean`` and the epoch), ``"isr"`` (new ISR), ``"replicas"`` (a
    reassignment started, completed or was cancelled; ``detail`` is ``(replicas, adding,
    removing)``), ``"truncated"`` (a replica dropped records; ``records`` holds them: the lost
    suffix).
    """

    time: float
    kind: str
    broker: int | None
    tp: TopicPartition | None
    detail: Any = None
    records: tuple[LogRecord, ...] = ()


class ReplicaStatus(NamedTuple):
    """One replica as it is now: its broker, role, log end offset, HW, ISR membership, and
    its log start offset (the first record it still holds)."""

    broker: int
    alive: bool
    leader: bool
    log_end_offset: int
    high_watermark: int
    in_isr: bool
    log_start_offset: int = 0
