"""When a follower leaves or joins the ISR and when the high watermark moves, as in Kafka.

Kafka's ``Partition.scala``: a follower is out of sync only if it has not been caught up
within ``replica.lag.time.max.ms`` *and* lacks some of the leader's records
(``Replica.isCaughtUp``); a follower joins at its fetch once it has the high watermark and the
start of the leader's epoch (``maybeExpandIsr``); the high watermark does not move while the
ISR is smaller than ``min.insync.replicas``, capped at the replica count (KAFKA-15583, Kafka
3.7). Settings: the cluster defaults (``replica_lag_time_max_ms=1000``,
``broker_session_timeout_ms=1500``, ``tick_ms=50``), on virtual time.
"""

from __future__ import annotations

from pcmodel.cluster import isr as rules
from pcmodel.topics.structs import TopicPartition

TP = TopicPartition("t", 0)


def batch(*values):
    return [(None, v) for v in values]


def values(records):
    return [r.value for r in records]


def test_the_high_watermark_stands_still_while_the_isr_is_below_min_insync_replicas(
        make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    cluster.kill(1)
    cluster.kill(2)
    cluster.run_for(1.6)  # both sessions expire: the ISR is the leader alone
    assert cluster.isr("t", 0) == {0}
    assert cluster.produce("t", 0, batch(b"x"), acks=1).get(timeout=1).base_offset == 0
    cluster.run_for(0.5)
    leader = cluster.replica_status("t", 0)[0]
    assert (leader.log_end_offset, leader.high_watermark) == (1, 0)
    assert cluster.fetch(0, {TP: 0})[TP].records == ()  # acknowledged, not yet committed
    cluster.restart(1)
    cluster.settle()
    assert cluster.isr("t", 0) == {0, 1}
    assert values(cluster.fetch(0, {TP: 0})[TP].records) == [b"x"]


def test_min_insync_replicas_above_the_replica_count_asks_for_every_replica(make_cluster):
    # A reassignment leaves two replicas to a topic that wants three in sync: Kafka's leader
    # then asks for the two (its effective min ISR), rather than refusing every write.
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=3)
    cluster.alter_partition_reassignments({TP: [0, 1]})
    cluster.settle()
    assert cluster.metadata()[TP].replicas == (0, 1)
    assert cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=2).base_offset == 0
    assert values(cluster.fetch(0, {TP: 0})[TP].records) == [b"a"]


def test_an_idle_follower_that_cannot_fetch_stays_in_sync_until_a_record_arrives(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=1)
    cluster.isolate(2)
    cluster.run_for(3.0)  # three lag limits without a fetch, but it lacks nothing
    assert cluster.isr("t", 0) == {0, 1, 2}
    started = cluster.clock()
    committed = cluster.produce("t", 0, batch(b"b"), acks="all").get(timeout=3)
    # Broker 2 lacks b and was last caught up more than the lag limit ago: it leaves at the
    # leader's next periodic ISR check, at most half a lag limit away (Kafka's
    # ``replica.lag.time.max.ms / 2``), and the ISR {0, 1} commits b.
    assert committed.base_offset == 1
    assert cluster.clock() - started <= cluster.replica_lag_time_max / 2 + 1e-9
    assert cluster.isr("t", 0) == {0, 1}


def test_a_follower_rejoins_while_records_keep_coming(make_cluster):
    # Joining asks for the high watermark; with the leader alone in the ISR that is the
    # leader's LEO, always a record ahead of the follower's last fetch. Kafka's watermark
    # waits for a caught-up follower outside the ISR, which then joins at its next fetch.
    cluster = make_cluster(2)
    cluster.create_topic("t", replication_factor=2)
    cluster.isolate(1)
    cluster.produce("t", 0, batch(b"a"), acks=1).get(timeout=1)
    cluster.run_for(1.2)
    assert cluster.isr("t", 0) == {0}
    cluster.heal(1)
    for n in range(20):  # one second of writes, one record a tick
        cluster.produce("t", 0, batch(b"%d" % n), acks=1).get(timeout=1)
        cluster.advance()
    assert cluster.isr("t", 0) == {0, 1}
    leader, follower = cluster.replica_status("t", 0)
    assert leader.high_watermark >= follower.log_end_offset - 1


def test_a_stopped_follower_is_not_waited_for(make_cluster):
    # Taken out of the ISR by a controlled shutdown, a follower that was caught up a moment
    # ago holds nothing back: the controller no longer counts it eligible.
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=1)
    cluster.stop(2)
    started = cluster.clock()
    cluster.produce("t", 0, batch(b"b"), acks="all").get(timeout=2)
    assert cluster.clock() - started < 0.2


def test_a_slow_follower_rejoins_at_its_fetch_once_it_has_the_high_watermark(make_cluster):
    # Below min.insync.replicas the high watermark stands still; a follower that fetches only
    # every two seconds is never "caught up within the lag limit" while records keep coming,
    # yet it has every committed record: it rejoins at its fetch and the partition commits
    # again, as Kafka's maybeExpandIsr asks nothing of its caught-up time.
    cluster = make_cluster(2)
    cluster.create_topic("t", replication_factor=2, min_insync_replicas=2)
    cluster.isolate(1)
    cluster.produce("t", 0, batch(b"a"), acks=1).get(timeout=1)
    cluster.run_for(1.2)
    assert cluster.isr("t", 0) == {0}
    cluster.slow(1, 2.0)
    cluster.heal(1)
    rejoined = False
    for n in range(100):  # five seconds of writes, one record a tick
        cluster.produce("t", 0, batch(b"%d" % n), acks=1).get(timeout=1)
        cluster.advance()
        rejoined |= cluster.isr("t", 0) == {0, 1}
    assert rejoined
    assert cluster.replica_status("t", 0)[0].high_watermark > 1
    cluster.slow(1, 0)
    cluster.settle()
    assert cluster.isr("t", 0) == {0, 1}
    assert len(cluster.fetch(0, {TP: 0}, max_records=1000)[TP].records) == 101


def test_the_rules_as_pure_functions():
    isr_at_check, high_watermark = rules.isr_at_check, rules.high_watermark
    common = dict(leader=0, isr={0, 1}, high_watermark_now=5, now=10.0,
                  replica_lag_time_max=1.0, leader_epoch_start=3)
    # Caught up long ago, but with every record of the leader: in sync.
    assert isr_at_check(leos={0: 8, 1: 8}, last_caught_up={1: 0.0}, **common) == {0, 1}
    # Caught up long ago and missing records: out.
    assert isr_at_check(leos={0: 8, 1: 7}, last_caught_up={1: 0.0}, **common) == {0}
    # Only the follower whose fetch this is may join, with the high watermark and the epoch
    # start, however long ago it was caught up.
    outside = dict(common, isr={0})
    leos = {0: 8, 2: 5}
    assert isr_at_check(leos=leos, last_caught_up={2: 0.0}, fetched=2, **outside) == {0, 2}
    assert isr_at_check(leos=leos, last_caught_up={2: 9.9}, **outside) == {0}
    assert isr_at_check(leos={0: 8, 2: 4}, last_caught_up={}, fetched=2, **outside) == {0}
    assert isr_at_check(leos={0: 8, 2: 5}, last_caught_up={}, fetched=2,
                        **dict(outside, leader_epoch_start=6)) == {0}
    assert high_watermark(2, {0}, {0: 8}, min_insync_replicas=2) == 2
    assert high_watermark(2, {0, 1}, {0: 8, 1: 6}, min_insync_replicas=2) == 6
    assert rules.effective_min_isr(3, 2) == 2 and rules.effective_min_isr(2, 3) == 2
    # Outside the ISR, caught up (the leader's LEO, or within the lag limit): waited for.
    joining = rules.joining_replicas({0}, 0, {0: 8, 1: 8, 2: 5, 3: 5}, {2: 9.5, 3: 0.0},
                                     10.0, 1.0)
    assert joining == {1, 2}
    assert high_watermark(2, {0}, {0: 8, 1: 8, 2: 5, 3: 5}, joining=joining) == 5
