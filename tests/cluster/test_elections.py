"""Leader elections an administrator asks for (Kafka's ElectLeaders): preferred and unclean, on
a stepped cluster, on a cluster of processes, on a lone broker and through the admin client."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker, KafkaAdminClient
from pcmodel.topics.errors import (
    ElectionNotNeededError,
    EligibleLeadersNotAvailableError,
    IllegalArgumentError,
    IllegalStateError,
    InvalidRequestError,
    PreferredLeaderNotAvailableError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import ElectionType, TopicPartition
from tests.cluster.test_processes import SETTINGS, batch, values
from tests.conftest import wait_until

TP = TopicPartition("t", 0)


def leaders(cluster, partitions=3):
    return [cluster.leader("t", p) for p in range(partitions)]


def leader_lost_by_broker_0(cluster):
    """Partition t-0 on three replicas, broker 0 its preferred leader; kill broker 0 and let
    the controller elect another leader."""
    cluster.create_topic("t", 1, replication_factor=3)
    cluster.settle()
    assert cluster.leader("t", 0) == 0
    cluster.kill(0)
    cluster.run_for(3)


def returned_broker(make_cluster):
    """A cluster whose broker 0 died and came back: it is in every ISR again, and leads
    nothing, though it is the preferred replica of partition 0."""
    cluster = make_cluster()
    cluster.create_topic("t", 3, replication_factor=3, min_insync_replicas=2)
    cluster.settle()
    assert leaders(cluster) == [0, 1, 2]  # placement: each broker prefers one partition
    cluster.produce("t", 0, batch(b"a", b"b"), acks="all")
    cluster.settle()
    cluster.kill(0)
    cluster.run_for(3)
    cluster.restart(0)
    cluster.settle()
    assert leaders(cluster) == [1, 1, 2] and cluster.isr("t", 0) == {0, 1, 2}
    return cluster


def test_a_preferred_election_gives_the_leadership_back(make_cluster):
    cluster = returned_broker(make_cluster)
    before = cluster.metadata()[TP]
    assert cluster.elect_leaders(ElectionType.PREFERRED, [TP]) == {TP: None}
    after = cluster.metadata()[TP]
    assert (after.leader, after.leader_epoch, after.isr) == (0, before.leader_epoch + 1,
                                                             before.isr)
    assert [e.detail for e in cluster.events if e.kind == "leader" and e.tp == TP][-1] == (
        "clean", after.leader_epoch)
    # Every broker learned it at once (a stepped cluster delivers the controller's decisions).
    assert [s.broker for s in cluster.replica_status("t", 0) if s.leader] == [0]
    # The old leader follows; nothing committed is lost and the new leader takes writes.
    result = cluster.produce("t", 0, batch(b"c"), acks="all")
    cluster.settle()
    assert (result.get(timeout=5).broker, result.get(timeout=5).base_offset) == (0, 2)
    for broker in (0, 1, 2):
        assert values(cluster.log(broker, "t", 0)) == [b"a", b"b", b"c"]


def test_every_partition_answers_only_where_an_election_was_needed(make_cluster):
    cluster = returned_broker(make_cluster)
    assert cluster.elect_leaders(ElectionType.PREFERRED) == {TP: None}
    assert leaders(cluster) == [0, 1, 2]
    assert cluster.elect_leaders(ElectionType.PREFERRED) == {}
    asked = [TP, TopicPartition("t", 1), TopicPartition("nope", 0), TopicPartition("t", 9)]
    answers = cluster.elect_leaders(0, asked)
    assert list(answers) == asked  # in the order asked
    assert [type(e) for e in answers.values()] == [ElectionNotNeededError] * 2 + [
        UnknownTopicOrPartitionError] * 2
    assert "its preferred replica, broker 0, leads" in str(answers[TP])


def test_a_preferred_replica_down_or_out_of_the_isr_leaves_the_leader(make_cluster):
    cluster = make_cluster(replica_lag_time_max_ms=60_000)
    leader_lost_by_broker_0(cluster)
    epoch = cluster.metadata()[TP].leader_epoch
    error = cluster.elect_leaders(ElectionType.PREFERRED, [TP])[TP]
    assert isinstance(error, PreferredLeaderNotAvailableError)
    assert "broker 0, is down; broker 1 stays the leader" in str(error)
    cluster.isolate(0)  # back, but not in the ISR until it has fetched up to the leader
    cluster.restart(0)  # registered, fenced until its next heartbeat
    cluster.step()
    assert 0 in cluster.live_brokers()
    assert cluster.isr("t", 0) == {1, 2}
    error = cluster.elect_leaders(ElectionType.PREFERRED, [TP])[TP]
    assert "broker 0, is not in the ISR; broker 1 stays the leader" in str(error)
    assert cluster.metadata()[TP].leader_epoch == epoch  # nothing changed
    cluster.heal(0)
    cluster.settle()
    assert cluster.elect_leaders(ElectionType.PREFERRED, [TP]) == {TP: None}


def test_an_unclean_election_brings_an_offline_partition_back(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 1, replication_factor=2)  # unclean elections not allowed
    cluster.settle()
    leader, follower = cluster.metadata()[TP].replicas
    cluster.produce("t", 0, batch(b"a"), acks="all")
    cluster.settle()
    cluster.kill(follower)
    cluster.run_for(3)
    assert cluster.isr("t", 0) == {leader}
    cluster.produce("t", 0, batch(b"only-on-the-leader"), acks=1)
    cluster.settle()
    cluster.kill(leader)
    cluster.run_for(3)
    cluster.restart(follower)
    cluster.run_for(3)
    assert cluster.leader("t", 0) is None  # offline: its only live replica is out of the ISR
    assert isinstance(cluster.elect_leaders(ElectionType.PREFERRED, [TP])[TP],
                      PreferredLeaderNotAvailableError)
    assert cluster.elect_leaders(ElectionType.UNCLEAN, [TP]) == {TP: None}
    state = cluster.metadata()[TP]
    assert (state.leader, state.isr) == (follower, frozenset({follower}))
    assert [e.detail[0] for e in cluster.events if e.kind == "leader"][-1] == "unclean"
    assert values(cluster.log(follower, "t", 0)) == [b"a"]  # the record it never had is gone
    error = cluster.elect_leaders(ElectionType.UNCLEAN, [TP])[TP]
    assert isinstance(error, ElectionNotNeededError)
    assert f"has a leader, broker {follower}" in str(error)
    cluster.kill(follower)
    cluster.run_for(3)
    assert isinstance(cluster.elect_leaders(ElectionType.UNCLEAN, [TP])[TP],
                      EligibleLeadersNotAvailableError)


@pytest.mark.parametrize("bad", [2, -1, "preferred", None])
def test_an_unknown_election_type_is_refused_before_anything_changes(make_cluster, bad):
    cluster = returned_broker(make_cluster)
    with pytest.raises(InvalidRequestError, match="unknown election type"):
        cluster.elect_leaders(bad, [TP])
    assert cluster.leader("t", 0) == 1


@pytest.mark.timeout(90)
def test_a_preferred_election_on_a_cluster_of_processes():
    with Cluster(3, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        preferred = cluster.metadata()[TP].replicas[0]
        cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=20)
        cluster.kill(preferred)
        wait_until(lambda: cluster.leader("t", 0) not in (None, preferred), timeout=30)
        cluster.restart(preferred)
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        assert cluster.elect_leaders(ElectionType.PREFERRED, [TP]) == {TP: None}
        assert cluster.leader("t", 0) == preferred
        # The broker learns it at its next heartbeat; a produce retried until then lands there.
        result = cluster.produce("t", 0, batch(b"b"), acks="all").get(timeout=20)
        assert (result.broker, result.base_offset) == (preferred, 1)
        wait_until(lambda: all(values(cluster.log(b, "t", 0)) == [b"a", b"b"]
                               for b in range(3)), timeout=30)


def test_a_lone_broker_never_needs_an_election():
    with Broker() as broker:
        broker.create_topic("t", 2)
        answers = broker.elect_leaders(ElectionType.UNCLEAN, [TP, TopicPartition("u", 0)])
        assert isinstance(answers[TP], ElectionNotNeededError)
        assert isinstance(answers[TopicPartition("u", 0)], UnknownTopicOrPartitionError)
        assert broker.elect_leaders(ElectionType.PREFERRED) == {}
        with pytest.raises(InvalidRequestError):
            broker.elect_leaders(3)
        admin = KafkaAdminClient(broker=broker)
        answer = admin.elect_leaders(ElectionType.PREFERRED)  # no error raised: none needed
        assert [r["error_code"] for r in answer["replica_election_results"][0]
                ["partition_result"]] == [84, 84]
        broker.close()
        with pytest.raises(IllegalStateError):
            broker.elect_leaders(ElectionType.PREFERRED)


def test_the_admin_client_elects_and_raises_as_kafka_python(make_cluster):
    cluster = returned_broker(make_cluster)
    admin = KafkaAdminClient(broker=cluster)
    answer = admin.elect_leaders(ElectionType.PREFERRED, ["t"])
    assert answer["error_code"] == 0
    assert answer["replica_election_results"] == [{"topic": "t", "partition_result": [
        {"partition_id": 0, "error_code": 0, "error_message": None},
        {"partition_id": 1, "error_code": 84,
         "error_message": "t-1: its preferred replica, broker 1, leads"},
        {"partition_id": 2, "error_code": 84,
         "error_message": "t-2: its preferred replica, broker 2, leads"}]}]
    assert cluster.leader("t", 0) == 0
    cluster.kill(0)
    cluster.run_for(3)
    with pytest.raises(PreferredLeaderNotAvailableError):
        admin.elect_leaders(0, {"t": [1, 0]})
    answer = admin.elect_leaders(0, {"t": [0]}, raise_errors=False)
    assert answer["replica_election_results"][0]["partition_result"][0]["error_code"] == 80
    with pytest.raises(UnknownTopicOrPartitionError, match="unknown topic 'nope'"):
        admin.elect_leaders(0, ["nope"])
    with pytest.raises(InvalidRequestError):
        admin.elect_leaders(9)
    with pytest.raises(TypeError, match="not the str 't'"):
        admin.elect_leaders(0, "t")


def leader_changes(cluster, tp=TP):
    """``(time, leader)`` of each change of ``tp``'s leader, in order."""
    return [(e.time, e.broker) for e in cluster.events if e.kind == "leader" and e.tp == tp]


def test_the_controller_gives_the_leadership_back_by_itself_after_the_interval(make_cluster):
    cluster = make_cluster(leader_imbalance_check_interval_seconds=5)
    leader_lost_by_broker_0(cluster)
    cluster.restart(0)
    cluster.settle()
    (_, first), (moved_at, other) = leader_changes(cluster)
    assert (first, cluster.leader("t", 0)) == (0, other)  # in sync again, but not leading
    cluster.run_for(moved_at + 5 - cluster.clock() - cluster.tick)
    assert cluster.leader("t", 0) == other  # not before the interval has passed
    cluster.run_for(2 * cluster.tick)
    assert cluster.leader("t", 0) == 0
    back_at, back = leader_changes(cluster)[-1]
    assert back == 0 and 5 <= back_at - moved_at <= 5 + cluster.tick
    assert [e.detail[0] for e in cluster.events if e.kind == "leader"][-1] == "clean"


def test_a_preferred_replica_not_ready_is_tried_again_an_interval_later(make_cluster):
    cluster = make_cluster(leader_imbalance_check_interval_seconds=2)
    leader_lost_by_broker_0(cluster)
    cluster.run_for(3)  # a balancing came and found broker 0 down
    assert cluster.leader("t", 0) != 0
    cluster.restart(0)
    restarted_at = cluster.clock()
    cluster.run_for(2 + 2 * cluster.tick)
    back_at, back = leader_changes(cluster)[-1]
    assert back == 0 and back_at - restarted_at <= 2 + cluster.tick


def test_without_automatic_balancing_the_leadership_stays_where_it_went(make_cluster):
    cluster = make_cluster(auto_leader_rebalance_enable=False,
                           leader_imbalance_check_interval_seconds=1)
    leader_lost_by_broker_0(cluster)
    cluster.restart(0)
    cluster.run_for(5)
    assert cluster.isr("t", 0) == {0, 1, 2} and cluster.leader("t", 0) != 0
    configs = {e.name: e.value for e in cluster.describe_broker_configs(0)}
    assert (configs["auto.leader.rebalance.enable"],
            configs["leader.imbalance.check.interval.seconds"]) == ("false", "1")


def test_the_balancing_settings_are_checked(make_cluster):
    configs = {e.name: e.value for e in make_cluster().describe_broker_configs(1)}
    assert (configs["auto.leader.rebalance.enable"],
            configs["leader.imbalance.check.interval.seconds"]) == ("true", "300")  # Kafka's
    with pytest.raises(IllegalArgumentError, match="auto_leader_rebalance_enable must be"):
        make_cluster(auto_leader_rebalance_enable="yes")
    with pytest.raises(IllegalArgumentError, match="leader_imbalance_check_interval_seconds"):
        make_cluster(leader_imbalance_check_interval_seconds=0)
