"""An idempotent producer's batches reach a Fetch answer with the producer id, epoch and first
sequence number the producer sent, through a lone broker's produce path and a cluster leader's
(and a follower's copy), as Kafka's log keeps a batch as it was appended."""

from __future__ import annotations

import pytest
from kafka.record.memory_records import MemoryRecords

from pcmodel.cluster import Cluster
from pcmodel.topics.broker import Broker
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.records import encode_records

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)


def _headers(result):
    """``(base offset, record count, producer id, epoch, base sequence)`` of each batch of a
    whole-batch fetch result, as a Fetch answer encodes them."""
    records = MemoryRecords(bytes(encode_records(result.records, 1 << 20,
                                                 stored=result.batches)))
    out = []
    while records.has_next():
        batch = records.next_batch()
        out.append((batch.base_offset, len(list(batch)), batch.producer_id,
                    batch.producer_epoch, batch.base_sequence))
    return out


def test_a_lone_brokers_fetch_sends_the_producers_id_epoch_and_sequences():
    with Broker() as broker:
        broker.create_topic("t", 1)
        broker.append_idempotent("t", 0, [(None, b"a")] * 3, producer_id=5, producer_epoch=1,
                                 first_sequence=0)
        broker.append("t", 0, [(None, b"plain")])
        broker.append_idempotent("t", 0, [(None, b"b")] * 2, producer_id=5, producer_epoch=1,
                                 first_sequence=3)
        fetched = broker.fetch({TP: 0}, whole_batches=True)[TP]
        assert _headers(fetched) == [(0, 3, 5, 1, 0), (3, 1, -1, -1, -1), (4, 2, 5, 1, 3)]


def test_a_cluster_leader_and_its_followers_send_the_producers_numbering():
    with Cluster(3, mode="steps") as cluster:
        cluster.create_topic("t", replication_factor=3)
        pid, epoch = cluster.init_producer_id()
        cluster.produce("t", 0, [(None, b"a")] * 3, acks=1, producer=(pid, epoch, 0))
        cluster.produce("t", 0, [(None, b"b")] * 2, acks=1, producer=(pid, epoch, 3))
        cluster.step()  # the followers copy both batches; the high watermark follows
        cluster.step()
        leader = cluster.leader("t", 0)
        expected = [(0, 3, pid, epoch, 0), (3, 2, pid, epoch, 3)]
        assert _headers(cluster.fetch(leader, {TP: 0}, whole_batches=True)[TP]) == expected
        cluster.kill(leader)
        cluster.run_for(1.6)
        new = cluster.leader("t", 0)
        assert new != leader
        assert _headers(cluster.fetch(new, {TP: 0}, whole_batches=True)[TP]) == expected
