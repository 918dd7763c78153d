"""Kafka 4's consumer groups on a cluster of broker processes: the coordinator is a broker
process, asked across a connection, and a group it stored in ``__consumer_offsets`` outlives
its SIGKILL, as on a cluster of threads (tests/cluster/test_consumer_groups_across_failover.py).
"""

from __future__ import annotations

import pytest

from tests.cluster.test_consumer_groups_across_failover import (
    join,
    kill_coordinator,
    owned_of,
    settle,
)

pytestmark = pytest.mark.timeout(60)


def test_a_process_coordinators_group_outlives_its_sigkill(make_cluster):
    cluster = make_cluster(3, mode="processes")
    cluster.create_topic("t", 4, replication_factor=3)
    conn = cluster.connect()
    first, second = join(conn, "m1"), join(conn, "m2")
    members = {"m1": [first.member_epoch, first.assignment],
               "m2": [second.member_epoch, second.assignment]}
    before = settle(conn, members)
    assert sorted(p for m in before.members for ps in m.assignment.values() for p in ps) == \
        [0, 1, 2, 3]
    kill_coordinator(cluster, conn)
    after = conn.describe_consumer_group("g")
    assert (after.state, after.group_epoch) == (before.state, before.group_epoch)
    assert {m.member_id: (m.member_epoch, m.assignment) for m in after.members} == \
        {m.member_id: (m.member_epoch, m.assignment) for m in before.members}
    for member_id, (epoch, assignment) in members.items():  # no member starts over
        answer = conn.consumer_group_heartbeat("g", member_id, epoch,
                                               owned_partitions=owned_of(assignment))
        assert answer.member_epoch == epoch
