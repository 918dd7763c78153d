"""KafkaAdminClient: kafka-python 3's calls and results, Kafka's errors, agreement with clients."""

from __future__ import annotations

import pytest

from pcmodel.topics import (
    Broker,
    GroupNotEmptyError,
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    KafkaAdminClient,
    KafkaConfigurationError,
    KafkaTimeoutError,
    NewPartitions,
    NewTopic,
    OffsetAndMetadata,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from tests.topics.conftest import drain, fill, tp, wait_until


@pytest.fixture
def admin(broker):
    with KafkaAdminClient(broker=broker, client_id="admin", request_timeout_ms=5000) as client:
        yield client


def test_create_list_describe_delete_topics(admin, broker):
    result = admin.create_topics([NewTopic("a", num_partitions=3, replication_factor=1),
                                  NewTopic("b")])
    assert [(t["name"], t["error_code"]) for t in result["topics"]] == [("a", 0), ("b", 0)]
    assert broker.list_topics() == {"a": 3, "b": 1}  # -1 partitions: the broker's default
    assert sorted(admin.list_topics()) == ["a", "b"]
    described = admin.describe_topics(["a", "missing"])
    assert [p["partition_index"] for p in described[0]["partitions"]] == [0, 1, 2]
    assert described[1]["error_code"] == UnknownTopicOrPartitionError.errno
    b_id = str(broker.topic_ids()["b"])
    assert admin.delete_topics(["b"])["topics"] == [
        {"name": "b", "topic_id": b_id, "error_code": 0, "error_message": None}
    ]
    assert admin.list_topics() == ["a"]


def test_create_topics_accepts_kafka_python_3_dict_and_names(admin, broker):
    admin.create_topics({"d": {"num_partitions": 2, "configs": {"retention.ms": "60000"}}})
    admin.create_topics(["n"])
    assert broker.list_topics() == {"d": 2, "n": 1}
    assert broker.describe_topic("d").retention_ms == 60000


def test_admin_errors_are_kafkas(admin):
    admin.create_topics([NewTopic("a", 2)])
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("a", 2)])
    result = admin.create_topics([NewTopic("a", 2), NewTopic("c", 1)], raise_errors=False)
    assert [t["error_code"] for t in result["topics"]] == [TopicAlreadyExistsError.errno, 0]
    with pytest.raises(InvalidReplicationFactorError):
        admin.create_topics([NewTopic("r", 1, replication_factor=3)])
    with pytest.raises(InvalidConfigurationError):
        admin.create_topics([NewTopic("r", 1, topic_configs={"cleanup.policy": "snapshot"})])
    with pytest.raises(InvalidPartitionsError):
        admin.create_partitions({"a": NewPartitions(total_count=2)})
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics(["missing"])
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.create_partitions({"missing": 3})
    checked = admin.create_topics([NewTopic("v", 1)], validate_only=True)
    assert checked["topics"][0]["error_code"] == 0
    assert "v" not in admin.list_topics()


def test_create_partitions_grows_the_topic(admin, broker):
    admin.create_topics([NewTopic("g", 1)])
    admin.create_partitions({"g": NewPartitions(total_count=4)})
    assert broker.partitions_for("g") == {0, 1, 2, 3}
    admin.create_partitions({"g": 5})
    assert admin.describe_topics(["g"])[0]["partitions"][-1]["partition_index"] == 4


def test_groups_agree_with_the_consumers(admin, broker, make_consumer):
    """Members, assignment and committed offsets: the same through every door."""
    admin.create_topics([NewTopic("t", 2)])
    fill(broker, "t", 0, [b"a", b"b"])
    consumer = make_consumer("t", group_id="billing", client_id="c1",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    drain(consumer, 2)
    consumer.commit()
    assert admin.list_groups() == [{"group_id": "billing", "protocol_type": "consumer",
                                    "group_state": "Stable", "group_type": "classic"}]
    assert admin.list_consumer_groups() == [("billing", "consumer")]
    desc = admin.describe_groups(["billing"])["billing"]
    assert desc["group_state"] == "Stable" and len(desc["members"]) == 1
    member = desc["members"][0]
    assert member["client_id"] == "c1"
    # As kafka-python 3 decodes the assignment: partitions grouped by topic.
    assert member["member_assignment"] == {
        "assigned_partitions": [{"topic": "t", "partitions": [0, 1]}], "user_data": None}
    assert consumer.assignment() == {tp("t", 0), tp("t", 1)}
    assert member["member_metadata"]["topics"] == ["t"]
    offsets = admin.list_group_offsets({"billing": None})["billing"]
    # The leader epoch of the last record consumed (0: a lone broker; none read from t-1).
    assert offsets == {tp("t", 0): OffsetAndMetadata(2, "", 0),
                       tp("t", 1): OffsetAndMetadata(0)}
    assert {p: o.offset for p, o in offsets.items()} == {
        p: consumer.committed(p) for p in consumer.assignment()
    }
    assert admin.list_consumer_group_offsets("billing", partitions=[tp("t", 0)]) == {
        tp("t", 0): OffsetAndMetadata(2, "", 0)
    }
    assert member["client_host"] == broker.describe_group("billing").members[0].client_host

    # A group that only committed (an admin's commit) has no protocol type, as in Kafka;
    # the filters keep the groups in the states and of the types named, ignoring case.
    admin.alter_group_offsets("ledger", {tp("t", 0): OffsetAndMetadata(1)})
    assert admin.list_groups() == [
        {"group_id": "billing", "protocol_type": "consumer", "group_state": "Stable",
         "group_type": "classic"},
        {"group_id": "ledger", "protocol_type": "", "group_state": "Empty",
         "group_type": "classic"}]
    assert [g["group_id"] for g in admin.list_groups(states_filter=["empty"])] == ["ledger"]
    assert [g["group_id"] for g in admin.list_groups(types_filter=["Classic"])] == [
        "billing", "ledger"]
    assert admin.list_groups(types_filter=["consumer"]) == []  # KIP-848's groups: none here
    assert admin.describe_groups(["ledger"])["ledger"]["protocol_type"] == ""
    assert admin.delete_groups(["ledger"]) == {"ledger": "OK"}

    assert admin.delete_groups(["billing"]) == {"billing": GroupNotEmptyError.__name__}
    consumer.close()
    assert admin.describe_groups(["billing"])["billing"]["group_state"] == "Empty"
    # The group keeps the protocol type its members joined with, as Kafka's does.
    assert admin.describe_groups(["billing"])["billing"]["protocol_type"] == "consumer"
    assert admin.delete_consumer_groups(["billing"]) == [("billing", None)]
    assert admin.describe_groups(["billing"])["billing"]["group_state"] == "Dead"
    assert admin.list_groups() == []
    wait_until(lambda: broker.list_groups() == [])


def test_admin_settings_are_checked():
    with Broker() as broker:
        with pytest.raises(KafkaConfigurationError, match="did you mean 'client_id'"):
            KafkaAdminClient(broker=broker, clientid="x")
        KafkaAdminClient(broker=broker, security_protocol="PLAINTEXT").close()
    with pytest.raises(KafkaConfigurationError, match="from kafka import"):
        KafkaAdminClient(bootstrap_servers="localhost:9092")


def test_every_kafka_python_admin_key_is_accepted_with_its_default():
    kafka_admin = pytest.importorskip("kafka.admin")
    defaults = dict(kafka_admin.KafkaAdminClient.DEFAULT_CONFIG)
    defaults.pop("bootstrap_servers")
    with Broker() as broker:
        KafkaAdminClient(broker=broker, **defaults).close()
    with Broker() as broker, pytest.raises(KafkaConfigurationError, match="retry_backoff_ms"):
        KafkaAdminClient(broker=broker, retry_backoff_ms="soon")  # checked as kafka-python's


def test_topic_configs_follow_kafkas_names_and_refuse_with_one_line(admin, broker):
    # Storage and replication configs a lone in-memory broker has no use for are accepted.
    admin.create_topics([NewTopic("k", 1, topic_configs={
        "segment.bytes": "1048576", "min.insync.replicas": "2", "retention.ms": "-1"})])
    assert broker.describe_topic("k").retention_ms is None
    admin.create_topics([NewTopic("r", 1, topic_configs={"retention.ms": "60000"})])
    assert broker.describe_topic("r").retention_ms == 60000
    with pytest.raises(InvalidConfigurationError, match="Invalid value soon for configuration"):
        admin.create_topics([NewTopic("bad", 1, topic_configs={"retention.ms": "soon"})])
    with pytest.raises(InvalidConfigurationError, match="unknown or unsupported topic config"):
        admin.create_topics([NewTopic("bad", 1, topic_configs={"retention.mss": "1"})])
    with pytest.raises(InvalidReplicationFactorError, match=r"only 1 broker\(s\) are registered"):
        admin.create_topics([NewTopic("bad", 1, replication_factor=2)], validate_only=True)
    assert "bad" not in admin.list_topics()


def test_replica_assignments_are_accepted_only_where_they_are_the_only_one(admin, broker):
    answer = admin.create_topics([NewTopic("a", replica_assignments={0: [0], 1: [0]})])
    assert answer["topics"][0]["num_partitions"] == 2
    assert broker.partitions_for("a") == {0, 1}
    with pytest.raises(InvalidReplicationAssignmentError,
                       match="includes broker 1, but no such broker is registered"):
        admin.create_topics([NewTopic("b", replica_assignments={0: [1]})])
    with pytest.raises(InvalidRequestError, match="numPartitions was not set to -1"):
        admin.create_topics([NewTopic("b", 1, replica_assignments={0: [0]})])
    with pytest.raises(InvalidReplicationAssignmentError, match="consecutive 0-based"):
        admin.create_topics([NewTopic("b", replica_assignments={1: [0]})])
    with pytest.raises(InvalidReplicationAssignmentError,
                       match="includes broker 2, but no such broker is registered"):
        admin.create_partitions({"a": NewPartitions(3, new_assignments=[[2]])})
    with pytest.raises(InvalidReplicationAssignmentError, match="only 2 assignment"):
        admin.create_partitions({"a": NewPartitions(3, new_assignments=[[0], [0]])})
    assert broker.partitions_for("a") == {0, 1}
    admin.create_partitions({"a": NewPartitions(3, new_assignments=[[0]])})
    assert broker.partitions_for("a") == {0, 1, 2}


def test_wait_for_topics_returns_once_they_exist_and_times_out_naming_what_is_missing(admin):
    admin.create_topics([NewTopic("w", 2)])
    admin.wait_for_topics(["w"], timeout_ms=1000)  # a lone broker's topic is ready at once
    with pytest.raises(KafkaTimeoutError, match="'nope': 'missing from metadata response'"):
        admin.wait_for_topics(["w", "nope"], timeout_ms=50)
    with pytest.raises(TypeError, match="not a str"):
        admin.wait_for_topics("w")


def test_authorized_operations_are_every_one_as_a_broker_without_an_authorizer_says(
        admin, broker):
    admin.create_topics([NewTopic("t", 1, 1)])
    broker.commit_offsets("g", -1, "", {tp("t", 0): 0})  # the group exists
    (topic,) = admin.describe_topics(["t"])
    assert topic["authorized_operations"] == [
        "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "DESCRIBE_CONFIGS",
        "ALTER_CONFIGS"]
    group_operations = ["READ", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"]
    assert admin.describe_groups(["g"])["g"]["authorized_operations"] is None  # not asked
    assert admin.describe_groups(["g"], include_authorized_operations=True)["g"][
        "authorized_operations"] == group_operations
    assert [g["authorized_operations"] for g in admin.describe_consumer_groups(
        ["g"], include_authorized_operations=True)] == [group_operations]
    # A group that does not exist is an error, which Kafka answers with no operations.
    missing = admin.describe_groups(["nobody"], include_authorized_operations=True)["nobody"]
    assert (missing["group_state"], missing["authorized_operations"], missing["error"]) == (
        "Dead", None, "[Error 69] GroupIdNotFoundError: Group nobody not found.")


def test_describe_cluster_names_the_one_broker_as_kafka_python_3_shows_it(admin):
    assert admin.describe_cluster() == {
        "cluster_id": "pcmodel", "controller_id": 0,
        "brokers": [{"broker_id": 0, "host": None, "port": -1, "rack": None,
                     "is_fenced": False}],
        "authorized_operations": ["CREATE", "ALTER", "DESCRIBE", "CLUSTER_ACTION",
                                  "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"]}
