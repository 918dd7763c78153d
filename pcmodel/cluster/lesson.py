"""The lesson's experiment: write steadily, kill the leader, count what each ``acks`` kept.

:func:`kill_the_leader` runs one stepped cluster (virtual time, so every run is the same):
a producer sends one record per tick with the given ``acks`` while the followers fetch a little
slowly (as followers under load do); at ``kill_at`` the leader dies (or, with
``fault="stop"``, stops in a controlled shutdown), a follower from the ISR is elected, and at
``restart_at`` the old leader comes back, truncates to the new leader's log and catches up. The
result holds what the charts of :mod:`pcmodel.plots.replication` need.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pcmodel.cluster.cluster import Cluster, ClusterEvent, ReplicaStatus
from pcmodel.topics.errors import IllegalArgumentError, KafkaError

__all__ = ["AcksOutcome", "kill_the_leader"]


class AcksOutcome(NamedTuple):
    """What one run of :func:`kill_the_leader` acknowledged, kept and looked like."""

    acks: Any
    acknowledged: int
    surviving: int
    samples: list[tuple[float, list[ReplicaStatus]]]
    events: list[ClusterEvent]

    @property
    def lost(self) -> int:
        """Acknowledged records that are not in the final log."""
        return self.acknowledged - self.surviving


def kill_the_leader(acks: int | str = 1, *, seconds: float = 5.0, kill_at: float = 1.5,
                    restart_at: float = 3.0, follower_delay: float = 0.45,
                    min_insync_replicas: int = 1, fault: str = "kill") -> AcksOutcome:
    """Produce for ``seconds`` (virtual) with ``acks``; kill the leader at ``kill_at``.

    Followers fetch every ``follower_delay`` seconds, so the leader is always a little ahead:
    with ``acks=1`` what it had not yet passed on is acknowledged and then lost; with
    ``acks="all"`` nothing acknowledged is lost. ``fault="stop"`` stops the leader with a
    controlled shutdown instead (``Cluster.stop``): a new leader at once instead of after the
    session timeout, so more is acknowledged, but ``acks=1`` still loses what the followers had
    not copied. Raises ``IllegalArgumentError`` for another ``fault``.
    """
    if fault not in ("kill", "stop"):
        raise IllegalArgumentError(f'fault must be "kill" or "stop", got {fault!r}')
    with Cluster(3, mode="steps") as cluster:
        cluster.create_topic("lesson", 1, replication_factor=3,
                             min_insync_replicas=min_insync_replicas)
        first = cluster.leader("lesson", 0)
        for broker in range(3):
            if broker != first:
                cluster.slow(broker, follower_delay)
        sent = []
        samples: list[tuple[float, list[ReplicaStatus]]] = []
        killed = restarted = False
        n = 0
        while cluster.clock() < seconds:
            now = cluster.clock()
            if killed and not restarted and now >= restart_at:
                cluster.restart(first)
                restarted = True
            sent.append((cluster.produce("lesson", 0, [(None, str(n).encode())], acks=acks,
                                         timeout=1.0), str(n).encode()))
            n += 1
            samples.append((now, cluster.replica_status("lesson", 0)))
            if not killed and now >= kill_at:  # right after an append: its followers lag
                getattr(cluster, fault)(first)  # cluster.kill or cluster.stop
                killed = True
            cluster.advance()
        cluster.settle(10)
        samples.append((cluster.clock(), cluster.replica_status("lesson", 0)))
        acknowledged = []
        for future, value in sent:
            try:
                result = future.get(timeout=2)
            except (KafkaError, TimeoutError):
                continue
            acknowledged.append((result.base_offset, value))
        final = {r.value for r in cluster.log(cluster.leader("lesson", 0), "lesson", 0)}
        surviving = sum(1 for _, value in acknowledged if value in final)
        return AcksOutcome(acks, len(acknowledged), surviving, samples, list(cluster.events))
