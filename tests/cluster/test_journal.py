"""A replica's journal: what a restarted broker process recovers, and a torn tail."""

from __future__ import annotations

from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.journal import DurableReplica, journal_path, read_journal, replay_log
from pcmodel.topics.broker import Broker
from pcmodel.topics.structs import TopicPartition

TP = TopicPartition("t", 0)
CONFIG = TopicConfig(3, 2, False)


def replica(directory):
    broker = Broker()
    broker.create_topic("t", 1)
    return DurableReplica(0, broker, TP, CONFIG, directory=directory)


def test_a_recovered_replica_has_its_records_epochs_producers_and_hw(tmp_path):
    first = replica(tmp_path)
    first.apply_state(PartitionState((0, 1, 2), 0, 3, frozenset({0, 1, 2})), now=0.0)
    first.append_as_leader([(None, b"a"), (None, b"b")], None, (7, 0, 0))
    first.append_as_leader([(None, b"c")], None, None)
    first.truncate(2)  # c goes (a follower truncating, say)
    first._set_hw(2)
    first.close()
    again = replica(tmp_path)  # what the next process sees
    assert [r.value for r in again.broker.fetch({TP: 0}, replica_id=0)[TP].records] == \
        [b"a", b"b"]
    assert again.offsets == (0, 2, 2)
    assert again.epochs.entries == first.epochs.entries and again.epochs.latest_epoch == 3
    assert again.producers.check(7, 0, 0, 2) is not None  # the retry is recognised
    again.close()
    again.broker.close()
    first.broker.close()


def test_a_recovered_replica_keeps_the_epochs_trimmed_from_its_start(tmp_path):
    first = replica(tmp_path)
    first.apply_state(PartitionState((0, 1, 2), 0, 3, frozenset({0, 1, 2})), now=0.0)
    first.append_as_leader([(None, b"a"), (None, b"b")], None, None)
    first.apply_state(PartitionState((0, 1, 2), 0, 5, frozenset({0, 1, 2})), now=0.0)
    first.append_as_leader([(None, b"c")], None, None)
    assert first.epochs.entries == ((3, 0), (5, 2))
    first._set_hw(3)
    assert first.advance_start(2)  # DeleteRecords below 2: epoch 3 wrote nothing left
    assert first.epochs.entries == ((5, 2),)
    first.close()
    again = replica(tmp_path)
    assert again.offsets == (2, 3, 3) and again.epochs.entries == ((5, 2),)
    again.close()
    again.broker.close()
    first.broker.close()


def test_a_torn_tail_is_dropped_and_cut_off(tmp_path):
    first = replica(tmp_path)
    first.apply_state(PartitionState((0, 1, 2), 0, 0, frozenset({0})), now=0.0)
    first.append_as_leader([(None, b"a")], None, None)
    first.close()
    path = journal_path(tmp_path, TP)
    whole = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b"\x00\x00\x01\x00half an entry")  # a write cut short
    assert read_journal(path)[1] == whole
    again = replica(tmp_path)
    assert path.stat().st_size == whole  # cut back before anything is appended after it
    again.append_as_leader([(None, b"b")], None, None)
    again.close()
    records, start, _ = replay_log(read_journal(path)[0])
    assert [r.value for r in records] == [b"a", b"b"] and start == 0
    again.broker.close()
    first.broker.close()
