"""Partition reassignments (Kafka's AlterPartitionReassignments): the pure rules, the
controller's decisions, and replicas moving on a stepped cluster, a cluster of processes and a
lone broker; and replicas placed by hand on broker processes."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster, NotLeaderForPartitionError
from pcmodel.cluster.controller import Controller, TopicConfig
from pcmodel.cluster.journal import journal_path
from pcmodel.cluster.reassignment import Reassigning, completed, reverted, start
from pcmodel.topics import Broker, KafkaAdminClient
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    NoReassignmentInProgressError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import PartitionReassignment, TopicPartition
from tests.cluster.test_processes import SETTINGS, batch, values
from tests.conftest import wait_until

TP = TopicPartition("t", 0)


# --- the rules ---------------------------------------------------------------------------------

def test_a_reassignment_starts_with_the_target_then_the_replicas_leaving():
    assert start((0, 1, 2), (3, 1, 4)) == Reassigning((3, 1, 4, 0, 2), (3, 4), (0, 2))
    assert start((0, 1, 2), (2, 0, 1)) == Reassigning((2, 0, 1), (), ())  # a reordering
    # A new target replaces a reassignment in progress: its replicas count as current.
    assert start((3, 4, 0, 1), (0, 5)) == Reassigning((0, 5, 1, 3, 4), (5,), (1, 3, 4))


def test_a_reassignment_completes_once_every_target_replica_is_in_sync():
    moving = Reassigning((2, 3, 0, 1), (2, 3), (0, 1))
    assert completed(moving, {0, 1, 2}) is None
    assert completed(moving, {0, 1, 2, 3}) == ((2, 3), frozenset({2, 3}))
    assert completed(moving, {0, 2, 3}) == ((2, 3), frozenset({2, 3}))
    assert completed(Reassigning((0, 1), (), ()), {0, 1}) is None  # nothing in progress
    # Only removals: complete as soon as the ISR keeps every target replica.
    assert completed(Reassigning((0, 1, 2), (), (2,)), {0, 1}) == ((0, 1), frozenset({0, 1}))
    assert completed(Reassigning((0, 1, 2), (), (2,)), {0, 2}) is None


def test_a_cancelled_reassignment_keeps_the_original_replicas():
    moving = Reassigning((2, 3, 0, 1), (2, 3), (0, 1))
    assert reverted(moving, {0, 1, 2}) == ((0, 1), frozenset({0, 1}), False)
    # Only replicas being added are in sync: the first original one, unclean.
    assert reverted(moving, {2}) == ((0, 1), frozenset({0}), True)


# --- the controller ----------------------------------------------------------------------------

def controller(replicas=(0, 1), isr=None, unclean=False, brokers=4):
    """A controller with every broker alive and partition t-0 on ``replicas``."""
    c = Controller(range(brokers), broker_session_timeout=1.0)
    for b in range(brokers):
        c.heartbeat(b, 0.0)
    c.create_topic("t", 1, TopicConfig(len(replicas), 1, unclean))
    st = c.partitions[TP]
    c.partitions[TP] = st.__class__(tuple(replicas), replicas[0], 0,
                                    frozenset(replicas if isr is None else isr))
    return c


def test_the_controller_starts_a_move_without_touching_leader_or_isr():
    c = controller()
    st = c.reassign(TP, [2, 3])
    assert (st.replicas, st.adding, st.removing) == ((2, 3, 0, 1), (2, 3), (0, 1))
    assert (st.leader, st.leader_epoch, st.isr) == (0, 0, {0, 1})


def test_an_isr_change_completes_the_move_and_hands_the_leadership_over():
    c = controller()
    c.reassign(TP, [2, 3])
    st = c.alter_isr(TP, 0, 0, frozenset({0, 1, 2}))
    assert (st.replicas, st.isr, st.adding) == ((2, 3, 0, 1), {0, 1, 2}, (2, 3))
    st = c.alter_isr(TP, 0, 0, frozenset({0, 1, 2, 3}))
    assert (st.replicas, st.leader, st.leader_epoch, st.isr, st.adding, st.removing) == (
        (2, 3), 2, 1, {2, 3}, (), ())


def test_a_move_that_needs_no_new_replica_completes_at_once():
    c = controller(replicas=(0, 1, 2))
    st = c.reassign(TP, [2, 0, 1])  # a reordering: the leader stays, no new epoch
    assert (st.replicas, st.leader, st.leader_epoch, st.adding) == ((2, 0, 1), 0, 0, ())
    st = c.reassign(TP, [2, 1])  # the leader leaves: the first target replica in sync leads
    assert (st.replicas, st.leader, st.leader_epoch, st.isr) == ((2, 1), 2, 1, {1, 2})


def test_a_leader_that_stays_keeps_leading_a_shrunk_partition_in_a_new_epoch():
    c = controller(replicas=(0, 1, 2))
    st = c.reassign(TP, [0, 1])
    assert (st.replicas, st.leader, st.leader_epoch, st.isr) == ((0, 1), 0, 1, {0, 1})


def test_the_isr_never_takes_a_broker_that_holds_no_replica():
    c = controller()
    assert c.alter_isr(TP, 0, 0, frozenset({0, 1, 3})).isr == {0, 1}


@pytest.mark.parametrize("target, words", [
    ([], "empty"), ([0, 0], "more than once"), ([0, 9], "no such broker is registered"),
    ([0, "1"], "broker ids (int)"), ("01", "list of broker ids"), ([True], "broker ids (int)"),
])
def test_a_bad_target_is_refused_and_changes_nothing(target, words):
    c = controller()
    before = c.partitions[TP]
    with pytest.raises(InvalidReplicationAssignmentError, match=words.replace("(", r"\(")
                       .replace(")", r"\)")):
        c.reassign(TP, target)
    assert c.partitions[TP] == before


def test_unknown_partitions_and_nothing_to_cancel_are_refused():
    c = controller()
    with pytest.raises(UnknownTopicOrPartitionError):
        c.reassign(TopicPartition("t", 1), [0])
    with pytest.raises(NoReassignmentInProgressError):
        c.reassign(TP, None)


def test_a_replication_factor_change_can_be_forbidden():
    c = controller()
    with pytest.raises(InvalidReplicationFactorError, match="from 2 to 3"):
        c.reassign(TP, [1, 2, 3], allow_replication_factor_change=False)
    st = c.reassign(TP, [2, 3], allow_replication_factor_change=False)
    # During a move the factor compared is the target's, not the four replicas listed now.
    assert len(st.replicas) == 4
    st = c.reassign(TP, [3, 2], allow_replication_factor_change=False)
    # As in Kafka, a new target is measured against every replica listed: 2 and 3 are no
    # longer "adding", and the move still waits for them to be in sync.
    assert (st.replicas, st.adding, st.removing) == ((3, 2, 0, 1), (), (0, 1))


def test_cancelling_takes_the_added_replicas_out():
    c = controller()
    c.reassign(TP, [2, 3])
    c.alter_isr(TP, 0, 0, frozenset({0, 1, 2}))
    st = c.reassign(TP, None)
    assert (st.replicas, st.isr, st.adding, st.removing, st.leader) == ((0, 1), {0, 1}, (), (),
                                                                         0)
    assert st.leader_epoch == 1  # replicas left


def test_a_cancellation_that_needs_an_unclean_election_needs_the_topic_to_allow_it():
    c = controller()
    c.reassign(TP, [2, 3])
    c.alter_isr(TP, 0, 0, frozenset({0, 1, 2}))
    c.fence(0)
    c.fence(1)
    st = c.partitions[TP]
    assert (st.leader, st.isr) == (2, {2})  # only a replica being added is in sync
    with pytest.raises(InvalidReplicationAssignmentError, match="unclean"):
        c.reassign(TP, None)
    c.topics["t"] = TopicConfig(2, 1, True)
    c.heartbeat(1, 0.5)
    st = c.reassign(TP, None)
    assert (st.replicas, st.leader, st.isr) == ((0, 1), 1, {1})


# --- a stepped cluster -------------------------------------------------------------------------

def moved_cluster(make_cluster):
    """t-0 on brokers 0 and 1 of four, with three records committed."""
    cluster = make_cluster(4)
    cluster.create_topic("t", 1, replication_factor=2, min_insync_replicas=2)
    cluster.produce("t", 0, batch(b"a", b"b", b"c"), acks="all").get(timeout=5)
    cluster.settle()
    assert cluster.metadata()[TP].replicas == (0, 1)
    return cluster


def moving_with_a_broker_down(make_cluster, down):
    """t-0 moving from brokers 0 and 1 to 2 and 3 while broker ``down`` is dead (the
    controller has noticed), driven until nothing more moves."""
    cluster = moved_cluster(make_cluster)
    cluster.kill(down)
    cluster.run_for(3)
    assert cluster.alter_partition_reassignments({TP: [2, 3]}) == {TP: None}
    cluster.settle()
    return cluster


def test_replicas_move_to_other_brokers_and_the_old_ones_delete_their_copy(make_cluster):
    cluster = moved_cluster(make_cluster)
    assert cluster.alter_partition_reassignments({TP: [2, 3]}) == {TP: None}
    assert cluster.list_partition_reassignments() == {
        TP: PartitionReassignment((2, 3, 0, 1), (2, 3), (0, 1))}
    cluster.settle()
    st = cluster.metadata()[TP]
    assert (st.replicas, st.leader, st.isr) == ((2, 3), 2, {2, 3})
    assert cluster.list_partition_reassignments() == {}
    for b in (2, 3):
        assert values(cluster.log(b, "t", 0)) == [b"a", b"b", b"c"]
    for b in (0, 1):
        assert TP not in cluster.nodes[b].replicas
        assert cluster.nodes[b].broker.replica_offsets("t", 0) == (0, 0, 0)
        with pytest.raises(IllegalArgumentError, match="holds no replica"):
            cluster.log(b, "t", 0)
    details = [e.detail for e in cluster.events if e.kind == "replicas"]
    assert details == [((2, 3, 0, 1), (2, 3), (0, 1)), ((2, 3), (), ())]
    # The new leader takes writes, and a produce sent to the old one is refused.
    result = cluster.produce("t", 0, batch(b"d"), acks="all").get(timeout=5)
    assert (result.broker, result.base_offset) == (2, 3)
    with pytest.raises(NotLeaderForPartitionError):
        cluster.produce("t", 0, batch(b"x"), acks=1, broker=0).get(timeout=5)


def test_a_replica_added_on_a_dead_broker_waits_for_it(make_cluster):
    cluster = moving_with_a_broker_down(make_cluster, 3)
    status = {s.broker: s for s in cluster.replica_status("t", 0)}
    assert (status[3].alive, status[3].log_end_offset) == (False, 0)
    assert cluster.list_partition_reassignments([TP])[TP].adding_replicas == (2, 3)
    cluster.restart(3)
    cluster.settle()
    assert cluster.metadata()[TP].replicas == (2, 3)
    assert values(cluster.log(3, "t", 0)) == [b"a", b"b", b"c"]


def test_a_broker_down_when_it_left_deletes_its_copy_when_it_returns(make_cluster):
    cluster = moving_with_a_broker_down(make_cluster, 1)
    assert cluster.metadata()[TP].replicas == (2, 3)
    assert TP in cluster.nodes[1].replicas  # it could not hear
    cluster.restart(1)
    assert TP not in cluster.nodes[1].replicas
    assert cluster.nodes[1].broker.replica_offsets("t", 0) == (0, 0, 0)


def test_a_cancelled_move_leaves_the_partition_where_it_was(make_cluster):
    cluster = moving_with_a_broker_down(make_cluster, 3)
    assert values(cluster.log(2, "t", 0)) == [b"a", b"b", b"c"]
    assert cluster.alter_partition_reassignments({TP: None}) == {TP: None}
    st = cluster.metadata()[TP]
    assert (st.replicas, st.leader, st.isr) == ((0, 1), 0, {0, 1})
    assert TP not in cluster.nodes[2].replicas
    assert cluster.nodes[2].broker.replica_offsets("t", 0) == (0, 0, 0)
    errors = cluster.alter_partition_reassignments({TP: None})
    assert isinstance(errors[TP], NoReassignmentInProgressError)


def test_a_produce_waiting_at_a_leader_that_leaves_fails_retriably(make_cluster):
    cluster = make_cluster(4)
    cluster.create_topic("t", 1, replication_factor=2, min_insync_replicas=2)
    cluster.settle()
    cluster.slow(1, 5)  # the follower holds the high watermark back: the produce waits
    waiting = cluster.produce("t", 0, batch(b"w"), acks="all")
    assert not waiting.done()
    cluster.alter_partition_reassignments({TP: [2, 3]})
    cluster.run_for(2)
    assert cluster.metadata()[TP].replicas == (2, 3)
    with pytest.raises(NotLeaderForPartitionError, match="no longer hosts t-0") as failed:
        waiting.get(timeout=5)
    assert failed.value.retriable  # a producer retries it at the new leader


def test_each_partition_is_decided_alone(make_cluster):
    cluster = moved_cluster(make_cluster)
    answers = cluster.alter_partition_reassignments(
        {TopicPartition("t", 7): [0], TP: [1, 0], TopicPartition("nope", 0): None})
    assert list(answers) == [TopicPartition("t", 7), TP, TopicPartition("nope", 0)]
    assert isinstance(answers[TopicPartition("t", 7)], UnknownTopicOrPartitionError)
    assert answers[TP] is None and cluster.metadata()[TP].replicas == (1, 0)
    with pytest.raises(TypeError, match=r"^reassignments must be a mapping of TopicPartition "
                       r"to a list of broker ids \(or None\), not the list \["):
        cluster.alter_partition_reassignments([(TP, [0])])
    with pytest.raises(ValueError, match="partition must be >= 0"):
        cluster.alter_partition_reassignments({("t", -1): [0]})


def test_pcmodel_admin_moves_replicas_on_a_cluster(make_cluster):
    cluster = moved_cluster(make_cluster)
    cluster.kill(3)
    cluster.run_for(3)
    with KafkaAdminClient(broker=cluster) as admin:
        assert admin.alter_partition_reassignments({TP: [3, 2]}) == {TP: None}
        expected = {TP: {"replicas": [3, 2, 0, 1], "adding_replicas": [2, 3],
                         "removing_replicas": [0, 1]}}
        assert admin.list_partition_reassignments() == expected
        assert admin.list_partition_reassignments({"t": [0, 1]}) == expected
        assert admin.list_partition_reassignments([TopicPartition("t", 1)]) == {}
        with pytest.raises(TypeError):
            admin.list_partition_reassignments("t")


# --- a lone broker -----------------------------------------------------------------------------

def test_a_lone_broker_holds_the_only_replica():
    with Broker() as broker:
        broker.create_topic("t", 1)
        answers = broker.alter_partition_reassignments(
            {TP: [0], TopicPartition("t", 1): [0], TopicPartition("u", 0): None})
        assert answers[TP] is None
        assert isinstance(answers[TopicPartition("t", 1)], UnknownTopicOrPartitionError)
        assert isinstance(answers[TopicPartition("u", 0)], UnknownTopicOrPartitionError)
        refused = broker.alter_partition_reassignments({TP: [1]})[TP]
        assert isinstance(refused, InvalidReplicationAssignmentError)
        assert "no such broker" in str(refused)
        assert isinstance(broker.alter_partition_reassignments({TP: None})[TP],
                          NoReassignmentInProgressError)
        assert broker.alter_partition_reassignments({TP: [5]}, node_id=5) == {TP: None}
        assert broker.list_partition_reassignments() == {}
        with KafkaAdminClient(broker=broker) as admin:
            assert admin.alter_partition_reassignments({TP: [0]}) == {TP: None}
            assert admin.list_partition_reassignments() == {}


# --- a cluster of processes --------------------------------------------------------------------

@pytest.mark.timeout(90)
def test_replicas_move_between_broker_processes_through_a_sigkill():
    with Cluster(4, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", 1, replication_factor=2)
        cluster.settle()
        cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=10)
        cluster.kill(3)
        cluster.kill(1)  # leaves while down: its journal goes when it returns
        assert cluster.alter_partition_reassignments({TP: [2, 3]}) == {TP: None}
        cluster.restart(3)
        cluster.settle()
        st = cluster.metadata()[TP]
        assert (st.replicas, st.leader, st.isr) == ((2, 3), 2, {2, 3})
        for b in (2, 3):
            assert values(cluster.log(b, "t", 0)) == [b"a", b"b"]
        assert [p.name for p in cluster._directory(0).glob("t-*.journal")] == []
        assert [p.name for p in cluster._directory(1).glob("t-*.journal")] == ["t-0.journal"]
        cluster.restart(1)
        cluster.settle()
        assert [p.name for p in cluster._directory(1).glob("t-*.journal")] == []
        result = cluster.produce("t", 0, batch(b"c"), acks="all").get(timeout=10)
        assert (result.broker, result.base_offset) == (2, 2)
        # A follower that leaves learns it at its next heartbeat, and deletes its copy.
        assert cluster.alter_partition_reassignments({TP: [2]}) == {TP: None}
        wait_until(lambda: not journal_path(cluster._directory(3), TP).exists(), timeout=10)
        with pytest.raises(IllegalArgumentError, match="holds no replica"):
            cluster.log(3, "t", 0)


@pytest.mark.timeout(90)
def test_broker_processes_host_the_replicas_placed_by_hand():
    with Cluster(4, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("p", 1, replica_assignment=[[3, 1]])
        cluster.produce("p", 0, batch(b"a"), acks="all").get(timeout=10)
        # Adding partitions leaves the replicas of the others as they were: broker 3 still
        # knows it leads p-0 (it once got a fresh replica that knew nothing).
        cluster.add_partitions("p", 2, [[2, 0]])
        cluster.settle()
        for p, replicas in ((0, (3, 1)), (1, (2, 0))):
            assert cluster.metadata()[TopicPartition("p", p)].replicas == replicas
            cluster.produce("p", p, batch(b"x"), acks="all").get(timeout=10)
        cluster.settle()
        assert [values(cluster.log(b, "p", 0)) for b in (3, 1)] == [[b"a", b"x"]] * 2
        assert [values(cluster.log(b, "p", 1)) for b in (2, 0)] == [[b"x"]] * 2
        assert sorted(p.name for p in cluster._directory(3).glob("p-*.journal")) == [
            "p-0.journal"]
