"""Three places where pcmodel now answers as Apache Kafka does.

1. An internal topic (a cluster's ``__consumer_offsets``) is described when named, with
   ``is_internal``; lists leave it out; creating it again is TOPIC_ALREADY_EXISTS.
2. A produced batch whose compressed payload does not decompress is UNKNOWN_SERVER_ERROR with
   the partition's log start offset: Kafka's codecs throw a bare ``KafkaException``, which
   ``ReplicaManager.appendToLocalLog`` answers as any unexpected error.
3. ``a.b`` and ``a_b`` in one CreateTopics request are both created: Kafka's controller checks
   a name's collisions against the topics that existed before the request only.
"""

from __future__ import annotations

import gzip
import struct

import pytest
from kafka.record.util import calc_crc32c

from pcmodel.cluster import Cluster
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.admin import KafkaAdminClient, NewTopic
from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import InvalidTopicError, TopicAlreadyExistsError
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.records import compression_available

pytestmark = pytest.mark.timeout(60)

# --- 1. an internal topic: described when named, never listed, never created twice -----------


@pytest.fixture
def cluster_admin():
    """A stepped cluster whose ``__consumer_offsets`` exists, and an admin client of it."""
    with Cluster(3, mode="steps") as cluster:
        cluster.connect()  # its coordinators create __consumer_offsets
        with KafkaAdminClient(broker=cluster) as admin:
            yield cluster, admin


def test_an_internal_topic_is_described_when_named(cluster_admin):
    cluster, admin = cluster_admin
    count = len(cluster.connect().partitions_for(OFFSETS_TOPIC))
    (described,) = admin.describe_topics([OFFSETS_TOPIC])
    assert (described["error_code"], described["is_internal"]) == (0, True)
    assert len(described["partitions"]) == count
    assert described["topic_id"] == str(cluster.topic_ids()[OFFSETS_TOPIC])
    (paged,) = admin.describe_topic_partitions([OFFSETS_TOPIC])["topics"]
    assert (paged["error_code"], paged["is_internal"], len(paged["partitions"])) == \
        (0, True, count)


def test_an_internal_topic_is_not_listed(cluster_admin):
    cluster, admin = cluster_admin
    cluster.create_topic("t", 1)
    assert admin.list_topics() == ["t"]
    assert [t["name"] for t in admin.describe_topics()] == ["t"]
    assert [t["name"] for t in admin.describe_topic_partitions([])["topics"]] == ["t"]


def test_creating_an_internal_topic_again_is_topic_already_exists(cluster_admin):
    cluster, admin = cluster_admin
    (answer,) = admin.create_topics([NewTopic(OFFSETS_TOPIC, 1)], raise_errors=False)["topics"]
    assert (answer["error_code"], answer["error_message"]) == (
        TopicAlreadyExistsError.errno, f"Topic '{OFFSETS_TOPIC}' already exists.")


# --- 2. a compressed payload that does not decompress -----------------------------------------


def _codec_payloads() -> list:
    """``(codec number, payload that codec cannot read)`` for each codec installed."""
    found = [pytest.param(1, b"not gzip at all", id="gzip"),
             pytest.param(1, gzip.compress(b"x" * 100)[:-6], id="gzip-truncated")]
    for number, name in ((3, "lz4"), (4, "zstd")):
        if compression_available(name):
            found.append(pytest.param(number, f"not {name} at all".encode(), id=name))
    return found


def _batch(codec: int, payload: bytes, count: int = 2) -> bytes:
    """A v2 batch with a valid CRC around ``payload`` (a client's compressed records)."""
    after_crc = struct.pack(">hiqqqhii", codec, count - 1, 1000, 1000, -1, -1, -1,
                            count) + payload
    rest = struct.pack(">ibI", 0, 2, calc_crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


@pytest.mark.parametrize(("codec", "payload"), _codec_payloads())
def test_a_payload_that_does_not_decompress_is_unknown_server_error(codec, payload):
    from tests.wire.conftest import RawClient, produce_request

    with Broker() as broker, broker.serve_kafka() as listener, \
            RawClient(listener.address) as raw:
        broker.create_topic("t", 1)
        broker.append("t", 0, [(None, b"a", [], None), (None, b"b", [], None)])
        broker.delete_records({TopicPartition("t", 0): 1})
        answer = raw.request(produce_request("t", 0, _batch(codec, payload)))
        (part,) = answer.responses[0].partition_responses
        end = broker.end_offsets([TopicPartition("t", 0)])[TopicPartition("t", 0)]
    # Kafka: UNKNOWN_SERVER_ERROR, with the partition's log start offset (here 1).
    assert (part.error_code, part.log_start_offset) == (-1, 1)
    assert "does not decompress" in part.error_message
    assert end == 2  # nothing appended


# --- 3. a.b and a_b in one CreateTopics request ------------------------------------------------


@pytest.fixture(params=["lone broker", "cluster"])
def creator(request):
    """What creates the topics: a lone broker or a stepped cluster."""
    with (Broker() if request.param == "lone broker" else Cluster(3, mode="steps")) as made:
        yield made


def test_names_that_collide_in_one_admin_request_are_both_created(creator):
    creator.create_topic("p.q", 1)
    with KafkaAdminClient(broker=creator) as admin:
        answer = admin.create_topics([NewTopic("a.b", 1), NewTopic("a_b", 1),
                                      NewTopic("p_q", 1)], raise_errors=False)["topics"]
    assert [(t["name"], t["error_code"], t["error_message"]) for t in answer] == [
        ("a.b", 0, None), ("a_b", 0, None),
        # A topic that existed before the request still collides.
        ("p_q", InvalidTopicError.errno, "Topic 'p_q' collides with existing topic: p.q")]
    assert {"a.b", "a_b"} <= set(creator.topic_ids())


@pytest.mark.parametrize("kind", ["lone broker", "cluster"])
def test_names_that_collide_in_one_wire_request_are_both_created(kind):
    from kafka.protocol.admin import CreateTopicsRequest

    from tests.wire.conftest import RawClient

    creatable = CreateTopicsRequest.CreatableTopic
    request = CreateTopicsRequest[7](
        topics=[creatable(name=name, num_partitions=1, replication_factor=-1, assignments=[],
                          configs=[]) for name in ("x.y", "x_y", "x.y_")],
        timeout_ms=5000, validate_only=False)
    with (Broker() if kind == "lone broker" else Cluster(3, mode="threads")) as made, \
            made.serve_kafka() as listening:
        address = listening.address if kind == "lone broker" else listening.addresses[0]
        with RawClient(address) as raw:
            answer = raw.request(request)
            topics = set(made.topic_ids())
    assert [(t.name, t.error_code) for t in answer.topics] == [
        ("x.y", 0), ("x_y", 0), ("x.y_", 0)]
    assert {"x.y", "x_y", "x.y_"} <= topics
