"""Arguments of the wrong shape are refused with a one-line ``TypeError`` before anything
changes: ``alter_topic_configs`` given a dict (or a bare str, or an entry that is not a
``(config name, AlterConfigOp, value)`` tuple) where a list of such tuples goes, on a lone
broker, a cluster and a broker process, and ``alter_group_configs`` given the same; and
``elect_leaders`` given a float or a bool where an ``ElectionType`` goes (``1.0`` equals 1,
UNCLEAN, and was taken for it).
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.broker import Broker
from pcmodel.topics.config_resources import AlterConfigOp
from pcmodel.topics.errors import ElectionNotNeededError, InvalidRequestError
from pcmodel.topics.remote import start_broker_process
from pcmodel.topics.structs import ElectionType, TopicPartition

pytestmark = pytest.mark.timeout(60)

SET = AlterConfigOp.SET
T0 = TopicPartition("t", 0)

BAD_OPERATIONS = [
    pytest.param({"retention.ms": "1000"}, "not the dict", id="dict"),
    pytest.param("retention.ms", "not the str", id="str"),
    pytest.param([("retention.ms", SET)], r"operations\[0\] must be a tuple", id="pair"),
    pytest.param([("retention.ms", SET, "1000", "x")], r"operations\[0\]", id="four"),
    pytest.param([("retention.ms", SET, "1000"), "segment.ms"], r"operations\[1\]",
                 id="bare-entry"),
    pytest.param(5, "not the int 5", id="int"),
]


def overrides(target) -> dict[str, str]:
    return {e.name: e.value for e in target.describe_topic_configs("t")
            if e.source.name == "DYNAMIC_TOPIC_CONFIG"}


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        b.create_topic("t", 1, configs={"preallocate": "true"})
        yield b


@pytest.fixture(scope="module")
def cluster():
    with Cluster(3, mode="steps") as c:
        c.connect().create_topic("t", 1, replication_factor=3, configs={"preallocate": "true"})
        yield c


@pytest.mark.parametrize(("operations", "message"), BAD_OPERATIONS)
def test_a_groups_configs_refuse_operations_of_the_wrong_shape(broker, operations, message):
    before = broker.describe_group_configs("g")
    with pytest.raises(TypeError, match=message) as raised:
        broker.alter_group_configs("g", operations)
    assert "(config name, AlterConfigOp, value)" in str(raised.value)
    assert broker.describe_group_configs("g") == before


@pytest.mark.parametrize(("operations", "message"), BAD_OPERATIONS)
def test_a_lone_broker_refuses_operations_of_the_wrong_shape(broker, operations, message):
    with pytest.raises(TypeError, match=message) as raised:
        broker.alter_topic_configs("t", operations)
    assert "\n" not in str(raised.value)
    assert "(config name, AlterConfigOp, value)" in str(raised.value)
    assert overrides(broker) == {"preallocate": "true"}


@pytest.mark.parametrize(("operations", "message"), BAD_OPERATIONS)
def test_a_cluster_refuses_operations_of_the_wrong_shape(cluster, operations, message):
    conn = cluster.connect()
    with pytest.raises(TypeError, match=message):
        conn.alter_topic_configs("t", operations, validate_only=True)
    assert overrides(conn) == {"preallocate": "true"}


def test_a_broker_process_refuses_a_dict_through_its_proxy():
    process = start_broker_process()
    try:
        with process.connect() as proxy:
            proxy.create_topic("t", 1)
            with pytest.raises(TypeError, match="not the dict"):
                proxy.alter_topic_configs("t", {"retention.ms": "1000"})
            proxy.alter_topic_configs("t", [("retention.ms", SET, "1000")])  # a list goes
            assert overrides(proxy) == {"retention.ms": "1000"}
    finally:
        process.stop()


def test_a_generator_of_triples_is_still_taken(broker):
    broker.alter_topic_configs("t", (op for op in [("segment.ms", SET, "60000")]))
    assert overrides(broker) == {"preallocate": "true", "segment.ms": "60000"}
    broker.alter_topic_configs("t", [("segment.ms", AlterConfigOp.DELETE, None)])


# --- election types ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1.0, 0.0, True, False])
def test_a_float_or_bool_election_type_is_a_type_error(broker, cluster, bad):
    for target in (broker, cluster.connect()):
        with pytest.raises(TypeError, match="election_type must be an ElectionType") as raised:
            target.elect_leaders(bad, [T0])
        assert "\n" not in str(raised.value)


@pytest.mark.parametrize("good", [0, 1, ElectionType.PREFERRED, ElectionType.UNCLEAN])
def test_ints_0_and_1_and_the_enum_stay_accepted(broker, good):
    assert isinstance(broker.elect_leaders(good, [T0])[T0], ElectionNotNeededError)


def test_an_unknown_int_is_still_an_invalid_request(broker):
    with pytest.raises(InvalidRequestError, match="unknown election type 2"):
        broker.elect_leaders(2, [T0])
