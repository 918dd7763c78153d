"""The admin client of a broker in another process answers as the admin client of a broker in
this one: every broker call it makes is a client method the broker's server forwards
(``CLIENT_METHODS``), and every public method, run through the same steps against both, gives
the same answer (topic ids included, and a topic's default partition count, ``num.partitions``).

The broker "in another process" is a :class:`~pcmodel.topics.server.BrokerServer` serving it
over the pickle listener, as a broker process does: the calls and their answers cross the same
connection and the same method filter."""

from __future__ import annotations

import re
import uuid

import pytest

from pcmodel.topics import Broker, KafkaProducer
from pcmodel.topics.admin import (
    AbortTransactionSpec,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ConfigResource,
    ConfigResourceType,
    ElectionType,
    KafkaAdminClient,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternFilter,
    ResourceType,
)
from pcmodel.topics.broker import CLIENT_METHODS
from pcmodel.topics.server import BrokerServer
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

pytestmark = pytest.mark.timeout(90)  # a broker and its admin client: 5 s on a busy machine

A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)
EVERY_ACL = ACLFilter(None, "*", ACLOperation.ANY, ACLPermissionType.ANY, ResourcePatternFilter(
    ResourceType.ANY, None, ACLResourcePatternType.ANY))
#: A broker setting the admin client reads (NewTopic's -1 partitions): not Kafka's default 1.
NUM_PARTITIONS = 3


def steps(admin: KafkaAdminClient) -> list[tuple[str, object]]:
    """Every public method of the admin client, each called once, in an order where each
    finds what the ones before left: ``[(method name, call)]``."""
    topic = ConfigResource(ConfigResourceType.TOPIC, "a")
    return [
        ("create_topics", lambda: admin.create_topics(
            [NewTopic("a", 2), NewTopic("b"), NewTopic("a", 1)], raise_errors=False)),
        ("list_topics", admin.list_topics),
        ("describe_topics", lambda: admin.describe_topics(["a", "b", "nope"])),
        ("describe_cluster", admin.describe_cluster),
        ("describe_topic_partitions", lambda: admin.describe_topic_partitions(["a", "nope"])),
        ("wait_for_topics", lambda: admin.wait_for_topics(["a", "b"], 5000)),
        ("create_partitions", lambda: admin.create_partitions(
            {"b": NewPartitions(4), "nope": NewPartitions(2)}, raise_errors=False)),
        ("alter_group_offsets", lambda: admin.alter_group_offsets(
            "g", {A0: OffsetAndMetadata(2, "", -1)})),
        ("list_group_offsets", lambda: admin.list_group_offsets({"g": None})),
        ("list_consumer_group_offsets", lambda: admin.list_consumer_group_offsets("g")),
        ("reset_group_offsets", lambda: admin.reset_group_offsets("g", {A0: OffsetSpec.LATEST})),
        ("list_groups", admin.list_groups),
        ("list_consumer_groups", admin.list_consumer_groups),
        ("describe_groups", lambda: admin.describe_groups(["g", "nope"])),
        ("describe_consumer_groups", lambda: admin.describe_consumer_groups(["g"])),
        ("remove_group_members", lambda: admin.remove_group_members("g", [])),
        ("list_partition_offsets", lambda: admin.list_partition_offsets(
            {A0: OffsetSpec.LATEST, A1: OffsetSpec.EARLIEST})),
        ("delete_records", lambda: admin.delete_records({A0: 1})),
        ("describe_configs", lambda: admin.describe_configs(
            [topic, ConfigResource(ConfigResourceType.BROKER, "0")], config_filter="all")),
        ("alter_configs", lambda: admin.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, "a", configs={"retention.ms": "60000"})])),
        ("reset_configs", lambda: admin.reset_configs([ConfigResource(
            ConfigResourceType.TOPIC, "a", configs={"retention.ms": None})])),
        ("elect_leaders", lambda: admin.elect_leaders(
            ElectionType.PREFERRED, {"a": [0, 7]}, raise_errors=False)),
        ("alter_partition_reassignments", lambda: admin.alter_partition_reassignments(
            {A0: [0], A1: None})),
        ("list_partition_reassignments", admin.list_partition_reassignments),
        ("describe_log_dirs", admin.describe_log_dirs),
        ("alter_replica_log_dirs", lambda: admin.alter_replica_log_dirs({("a", 0, 0): "/d"})),
        ("describe_producers", lambda: admin.describe_producers([A0, A1])),
        ("list_transactions", admin.list_transactions),
        ("describe_transactions", lambda: admin.describe_transactions(["tx"])),
        ("find_hanging_transactions", admin.find_hanging_transactions),
        ("abort_transaction", lambda: admin.abort_transaction(
            AbortTransactionSpec(A0, 5, 0, 0))),
        ("describe_acls", lambda: admin.describe_acls(EVERY_ACL)),
        ("create_acls", lambda: admin.create_acls([])),
        ("delete_acls", lambda: admin.delete_acls([EVERY_ACL])),
        ("delete_group_offsets", lambda: admin.delete_group_offsets("g", [A0])),
        ("delete_groups", lambda: admin.delete_groups(["nope"])),
        ("delete_consumer_groups", lambda: admin.delete_consumer_groups(["nope"])),
        ("create_topics", lambda: admin.create_topics([NewTopic("d")])),  # num.partitions
        ("delete_topics", lambda: admin.delete_topics(["a", "nope"], raise_errors=False)),
    ]


def answers(admin: KafkaAdminClient, target, broker: Broker) -> list[tuple[str, str]]:
    """Each step's answer (or what it raised), as text, with each topic id, random per
    broker, written as the name of the topic it is the id of; ``target`` is what clients are
    given (the broker, or the address of its server), ``broker`` the broker itself."""
    ids: dict[uuid.UUID, str] = {}
    out = []
    with KafkaProducer(broker=target) as producer:
        for name, call in steps(admin):
            try:
                answer = repr(call())
            except Exception as exc:
                answer = f"raised {type(exc).__name__}: {exc}"
            if name == "create_topics" and not out:  # records to describe, offsets to look up
                for i in range(5):
                    producer.send("a", b"v%d" % i, partition=0, timestamp_ms=1_000 + i)
                producer.flush()
            ids.update({topic_id: topic for topic, topic_id in broker.topic_ids().items()})
            out.append((name, re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}",
                                     lambda m: f"<id of {ids.get(uuid.UUID(m[0]), '?')}>",
                                     answer)))
    return out


def test_every_call_the_admin_client_makes_of_a_lone_broker_is_a_client_method():
    called = set()

    class Recording:
        def __init__(self, broker):
            self.broker = broker

        def connect(self):
            return self

        def __getattr__(self, name):
            called.add(name)
            return getattr(self.broker, name)

    with Broker(num_partitions=NUM_PARTITIONS) as broker:
        admin = KafkaAdminClient(broker=Recording(broker))
        for _, call in steps(admin):
            try:
                call()
            except Exception:
                pass  # what each answers is compared below; here only which calls are made
    assert called, "the admin client called nothing through its connection"
    # ``replicates`` is asked of every connection: a lone broker answers False by not having it.
    assert sorted(called - set(CLIENT_METHODS) - {"replicates"}) == []


def test_the_admin_client_of_a_broker_process_answers_as_the_one_of_a_broker_here():
    public = {name for name in dir(KafkaAdminClient)
              if not name.startswith("_") and callable(getattr(KafkaAdminClient, name))}
    with Broker(num_partitions=NUM_PARTITIONS) as broker:
        admin = KafkaAdminClient(broker=broker)
        assert {name for name, _ in steps(admin)} == public - {"close"}
        here = answers(admin, broker, broker)
        admin.close()
    with Broker(num_partitions=NUM_PARTITIONS) as broker:
        server = BrokerServer(broker).start()
        try:
            admin = KafkaAdminClient(broker=server.handle)
            there = answers(admin, server.handle, broker)
            admin.close()
        finally:
            server.stop()
    assert [name for name, _ in there] == [name for name, _ in here]
    for (name, local), (_, remote) in zip(here, there):
        assert remote == local, name


def test_a_broker_process_serves_the_topic_ids_the_admin_client_shows():
    with Broker() as broker:
        server = BrokerServer(broker).start()
        try:
            with KafkaAdminClient(broker=server.handle) as admin:
                created = admin.create_topics([NewTopic("a", 1)])["topics"][0]["topic_id"]
                described = admin.describe_topics(["a"])[0]["topic_id"]
                with server.handle.connect() as remote:
                    served = remote.topic_ids()
                deleted = admin.delete_topics(["a"])["topics"][0]["topic_id"]
        finally:
            server.stop()
    assert served == {"a": uuid.UUID(created)}
    assert created == described == deleted


def test_a_topic_of_the_brokers_default_size_gets_num_partitions_there_too():
    with Broker(num_partitions=NUM_PARTITIONS) as broker:
        server = BrokerServer(broker).start()
        try:
            with KafkaAdminClient(broker=server.handle) as admin:
                answer = admin.create_topics([NewTopic("d")])["topics"][0]
        finally:
            server.stop()
        assert answer["num_partitions"] == NUM_PARTITIONS
        assert broker.list_topics() == {"d": NUM_PARTITIONS}
