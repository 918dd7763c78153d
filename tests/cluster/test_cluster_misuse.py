"""The cluster's public calls misused: wrong types, ids it does not have, calls after close.

Each is refused in one line, before anything changes, where it used to be taken for something
else (``acks=True`` as 1, ``leader("t", True)`` as partition 1, ``isolate(controller="no")``
as a full partition), ignored (``heal`` of a broker that does not exist), applied to a closed
cluster (``restart`` brought a broker of a closed cluster back), or waited on for ever (a NaN
or infinite timeout).
"""

from __future__ import annotations

import math

import pytest

from pcmodel.cluster.faults import random_plan
from pcmodel.topics.errors import IllegalArgumentError, IllegalStateError
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)


@pytest.fixture
def cluster(make_cluster):
    made = make_cluster()
    made.create_topic("t", 2, replication_factor=3)
    return made


def test_a_closed_clusters_brokers_stay_down(cluster):
    cluster.close()
    with pytest.raises(IllegalStateError, match="closed"):
        cluster.restart(0)
    assert not any(node.alive for node in cluster.nodes)
    for fault in (lambda: cluster.isolate(1), lambda: cluster.heal(),
                  lambda: cluster.slow(1, 1.0)):
        with pytest.raises(IllegalStateError, match="closed"):
            fault()
    assert cluster.nodes[1].slowness == 0
    cluster.kill(0)  # idempotent: already down
    cluster.stop(1)


@pytest.mark.parametrize("broker", [3, -1, "0", True])
def test_healing_a_broker_the_cluster_does_not_have_is_refused(cluster, broker):
    cluster.isolate(0)
    with pytest.raises(IllegalArgumentError, match="broker must be an id from 0 to 2"):
        cluster.heal(broker)
    assert cluster._isolated == {0}


@pytest.mark.parametrize("controller", ["no", 0, None])
def test_isolation_from_the_controller_is_true_or_false(cluster, controller):
    events = len(cluster.events)
    with pytest.raises(TypeError, match="controller must be True or False"):
        cluster.isolate(0, controller=controller)
    assert not cluster._isolated and not cluster._isolated_from_controller
    assert len(cluster.events) == events


@pytest.mark.parametrize("acks", [True, 1.0, "1", -1.0])
def test_acks_are_the_values_themselves_not_what_equals_them(cluster, acks):
    with pytest.raises(IllegalArgumentError, match="acks must be one of"):
        cluster.produce("t", 0, [(None, b"x")], acks=acks)
    assert cluster.log(0, "t", 0) == []


@pytest.mark.parametrize("acks", ["x", True, 1.0])
def test_a_connections_acks_are_refused_in_one_line(cluster, acks):
    conn = cluster.connect()
    with pytest.raises(IllegalArgumentError, match="acks must be one of"):
        conn.append("t", 0, [(None, b"x")], acks=acks)
    assert cluster.log(0, "t", 0) == []
    conn.close()


@pytest.mark.parametrize("records", [None, "ab", b"ab", {"k": "v"}, 7])
def test_records_must_be_a_list(cluster, records):
    with pytest.raises(TypeError, match="records must be a list"):
        cluster.produce("t", 0, records)
    assert cluster.log(0, "t", 0) == []


@pytest.mark.parametrize(("topic", "partition", "words"), [
    ("t", True, "partition must be an int, got bool"),
    ("t", "0", "partition must be an int, got str"),
    (1, 0, "topic must be a str"),
])
def test_a_partition_of_the_wrong_type_is_not_read_as_another(cluster, topic, partition, words):
    calls = [lambda: cluster.leader(topic, partition), lambda: cluster.isr(topic, partition),
             lambda: cluster.replica_status(topic, partition),
             lambda: cluster.log(0, topic, partition),
             lambda: cluster.produce(topic, partition, [(None, b"x")])]
    for call in calls:
        with pytest.raises(TypeError, match=words):
            call()
    assert cluster.log(0, "t", 1) == []


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1, "1"])
def test_a_wait_that_would_never_end_is_refused(cluster, timeout):
    with pytest.raises(IllegalArgumentError, match="wait_for"):
        cluster.wait_for(lambda: False, timeout)
    with pytest.raises(IllegalArgumentError, match="await_change"):
        cluster.await_change(cluster.change_count(), timeout)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1, "1", None])
def test_a_connections_fetch_timeout_is_checked_before_it_waits(cluster, timeout):
    conn = cluster.connect()
    with pytest.raises((IllegalArgumentError, TypeError), match="timeout"):
        conn.fetch({TP: 0}, timeout=timeout)
    conn.close()


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1, "1"])
def test_a_deletion_with_a_bad_timeout_deletes_nothing(cluster, timeout):
    conn = cluster.connect()
    conn.append("t", 0, [(None, b"a"), (None, b"b")], acks="all")
    cluster.kill(2)  # the deletion would wait for it: for ever, with a NaN timeout
    with pytest.raises((IllegalArgumentError, TypeError), match="timeout"):
        conn.delete_records({TP: 1}, timeout=timeout)
    assert cluster.low_watermark("t", 0) == 0
    conn.close()


def test_allowing_a_replication_factor_change_is_true_or_false(cluster):
    before = cluster.metadata()[TP]
    with pytest.raises(TypeError, match="allow_replication_factor_change"):
        cluster.alter_partition_reassignments({TP: [1, 2]},
                                              allow_replication_factor_change="no")
    assert cluster.metadata()[TP] == before


@pytest.mark.parametrize(("settings", "error"), [
    ({"kinds": ()}, ValueError),
    ({"kinds": "kill"}, TypeError),
    ({"min_length": -1.0}, IllegalArgumentError),
    ({"min_length": 3.0, "max_length": 1.0}, IllegalArgumentError),
    ({"duration": math.nan}, IllegalArgumentError),
    ({"brokers": 0}, IllegalArgumentError),
    ({"faults": -1}, IllegalArgumentError),
])
def test_a_fault_plan_that_could_not_undo_its_faults_is_refused(settings, error):
    arguments = {"brokers": 3, "duration": 5.0, **settings}
    with pytest.raises(error):
        random_plan(1, **arguments)



def test_a_closed_process_cluster_takes_no_fault_and_starts_no_process():
    from pcmodel.cluster import Cluster

    cluster = Cluster(2, mode="processes")
    try:
        with pytest.raises(TypeError, match="controller must be True or False"):
            cluster.isolate(0, controller="no")
        assert not cluster._isolated
    finally:
        cluster.close()
    for fault in (lambda: cluster.isolate(0), lambda: cluster.heal(),
                  lambda: cluster.slow(0, 1.0), lambda: cluster.restart(0)):
        with pytest.raises(IllegalStateError, match="closed"):
            fault()
    assert not cluster._isolated and not any(node.alive for node in cluster.nodes)


def test_a_plan_with_an_unknown_action_says_so_when_printed():
    from pcmodel.cluster.faults import Fault, FaultPlan

    with pytest.raises(ValueError, match="unknown fault action 'explode'"):
        FaultPlan([Fault(0.0, "explode", 0)]).script()


def test_an_observer_that_cannot_be_called_is_refused_before_an_event_reaches_it(cluster):
    with pytest.raises(TypeError, match="observer must be a callable"):
        cluster.add_observer(5)
    cluster.kill(0)  # the event reached no observer that fails
    assert cluster.events[-1].kind == "killed" and not cluster.nodes[0].alive


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1])
def test_a_wait_for_a_metadata_change_that_would_never_end_is_refused(cluster, timeout):
    conn = cluster.connect()
    with pytest.raises(IllegalArgumentError, match="timeout"):
        conn.await_metadata_change(conn.metadata_version(), timeout)
    conn.close()


def test_a_preferred_election_on_a_dead_cluster_says_the_partition_stays_offline(cluster):
    from pcmodel.topics.errors import PreferredLeaderNotAvailableError
    from pcmodel.topics.structs import ElectionType

    for broker in range(3):
        cluster.stop(broker)
    before = cluster.metadata()[TP]
    answer = cluster.elect_leaders(ElectionType.PREFERRED, [TP])[TP]
    assert isinstance(answer, PreferredLeaderNotAvailableError)
    assert "stays offline" in str(answer) and "None" not in str(answer)
    assert cluster.metadata()[TP] == before and before.leader is None
