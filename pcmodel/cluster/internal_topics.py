"""A coordinator's replicated internal topic (``__consumer_offsets``, ``__transaction_state``):
creating it, and loading the coordinator's state from it (how far to read, each key's latest
value).

Kafka keeps the state of its coordinators in compacted internal topics: a record per key
(a group's offset, a transactional id's metadata), the latest one counting. A coordinator is
the leader of the key's partition; a broker that becomes leader *loads* the partition from its
own replica before it answers anyone. Two rules make the load safe:

* read only up to the *high watermark*: above it are writes still waiting for their
  acknowledgement, which may be lost with the leader;
* a new leader's high watermark may lag for a moment behind what the old leader acknowledged;
  until it has passed the start of the new leader's epoch (everything earlier leaders wrote),
  the coordinator is still loading (retriable), so a state once read is never read older
  again.

Prior art: Kafka's ``CoordinatorLoaderImpl`` and ``GroupMetadataManager.loadGroupsAndOffsets``
(which read up to the high watermark, answering COORDINATOR_LOAD_IN_PROGRESS meanwhile).
"""

from __future__ import annotations

from typing import Any

from pcmodel.cluster.epochs import high_watermark_behind_epoch
from pcmodel.cluster.errors import LeaderNotAvailableError, NotLeaderForPartitionError

__all__ = ["acknowledged_end", "create_internal_topic", "latest_values"]


def create_internal_topic(cluster: Any, topic: str, partitions: int,
                          replication_factor: int | None, min_insync_replicas: int | None,
                          configs: dict[str, str]) -> int:
    """Create internal topic ``topic`` unless the cluster has it; return its partition count.

    ``replication_factor`` defaults to the cluster's (Kafka's ``offsets.topic.replication.
    factor`` and ``transaction.state.log.replication.factor``); ``min_insync_replicas``
    (``None``: the broker default, 1) is set as the topic's ``min.insync.replicas``, which
    each leader caps at the partition's replica count, as Kafka's does.
    """
    rf = replication_factor or cluster.default_replication_factor
    if topic not in cluster.controller.topics:
        cluster.create_topic(topic, partitions, replication_factor=rf,
                             min_insync_replicas=min_insync_replicas, configs=configs)
    return len([tp for tp in cluster.controller.partitions if tp.topic == topic])


def acknowledged_end(cluster: Any, topic: str, partition: int, leader: int,
                     epoch: int) -> int:
    """Where coordinator ``leader`` (at leader ``epoch``) may load partition ``partition`` of
    internal topic ``topic`` up to: its high watermark.

    Raises ``LeaderNotAvailableError`` (retriable, Kafka's COORDINATOR_LOAD_IN_PROGRESS) while
    that has not reached the start of the leader's epoch, or while the broker has not heard it
    leads.
    """
    try:
        behind = high_watermark_behind_epoch(cluster, topic, partition, leader, epoch)
    except NotLeaderForPartitionError:  # a broker process that has not heard it yet
        raise LeaderNotAvailableError(
            f"broker {leader} does not lead {topic}-{partition} yet") from None
    if behind is not None:
        raise LeaderNotAvailableError(
            f"broker {leader} is still loading {topic}-{partition}: its high watermark "
            f"{behind[0]} has not reached {behind[1]} yet")
    status = next(s for s in cluster.replica_status(topic, partition) if s.broker == leader)
    return status.high_watermark


def latest_values(cluster: Any, topic: str, partition: int, leader: int,
                  end: int) -> dict[bytes, bytes]:
    """Each key's latest value in broker ``leader``'s replica of the partition, reading the
    records below ``end``; a key whose latest record is a tombstone (value ``None``) is
    left out. Keys keep the order in which they were first written."""
    values: dict[bytes, bytes] = {}
    for record in cluster.log(leader, topic, partition):
        if record.offset >= end:
            break
        if record.value is None:
            values.pop(record.key, None)
        else:
            values[record.key] = record.value
    return values
