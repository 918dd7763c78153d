"""The admin client's ``list_groups(broker_ids=...)`` asks only the brokers named.

As kafka-python's ``list_groups`` (and its 2.x ``list_consumer_groups``): each broker asked
answers Kafka's ListGroups, the groups it coordinates (a broker's own answer: its node
connection's ``group_states()``), so naming brokers lists the groups those brokers
coordinate; ``None`` asks every live broker and ``[]`` none. An id that is not a broker is
refused with ``IllegalArgumentError`` (kafka-python raises ``UnknownBrokerIdError`` for an id
its metadata does not list) and a bare str with the shared ``TypeError``, before any broker
is asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from pcmodel.wire.node_connection import NodeConnection

pytestmark = pytest.mark.timeout(120)

TP = TopicPartition("t", 0)
GROUPS = [f"group-{n}" for n in range(12)]


def ids(groups: list[dict]) -> list[str]:
    return [g["group_id"] for g in groups]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A cluster with groups that only committed an offset. Its ``__consumer_offsets`` has
    one partition, so one broker, that partition's leader, coordinates every group."""
    cluster = Cluster(3, mode="steps")
    try:
        conn = cluster.connect()
        conn.create_topic("t", 1, replication_factor=3)
        for group_id in GROUPS:
            conn.commit_offsets(group_id, -1, "", {TP: OffsetAndMetadata(1, "", -1)})
        yield cluster
    finally:
        cluster.close()


def coordinated_by(cluster: Cluster, broker_id: int) -> list[str]:
    """Broker ``broker_id``'s own answer to ListGroups, as its Kafka listener gives it."""
    return sorted(NodeConnection(cluster.connect(), broker_id).group_states())


def test_each_broker_asked_lists_the_groups_it_coordinates(cluster):
    by_broker = {b: coordinated_by(cluster, b) for b in range(3)}
    (coordinator,) = [b for b, groups in by_broker.items() if groups]
    assert by_broker[coordinator] == sorted(GROUPS)
    others = [b for b in by_broker if b != coordinator]
    with KafkaAdminClient(broker=cluster) as admin:
        assert ids(admin.list_groups()) == sorted(GROUPS)
        assert ids(admin.list_groups(broker_ids=[coordinator])) == sorted(GROUPS)
        assert admin.list_consumer_groups(broker_ids=[coordinator]) == [
            (g, "") for g in sorted(GROUPS)]
        for broker_id in others:
            assert admin.list_groups(broker_ids=[broker_id]) == []
            assert admin.list_consumer_groups(broker_ids=[broker_id]) == []
        assert admin.list_groups(broker_ids=others) == []
        assert ids(admin.list_groups(broker_ids=[*others, coordinator])) == sorted(GROUPS)
        assert admin.list_groups(broker_ids=[]) == []


@pytest.mark.parametrize("broker_id", [3, -1, True, "0"])
def test_a_cluster_refuses_an_id_that_is_not_one_of_its_brokers(cluster, broker_id):
    message = f"broker {broker_id!r} is not a broker here; the brokers are [0, 1, 2]"
    with KafkaAdminClient(broker=cluster) as admin:
        for call in (admin.list_groups, admin.list_consumer_groups):
            with pytest.raises(IllegalArgumentError, match=re.escape(message)):
                call(broker_ids=[broker_id])


def test_a_lone_broker_is_broker_0():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        broker.create_topic("t", 1)
        broker.commit_offsets("solo", -1, "", {TP: OffsetAndMetadata(1, "", -1)})
        assert ids(admin.list_groups(broker_ids=[0])) == ["solo"]
        assert admin.list_consumer_groups(broker_ids=[0]) == [("solo", "")]
        assert admin.list_groups(broker_ids=[]) == []
        for call in (admin.list_groups, admin.list_consumer_groups):
            with pytest.raises(IllegalArgumentError,
                               match=r"broker 1 is not a broker here; the brokers are \[0\]$"):
                call(broker_ids=[1])
            with pytest.raises(TypeError,
                               match=r"^broker_ids must be a list of int, not the str '0'$"):
                call(broker_ids="0")
