"""KafkaAdminClient answers what a Kafka broker answers kafka-python's admin client, and refuses
what kafka-python refuses before it sends anything: a config given without a value
(CreateTopics, IncrementalAlterConfigs and AlterConfigs), the metadata topic of a KRaft
cluster, which CreateTopics never creates, create_topics arguments that kafka-python finds no
topic in, and a topic config resource checked by its name first and for its existence last
(on a lone broker and on a cluster)."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics import Broker
from pcmodel.topics.admin import AlterConfigOp, ConfigResource, KafkaAdminClient, NewTopic
from pcmodel.topics.errors import (
    InvalidConfigurationError,
    InvalidRequestError,
    InvalidTopicError,
    TopicAlreadyExistsError,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def admin():
    with Broker() as broker, KafkaAdminClient(broker=broker) as client:
        broker.create_topic("orders", 1, configs={"retention.ms": "60000"})
        yield client


def _answer(result: dict) -> list[tuple]:
    return [(t["name"], t["error_code"], t["error_message"]) for t in result["topics"]]


# --- CreateTopics: ReplicationControlManager.computeConfigChanges --------------------------


@pytest.mark.parametrize("validate_only", [False, True])
def test_a_new_topics_configs_without_a_value_are_named_together_before_any_other_check(
        admin, validate_only):
    # Kafka refuses the null values before it looks at any config, so the unknown name and
    # the bad value of the same topic are not what it answers.
    configs = {"retention.ms": None, "no.such.config": "1", "segment.bytes": None,
               "max.message.bytes": "many"}
    result = admin.create_topics([NewTopic("t", 1, topic_configs=configs)],
                                 validate_only=validate_only, raise_errors=False)
    assert _answer(result) == [("t", InvalidConfigurationError.errno,
                                "Null value not supported for topic configs: "
                                "retention.ms,segment.bytes")]
    with pytest.raises(InvalidConfigurationError,
                       match=r"^.*Null value not supported for topic configs: retention\.ms$"):
        admin.create_topics({"t": {"num_partitions": 1, "configs": {"retention.ms": None}}})
    assert admin.list_topics() == ["orders"]


def test_an_existing_topic_is_already_exists_whatever_its_configs_say(admin):
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("orders", 1, topic_configs={"retention.ms": None})])


# --- CreateTopics: ControllerApis.createTopics ---------------------------------------------


@pytest.mark.parametrize("validate_only", [False, True])
def test_the_metadata_topic_is_never_created_and_is_answered_last(admin, validate_only):
    result = admin.create_topics(
        [NewTopic("__cluster_metadata", 1), NewTopic("a", 1), NewTopic("b", 1),
         NewTopic("b", 1)], validate_only=validate_only, raise_errors=False)
    prohibited = "Creation of internal topic __cluster_metadata is prohibited."
    assert _answer(result) == [("a", 0, None),
                               ("b", InvalidRequestError.errno, "Duplicate topic name."),
                               ("__cluster_metadata", InvalidRequestError.errno, prohibited)]
    refused = result["topics"][-1]
    assert (refused["topic_id"], refused["num_partitions"], refused["replication_factor"]) == (
        None, -1, -1)
    assert admin.list_topics() == (["orders"] if validate_only else ["a", "orders"])
    with pytest.raises(InvalidRequestError, match=f"{prohibited}$"):
        admin.create_topics(["__cluster_metadata"])
    assert "__cluster_metadata" not in admin.list_topics()


def test_the_metadata_topic_named_twice_is_a_duplicate(admin):
    result = admin.create_topics(["__cluster_metadata", "__cluster_metadata"],
                                 raise_errors=False)
    assert _answer(result) == [("__cluster_metadata", InvalidRequestError.errno,
                                "Duplicate topic name.")]


# --- kafka-python's own refusals (kafka/admin/_topics.py), before anything is sent -----------


@pytest.mark.parametrize("new_topics", [{}, [], ["a", NewTopic("b", 1)], [NewTopic("b", 1), "a"]],
                         ids=["empty dict", "empty list", "name first", "NewTopic first"])
def test_no_topic_or_a_list_mixing_names_and_new_topics_is_no_valid_topic(admin, new_topics):
    with pytest.raises(ValueError, match="^No valid topics found in new_topics: "):
        admin.create_topics(new_topics)
    assert admin.list_topics() == ["orders"]


def test_validate_only_and_wait_for_metadata_are_refused_together(admin):
    with pytest.raises(ValueError, match="^validate_only and wait_for_metadata are mutually "
                                         "exclusive$"):
        admin.create_topics(["a"], validate_only=True, wait_for_metadata=True)
    assert admin.create_topics(["a"], wait_for_metadata=True)["topics"][0]["error_code"] == 0
    assert admin.list_topics() == ["a", "orders"]


# --- IncrementalAlterConfigs / AlterConfigs: ConfigAdminManager.preprocess ------------------


def _topic(configs: dict) -> ConfigResource:
    return ConfigResource("TOPIC", "orders", configs)


@pytest.mark.parametrize("incremental", [True, False])
def test_a_value_missing_is_an_invalid_request_naming_every_such_config(admin, incremental):
    configs = {"retention.ms": None, "max.message.bytes": "many", "segment.bytes": None}
    result = admin.alter_configs([_topic(configs)], incremental=incremental)
    assert result == {"topic": {"orders": "[Error 42] InvalidRequestError: Null value not "
                                          "supported for : retention.ms, segment.bytes"}}
    described = admin.describe_configs([ConfigResource("TOPIC", "orders")])
    assert described["topic"]["orders"]["retention.ms"]["value"] == "60000"  # unchanged


@pytest.mark.parametrize("op", [AlterConfigOp.SET, AlterConfigOp.APPEND, AlterConfigOp.SUBTRACT])
def test_only_delete_goes_without_a_value(admin, op):
    result = admin.alter_configs([_topic({"cleanup.policy": (op, None),
                                          "retention.ms": (AlterConfigOp.DELETE, None)})])
    assert result == {"topic": {"orders": "[Error 42] InvalidRequestError: Null value not "
                                          "supported for : cleanup.policy"}}
    assert admin.alter_configs([_topic({"retention.ms": (AlterConfigOp.DELETE, None)})]) == {
        "topic": {"orders": "OK"}}


def test_a_value_missing_is_refused_before_the_resource_is_looked_at(admin):
    # Kafka's broker checks the values before it forwards the topic to the controller, and
    # before a group's configs are checked.
    missing = ConfigResource("TOPIC", "nope", {"retention.ms": None})
    group = ConfigResource("GROUP", "billing", {"consumer.session.timeout.ms": None})
    result = admin.alter_configs([missing, group], raise_on_unknown=False)
    assert result == {
        "topic": {"nope": "[Error 42] InvalidRequestError: Null value not supported for : "
                          "retention.ms"},
        "group": {"billing": "[Error 42] InvalidRequestError: Null value not supported for "
                             ": consumer.session.timeout.ms"}}


def test_a_broker_a_cluster_and_the_kafka_listener_never_create_the_metadata_topic():
    from kafka.protocol.admin import CreateTopicsRequest

    from pcmodel.cluster import Cluster
    from tests.wire.conftest import RawClient

    prohibited = "Creation of internal topic __cluster_metadata is prohibited."
    with Broker() as broker:
        with pytest.raises(InvalidRequestError, match=f"{prohibited}$"):
            broker.create_topic("__cluster_metadata", 1)
        with broker.serve_kafka() as listener, RawClient(listener.address) as raw:
            topic = CreateTopicsRequest.CreatableTopic(
                name="__cluster_metadata", num_partitions=1, replication_factor=-1,
                assignments=[], configs=[])
            answer = raw.request(CreateTopicsRequest[7](topics=[topic], timeout_ms=5000,
                                                        validate_only=False)).topics
            assert [(t.error_code, t.error_message) for t in answer] == [
                (InvalidRequestError.errno, prohibited)]
        assert broker.list_topics() == {}
    with Cluster(3, mode="steps") as cluster:
        with pytest.raises(InvalidRequestError, match=f"{prohibited}$"):
            cluster.create_topic("__cluster_metadata", 1)
        assert "__cluster_metadata" not in cluster.topic_ids()


# --- DescribeConfigs / alterations of a topic: ConfigHelper and the controller's order ------


@pytest.mark.parametrize(("name", "why"), [
    ("bad name", "'bad name' contains one or more characters other than ASCII alphanumerics"),
    ("", "the empty string is not allowed")])
def test_describing_a_topic_no_topic_may_be_named_so_is_an_invalid_topic(admin, name, why):
    with pytest.raises(InvalidTopicError, match=f"^.*Topic name is invalid: {why}"):
        admin.describe_configs([ConfigResource("TOPIC", name)])


@pytest.mark.parametrize(("name", "answer"), [
    ("", "[Error 42] InvalidRequestError: Default topic resources are not allowed."),
    ("a/b", "[Error 17] InvalidTopicError: Topic name is invalid: 'a/b' contains one or more "
            "characters other than ASCII alphanumerics, '.', '_' and '-'")])
def test_altering_the_default_topic_or_an_illegal_name_is_refused_by_its_name(admin, name,
                                                                              answer):
    resource = ConfigResource("TOPIC", name, {"retention.ms": "1000"})
    assert admin.alter_configs([resource], raise_on_unknown=False) == {"topic": {name: answer}}


@pytest.mark.parametrize("kind", ["broker", "cluster"])
def test_the_configs_are_checked_before_whether_the_topic_exists(kind):
    with (Broker() if kind == "broker" else Cluster(3, mode="steps")) as target, \
            KafkaAdminClient(broker=target) as admin:
        def altered(configs: dict) -> str:
            resource = ConfigResource("TOPIC", "nope", configs)
            return admin.alter_configs([resource], raise_on_unknown=False)["topic"]["nope"]

        assert altered({"retention.ms": "soon"}).startswith(
            "[Error 40] InvalidConfigurationError: Invalid value soon for configuration "
            "retention.ms")
        assert altered({"no.such.config": "1"}).startswith(
            "[Error 40] InvalidConfigurationError")
        assert altered({"retention.ms": "1000"}).startswith(
            "[Error 3] UnknownTopicOrPartitionError")
        # The broker or cluster itself, as its Kafka listener calls it.
        with pytest.raises(InvalidConfigurationError, match="Invalid value soon"):
            target.alter_topic_configs("nope", [("retention.ms", AlterConfigOp.SET, "soon")])
        with pytest.raises(InvalidRequestError, match="Default topic resources are not"):
            target.alter_topic_configs("", [("retention.ms", AlterConfigOp.SET, "1000")])

