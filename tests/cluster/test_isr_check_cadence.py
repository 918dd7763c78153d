"""When a stuck follower leaves the ISR: at the leader's periodic check, as in Kafka.

Kafka's ``ReplicaManager`` runs ``maybeShrinkIsr`` on a fixed rate of ``replica.lag.time.max.ms
/ 2`` from the broker's start ("a follower can lag behind leader for up to
replicaLagTimeMaxMs x 1.5 before it is removed from ISR"): a follower that stopped catching up
leaves at the first check more than one lag limit after its last catch-up, so between 1 and
1.5 lag limits later. Fetches and produces only ever add to the ISR.
"""

from __future__ import annotations

from pcmodel.cluster.isr import isr_at_check
from pcmodel.topics.structs import TopicPartition

TP = TopicPartition("t", 0)
LAG = 1.0  # replica_lag_time_max_ms=1000, the cluster's default
TICK = 0.05


def stuck_follower_leaves(make_cluster, phase_ticks: int) -> tuple[float, float]:
    """Isolate follower 2 ``phase_ticks`` ticks after the partition settled, then write;
    return ``(its last caught-up time, the time it left the ISR)``."""
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=1)
    cluster.settle()
    leader = cluster.leader("t", 0)
    assert leader != 2 and cluster.isr("t", 0) == {0, 1, 2}
    for _ in range(phase_ticks):
        cluster.advance()
    cluster.isolate(2)
    cluster.produce("t", 0, [(b"k", b"v")], acks=1).get(timeout=1)  # 2 lacks it from now
    caught_up = cluster.nodes[leader].replicas[TP].followers[2].last_caught_up
    while 2 in cluster.isr("t", 0):
        assert cluster.clock() < caught_up + 3 * LAG, "the stuck follower never left"
        cluster.advance()
    return caught_up, cluster.clock()


def test_a_stuck_follower_leaves_at_the_first_check_past_the_lag_limit(make_cluster):
    left = [stuck_follower_leaves(make_cluster, phase) for phase in range(10)]
    delays = [round(gone - caught_up, 3) for caught_up, gone in left]
    assert all(LAG < d <= 1.5 * LAG for d in delays), delays
    # The checks run on one grid, every half lag limit from the broker's start, whatever
    # the phase of the fault: so the delay depends on it, up to 1.5 lag limits.
    starts = {round(gone % (LAG / 2), 3) % (LAG / 2) for _, gone in left}
    assert len(starts) == 1, left
    assert max(delays) >= 1.5 * LAG - TICK and min(delays) <= LAG + TICK, delays


def test_the_rule_drops_laggards_only_at_the_periodic_check():
    state = dict(leader=0, isr={0, 1, 2}, high_watermark_now=5, leos={0: 8, 1: 8, 2: 5},
                 last_caught_up={1: 9.5, 2: 1.0}, now=10.0, replica_lag_time_max=1.0,
                 leader_epoch_start=0)
    assert isr_at_check(**state) == {0, 1}
    assert isr_at_check(**state, shrink=False) == {0, 1, 2}
    assert isr_at_check(**{**state, "isr": {0, 1}}, fetched=2, shrink=False) == {0, 1, 2}
