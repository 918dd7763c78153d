"""A member that leaves its group in the middle of a rebalance has *lost* its partitions.

The Java client's ``ConsumerCoordinator.onLeavePrepare``: ``close()`` or ``unsubscribe()``
calls ``onPartitionsLost`` when the member has no generation or a rebalance is under way (its
JoinGroup or SyncGroup not answered), ``onPartitionsRevoked`` otherwise; either way it still
sends LeaveGroup. A cooperative member keeps its partitions while it rejoins, so it is the one
that has something to lose there.
"""

from __future__ import annotations

import pytest

from tests.topics.conftest import RecordingListener, group_settled, tp, wait_until

COOPERATIVE = ("cooperative-sticky",)


def _rejoining_with_one_partition(broker, make_consumer, log):
    """``keeper`` (cooperative) held both partitions of ``t``; a newcomer joined once and
    stopped polling, so ``keeper``'s second JoinGroup of the rebalance waits for it, with
    one partition still held. Returns ``keeper``."""
    broker.create_topic("t", 2)
    keeper = make_consumer(group_id="g", partition_assignment_strategy=COOPERATIVE)
    keeper.subscribe(["t"], listener=RecordingListener("keeper", log))
    wait_until(lambda: keeper.poll(timeout_ms=20) is not None
               and keeper.assignment() == {tp("t", 0), tp("t", 1)})
    # A long session: the newcomer stays a member for the whole test without heartbeats.
    newcomer = make_consumer(group_id="g", partition_assignment_strategy=COOPERATIVE,
                             session_timeout_ms=60_000)
    newcomer.subscribe(["t"])
    newcomer.poll(timeout_ms=0)  # its JoinGroup stays registered; it never polls again
    # The first round moves one partition to the newcomer: keeper revokes it and joins again,
    # and that second JoinGroup waits for the newcomer, which does not come.
    wait_until(lambda: keeper.poll(timeout_ms=20) is not None
               and len(keeper.assignment()) == 1
               and broker.describe_group("g").state == "PreparingRebalance")
    return keeper


@pytest.mark.parametrize("leave", ["close", "unsubscribe"])
def test_leaving_during_a_rebalance_loses_the_partitions(broker, make_consumer, leave):
    log: list = []
    keeper = _rejoining_with_one_partition(broker, make_consumer, log)
    (held,) = keeper.assignment()
    start = len(log)
    if leave == "close":
        keeper.close()
    else:
        keeper.unsubscribe()
    assert log[start:] == [("keeper", "lost", [held])]
    # It still left the group: only the newcomer is a member.
    assert len(broker.describe_group("g").members) == 1


def test_a_stable_member_that_leaves_revokes(broker, make_consumer):
    broker.create_topic("t", 2)
    log: list = []
    member = make_consumer(group_id="g", partition_assignment_strategy=COOPERATIVE)
    member.subscribe(["t"], listener=RecordingListener("member", log))
    wait_until(lambda: member.poll(timeout_ms=20) is not None and len(member.assignment()) == 2)
    wait_until(group_settled(broker, "g", 1))
    start = len(log)
    member.close()
    assert log[start:] == [("member", "revoked", [tp("t", 0), tp("t", 1)])]
    assert broker.describe_group("g").members == ()
