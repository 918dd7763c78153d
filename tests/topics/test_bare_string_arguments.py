"""A bare str (or bytes), or a mapping, where a list of names, ids or partitions is expected
is refused.

All are iterables, so without a check ``describe_transactions("tx-1")`` asks for the ids
``"t"``, ``"x"``, ``"-"`` and ``"1"``, ``delete_groups("gx")`` deletes the groups ``"g"``
and ``"x"``, and ``delete_topics({"t": 1})`` deletes the topic ``"t"`` (a dict is walked as
its keys, what its values meant dropped). The broker, the cluster's connection, a broker
process's proxy and the admin client refuse one with a one-line ``TypeError`` naming the
argument and what to pass, before they do anything. The arguments documented as "a mapping
or a list" (``topic_partitions``, ``group_specs``) still take their mapping. (The consumer's
``subscribe("t")`` takes a single topic name, as kafka-python's does: that convenience is
kept and not tested here.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.broker import Broker
from pcmodel.topics.config_resources import ConfigResource
from pcmodel.topics.errors import GroupIdNotFoundError
from pcmodel.topics.structs import ElectionType, OffsetAndMetadata, TopicPartition
from tests.topics import refusal_targets

pytestmark = pytest.mark.timeout(60)

# The fixtures this module's tests take (one of each serves every case: see the module).
broker, admin = refusal_targets.broker, refusal_targets.admin
cluster, cluster_admin = refusal_targets.cluster, refusal_targets.cluster_admin

BARE = {"str": "tx-1", "bytes": b"tx"}
PREFERRED = ElectionType.PREFERRED
T0 = TopicPartition("t", 0)


def listed(name: str, of: str = "str") -> str:
    """The shared message: ``{name} must be a list of {of}, not the {kind} {value!r}``."""
    return name + " must be a list of " + of + ", not the {kind} {value!r}"


def join(target: Any, group_id: str, **fields: Any) -> Any:
    """A ConsumerGroupHeartbeat that joins ``group_id`` (member epoch 0)."""
    fields.setdefault("subscribed_topic_names", ["t"])
    fields.setdefault("owned_partitions", {})
    return target.consumer_group_heartbeat(group_id, "m", 0, rebalance_timeout_ms=1000,
                                           **fields)


# (id, call with the bare value, expected message template, kinds whose answer changed)
Case = tuple[str, Callable[[Any, Any], Any], str, tuple[str, ...]]
BOTH = ("str", "bytes")

#: The same calls on a lone broker, a cluster's connection and a broker process's proxy.
CLIENT_CASES: list[Case] = [
    ("describe_transactions", lambda c, v: c.describe_transactions(v),
     listed("transactional_ids"), BOTH),
    ("list_transactions-states", lambda c, v: c.list_transactions(states=v),
     listed("states"), BOTH),
    ("list_transactions-producer_ids", lambda c, v: c.list_transactions(producer_ids=v),
     listed("producer_ids", "int"), BOTH),
    ("consumer_group_heartbeat-names",
     lambda c, v: join(c, "joiner", subscribed_topic_names=v),
     listed("subscribed_topic_names"), BOTH),
    ("add_partitions_to_txn", lambda c, v: c.add_partitions_to_txn("tx", 0, 0, v),
     listed("partitions", "TopicPartition"), BOTH),
    ("committed", lambda c, v: c.committed("g", v), listed("partitions", "TopicPartition"), BOTH),
    ("delete_offsets", lambda c, v: c.delete_offsets("g", v),
     listed("partitions", "TopicPartition"), BOTH),
    ("describe_producers", lambda c, v: c.describe_producers(v),
     listed("partitions", "TopicPartition"), BOTH),
    ("elect_leaders", lambda c, v: c.elect_leaders(PREFERRED, v),
     listed("partitions", "TopicPartition"), BOTH),
    ("list_partition_reassignments", lambda c, v: c.list_partition_reassignments(v),
     listed("partitions", "TopicPartition"), BOTH),
    ("beginning_offsets", lambda c, v: c.beginning_offsets(v),
     listed("partitions", "TopicPartition"), BOTH),
    ("end_offsets", lambda c, v: c.end_offsets(v), listed("partitions", "TopicPartition"), BOTH),
    ("max_timestamp_offsets", lambda c, v: c.max_timestamp_offsets(v),
     listed("partitions", "TopicPartition"), BOTH),
]

#: Those a broker process serves (``pcmodel.topics.broker.CLIENT_METHODS``).
REMOTE_CASES: list[Case] = [
    case for case in CLIENT_CASES
    if case[0] in ("describe_transactions", "list_transactions-states",
                   "list_transactions-producer_ids", "committed", "end_offsets")
]

#: Calls only a lone broker has, or only with its arguments.
BROKER_CASES: list[Case] = [
    ("consumer_group_heartbeat-owned", lambda b, v: join(b, "joiner", owned_partitions=v),
     "owned_partitions must be a mapping of topic to a list of partitions, not the {kind} "
     "{value!r}", BOTH),
    ("describe_log_dirs", lambda b, v: b.describe_log_dirs(v),
     listed("partitions", "TopicPartition"), BOTH),
    ("replica_infos", lambda b, v: b.replica_infos(v),
     listed("partitions", "TopicPartition"), BOTH),
]

CLUSTER_CASES: list[Case] = [
    ("describe_log_dirs", lambda c, v: c.describe_log_dirs(v, broker_id=0),
     listed("partitions", "TopicPartition"), BOTH),
]

ADMIN_CASES: list[Case] = [
    ("describe_transactions", lambda a, v: a.describe_transactions(v),
     listed("transactional_ids"), BOTH),
    ("list_transactions-state_filters", lambda a, v: a.list_transactions(state_filters=v),
     listed("state_filters"), BOTH),
    ("list_transactions-producer_id_filters",
     lambda a, v: a.list_transactions(producer_id_filters=v),
     listed("producer_id_filters", "int"), BOTH),
    ("list_transactions-broker_ids", lambda a, v: a.list_transactions(broker_ids=v),
     listed("broker_ids", "int"), BOTH),
    ("find_hanging_transactions-topics", lambda a, v: a.find_hanging_transactions(topics=v),
     listed("topics"), BOTH),
    ("find_hanging_transactions-partitions",
     lambda a, v: a.find_hanging_transactions(partitions=v),
     listed("partitions", "TopicPartition"), BOTH),
    ("find_hanging_transactions-broker_ids",
     lambda a, v: a.find_hanging_transactions(broker_ids=v), listed("broker_ids", "int"), BOTH),
    ("list_groups-states_filter", lambda a, v: a.list_groups(states_filter=v),
     listed("states_filter"), BOTH),
    ("list_groups-types_filter", lambda a, v: a.list_groups(types_filter=v),
     listed("types_filter"), BOTH),
    ("describe_groups", lambda a, v: a.describe_groups(v), listed("group_ids"), BOTH),
    ("describe_consumer_groups", lambda a, v: a.describe_consumer_groups(v),
     listed("group_ids"), BOTH),
    ("delete_groups", lambda a, v: a.delete_groups(v), listed("group_ids"), BOTH),
    ("delete_consumer_groups", lambda a, v: a.delete_consumer_groups(v),
     listed("group_ids"), BOTH),
    # A single group id is documented as accepted there; bytes is no group id.
    ("list_group_offsets-specs", lambda a, v: a.list_group_offsets(v),
     listed("group_specs"), ("bytes",)),
    ("list_group_offsets-partitions", lambda a, v: a.list_group_offsets({"g": v}),
     listed("partitions", "TopicPartition"), BOTH),
    ("list_consumer_group_offsets", lambda a, v: a.list_consumer_group_offsets("g", None, v),
     listed("partitions", "TopicPartition"), BOTH),
    ("delete_group_offsets", lambda a, v: a.delete_group_offsets("g", v),
     listed("partitions", "TopicPartition"), BOTH),
    ("remove_group_members", lambda a, v: a.remove_group_members("g", v),
     listed("members", "MemberToRemove"), BOTH),
    ("describe_topics", lambda a, v: a.describe_topics(v), listed("topics"), BOTH),
    ("describe_topic_partitions", lambda a, v: a.describe_topic_partitions(v),
     listed("topics"), BOTH),
    ("delete_topics", lambda a, v: a.delete_topics(v), listed("topics"), BOTH),
    # A str is refused there already (with its own message, which other tests hold).
    ("wait_for_topics", lambda a, v: a.wait_for_topics(v, timeout_ms=10),
     listed("topic_names"), ("bytes",)),
    ("create_topics", lambda a, v: a.create_topics(v),
     "new_topics must be a list of NewTopic or names, or a dict of them, not the {kind} "
     "{value!r}", BOTH),
    ("create_partitions", lambda a, v: a.create_partitions(v),
     "topic_partitions must be a mapping of topic to NewPartitions(total), not the {kind} "
     "{value!r}", BOTH),
    ("elect_leaders", lambda a, v: a.elect_leaders(PREFERRED, v),
     "topic_partitions must be {{topic: [partitions]}}, a list of topics or None, not the "
     "{kind} {value!r}", ("bytes",)),
    ("describe_log_dirs-topic_partitions", lambda a, v: a.describe_log_dirs(v),
     "topic_partitions must be {{topic: [partitions]}}, a list of topics or None, not the "
     "{kind} {value!r}", ("bytes",)),
    ("describe_log_dirs-brokers", lambda a, v: a.describe_log_dirs(None, v),
     listed("brokers", "int"), BOTH),
    ("list_partition_reassignments", lambda a, v: a.list_partition_reassignments(v),
     "topic_partitions must be {{topic: [partitions]}}, a list of TopicPartition or None, not "
     "the {kind} {value!r}", ("bytes",)),
    ("describe_producers", lambda a, v: a.describe_producers(v),
     listed("partitions", "TopicPartition"), BOTH),
    ("describe_configs", lambda a, v: a.describe_configs(v),
     listed("config_resources", "ConfigResource"), BOTH),
    ("alter_configs", lambda a, v: a.alter_configs(v),
     listed("config_resources", "ConfigResource"), BOTH),
    ("reset_configs", lambda a, v: a.reset_configs(v),
     listed("config_resources", "ConfigResource"), BOTH),
]

#: The admin client over a cluster's connection, whose requests differ from a lone broker's.
CLUSTER_ADMIN_CASES: list[Case] = [
    case for case in ADMIN_CASES
    if case[0] in ("describe_transactions", "list_transactions-state_filters",
                   "describe_groups", "delete_groups", "list_groups-states_filter")
]


def expand(cases: list[Case]) -> list[Any]:
    return [pytest.param(call, template, kind, id=f"{name}-{kind}")
            for name, call, template, kinds in cases for kind in kinds]


def refused(target: Any, call: Callable[[Any, Any], Any], template: str, kind: str) -> None:
    value = BARE[kind]
    message = template.format(kind=kind, value=value)
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        call(target, value)


@pytest.mark.parametrize(("call", "template", "kind"), expand(CLIENT_CASES + BROKER_CASES))
def test_the_broker_refuses_a_bare_string(broker, call, template, kind):
    refused(broker, call, template, kind)


@pytest.mark.parametrize(("call", "template", "kind"), expand(CLIENT_CASES + CLUSTER_CASES))
def test_the_cluster_connection_refuses_a_bare_string(cluster, call, template, kind):
    refused(cluster.connect(), call, template, kind)


def test_a_broker_process_refuses_a_bare_string_through_its_proxy():
    refusal_targets.refused_through_a_broker_process(expand(REMOTE_CASES), refused)


@pytest.mark.parametrize(("call", "template", "kind"), expand(ADMIN_CASES))
def test_the_admin_client_refuses_a_bare_string(admin, call, template, kind):
    refused(admin, call, template, kind)


@pytest.mark.parametrize(("call", "template", "kind"), expand(CLUSTER_ADMIN_CASES))
def test_the_admin_client_of_a_cluster_refuses_a_bare_string(cluster_admin, call, template,
                                                              kind):
    refused(cluster_admin, call, template, kind)


# --- nothing is done before the refusal ---------------------------------------------------------

@pytest.mark.parametrize("delete", ["delete_groups", "delete_consumer_groups"])
def test_deleting_groups_by_a_bare_string_deletes_none_of_its_characters(delete):
    broker = Broker()
    try:
        broker.create_topic("t", 1)
        for group_id in ("g", "x"):
            broker.commit_offsets(group_id, -1, "", {TopicPartition("t", 0): OffsetAndMetadata(
                0, "", -1)})
        with KafkaAdminClient(broker=broker) as admin, \
                pytest.raises(TypeError, match="group_ids must be a list of str"):
            getattr(admin, delete)("gx")
        assert sorted(broker.list_groups()) == ["g", "x"]
    finally:
        broker.close()


def test_a_heartbeat_with_a_bare_string_subscription_joins_nothing(broker, cluster):
    for target in (broker, cluster.connect()):
        with pytest.raises(TypeError, match="subscribed_topic_names must be a list of str"):
            join(target, "never-joined", subscribed_topic_names="t")
        with pytest.raises(GroupIdNotFoundError):
            target.describe_consumer_group("never-joined")


# --- a mapping where a list goes ----------------------------------------------------------------

# (id, call with the value, the value, expected message template)
MappingCase = tuple[str, Callable[[Any, Any], Any], Any, str]

#: One call of each shared check, on a lone broker and a cluster's connection.
CLIENT_MAPPINGS: list[MappingCase] = [
    ("describe_transactions", lambda c, v: c.describe_transactions(v), {"tx-1": 1},
     listed("transactional_ids")),
    ("list_transactions-producer_ids", lambda c, v: c.list_transactions(producer_ids=v),
     {1: 1}, listed("producer_ids", "int")),
    ("end_offsets", lambda c, v: c.end_offsets(v), {T0: 5},
     listed("partitions", "TopicPartition")),
    ("consumer_group_heartbeat-names",
     lambda c, v: join(c, "joiner", subscribed_topic_names=v), {"t": 1},
     listed("subscribed_topic_names")),
]

#: The cluster's connection checks this list with its own call of the shared check.
CLUSTER_MAPPINGS: list[MappingCase] = [
    ("describe_log_dirs", lambda c, v: c.describe_log_dirs(v, broker_id=0), {T0: 5},
     listed("partitions", "TopicPartition")),
]

ADMIN_MAPPINGS: list[MappingCase] = [
    ("describe_transactions", lambda a, v: a.describe_transactions(v), {"tx-1": 1},
     listed("transactional_ids")),
    ("list_groups-broker_ids", lambda a, v: a.list_groups(broker_ids=v), {0: 1},
     listed("broker_ids", "int")),
    ("describe_log_dirs-brokers", lambda a, v: a.describe_log_dirs(None, v), {0: 1},
     listed("brokers", "int")),
    ("delete_group_offsets", lambda a, v: a.delete_group_offsets("g", v), {T0: 1},
     listed("partitions", "TopicPartition")),
    ("describe_configs", lambda a, v: a.describe_configs(v), {ConfigResource("TOPIC", "t"): 1},
     listed("config_resources", "ConfigResource")),
]

#: ``describe_producers`` and ``describe_log_dirs(brokers=...)`` once checked their lists
#: with their own code, which let these through to an obscure error or a wrong answer.
ADMIN_NOT_LISTS: list[MappingCase] = [
    ("describe_producers-partition", lambda a, v: a.describe_producers(v), T0,
     listed("partitions", "TopicPartition") + f": pass [{T0!r}]"),
    ("describe_producers-int", lambda a, v: a.describe_producers(v), 5,
     listed("partitions", "TopicPartition")),
    ("describe_log_dirs-brokers-int", lambda a, v: a.describe_log_dirs(None, v), 5,
     listed("brokers", "int")),
    ("describe_log_dirs-brokers-bytearray", lambda a, v: a.describe_log_dirs(None, v),
     bytearray(b"\x00"), listed("brokers", "int")),
]

#: The arguments that are "a mapping or a list" once walked their list with their own code
#: too: an int failed as not iterable, a single partition was walked as the topics "t" and 0,
#: a bytearray as ints, and a topic's partition ids were not checked to be a list.
TOPIC_PARTITIONS = "topic_partitions must be {{topic: [partitions]}}, a list of "
ADMIN_MAPPING_OR_LIST: list[MappingCase] = [
    ("list_partition_reassignments-int", lambda a, v: a.list_partition_reassignments(v), 5,
     listed("topic_partitions", "TopicPartition")),
    ("list_partition_reassignments-partition",
     lambda a, v: a.list_partition_reassignments(v), T0,
     listed("topic_partitions", "TopicPartition") + f": pass [{T0!r}]"),
    ("list_partition_reassignments-bytearray",
     lambda a, v: a.list_partition_reassignments(v), bytearray(b"t"),
     TOPIC_PARTITIONS + "TopicPartition or None, not the {kind} {value!r}"),
    ("list_partition_reassignments-ids", lambda a, v: a.list_partition_reassignments(v),
     {"t": 0}, "topic_partitions['t'] must be a list of int, not the int 0"),
    ("elect_leaders-int", lambda a, v: a.elect_leaders(PREFERRED, v), 5,
     listed("topic_partitions")),
    ("elect_leaders-partition", lambda a, v: a.elect_leaders(PREFERRED, v), T0,
     TOPIC_PARTITIONS + "topics or None, not the {kind} {value!r}: pass {{'t': [0]}}"),
    ("elect_leaders-bytearray", lambda a, v: a.elect_leaders(PREFERRED, v), bytearray(b"t"),
     TOPIC_PARTITIONS + "topics or None, not the {kind} {value!r}"),
    ("elect_leaders-entry", lambda a, v: a.elect_leaders(PREFERRED, v), ["t", 5],
     "topic_partitions[1] must be a str, not the int 5"),
    ("elect_leaders-ids", lambda a, v: a.elect_leaders(PREFERRED, v), {"t": None},
     "topic_partitions['t'] must be a list of int, not the NoneType None"),
    ("describe_log_dirs-int", lambda a, v: a.describe_log_dirs(v), 5,
     listed("topic_partitions")),
    ("describe_log_dirs-partition", lambda a, v: a.describe_log_dirs(v), T0,
     TOPIC_PARTITIONS + "topics or None, not the {kind} {value!r}: pass {{'t': [0]}}"),
]

#: The cluster's connection once checked this list with ``_check_list`` alone, which walked a
#: single partition as the entries "t" and 0.
CLUSTER_NOT_LISTS: list[MappingCase] = [
    ("describe_log_dirs-partition", lambda c, v: c.describe_log_dirs(v, broker_id=0), T0,
     listed("partitions", "TopicPartition") + f": pass [{T0!r}]"),
]

#: The cluster itself (the calls its connection forwards to) walked these lists by hand.
CLUSTER_ITSELF_NOT_LISTS: list[MappingCase] = [
    ("elect_leaders-dict", lambda c, v: c.elect_leaders(PREFERRED, v), {T0: 1},
     listed("partitions", "TopicPartition")),
    ("elect_leaders-str", lambda c, v: c.elect_leaders(PREFERRED, v), "t",
     listed("partitions", "TopicPartition")),
    ("list_partition_reassignments-int", lambda c, v: c.list_partition_reassignments(v), 5,
     listed("partitions", "TopicPartition")),
    ("list_partition_reassignments-dict", lambda c, v: c.list_partition_reassignments(v),
     {T0: 1}, listed("partitions", "TopicPartition")),
    ("describe_log_dirs-partition", lambda c, v: c.describe_log_dirs(0, v), T0,
     listed("partitions", "TopicPartition") + f": pass [{T0!r}]"),
]


def mapping_params(cases: list[MappingCase]) -> list[Any]:
    return [pytest.param(call, value, template, id=name)
            for name, call, value, template in cases]


def refused_value(target: Any, call: Callable[[Any, Any], Any], value: Any,
                  template: str) -> None:
    message = template.format(kind=type(value).__name__, value=value)
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        call(target, value)


@pytest.mark.parametrize(("call", "value", "template"), mapping_params(CLIENT_MAPPINGS))
def test_the_broker_refuses_a_mapping(broker, call, value, template):
    refused_value(broker, call, value, template)


@pytest.mark.parametrize(("call", "value", "template"),
                         mapping_params(CLIENT_MAPPINGS + CLUSTER_MAPPINGS + CLUSTER_NOT_LISTS))
def test_the_cluster_connection_refuses_a_mapping_or_another_non_list(cluster, call, value,
                                                                      template):
    refused_value(cluster.connect(), call, value, template)


@pytest.mark.parametrize(("call", "value", "template"), mapping_params(CLUSTER_ITSELF_NOT_LISTS))
def test_the_cluster_itself_refuses_what_is_not_a_list(cluster, call, value, template):
    refused_value(cluster, call, value, template)


@pytest.mark.parametrize(("call", "value", "template"),
                         mapping_params(ADMIN_MAPPINGS + ADMIN_NOT_LISTS))
def test_the_admin_client_refuses_a_mapping_or_another_non_list(admin, call, value, template):
    refused_value(admin, call, value, template)


@pytest.mark.parametrize("target", ["admin", "cluster_admin"])
@pytest.mark.parametrize(("call", "value", "template"), mapping_params(ADMIN_MAPPING_OR_LIST))
def test_the_admin_client_refuses_what_is_neither_a_mapping_nor_a_list(request, target, call,
                                                                        value, template):
    refused_value(request.getfixturevalue(target), call, value, template)


@pytest.mark.parametrize(("call", "value", "template"), mapping_params(ADMIN_MAPPINGS[:3]))
def test_the_admin_client_of_a_cluster_refuses_a_mapping(cluster_admin, call, value,
                                                         template):
    refused_value(cluster_admin, call, value, template)


@pytest.mark.parametrize(("delete", "kept"), [("delete_topics", "t"), ("delete_groups", "g")])
def test_deleting_by_a_mapping_deletes_none_of_its_keys(delete, kept):
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        broker.create_topic("t", 1)
        broker.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(0, "", -1)})
        with pytest.raises(TypeError, match=r" must be a list of str, not the dict "):
            getattr(admin, delete)({kept: 1})
        assert "t" in broker.list_topics()
        assert "g" in broker.list_groups()


@pytest.mark.parametrize("target", ["admin", "cluster_admin"])
def test_the_arguments_documented_as_a_mapping_still_take_one(request, target):
    admin = request.getfixturevalue(target)
    (described,) = admin.describe_log_dirs({"t": [0]}, brokers=[0])
    (topic,) = described["log_dirs"][0]["topics"]
    assert (topic["name"], [p["partition_index"] for p in topic["partitions"]]) == ("t", [0])
    elected = admin.elect_leaders(PREFERRED, {"t": [0]}, raise_errors=False)
    assert [(r["topic"], [p["partition_id"] for p in r["partition_result"]])
            for r in elected["replica_election_results"]] == [("t", [0])]
    assert admin.list_partition_reassignments({"t": [0]}) == {}
    assert admin.list_group_offsets({"never-committed": [T0]}) == {"never-committed": {T0: None}}
    assert admin.list_group_offsets({"never-committed": None}) == {"never-committed": {}}


@pytest.mark.parametrize("target", ["admin", "cluster_admin"])
def test_the_list_forms_of_those_arguments_still_work(request, target):
    admin = request.getfixturevalue(target)
    (described,) = admin.describe_log_dirs(["t"], brokers=[0])
    assert [topic["name"] for topic in described["log_dirs"][0]["topics"]] == ["t"]
    for topics in (["t"], ("t",), {"t": range(1)}, {"t": (0,)}):
        elected = admin.elect_leaders(PREFERRED, topics, raise_errors=False)
        assert [(r["topic"], [p["partition_id"] for p in r["partition_result"]])
                for r in elected["replica_election_results"]] == [("t", [0])]
    assert admin.list_partition_reassignments([T0]) == {}
    assert admin.list_partition_reassignments([("t", 0)]) == {}
