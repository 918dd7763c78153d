"""A str, a list or another value that is not a mapping, where a mapping goes, is refused.

``fetch({tp: offset})``, ``delete_records({tp: offset})``, ``commit_offsets(..., {tp: ...})``
and the other calls that take a mapping read it with ``items()``: without a check, a str or a
list fails with an ``AttributeError`` from deep inside, after the call may have begun to
change things. The broker, the cluster's connection, a broker's side of a cluster (its node
connection), a broker process's proxy and the admin client refuse one with a one-line
``TypeError`` naming the argument and what it maps (``offsets must be a mapping of
TopicPartition to int, not the str 'x'``) before anything changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.broker import Broker
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from pcmodel.wire.node_connection import NodeConnection
from tests.topics import refusal_targets

pytestmark = pytest.mark.timeout(60)

# The fixtures this module's tests take (one of each serves every case: see the module).
broker, cluster = refusal_targets.broker, refusal_targets.cluster

TP = TopicPartition("t", 0)
NOT_MAPPINGS = {"str": "x", "list": [TP], "int": 5}

OFFSETS = "TopicPartition to int"
COMMITTED = "TopicPartition to OffsetAndMetadata or int"
SPECS = "TopicPartition to OffsetSpec or timestamp"
LOG_DIRS = "TopicPartition to a log directory"

# (id, call with the value, argument named, what it maps)
Case = tuple[str, Callable[[Any, Any], Any], str, str]

#: Calls that a lone broker, a cluster's connection and a node connection all take.
CLIENT_CASES: list[Case] = [
    ("fetch", lambda c, v: c.fetch(v), "offsets", OFFSETS),
    ("list_offsets", lambda c, v: c.list_offsets(v), "specs", SPECS),
    ("offsets_for_times", lambda c, v: c.offsets_for_times(v), "timestamps", OFFSETS),
    ("delete_records", lambda c, v: c.delete_records(v), "offsets", OFFSETS),
    ("commit_offsets", lambda c, v: c.commit_offsets("g", -1, "", v), "offsets", COMMITTED),
    ("txn_offset_commit", lambda c, v: c.txn_offset_commit("tx", "g", 0, 0, v), "offsets",
     COMMITTED),
    ("create_topic-configs", lambda c, v: c.create_topic("t2", 1, configs=v), "configs",
     "config name to value"),
    ("sync_group-assignments", lambda c, v: c.sync_group("g", "m", 0, assignments=v),
     "assignments", "member id to bytes"),
    ("consumer_group_heartbeat-owned_partitions",
     lambda c, v: c.consumer_group_heartbeat("joiner", "m", 0, rebalance_timeout_ms=1000,
                                             subscribed_topic_names=["t"], owned_partitions=v),
     "owned_partitions", "topic to a list of partitions"),
]

#: A broker's own calls (a cluster's nodes call them on their brokers).
BROKER_CASES: list[Case] = [
    ("alter_replica_log_dirs", lambda b, v: b.alter_replica_log_dirs(v), "targets", LOG_DIRS),
    ("check_txn_offset_commit", lambda b, v: b.check_txn_offset_commit("g", v), "offsets",
     COMMITTED),
    ("store_txn_offsets", lambda b, v: b.store_txn_offsets("g", v), "offsets", COMMITTED),
    ("load_offsets", lambda b, v: b.load_offsets("g", v), "offsets",
     "TopicPartition to OffsetAndMetadata"),
    ("load_offsets-commit_times", lambda b, v: b.load_offsets("g", {}, commit_times=v),
     "commit_times", "TopicPartition to epoch ms"),
    ("load_offsets-expire_times", lambda b, v: b.load_offsets("g", {}, expire_times=v),
     "expire_times", "TopicPartition to epoch ms"),
    ("expire_offsets-pending", lambda b, v: b.expire_offsets(pending=v), "pending",
     "group id to a list of TopicPartition"),
]

CLUSTER_CASES: list[Case] = [
    ("alter_replica_log_dirs", lambda c, v: c.alter_replica_log_dirs(v, broker_id=0),
     "targets", LOG_DIRS),
]

#: Those a broker process serves (``pcmodel.topics.broker.CLIENT_METHODS``).
REMOTE_CASES: list[Case] = [
    case for case in CLIENT_CASES + BROKER_CASES
    if case[0] in ("fetch", "list_offsets", "delete_records", "commit_offsets",
                   "alter_replica_log_dirs")
]

ADMIN_CASES: list[Case] = [
    ("alter_group_offsets", lambda a, v: a.alter_group_offsets("g", v), "offsets",
     "TopicPartition to OffsetAndMetadata"),
    ("reset_group_offsets", lambda a, v: a.reset_group_offsets("g", v), "offset_specs",
     "TopicPartition to OffsetSpec, OffsetTimestamp or int"),
    ("list_partition_offsets", lambda a, v: a.list_partition_offsets(v),
     "topic_partition_specs", SPECS),
    ("delete_records", lambda a, v: a.delete_records(v), "records_to_delete", OFFSETS),
    ("create_partitions", lambda a, v: a.create_partitions(v), "topic_partitions",
     "topic to NewPartitions(total)"),
    ("alter_replica_log_dirs", lambda a, v: a.alter_replica_log_dirs(v), "replica_assignments",
     "TopicPartitionReplica to a log directory"),
    ("describe_topic_partitions-cursor",
     lambda a, v: a.describe_topic_partitions(["t"], cursor=v), "cursor",
     "'topic_name' and 'partition_index' to their values"),
]


def expand(cases: list[Case]) -> list[Any]:
    return [pytest.param(call, name, of, kind, id=f"{case}-{kind}")
            for case, call, name, of in cases for kind in NOT_MAPPINGS]


def refused(target: Any, call: Callable[[Any, Any], Any], name: str, of: str,
            kind: str) -> None:
    value = NOT_MAPPINGS[kind]
    message = f"{name} must be a mapping of {of}, not the {kind} {value!r}"
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        call(target, value)


@pytest.mark.parametrize(("call", "name", "of", "kind"), expand(CLIENT_CASES + BROKER_CASES))
def test_the_broker_refuses_what_is_not_a_mapping(broker, call, name, of, kind):
    refused(broker, call, name, of, kind)


@pytest.mark.parametrize(("call", "name", "of", "kind"), expand(CLIENT_CASES + CLUSTER_CASES))
def test_the_cluster_connection_refuses_what_is_not_a_mapping(cluster, call, name, of, kind):
    refused(cluster.connect(), call, name, of, kind)


@pytest.mark.parametrize(("call", "name", "of", "kind"), expand(CLIENT_CASES + CLUSTER_CASES))
def test_a_node_connection_refuses_what_is_not_a_mapping(cluster, call, name, of, kind):
    # Each refusal comes before the node asks whether it leads, so any broker serves.
    refused(NodeConnection(cluster.connect(), 0), call, name, of, kind)


def test_a_broker_process_refuses_what_is_not_a_mapping_through_its_proxy():
    refusal_targets.refused_through_a_broker_process(expand(REMOTE_CASES), refused)


@pytest.mark.parametrize(("call", "name", "of", "kind"), expand(ADMIN_CASES))
def test_the_admin_client_refuses_what_is_not_a_mapping(broker, call, name, of, kind):
    with KafkaAdminClient(broker=broker) as admin:
        refused(admin, call, name, of, kind)


@pytest.mark.parametrize(("call", "name", "of", "kind"), expand(ADMIN_CASES))
def test_the_admin_client_of_a_cluster_refuses_what_is_not_a_mapping(cluster, call, name, of,
                                                                      kind):
    with KafkaAdminClient(broker=cluster) as admin:
        refused(admin, call, name, of, kind)


# --- nothing is done before the refusal ---------------------------------------------------------

def test_loading_offsets_that_are_not_a_mapping_keeps_the_group_offsets():
    """``load_offsets`` replaces a group's offsets: a str must not have emptied them first."""
    committed = OffsetAndMetadata(3, "", -1)
    with Broker() as broker:
        broker.create_topic("t", 1)
        broker.commit_offsets("g", -1, "", {TP: committed})
        with pytest.raises(TypeError, match="^offsets must be a mapping of "):
            broker.load_offsets("g", "x")
        with pytest.raises(TypeError, match="^commit_times must be a mapping of "):
            broker.load_offsets("g", {TP: OffsetAndMetadata(9, "", -1)}, commit_times=[TP])
        assert broker.committed("g", [TP]) == {TP: committed}


def test_a_topic_whose_configs_are_not_a_mapping_is_not_created(broker, cluster):
    for target in (broker, cluster.connect()):
        with pytest.raises(TypeError, match="^configs must be a mapping of "):
            target.create_topic("never", 1, configs=["retention.ms", "1000"])
        assert "never" not in target.list_topics()
