"""A follower keeps its leader's batches: the producers' batches as the leader stored them (base
offsets, record counts, codecs), so that after a failover the new leader answers a whole-batch
fetch as the old one did, as Kafka's followers append the leader's batches as they are.
Truncation on a leader change cuts them as a lone log's truncation does."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.log import PartitionLog
from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_records import validate_records
from pcmodel.topics.structs import TopicPartition
from tests.cluster.test_processes import SETTINGS
from tests.conftest import wait_until

TP = TopicPartition("t", 0)
#: Three producers' batches: 5 records, 4 gzip-compressed, 3.
SENT = ((5, None), (4, "gzip"), (3, None))
EXPECTED = [(0, 5, None), (5, 4, "gzip"), (9, 3, None)]


def produce_batches(cluster, sent=SENT, first=0):
    n = first
    for count, codec in sent:
        records = [(None, b"value-%d" % i) for i in range(n, n + count)]
        cluster.produce("t", 0, records, acks="all", compression=codec).get(timeout=20)
        n += count


def stored(result):
    """``(base offset, record count, codec)`` per batch of a whole-batch fetch."""
    return [(b.base_offset, b.last_offset - b.base_offset + 1, b.codec) for b in result.batches]


def whole_batches(cluster, broker, offset):
    """A whole-batch fetch from ``broker``'s own log, at the high watermark."""
    return cluster.nodes[broker].broker.fetch({TP: offset}, max_records=100,
                                              whole_batches=True)[TP]


@pytest.fixture
def replicated(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    cluster.settle()
    produce_batches(cluster)
    cluster.settle()
    return cluster


def test_every_follower_holds_the_leaders_batches(replicated):
    leader = replicated.leader("t", 0)
    assert stored(whole_batches(replicated, leader, 0)) == EXPECTED
    for broker in {0, 1, 2} - {leader}:
        result = whole_batches(replicated, broker, 0)
        assert [r.offset for r in result.records] == list(range(12))
        assert stored(result) == EXPECTED


def test_a_new_leader_answers_the_old_leaders_batches_from_their_bases(replicated):
    old = replicated.leader("t", 0)
    replicated.kill(old)
    replicated.run_for(3)
    new = replicated.leader("t", 0)
    assert new not in (None, old)
    # A fetch from inside the compressed batch gets it from its base offset, as Kafka's does.
    result = whole_batches(replicated, new, 7)
    assert result.records[0].offset == 5
    assert stored(result) == EXPECTED[1:]
    assert replicated.nodes[new].fetch({TP: 7}, 100, whole_batches=True)[TP] == result
    # The new leader's own batches follow the copied ones; the old leader, back, copies them.
    produce_batches(replicated, ((2, "gzip"),), first=12)
    replicated.restart(old)
    replicated.settle()
    for broker in (0, 1, 2):
        assert stored(whole_batches(replicated, broker, 0)) == EXPECTED + [(12, 2, "gzip")]


def test_truncation_on_a_leader_change_cuts_the_batches_it_removes(replicated):
    old = replicated.leader("t", 0)
    replicated.isolate(old)  # its followers cannot fetch what it appends now
    replicated.produce("t", 0, [(None, b"lost-%d" % i) for i in range(3)], acks=1,
                       compression="gzip").get(timeout=20)
    assert stored(replicated.nodes[old].broker.fetch(
        {TP: 0}, max_records=100, replica_id=old, whole_batches=True)[TP]) == \
        EXPECTED + [(12, 3, "gzip")]
    replicated.kill(old)
    replicated.run_for(3)
    new = replicated.leader("t", 0)
    assert new not in (None, old)
    produce_batches(replicated, ((4, None),), first=12)
    replicated.heal(old)
    replicated.restart(old)
    replicated.settle()
    after = whole_batches(replicated, old, 0)
    assert [r.value for r in after.records[12:]] == [b"value-%d" % i for i in range(12, 16)]
    assert stored(after) == stored(whole_batches(replicated, new, 0)) == \
        EXPECTED + [(12, 4, None)]


def test_a_copy_that_starts_inside_a_batch_keeps_the_rest_as_a_batch_of_its_own():
    leader, follower = PartitionLog(), PartitionLog()
    leader.append(validate_records([(None, b"a%d" % i) for i in range(6)]))
    follower.append_copy(leader.read(0, 100))
    follower.copy_batches([StoredBatch(0, 5)])
    follower.truncate_to(3)  # a leader change: only offsets 0..2 agree
    assert [(b.base_offset, b.last_offset) for b in follower.read_batches(0, 100)[1]] == [(0, 2)]
    # The new leader's batch 0..5 is fetched from its base; the copy takes offsets 3..5.
    follower.append_copy(leader.read(3, 100))
    follower.copy_batches([StoredBatch(0, 5)])
    records, batches = follower.read_batches(4, 100)
    assert records[0].offset == 3 and [(b.base_offset, b.last_offset) for b in batches] == \
        [(3, 5)]
    follower.copy_batches([StoredBatch(0, 5)])  # already held: nothing changes
    assert [(b.base_offset, b.last_offset) for b in follower.read_batches(0, 100)[1]] == \
        [(0, 2), (3, 5)]


@pytest.mark.timeout(90)
def test_a_new_leader_in_its_own_process_answers_the_old_leaders_batches():
    with Cluster(3, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        produce_batches(cluster)
        wait_until(lambda: all(len(cluster.log(b, "t", 0)) == 12 for b in range(3)),
                   timeout=30)
        old = cluster.leader("t", 0)
        cluster.kill(old)
        wait_until(lambda: cluster.leader("t", 0) not in (None, old), timeout=30)
        new = cluster.leader("t", 0)

        def fetch():
            return cluster.nodes[new].call("fetch", {TP: 7}, 100, "read_uncommitted", True)[TP]

        wait_until(lambda: fetch().high_watermark == 12, timeout=30)
        result = fetch()
        assert result.records[0].offset == 5
        assert stored(result) == EXPECTED[1:]
        assert [r.value for r in result.records] == [b"value-%d" % i for i in range(5, 12)]
