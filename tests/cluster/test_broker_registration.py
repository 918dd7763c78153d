"""A restarted broker registers again as a Kafka broker does with a KRaft controller.

A restart is a new incarnation of the broker id. The controller refuses to register it
(DUPLICATE_BROKER_REGISTRATION) while the previous incarnation's session is valid, since it
cannot tell a restart from a second broker with the same id; the broker retries at each
heartbeat. So a broker killed and started again at once comes back only when its old
session expires, and the leaderships it held move then, not at the restart. After a
controlled shutdown the old incarnation is fenced already, and the new one registers at once.
Either way it is registered *fenced*, and unfenced at the heartbeat after it has caught up
with its partitions' states (Kafka's ``registerBroker`` and ``calculateNextBrokerState``).
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.controller import Controller, TopicConfig
from pcmodel.cluster.errors import NotLeaderForPartitionError

SESSION = 1.5  # seconds: broker_session_timeout_ms=1500, the cluster's default


def first_time(cluster, kind, broker, after):
    """When the first event ``kind`` of ``broker`` at or after time ``after`` happened."""
    return next(e.time for e in cluster.events
                if e.kind == kind and e.broker == broker and e.time >= after)


def test_the_controller_refuses_a_new_incarnation_while_the_old_session_is_valid():
    from pcmodel.cluster.errors import DuplicateBrokerRegistrationError

    controller = Controller(range(3), SESSION)
    for broker in range(3):
        controller.heartbeat(broker, 0.0)
    controller.create_topic("t", 1, TopicConfig(3, 1, False))
    with pytest.raises(DuplicateBrokerRegistrationError) as refused:
        controller.register(0, SESSION)  # the session lasts up to its last instant
    assert refused.value.errno == 101
    assert 0 in controller.alive
    changed = controller.register(0, SESSION + 0.01)  # expired: the old incarnation goes
    assert [tp.topic for tp in changed] == ["t"]
    state = controller.partitions[changed[0]]
    assert 0 not in controller.alive  # registered fenced
    assert (state.leader, state.isr) == (1, {1, 2})
    controller.heartbeat(0, SESSION + 0.05)  # caught up: unfenced
    assert 0 in controller.alive


def test_a_quick_restart_comes_back_when_the_old_session_expires(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.settle()
    assert cluster.leader("t", 0) == 0
    cluster.kill(0)
    last_heard = cluster.clock()  # the step that settled it was its last heartbeat
    cluster.advance(0.2)
    cluster.restart(0)
    restarted = cluster.clock()
    cluster.advance(SESSION - 0.5)
    # The controller still counts the old incarnation alive: it leads, and the restarted
    # broker, refused at every heartbeat, neither leads nor follows.
    assert 0 in cluster.live_brokers()
    assert cluster.leader("t", 0) == 0
    with pytest.raises(NotLeaderForPartitionError):
        cluster.produce("t", 0, [(None, b"v")]).get(timeout=0)
    cluster.run_for(1.0)
    fenced = first_time(cluster, "fenced", 0, restarted)
    assert fenced - last_heard > SESSION
    assert first_time(cluster, "leader", 1, restarted) == fenced  # the leadership moves then
    cluster.settle()
    assert 0 in cluster.live_brokers() and cluster.isr("t", 0) == {0, 1, 2}


def test_a_restart_after_a_controlled_shutdown_registers_at_once_fenced(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.settle()
    cluster.stop(0)  # the controller fences it at once
    cluster.restart(0)
    assert 0 not in cluster.live_brokers()  # registered, fenced until it has caught up
    assert cluster.isr("t", 0) == {1, 2}
    cluster.step()  # its next heartbeat asks to be unfenced
    assert 0 in cluster.live_brokers()
    cluster.settle()
    assert cluster.isr("t", 0) == {0, 1, 2}


def test_a_broker_process_restarted_at_once_waits_for_its_old_session():
    with Cluster(3, mode="processes", broker_session_timeout_ms=3000) as cluster:
        cluster.create_topic("t", 1, replication_factor=3)
        cluster.settle(max_seconds=30)
        cluster.kill(0)
        cluster.restart(0)  # returns once registered and unfenced
        assert 0 in cluster.live_brokers()
        kinds = [e.kind for e in cluster.events if e.broker == 0]
        since = kinds[len(kinds) - 1 - kinds[::-1].index("killed"):]
        assert since.index("restarted") < since.index("fenced")  # fenced after the restart


def test_settle_waits_for_a_restarted_broker_that_is_registered_but_still_fenced(make_cluster):
    # The partition's ISR is its killed leader alone: while the restarted leader is registered
    # but fenced, the partition has no leader, and nothing else shows that the cluster is not
    # back. settle() returned there, and a check that followed saw an offline partition.
    cluster = make_cluster(2, replica_lag_time_max_ms=100)
    cluster.create_topic("t", replication_factor=2)
    leader = cluster.leader("t", 0)
    cluster.stop(1 - leader)
    cluster.run_for(0.5)
    assert cluster.isr("t", 0) == {leader}
    cluster.kill(leader)
    cluster.restart(leader)
    cluster.restart(1 - leader)
    cluster.settle()
    assert leader in cluster.live_brokers()
    assert cluster.leader("t", 0) == leader
    assert cluster.isr("t", 0) == {0, 1}
