"""pcmodel's KafkaAdminClient and kafka-python's, asked about the same broker, answer alike.

kafka-python's admin client speaks the Kafka protocol to pcmodel's listener; pcmodel's calls
the broker directly. A program moved between them by changing the import must see the same
dicts: topics with their partitions' leaders and replicas (on a cluster with a dead broker
too), groups with their decoded members, committed offsets, and configs described, altered and
reset.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("kafka", reason="comparing admin clients needs kafka-python")

import kafka  # noqa: E402
from kafka.admin import KafkaAdminClient as KafkaPythonAdmin  # noqa: E402

from pcmodel.cluster import Cluster  # noqa: E402
from pcmodel.topics import Broker, KafkaConsumer, OffsetAndMetadata  # noqa: E402
from pcmodel.topics.admin import KafkaAdminClient, NewTopic  # noqa: E402
from pcmodel.topics.structs import TopicPartition  # noqa: E402
from tests.conftest import wait_until  # noqa: E402
from tests.topics.conftest import drain  # noqa: E402


def stable_with_one_member(admin, group: str) -> bool:
    desc = admin.describe_groups([group])[group]
    return desc["group_state"] == "Stable" and len(desc["members"]) == 1


@pytest.mark.timeout(90)
def test_topics_groups_and_offsets_look_the_same_through_both_admin_clients():
    with Broker(group_initial_rebalance_delay_ms=300) as broker, \
            broker.serve_kafka() as listener:
        ours = KafkaAdminClient(broker=broker)
        theirs = KafkaPythonAdmin(bootstrap_servers=listener.bootstrap_servers)
        try:
            ours.create_topics([NewTopic("t", 2), NewTopic("u", 1)])
            broker.append("t", 0, [(None, b"a"), (None, b"b")])
            broker.append("t", 1, [(None, b"c")])
            # One group of kafka-python's consumer (subscription version 0), one of pcmodel's
            # (version 1, with the partitions it owns), one that only committed, none unknown.
            kp = kafka.KafkaConsumer("t", bootstrap_servers=listener.bootstrap_servers,
                                     group_id="kp", client_id="kp-1",
                                     auto_offset_reset="earliest", enable_auto_commit=False)
            pc = KafkaConsumer("t", "u", broker=broker, group_id="pc", client_id="pc-1",
                               auto_offset_reset="earliest", enable_auto_commit=False)
            try:
                # The topic's metadata before the first poll joins the group: a leader that joins
                # without it (a slow machine) assigns nothing, and kafka-python may not look again
                # before metadata_max_age_ms (5 min).
                assert kp.partitions_for_topic("t") == {0, 1}
                drain(kp, 3, timeout=30)
                kp.commit()
                drain(pc, 3, timeout=30)
                pc.commit()
                ours.alter_group_offsets("ledger", {TopicPartition("u", 0): OffsetAndMetadata(
                    0, "by hand")})
                wait_until(lambda: stable_with_one_member(ours, "kp")
                           and stable_with_one_member(ours, "pc"), timeout=30)

                assert ours.describe_topics() == theirs.describe_topics()
                assert ours.describe_topics(["t", "missing"]) == theirs.describe_topics(
                    ["t", "missing"])
                assert sorted(ours.list_groups(), key=str) == sorted(theirs.list_groups(),
                                                                     key=str)
                groups = ["kp", "pc", "ledger", "nobody"]
                # kafka-python asks for the authorized operations whatever its argument says;
                # a group that does not exist is Dead with GROUP_ID_NOT_FOUND (KIP-1043).
                assert ours.describe_groups(groups, include_authorized_operations=True) == \
                    theirs.describe_groups(groups)
                assert {g["authorized_operations"] for g in ours.describe_groups(
                    groups).values()} == {None}
                member = ours.describe_groups(["pc"])["pc"]["members"][0]
                assert member["member_metadata"] == {  # it owned nothing when it joined
                    "topics": ["t", "u"], "user_data": None, "owned_partitions": []}
                assert member["member_assignment"]["assigned_partitions"] == [
                    {"topic": "t", "partitions": [0, 1]}, {"topic": "u", "partitions": [0]}]
                assert ours.list_group_offsets(groups) == theirs.list_group_offsets(groups)
            finally:
                kp.close()
                pc.close()
            assert ours.describe_groups(["kp", "pc"], include_authorized_operations=True) == \
                theirs.describe_groups(["kp", "pc"])
        finally:
            theirs.close()
            ours.close()


@pytest.mark.timeout(90)
def test_a_clusters_partitions_look_the_same_through_both_admin_clients():
    with Cluster(3, broker_session_timeout_ms=1000, replica_lag_time_max_ms=1000,
                 tick_ms=10) as cluster, cluster.serve_kafka() as listeners:
        ours = KafkaAdminClient(broker=cluster)
        ours.create_topics([NewTopic("t", 3, replication_factor=2)])
        state = cluster.metadata()[TopicPartition("t", 0)]
        dead = state.replicas[0]  # the leader of partition 0
        cluster.produce("t", 0, [(None, b"a", (), 1000), (None, b"b", (), 2000)],
                        acks="all").get(timeout=20)  # written in leader epoch 0
        cluster.kill(dead)
        wait_until(lambda: dead not in cluster.live_brokers()
                   and all(p["leader_id"] not in (dead, -1)
                           for p in ours.describe_topics(["t"])[0]["partitions"]), timeout=30)
        theirs = KafkaPythonAdmin(bootstrap_servers=",".join(
            f"{host}:{port}" for node, (host, port) in listeners.addresses.items()
            if node != dead))
        try:
            described = ours.describe_topics(["t"])
            assert described == theirs.describe_topics(["t"])
            latest = {TopicPartition("t", p): -1 for p in range(3)}  # OffsetSpec.LATEST
            answers = ours.list_partition_offsets(latest)
            assert {tp: tuple(a) for tp, a in answers.items()} == {
                tp: tuple(a) for tp, a in theirs.list_partition_offsets(
                    {kafka.TopicPartition(*tp): spec for tp, spec in latest.items()}).items()}
            assert answers[TopicPartition("t", 0)].leader_epoch == 1  # a new leader's epoch
            cluster.produce("t", 0, [(None, b"c", (), 3000)], acks="all").get(timeout=20)
            # Earliest, a time and the largest time (-3) answer the epoch that wrote the
            # record, latest the current; with no tiered storage, the local log start (-4) is
            # the earliest and nothing is tiered (-5).
            for spec, epoch in ((-2, 0), (1500, 0), (2500, 1), (-1, 1), (-3, 1), (-4, 0),
                                (-5, None)):
                asked = {TopicPartition("t", 0): spec}
                mine = ours.list_partition_offsets(asked)[TopicPartition("t", 0)]
                assert tuple(mine) == tuple(theirs.list_partition_offsets(
                    {kafka.TopicPartition("t", 0): spec})[kafka.TopicPartition("t", 0)])
                assert mine.leader_epoch == epoch, spec
            offline = [p["offline_replicas"] for p in described[0]["partitions"]]
            assert offline.count([dead]) == 2  # each broker holds two of the six replicas
        finally:
            theirs.close()
            ours.close()


def raised(call):
    """The name of the error class ``call()`` raised (it must raise)."""
    try:
        call()
    except Exception as exc:
        return type(exc).__name__
    raise AssertionError(f"{call} did not raise")


def _comparable(answer):
    """An answer with what differs only by the library made alike: error classes by name,
    kafka-python's response objects as their dicts, topic ids as whether there is one."""
    if isinstance(answer, type) and issubclass(answer, Exception):
        return answer.__name__
    if hasattr(answer, "to_dict"):
        return answer.to_dict()
    if isinstance(answer, dict):  # two brokers draw different random topic ids
        return {tuple(k) if isinstance(k, tuple) else k:
                ("an id" if v else v) if k == "topic_id" else _comparable(v)
                for k, v in answer.items()}
    if isinstance(answer, (list, tuple)) and not hasattr(answer, "_fields"):
        return [_comparable(v) for v in answer]
    if hasattr(answer, "_fields"):  # OffsetAndTimestamp, OffsetAndMetadata
        return tuple(answer)
    return answer


@pytest.mark.timeout(90)
def test_changes_answer_the_same_through_both_admin_clients():
    """The same calls on two brokers, one through each client: the same answers and errors."""
    from kafka.admin import AlterConfigOp as KafkaAlterConfigOp
    from kafka.admin import ConfigResource as KafkaConfigResource
    from kafka.admin import NewPartitions as KafkaNewPartitions
    from kafka.admin import NewTopic as KafkaNewTopic
    from kafka.admin import OffsetSpec as KafkaOffsetSpec

    from pcmodel.topics.admin import (
        AlterConfigOp,
        ConfigResource,
        NewPartitions,
        OffsetSpec,
    )

    with Broker(num_partitions=2) as theirs_broker, theirs_broker.serve_kafka() as listener, \
            Broker(num_partitions=2) as ours_broker:
        theirs = KafkaPythonAdmin(bootstrap_servers=listener.bootstrap_servers)
        ours = KafkaAdminClient(broker=ours_broker)
        # Each call gets an admin client and the library its arguments are built from.
        kafka_python_kit = SimpleNamespace(
            NewTopic=KafkaNewTopic, NewPartitions=KafkaNewPartitions,
            OffsetSpec=KafkaOffsetSpec, tp=kafka.TopicPartition,
            OffsetAndMetadata=kafka.OffsetAndMetadata, Resource=KafkaConfigResource,
            Op=KafkaAlterConfigOp)
        pcmodel_kit = SimpleNamespace(
            NewTopic=NewTopic, NewPartitions=NewPartitions, OffsetSpec=OffsetSpec,
            tp=TopicPartition, OffsetAndMetadata=OffsetAndMetadata, Resource=ConfigResource,
            Op=AlterConfigOp)
        calls = [
            ("create", lambda a, k: a.create_topics(
                [k.NewTopic("t", 2, 1), k.NewTopic("d", -1, -1)])),
            ("create again", lambda a, k: a.create_topics(
                [k.NewTopic("t", 2, 1), k.NewTopic("x", 1, 1)], raise_errors=False)),
            ("too many replicas", lambda a, k: a.create_topics(
                [k.NewTopic("r", 1, 3)], raise_errors=False)),
            ("unknown config", lambda a, k: a.create_topics(
                [k.NewTopic("c", 1, 1, topic_configs={"retention.mss": "1"})],
                raise_errors=False)),
            ("validate only", lambda a, k: a.create_topics(
                [k.NewTopic("v", 1, 1)], validate_only=True)),
            ("grow", lambda a, k: a.create_partitions({"t": k.NewPartitions(3)})),
            ("shrink", lambda a, k: a.create_partitions(
                {"t": k.NewPartitions(2)}, raise_errors=False)),
            ("append", None),
            ("offsets", lambda a, k: a.list_partition_offsets(
                {k.tp("t", 0): k.OffsetSpec.EARLIEST, k.tp("t", 1): k.OffsetSpec.LATEST,
                 k.tp("t", 2): 1500})),
            ("delete records", lambda a, k: a.delete_records({k.tp("t", 2): 1})),
            ("delete beyond the end", lambda a, k: raised(
                lambda: a.delete_records({k.tp("t", 2): 9}))),
            ("delete from nowhere", lambda a, k: raised(
                lambda: a.delete_records({k.tp("t", 2): 9, k.tp("nope", 0): 0}))),
            ("offsets after", lambda a, k: a.list_partition_offsets(
                {k.tp("t", 2): k.OffsetSpec.EARLIEST})),
            ("alter", lambda a, k: a.alter_group_offsets(
                "g", {k.tp("t", 0): k.OffsetAndMetadata(1, "by hand", -1)})),
            ("reset", lambda a, k: a.reset_group_offsets(
                "g", {k.tp("t", 0): k.OffsetSpec.LATEST, k.tp("t", 1): k.OffsetSpec.EARLIEST})),
            ("committed", lambda a, k: a.list_group_offsets({"g": None})),
            ("delete offsets", lambda a, k: a.delete_group_offsets(
                "g", [k.tp("t", 0), k.tp("t", 1), k.tp("t", 2)])),
            ("delete groups", lambda a, k: a.delete_groups(["g", "nobody"])),
            ("delete topics", lambda a, k: a.delete_topics(
                ["x", "nope"], raise_errors=False)),
            ("topics", lambda a, k: sorted(a.list_topics())),
            ("create with configs", lambda a, k: a.create_topics([k.NewTopic(
                "c", 1, 1, topic_configs={"segment.bytes": "1048576", "retention.ms": 60000})])),
            ("configs set", lambda a, k: a.describe_configs([k.Resource("TOPIC", "c")])),
            ("configs asked", lambda a, k: a.describe_configs(
                [k.Resource("TOPIC", "c", ["retention.ms", "cleanup.policy", "preallocate"]),
                 k.Resource("TOPIC", "t", [])], include_synonyms=True, config_filter="all")),
            ("configs by filter", lambda a, k: [a.describe_configs(
                [k.Resource("TOPIC", "c")], config_filter=kind)
                for kind in ("dynamic", "default", "static")]),
            ("alter", lambda a, k: a.alter_configs([k.Resource("TOPIC", "c", {
                "retention.ms": "1000", "cleanup.policy": (k.Op.APPEND, "delete"),
                "segment.bytes": (k.Op.DELETE, None)})])),
            ("alter a bad value", lambda a, k: a.alter_configs(
                [k.Resource("TOPIC", "c", {"retention.ms": "soon"})])),
            ("alter a list the wrong way", lambda a, k: a.alter_configs(
                [k.Resource("TOPIC", "c", {"retention.ms": (k.Op.APPEND, "5")})])),
            ("alter an unknown config", lambda a, k: raised(lambda: a.alter_configs(
                [k.Resource("TOPIC", "c", {"retention.mss": "1"})]))),
            ("alter, validate only", lambda a, k: a.alter_configs(
                [k.Resource("TOPIC", "c", {"preallocate": "yes"})], validate_only=True)),
            ("alter the old way", lambda a, k: a.alter_configs(
                [k.Resource("TOPIC", "c", {"preallocate": "true"})], incremental=False)),
            ("configs altered", lambda a, k: a.describe_configs(
                [k.Resource("TOPIC", "c")], include_synonyms=True)),
            ("broker configs", lambda a, k: a.describe_configs(
                [k.Resource("BROKER", "0")], config_filter="all")),
            ("alter a broker", lambda a, k: a.alter_configs(
                [k.Resource("BROKER", 0, {"num.partitions": "3"})], raise_on_unknown=False)),
            ("alter a read-only config", lambda a, k: raised(lambda: a.alter_configs(
                [k.Resource("BROKER", "0", {"num.partitions": "3"})]))),
            ("reset one", lambda a, k: a.reset_configs(
                [k.Resource("TOPIC", "c", ["preallocate"])])),
            ("reset all", lambda a, k: a.reset_configs([k.Resource("TOPIC", "c", [])])),
            ("configs reset", lambda a, k: a.describe_configs([k.Resource("TOPIC", "c")])),
        ]
        try:
            for name, call in calls:
                if call is None:
                    for broker in (theirs_broker, ours_broker):
                        broker.append("t", 2, [(None, b"a", (), 1000), (None, b"b", (), 2000)])
                    continue
                kafka_python = call(theirs, kafka_python_kit)
                pcmodel = call(ours, pcmodel_kit)
                assert _comparable(pcmodel) == _comparable(kafka_python), name
        finally:
            theirs.close()
            ours.close()


@pytest.mark.timeout(60)
def test_describe_cluster_agrees_but_for_the_addresses_fenced_brokers_included():
    with Cluster(3, replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000,
                 tick_ms=10) as cluster, cluster.serve_kafka() as listeners:
        cluster.kill(0)
        wait_until(lambda: 0 not in cluster.live_brokers(), timeout=30)
        theirs = KafkaPythonAdmin(bootstrap_servers=listeners.bootstrap_servers)
        try:
            with KafkaAdminClient(broker=cluster) as ours:
                mine, kafkas = ours.describe_cluster(), theirs.describe_cluster()
        finally:
            theirs.close()
    for answer in (mine, kafkas):
        for broker in answer["brokers"]:
            broker.pop("host"), broker.pop("port")
    assert mine == kafkas
    assert [(b["broker_id"], b["is_fenced"]) for b in mine["brokers"]] == [
        (0, True), (1, False), (2, False)]
    assert mine["controller_id"] == 1
