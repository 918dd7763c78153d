"""A replica's journal keeps the producers' batches: a restarted broker answers a fetch with the
batches it answered before (base offsets, counts, codecs, producers, transactional flags), as
a Kafka broker's segments keep them; a journal written before it kept batches still reads."""

from __future__ import annotations

import os

from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.epochs import EpochEntry
from pcmodel.cluster.journal import DurableReplica, _Journal, journal_path, read_journal
from pcmodel.topics.broker import Broker
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.records import encode_records
from tests.wire.test_fetch_batches_as_written import _headers

TP = TopicPartition("t", 0)
CONFIG = TopicConfig(3, 2, False)
LEADER = PartitionState((0, 1, 2), 0, 3, frozenset({0, 1, 2}))
FOLLOWER = PartitionState((0, 1, 2), 1, 3, frozenset({0, 1, 2}))


def replica(directory):
    broker = Broker()
    broker.create_topic("t", 1)
    return DurableReplica(0, broker, TP, CONFIG, directory=directory)


def answered(rep, offset=0):
    """What a Kafka fetch from ``offset`` gets: each batch's edges and codec, and its header
    (base offset, count, producer id, epoch, sequence, transactional flag)."""
    fetched = rep.broker.fetch({TP: offset}, replica_id=0, whole_batches=True)[TP]
    edges = [(b.base_offset, b.last_offset, b.codec) for b in fetched.batches]
    wire = encode_records(fetched.records, 1 << 20, fetched.transactional_batches,
                          stored=fetched.batches)
    return edges, _headers(wire)


def restarted(first, directory):
    first.close()
    again = replica(directory)
    first.broker.close()
    return again


def test_a_restarted_leader_answers_the_batches_it_answered_before(tmp_path):
    first = replica(tmp_path)
    first.apply_state(LEADER, now=0.0)
    first.append_as_leader([(None, b"a%d" % i) for i in range(3)], None, (7, 0, 0))
    first.append_as_leader([(None, b"b%d" % i) for i in range(5)], "gzip", None)
    first.append_as_leader([(None, b"c")] * 2, None, (9, 0, 0), transactional=True)
    first.write_marker(9, 0, commit=True)
    first.append_as_leader([(None, b"d")] * 4, None, None)
    before = answered(first)
    assert [h[:2] for h in before[1]] == [(0, 3), (3, 5), (8, 2), (10, 1), (11, 4)]
    again = restarted(first, tmp_path)
    assert answered(again) == before
    assert answered(again, 9) == answered(again, 8)  # from the middle: the batch whole
    again.close()
    again.broker.close()


def test_a_restarted_follower_answers_its_leaders_batches(tmp_path):
    with Broker() as leader:
        leader.create_topic("t", 1)
        leader.append("t", 0, [(None, b"x")] * 6)
        leader.append("t", 0, [(None, b"y")] * 3, compression="gzip")
        fetched = leader.fetch({TP: 0}, replica_id=1, whole_batches=True)[TP]
        first = replica(tmp_path)
        first.apply_state(FOLLOWER, now=0.0)
        first.append_copy(fetched.records, 9, (EpochEntry(3, 0),))
        first.copy_batches(fetched.batches)
        before = answered(first)
        assert [h[:2] for h in before[1]] == [(0, 6), (6, 3)]
        again = restarted(first, tmp_path)
        assert answered(again) == before
        again.close()
        again.broker.close()


def test_a_journal_written_before_batches_were_kept_still_recovers(tmp_path):
    first = replica(tmp_path)
    first.apply_state(LEADER, now=0.0)
    first.append_as_leader([(None, b"a")] * 3, None, None)
    first.append_as_leader([(None, b"b")] * 2, None, None)
    first.close()
    first.broker.close()
    path = journal_path(tmp_path, TP)
    entries, _ = read_journal(path)
    assert any(entry[0] == "batches" for entry in entries)
    # The journal as an older pcmodel wrote it: no "batches" entries.
    os.remove(path)
    old = _Journal(path, 0)
    for entry in entries:
        if entry[0] != "batches":
            old.write(entry)
    old.close()
    again = replica(tmp_path)
    fetched = again.broker.fetch({TP: 0}, replica_id=0, whole_batches=True)[TP]
    assert [r.value for r in fetched.records] == [b"a"] * 3 + [b"b"] * 2
    assert fetched.batches == ()  # records of no batch: a fetch batches them by kind
    again.close()
    again.broker.close()
