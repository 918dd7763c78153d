"""A leader's high watermark never waits for a follower whose broker is fenced or stopping.

Kafka's leader waits, before moving the high watermark, for a caught-up follower that is about
to join the ISR (``shouldWaitForReplicaToJoinIsr``), but only if that follower's broker is
eligible: not fenced and not in a controlled shutdown (``isReplicaIsrEligible`` in
``Partition.scala``; the same check keeps such a follower out of the ISR). The leader knows
who is fenced from the controller, as Kafka's brokers know it from their metadata. Settings:
the cluster defaults (``replica_lag_time_max_ms=1000``, ``broker_session_timeout_ms=1500``,
``tick_ms=50``), on virtual time, unless a test says otherwise.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import isr as rules

pytestmark = pytest.mark.timeout(60)


def batch(*values):
    return [(None, v) for v in values]


def catching_up_outside_the_isr(cluster):
    """Broker 1 cut off until it left the ISR, then back and fetching while records keep
    coming: caught up, about to join at its next fetch, so the high watermark waits for it."""
    cluster.create_topic("t", replication_factor=2)
    cluster.isolate(1)
    cluster.produce("t", 0, batch(b"a"), acks=1).get(timeout=1)
    cluster.run_for(cluster.replica_lag_time_max + 0.2)
    assert cluster.isr("t", 0) == {0}
    cluster.heal(1)
    for n in range(2):
        cluster.produce("t", 0, batch(b"%d" % n), acks=1).get(timeout=1)
        cluster.advance()
    leader, follower = cluster.replica_status("t", 0)
    assert cluster.isr("t", 0) == {0}
    assert follower.log_end_offset == leader.log_end_offset > 1


def high_watermark_catches_up_after(cluster, seconds):
    """Whether, writing a record a tick, the leader's high watermark reaches its log end
    within ``seconds`` of virtual time."""
    end = cluster.clock() + seconds
    while cluster.clock() < end - 1e-9:
        cluster.produce("t", 0, batch(b"x"), acks=1).get(timeout=1)
        cluster.advance()
        leader = cluster.replica_status("t", 0)[0]
        if leader.high_watermark == leader.log_end_offset:
            return True
    return False


def test_a_follower_stopped_while_catching_up_holds_nothing_back(make_cluster):
    # The controlled shutdown fences broker 1 at once; the leader hears it with the news and
    # stops waiting for it, where it used to wait for the whole lag limit.
    cluster = make_cluster(2)
    catching_up_outside_the_isr(cluster)
    cluster.stop(1)
    assert high_watermark_catches_up_after(cluster, 0.1)


def test_a_follower_killed_while_catching_up_is_waited_for_only_until_fenced(make_cluster):
    # Kafka's defaults: a lag limit (30 s) longer than a broker session (9 s). A crashed
    # follower holds the high watermark until the controller fences it, not for the lag limit.
    cluster = make_cluster(2, replica_lag_time_max_ms=6000, broker_session_timeout_ms=1500)
    catching_up_outside_the_isr(cluster)
    cluster.kill(1)
    assert high_watermark_catches_up_after(cluster, 2.0)
    assert 1 not in cluster.live_brokers()


def test_the_rules_leave_out_ineligible_followers():
    leos, caught_up = {0: 8, 1: 8, 2: 5}, {1: 9.9, 2: 9.9}
    assert rules.joining_replicas({0}, 0, leos, caught_up, 10.0, 1.0) == {1, 2}
    assert rules.joining_replicas({0}, 0, leos, caught_up, 10.0, 1.0, ineligible={2}) == {1}
    check = dict(leader=0, isr={0}, high_watermark_now=5, leos=leos,
                 last_caught_up=caught_up, now=10.0, replica_lag_time_max=1.0,
                 leader_epoch_start=0, fetched=2)
    assert rules.isr_at_check(**check) == {0, 2}
    assert rules.isr_at_check(**check, ineligible={2}) == {0}
