"""A non-transactional InitProducerId on a cluster always issues a new producer id.

Kafka's coordinator answers an InitProducerId without a transactional id with a new producer
id at epoch 0 whatever ids the request carries (``TransactionCoordinator.handleInitProducerId``,
``transactionalId == null``). The cluster's connection used to bump the epoch of any id it was
given, one the controller never issued included, and so let any caller fence a live producer.
"""

from __future__ import annotations

import pytest

from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)


def test_an_id_and_epoch_given_get_a_new_id_not_a_bump(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id()
    again = conn.init_producer_id(pid, epoch)
    assert again[1] == 0 and again[0] not in (pid, 5)
    never_issued = conn.init_producer_id(5, 3)
    assert never_issued[1] == 0 and never_issued[0] not in (5, pid, again[0])
    conn.close()


def test_a_second_init_producer_id_does_not_fence_the_first_producer(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", replication_factor=3)
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id()
    conn.append_idempotent("t", 0, [(None, b"a")], producer_id=pid, producer_epoch=epoch,
                           first_sequence=0)
    other, other_epoch = conn.init_producer_id(pid, epoch)  # another client, the same ids
    conn.append_idempotent("t", 0, [(None, b"x")], producer_id=other,
                           producer_epoch=other_epoch, first_sequence=0)
    # The first producer's next batch is still taken: the other's writes fenced nothing.
    answer = conn.append_idempotent("t", 0, [(None, b"b")], producer_id=pid,
                                    producer_epoch=epoch, first_sequence=1)
    assert answer.base_offset == 2
    assert [r.value for r in cluster.log(0, "t", 0)] == [b"a", b"x", b"b"]
    conn.close()
