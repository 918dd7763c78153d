"""A cluster's topic administration answers as Kafka's controller answers: a new topic's
mistakes in the order of ``ReplicationControlManager.createTopics`` (name, collisions,
configs, then replicas and partitions), replicas placed by hand in the words of its
``validateManualPartitionAssignment``, and a topic deleted by id deleted by that id alone."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.admin import KafkaAdminClient, NewPartitions, NewTopic
from pcmodel.topics.errors import (
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    PolicyViolationError,
    TopicAlreadyExistsError,
)
from pcmodel.topics.replica_placement import check_assignment, check_replica_list
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(60)

EMPTY = "The manual partition assignment includes an empty replica list."
UNKNOWN_9 = "The manual partition assignment includes broker 9, but no such broker is registered."
TWICE_1 = "The manual partition assignment includes the broker 1 more than once."
INCONSISTENT = ("The manual partition assignment includes a partition with 1 replica(s), but "
                "this is not consistent with previous partitions, which have 2 replica(s).")


def message(refused: pytest.ExceptionInfo) -> str:
    return refused.value.args[0]


def test_a_connection_checks_the_name_and_collisions_before_the_replicas(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("taken", 1, replication_factor=1)
    cluster.create_topic("a_b", 1, replication_factor=1)
    conn = cluster.connect()
    with pytest.raises(InvalidTopicError):
        conn.create_topic("no spaces allowed", 1, replication_factor=9)
    with pytest.raises(TopicAlreadyExistsError) as refused:
        conn.create_topic("taken", 1, replication_factor=9)
    assert message(refused) == "Topic 'taken' already exists."
    with pytest.raises(InvalidTopicError) as refused:
        conn.create_topic("a.b", 1, replication_factor=0)
    assert message(refused) == "Topic 'a.b' collides with existing topic: a_b"
    internal = next(name for name in cluster.topic_ids() if name.startswith("__"))
    with pytest.raises(TopicAlreadyExistsError):
        conn.create_topic(internal, 1, replication_factor=9)
    with pytest.raises(InvalidConfigurationError):
        conn.create_topic("fresh", 1, replication_factor=9, configs={"no.such.config": "1"})
    assert "fresh" not in cluster.topic_ids()


def test_a_connection_checks_the_partitions_between_the_factor_and_its_placement(make_cluster):
    conn = make_cluster(3).connect()
    # The factor's own value first, then the count, then the factor against the brokers.
    with pytest.raises(InvalidReplicationFactorError):
        conn.create_topic("fresh", 0, replication_factor=0)
    with pytest.raises(InvalidPartitionsError) as refused:
        conn.create_topic("fresh", 0, replication_factor=9)
    assert message(refused) == "Number of partitions was set to an invalid non-positive value."
    with pytest.raises(InvalidReplicationFactorError) as refused:
        conn.create_topic("fresh", 1, replication_factor=9)
    assert message(refused).endswith("because only 3 broker(s) are registered.")


def test_the_cluster_itself_checks_the_name_before_the_replicas(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("taken", 1, replication_factor=1)
    with pytest.raises(TopicAlreadyExistsError):
        cluster.create_topic("taken", 1, replication_factor=9)
    with pytest.raises(InvalidTopicError):
        cluster.create_topic("no spaces allowed", 1, replica_assignment=[[9]])


@pytest.mark.parametrize("replicas, words", [
    ([], EMPTY),
    ([0, 9], UNKNOWN_9),
    ([1, 0, 1], TWICE_1),
    # Kafka walks the sorted ids, so the lowest culprit is named, whatever the order given.
    ([9, 1, 1], TWICE_1),
])
def test_a_replica_list_is_refused_in_kafkas_words(replicas, words):
    with pytest.raises(InvalidReplicationAssignmentError) as refused:
        check_replica_list(replicas, range(3))
    assert message(refused) == words


def test_an_assignment_is_checked_one_partition_after_the_other_in_kafkas_words():
    with pytest.raises(InvalidReplicationAssignmentError) as refused:
        check_assignment([[0, 1], [2]], range(3))
    assert message(refused) == INCONSISTENT
    # Partition 0 is on fenced brokers only: Kafka refuses it before looking at partition 1.
    with pytest.raises(InvalidReplicationAssignmentError) as refused:
        check_assignment([[2], [1, 1]], range(3), live={0, 1})
    assert message(refused) == ("All brokers specified in the manual partition assignment for "
                                "partition 0 are fenced or in controlled shutdown.")


def test_the_cluster_refuses_placements_and_reassignments_in_kafkas_words(make_cluster):
    cluster = make_cluster(3)
    with pytest.raises(InvalidReplicationAssignmentError) as refused:
        cluster.create_topic("t", 2, replica_assignment=[[0, 1], [2]])
    assert message(refused) == INCONSISTENT
    cluster.create_topic("t", 1, replica_assignment=[[0, 1]])
    with pytest.raises(InvalidReplicationAssignmentError) as refused:
        cluster.add_partitions("t", 2, [[9, 0]])
    assert message(refused) == UNKNOWN_9
    answers = cluster.alter_partition_reassignments({TopicPartition("t", 0): [1, 1]})
    assert answers[TopicPartition("t", 0)].args[0] == TWICE_1
    answers = cluster.alter_partition_reassignments({TopicPartition("t", 0): []})
    assert answers[TopicPartition("t", 0)].args[0] == EMPTY


def test_the_admin_client_checks_each_assignment_in_the_order_given(make_cluster):
    cluster = make_cluster(3)
    cluster.kill(2)
    cluster.run_for(3)  # past the session timeout: broker 2 is fenced
    with KafkaAdminClient(broker=cluster) as admin:
        # Kafka checks each partition's list, then the next; partitions 0, 1, 2... last.
        with pytest.raises(InvalidReplicationAssignmentError) as refused:
            admin.create_topics([NewTopic("t", replica_assignments={0: [1, 1], 2: [0]})])
        assert message(refused) == TWICE_1
        with pytest.raises(InvalidReplicationAssignmentError) as refused:
            admin.create_topics([NewTopic("t", replica_assignments={0: [2], 1: [9]})])
        assert message(refused).startswith("All brokers specified in the manual partition "
                                           "assignment for partition 0 are fenced")
        with pytest.raises(InvalidReplicationAssignmentError) as refused:
            admin.create_topics([NewTopic("t", replica_assignments={1: [0]})])
        assert message(refused) == "partitions should be a consecutive 0-based integer sequence"
        admin.create_topics([NewTopic("t", replica_assignments={0: [0]})])
        with pytest.raises(InvalidReplicationAssignmentError) as refused:
            admin.create_partitions({"t": NewPartitions(3, new_assignments=[[2], [9]])})
        assert message(refused).startswith("All brokers specified in the manual partition "
                                           "assignment for partition 1 are fenced")


def test_the_admin_client_checks_collisions_and_partitions_in_kafkas_order(make_cluster):
    cluster = make_cluster(3)
    with KafkaAdminClient(broker=cluster) as admin:
        internal = next(name for name in cluster.topic_ids() if name.startswith("__"))
        # An internal topic is a topic like any other to collide with.
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(internal, 1, 9)])
        # The partition count comes before the factor's placement on the brokers.
        with pytest.raises(InvalidPartitionsError):
            admin.create_topics([NewTopic("fresh", 0, 9)])
        with pytest.raises(InvalidReplicationFactorError):
            admin.create_topics([NewTopic("fresh", 1, 9)])
    assert "fresh" not in cluster.topic_ids()


def test_a_lone_brokers_admin_client_checks_the_partitions_before_the_factor():
    with KafkaAdminClient(broker=Broker()) as admin:
        with pytest.raises(InvalidPartitionsError):
            admin.create_topics([NewTopic("fresh", 0, 2)])
        with pytest.raises(InvalidReplicationFactorError):
            admin.create_topics([NewTopic("fresh", 1, 2)])


def test_a_topic_deleted_by_id_is_exactly_the_one_the_id_names(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("a", 1, replication_factor=2)
    old = cluster.topic_ids()["a"]
    cluster.delete_topic("a")
    cluster.create_topic("a", 2, replication_factor=2)
    assert cluster.delete_topic_by_id(old) is None
    assert cluster.connect().list_topics()["a"] == 2
    assert cluster.connect().delete_topic_by_id(cluster.topic_ids()["a"]) == "a"
    assert "a" not in cluster.topic_ids()
    with pytest.raises(TypeError, match="uuid.UUID"):
        cluster.delete_topic_by_id(str(old))


def test_a_topic_created_again_while_its_old_id_is_deleted_stays(make_cluster, monkeypatch):
    cluster = make_cluster(3)
    cluster.create_topic("a", 1, replication_factor=2)
    old = cluster.topic_ids()["a"]
    delete_by_name = cluster.delete_topic
    recreated = []

    def another_admin_recreates_it_first(name, **kwargs):
        # After the deletion by id found the name, another administrator deletes topic "a"
        # and creates it again; then the deletion by id goes on.
        if not recreated:
            recreated.append(delete_by_name(name))
            cluster.create_topic("a", 3, replication_factor=2)
        return delete_by_name(name, **kwargs)

    monkeypatch.setattr(cluster, "delete_topic", another_admin_recreates_it_first)
    assert cluster.delete_topic_by_id(old) is None
    assert recreated == [old]
    assert cluster.connect().list_topics()["a"] == 3  # the new topic is still there
    assert cluster.topic_ids()["a"] != old


def test_broker_processes_drop_a_topic_deleted_by_id():
    # A cluster of processes tells its broker processes of a deletion after the controller's:
    # a deletion by id goes that way too, so the topic created again starts empty everywhere.
    with Cluster(3, mode="processes") as cluster:
        cluster.create_topic("a", 1, replication_factor=3)
        cluster.produce("a", 0, [(None, b"v")], acks="all").get(timeout=30)
        assert [r.log_end_offset for r in cluster.replica_status("a", 0)] == [1, 1, 1]
        assert cluster.delete_topic_by_id(cluster.topic_ids()["a"]) == "a"
        cluster.create_topic("a", 1, replication_factor=3)
        cluster.settle(30)
        assert [r.log_end_offset for r in cluster.replica_status("a", 0)] == [0, 0, 0]


TOO_LARGE = "Unable to perform excessively large batch operation."


@pytest.mark.parametrize("where", ["broker", "cluster"])
def test_an_operation_of_more_records_than_the_controller_writes_at_once_is_refused(
        where, make_cluster):
    # Kafka's controller writes at most 10,000 metadata records for one operation: the
    # topic's, one per partition, one per config; one per partition added.
    broker = Broker() if where == "broker" else make_cluster(1)
    try:
        with pytest.raises(PolicyViolationError) as refused:
            broker.create_topic("huge", 10**20)  # before: tried, and filled the memory
        assert message(refused) == TOO_LARGE
        with pytest.raises(PolicyViolationError):
            broker.create_topic("t", 9_999, configs={"retention.ms": "60000"})
        broker.create_topic("t", 1)
        with pytest.raises(PolicyViolationError):
            broker.add_partitions("t", 1 + 10_001)
        with KafkaAdminClient(broker=broker) as admin:
            # The bound itself, checked without making ten thousand partitions.
            admin.create_topics([NewTopic("v", 9_999, 1)], validate_only=True)
            with pytest.raises(PolicyViolationError):
                admin.create_topics([NewTopic("v", 10_000, 1)], validate_only=True)
            admin.create_partitions({"t": NewPartitions(1 + 10_000)}, validate_only=True)
        assert set(broker.topic_ids()) & {"huge", "v"} == set()
    finally:
        broker.close()
