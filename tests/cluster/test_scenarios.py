"""Scenario tests: one per replication rule, on virtual time, so each replays exactly.

Settings used throughout: ``replica_lag_time_max_ms=1000``, ``broker_session_timeout_ms=1500``,
``tick_ms=50`` (the cluster defaults).
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import (
    LeaderNotAvailableError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from pcmodel.topics.errors import KafkaConnectionError, OutOfOrderSequenceNumberError
from pcmodel.topics.structs import TopicPartition

TP = TopicPartition("t", 0)


def values(records):
    return [r.value for r in records]


def batch(*values):
    return [(None, v) for v in values]


def test_high_watermark_advances_only_when_every_isr_member_has_the_record(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.slow(2, 0.5)  # broker 2 fetches only every half second
    cluster.produce("t", 0, batch(b"a"), acks=1).get(timeout=1)
    cluster.step()  # broker 1 copies; broker 2 is still waiting out its slowness
    status = {s.broker: s for s in cluster.replica_status("t", 0)}
    assert status[1].log_end_offset == 1 and status[2].log_end_offset == 0
    assert status[0].high_watermark == 0  # broker 2 is in the ISR and lacks the record
    assert cluster.fetch(0, {TP: 0})[TP].records == ()  # consumers see nothing yet
    cluster.run_for(0.5)  # broker 2 copies the record...
    assert cluster.replica_status("t", 0)[2].log_end_offset == 1
    assert cluster.replica_status("t", 0)[0].high_watermark == 0
    cluster.run_for(0.5)  # ...and the leader learns it from broker 2's next fetch offset
    assert cluster.replica_status("t", 0)[0].high_watermark == 1
    assert values(cluster.fetch(0, {TP: 0})[TP].records) == [b"a"]


def test_consumers_read_only_below_the_high_watermark(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=1)
    cluster.slow(1, 10)
    cluster.produce("t", 0, batch(b"c"), acks=1).get(timeout=1)
    cluster.step()
    assert cluster.replica_status("t", 0)[0].log_end_offset == 3
    assert values(cluster.fetch(0, {TP: 0})[TP].records) == [b"a", b"b"]
    assert cluster.fetch(0, {TP: 0})[TP].high_watermark == 2


def test_lagging_follower_leaves_the_isr_and_returns_when_caught_up(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.slow(2, 5.0)
    cluster.run_for(0.9)
    assert cluster.isr("t", 0) == {0, 1, 2}  # within replica_lag_time_max: still in sync
    cluster.run_for(0.3)
    assert cluster.isr("t", 0) == {0, 1}
    # Without broker 2 the watermark follows the remaining ISR.
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=1)
    cluster.slow(2, 0)
    cluster.settle()
    assert cluster.isr("t", 0) == {0, 1, 2}
    assert values(cluster.log(2, "t", 0)) == [b"a"]
    kinds = [(e.kind, e.detail) for e in cluster.events if e.kind == "isr"]
    assert kinds == [("isr", (0, 1, 2)), ("isr", (0, 1)), ("isr", (0, 1, 2))]


def test_clean_election_picks_an_isr_member_not_the_first_replica(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    assert cluster.metadata()[TP].replicas == (0, 1, 2)
    cluster.slow(1, 100)  # broker 1 falls out of the ISR
    cluster.run_for(1.2)
    assert cluster.isr("t", 0) == {0, 2}
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=1)
    cluster.kill(0)
    cluster.run_for(1.6)  # the controller notices when the session expires
    assert cluster.leader("t", 0) == 2  # broker 1 is alive but out of sync
    leader_events = [e for e in cluster.events if e.kind == "leader"]
    assert leader_events[-1].detail == ("clean", 1)
    assert values(cluster.fetch(2, {TP: 0})[TP].records) == [b"a", b"b"]


def test_former_leader_answers_not_leader(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.isolate(0, controller=True)  # cut off from everyone: the controller fences it
    cluster.run_for(1.6)
    assert cluster.leader("t", 0) == 1
    cluster.heal(0)
    with pytest.raises(NotLeaderForPartitionError):
        cluster.produce("t", 0, batch(b"x"), broker=0).get(timeout=1)
    with pytest.raises(NotLeaderForPartitionError):
        cluster.fetch(0, {TP: 0})


def test_returning_leader_truncates_what_the_new_leader_never_had(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=1)
    cluster.isolate(0)  # followers can no longer fetch from the leader
    acked = cluster.produce("t", 0, batch(b"x", b"y", b"z"), acks=1).get(timeout=1)
    assert acked.base_offset == 2  # acknowledged by the leader alone
    cluster.kill(0)
    cluster.run_for(1.6)
    assert cluster.leader("t", 0) == 1
    cluster.produce("t", 0, batch(b"c"), acks="all").get(timeout=1)
    cluster.heal(0)
    cluster.restart(0)
    cluster.settle()
    assert values(cluster.log(0, "t", 0)) == [b"a", b"b", b"c"]
    assert cluster.isr("t", 0) == {0, 1, 2}
    truncated = [e for e in cluster.events if e.kind == "truncated"]
    assert [(e.broker, e.detail) for e in truncated] == [(0, (2, 3))]
    assert values(truncated[0].records) == [b"x", b"y", b"z"]  # the acks=1 loss, visible


def test_epoch_truncation_keeps_replicated_records_above_a_stale_high_watermark(make_cluster):
    # KIP-101's first scenario: truncating to the follower's high watermark would drop a record
    # the follower has; the leader-epoch rule keeps it.
    cluster = make_cluster(2)
    cluster.create_topic("t", replication_factor=2)
    cluster.produce("t", 0, batch(b"a", b"b"), acks=1).get(timeout=1)
    cluster.step()  # broker 1 copies both records but has not learnt the new HW yet
    follower = cluster.replica_status("t", 0)[1]
    assert follower.log_end_offset == 2 and follower.high_watermark == 0
    cluster.kill(1)
    cluster.restart(1)
    cluster.settle()
    assert values(cluster.log(1, "t", 0)) == [b"a", b"b"]
    assert not [e for e in cluster.events if e.kind == "truncated"]


def test_not_enough_replicas_refuses_before_appending(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    cluster.kill(1)
    cluster.kill(2)
    cluster.run_for(1.6)
    assert cluster.isr("t", 0) == {0}
    with pytest.raises(NotEnoughReplicasError):
        cluster.produce("t", 0, batch(b"x"), acks="all").get(timeout=1)
    assert cluster.replica_status("t", 0)[0].log_end_offset == 0  # nothing written
    assert cluster.produce("t", 0, batch(b"y"), acks=1).get(timeout=1).base_offset == 0


def test_an_isr_shrinking_below_the_minimum_during_the_wait_times_the_produce_out(make_cluster):
    # Kafka 3.7 (KAFKA-15583): the high watermark stands still while the ISR is below
    # min.insync.replicas, so the produce is never committed there; it times out.
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    cluster.slow(1, 100)
    cluster.slow(2, 100)
    future = cluster.produce("t", 0, batch(b"x"), acks="all", timeout=3)
    with pytest.raises(RequestTimedOutError):
        future.get(timeout=5)
    assert cluster.isr("t", 0) == {0}
    assert values(cluster.log(0, "t", 0)) == [b"x"]  # written, but never acknowledged
    assert cluster.fetch(0, {TP: 0})[TP].high_watermark == 0


def test_unclean_election_loses_exactly_the_unreplicated_suffix(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, unclean_leader_election_enable=True)
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=1)
    cluster.isolate(2)
    committed = cluster.produce("t", 0, batch(b"c", b"d"), acks="all").get(timeout=2)
    assert cluster.isr("t", 0) == {0, 1}  # broker 2 lacked them for too long and left
    assert committed.base_offset == 2  # acknowledged by the whole ISR {0, 1}
    cluster.heal(2)
    cluster.kill(0)
    cluster.kill(1)
    cluster.run_for(1.6)
    assert cluster.leader("t", 0) == 2
    assert [e.detail[0] for e in cluster.events if e.kind == "leader"][-1] == "unclean"
    cluster.produce("t", 0, batch(b"e"), acks="all").get(timeout=1)
    cluster.restart(0)
    cluster.restart(1)
    cluster.settle()
    for broker in range(3):
        assert values(cluster.log(broker, "t", 0)) == [b"a", b"b", b"e"]
    lost = {e.broker: values(e.records) for e in cluster.events if e.kind == "truncated"}
    assert lost == {0: [b"c", b"d"], 1: [b"c", b"d"]}


def test_without_unclean_election_the_partition_waits_for_an_isr_member(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    cluster.isolate(2)
    cluster.run_for(1.2)
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=1)
    cluster.heal(2)
    cluster.kill(0)
    cluster.kill(1)
    cluster.run_for(1.6)
    assert cluster.leader("t", 0) is None  # broker 2 is alive but out of sync
    with pytest.raises(LeaderNotAvailableError):
        cluster.produce("t", 0, batch(b"x"), acks=1).get(timeout=1)
    cluster.restart(1)
    cluster.settle()
    assert cluster.leader("t", 0) == 1
    assert values(cluster.fetch(1, {TP: 0})[TP].records) == [b"a"]
    assert values(cluster.log(2, "t", 0)) == [b"a"]


def test_acks_all_waits_for_the_isr_and_acks_zero_reports_no_offset(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    assert cluster.produce("t", 0, batch(b"a"), acks=0).get(timeout=1).base_offset == -1
    cluster.slow(1, 0.4)
    future = cluster.produce("t", 0, batch(b"b"), acks="all")
    cluster.step()
    assert not future.done()  # broker 1 has not fetched it yet
    assert future.get(timeout=1).base_offset == 1
    assert all(s.log_end_offset == 2 for s in cluster.replica_status("t", 0))


def test_idempotent_retry_through_a_new_leader_is_not_stored_twice(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    first = cluster.produce("t", 0, batch(b"a"), acks="all", producer=(pid, epoch, 0))
    cluster.step()  # both followers copied "a"; the leader learns it only at their next fetch
    assert not first.done()
    leader = cluster.leader("t", 0)
    cluster.kill(leader)  # ...and never will: the producer only sees a broken connection
    with pytest.raises(KafkaConnectionError):
        first.get(timeout=1)
    cluster.run_for(1.6)
    new_leader = cluster.leader("t", 0)
    assert new_leader != leader
    retry = cluster.produce("t", 0, batch(b"a"), acks="all", producer=(pid, epoch, 0))
    assert retry.get(timeout=2).base_offset == 0  # the original offset: not appended again
    nxt = cluster.produce("t", 0, batch(b"b"), acks="all", producer=(pid, epoch, 1))
    assert nxt.get(timeout=2).base_offset == 1
    assert values(cluster.log(new_leader, "t", 0)) == [b"a", b"b"]
    with pytest.raises(OutOfOrderSequenceNumberError):
        cluster.produce("t", 0, batch(b"c"), producer=(pid, epoch, 5)).get(timeout=1)


def test_a_short_isr_refuses_every_pipelined_batch_as_retriable_before_its_sequence(
        make_cluster):
    # As Kafka's Partition.appendRecordsToLeader: NOT_ENOUGH_REPLICAS before any sequence
    # check, so a producer with batches 1 and 2 in flight gets the same retriable answer for
    # both (an out-of-order verdict for 2 would make it reset its epoch), and its retries,
    # in order, go in once the ISR is back.
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    cluster.produce("t", 0, batch(b"a"), acks="all", producer=(pid, epoch, 0)).get(timeout=2)
    followers = set(cluster.metadata()[TopicPartition("t", 0)].replicas) - {
        cluster.leader("t", 0)}
    for broker in followers:
        cluster.kill(broker)
    cluster.run_for(1.6)
    assert len(cluster.isr("t", 0)) == 1
    for sequence, value in ((1, b"b"), (2, b"c"), (0, b"a")):  # the last: a late retry of "a"
        with pytest.raises(NotEnoughReplicasError):
            cluster.produce("t", 0, batch(value), acks="all",
                            producer=(pid, epoch, sequence)).get(timeout=1)
    for broker in followers:
        cluster.restart(broker)
    cluster.run_for(3)
    for sequence, value in ((1, b"b"), (2, b"c")):
        assert cluster.produce("t", 0, batch(value), acks="all", producer=(
            pid, epoch, sequence)).get(timeout=2).base_offset == sequence
    assert values(cluster.log(cluster.leader("t", 0), "t", 0)) == [b"a", b"b", b"c"]


def test_a_batch_longer_than_one_replica_fetch_is_still_known_to_a_new_leader(make_cluster):
    # A follower copies at most 500 records a fetch: this batch reaches it in two.
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    pid, epoch = cluster.init_producer_id()
    records = [(None, b"%d" % i) for i in range(700)]
    cluster.produce("t", 0, records, acks="all", producer=(pid, epoch, 0)).get(timeout=5)
    leader = cluster.leader("t", 0)
    cluster.kill(leader)
    cluster.run_for(1.6)
    assert cluster.leader("t", 0) != leader
    retry = cluster.produce("t", 0, records, acks="all", producer=(pid, epoch, 0))
    assert retry.get(timeout=2).base_offset == 0  # known: answered, not appended again
    assert len(cluster.log(cluster.leader("t", 0), "t", 0)) == 700


def test_without_idempotence_the_same_retry_duplicates_the_record(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
    first = cluster.produce("t", 0, batch(b"a"), acks="all")
    cluster.step()
    cluster.kill(cluster.leader("t", 0))
    with pytest.raises(KafkaConnectionError):
        first.get(timeout=1)
    cluster.run_for(1.6)
    cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=2)
    assert values(cluster.log(cluster.leader("t", 0), "t", 0)) == [b"a", b"a"]
