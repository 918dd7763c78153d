"""The listener answers ApiVersions from its registry and Metadata from the broker."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import DescribeClusterRequest
from kafka.protocol.admin.topics import DescribeTopicPartitionsRequest
from kafka.protocol.metadata import ApiVersionsRequest, MetadataRequest

from pcmodel.wire.handlers import MODULES, load_handlers


def test_api_versions_lists_exactly_the_registry(raw, listener):
    response = raw.request(ApiVersionsRequest[3](
        client_software_name="raw", client_software_version="1"))
    assert response.error_code == 0
    advertised = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
    assert advertised == {
        key: (h.min_version, h.max_version) for key, h in listener.handlers.items()
    }


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_every_api_versions_version_decodes(raw, version):
    names = {"client_software_name": "raw", "client_software_version": "1.0"} \
        if version >= 3 else {}
    response = raw.request(ApiVersionsRequest[version](**names))
    assert response.error_code == 0 and response.api_keys


@pytest.mark.parametrize("name, software_version", [
    ("", "1"), ("raw", ""), ("raw client", "1"), ("-raw", "1"), ("raw", "1.0-"),
])
def test_api_versions_v3_refuses_a_software_name_kafka_would_not_take(raw, name,
                                                                       software_version):
    from kafka.protocol.metadata import ApiVersionsResponse

    for version in (3, 4):
        correlation_id = raw.send(ApiVersionsRequest[version](
            client_software_name=name, client_software_version=software_version))
        frame = raw.recv_frame()
        # Read by hand: kafka-python reads any ApiVersions answer with an error as v0 (the
        # KIP-511 fallback), but Kafka answers this one at the version asked.
        assert int.from_bytes(frame[:4], "big") == correlation_id
        assert frame[4:] == bytes(ApiVersionsResponse(
            version=version, error_code=42, api_keys=[], throttle_time_ms=0).encode())
    # The connection still serves, and older versions carry no names to judge.
    assert raw.request(ApiVersionsRequest[2]()).error_code == 0


def test_api_versions_too_new_gets_kip_511_answer(raw, listener):
    # A version beyond every schema: the answer is v0 with UNSUPPORTED_VERSION and ApiVersions'
    # own range only, as Kafka's, so the client can retry at a version we serve (what clients
    # do on their first connect).
    from kafka.protocol.metadata import ApiVersionsResponse

    request = ApiVersionsRequest[3](client_software_name="raw", client_software_version="1")
    request.with_header(correlation_id=77, client_id="raw")
    data = bytearray(request.encode(header=True, framed=True))
    data[6:8] = (99).to_bytes(2, "big")
    raw.sock.sendall(bytes(data))
    response = ApiVersionsResponse.decode(raw.recv_frame(), version=0, header=True)
    assert response.header.correlation_id == 77
    assert response.error_code == 35  # UNSUPPORTED_VERSION
    assert [(k.api_key, k.min_version, k.max_version) for k in response.api_keys] == [(18, 0, 4)]
    assert raw.request(ApiVersionsRequest[4](
        client_software_name="raw", client_software_version="1")).error_code == 0  # kept open


@pytest.mark.parametrize("version", [0, 1, 4, 9, 12])
def test_metadata_lists_topics_and_this_broker(broker, raw, listener, version):
    broker.create_topic("orders", 3)
    broker.create_topic("audit", 1)
    topics = [] if version == 0 else None
    response = raw.request(MetadataRequest[version](topics=topics))
    assert [(b.node_id, b.host, b.port) for b in response.brokers] == [
        (listener.node_id, "127.0.0.1", listener.port)
    ]
    by_name = {t.name: t for t in response.topics}
    assert sorted(by_name) == ["audit", "orders"]
    orders = by_name["orders"]
    assert orders.error_code == 0
    assert [p.partition_index for p in orders.partitions] == [0, 1, 2]
    assert all(p.leader_id == listener.node_id for p in orders.partitions)


#: The cluster operations a Kafka broker without an authorizer allows (AclOperation codes).
CLUSTER_OPERATIONS = {5, 7, 8, 9, 10, 11, 12}


@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_cluster_names_this_broker_as_broker_and_controller(raw, listener, version):
    fields = {} if version == 0 else {"endpoint_type": 1}
    if version >= 2:
        fields["include_fenced_brokers"] = True
    response = raw.request(DescribeClusterRequest[version](
        include_cluster_authorized_operations=False, **fields))
    assert (response.error_code, response.cluster_id, response.controller_id) == (
        0, "pcmodel", listener.node_id)
    assert [(b.broker_id, b.host, b.port, b.rack) for b in response.brokers] == [
        (listener.node_id, "127.0.0.1", listener.port, None)]
    assert response.authorized_operations is None  # not asked: Kafka's -2^31
    if version >= 2:
        assert response.brokers[0].is_fenced is False
    asked = raw.request(DescribeClusterRequest[version](
        include_cluster_authorized_operations=True, **fields))
    assert asked.authorized_operations == CLUSTER_OPERATIONS  # no authorizer: all of them


#: A topic's and a group's operations a Kafka broker without an authorizer allows.
TOPIC_OPERATIONS, GROUP_OPERATIONS = {3, 4, 5, 6, 7, 8, 10, 11}, {3, 6, 8, 10, 11}


@pytest.mark.parametrize("version", [8, 10, 11, 12])
@pytest.mark.parametrize("asked", [False, True])
def test_metadata_answers_every_operation_when_asked(broker, raw, version, asked):
    broker.create_topic("t", 1)
    fields = {"include_cluster_authorized_operations": asked} if version <= 10 else {}
    response = raw.request(MetadataRequest[version](
        topics=[MetadataRequest.MetadataRequestTopic(name="t"),
                MetadataRequest.MetadataRequestTopic(name="nope")],
        allow_auto_topic_creation=False, include_topic_authorized_operations=asked, **fields))
    expected = TOPIC_OPERATIONS if asked else None
    assert [(t.name, t.error_code, t.authorized_operations) for t in response.topics] == [
        ("t", 0, expected), ("nope", 3, expected)]  # as Kafka: the unknown topic too
    if version <= 10:
        assert response.authorized_operations == (CLUSTER_OPERATIONS if asked else None)


@pytest.mark.parametrize("endpoint_type, code, message", [
    (2, 114, "but we wanted an endpoint of type CONTROLLER"),  # MISMATCHED_ENDPOINT_TYPE
    (7, 115, "Unsupported endpoint type 7"),  # UNSUPPORTED_ENDPOINT_TYPE
])
def test_describe_cluster_serves_brokers_only(raw, endpoint_type, code, message):
    response = raw.request(DescribeClusterRequest[1](
        include_cluster_authorized_operations=False, endpoint_type=endpoint_type))
    assert (response.error_code, response.brokers) == (code, [])
    assert message in response.error_message


def test_metadata_unknown_topic_is_error_3(broker, raw):
    response = raw.request(MetadataRequest[9](
        topics=[MetadataRequest.MetadataRequestTopic(name="nope")],
        allow_auto_topic_creation=False))
    (topic,) = response.topics
    assert (topic.name, topic.error_code, topic.partitions) == ("nope", 3, [])


def test_metadata_auto_creates_a_topic_when_allowed(broker, raw):
    response = raw.request(MetadataRequest[9](
        topics=[MetadataRequest.MetadataRequestTopic(name="fresh")],
        allow_auto_topic_creation=True))
    (topic,) = response.topics
    assert (topic.name, topic.error_code, len(topic.partitions)) == ("fresh", 0,
                                                                      broker.num_partitions)
    assert "fresh" in broker.list_topics()


def test_metadata_does_not_auto_create_when_the_broker_forbids_it(raw, listener):
    listener.broker.auto_create_topics_enable = False
    response = raw.request(MetadataRequest[9](
        topics=[MetadataRequest.MetadataRequestTopic(name="fresh")],
        allow_auto_topic_creation=True))
    assert response.topics[0].error_code == 3


def test_metadata_illegal_topic_name_is_invalid_topic(raw):
    response = raw.request(MetadataRequest[9](
        topics=[MetadataRequest.MetadataRequestTopic(name="no spaces")],
        allow_auto_topic_creation=True))
    assert response.topics[0].error_code == 17


def test_registry_rejects_two_modules_serving_one_key():
    load_handlers(MODULES)  # the real registry loads
    with pytest.raises(ValueError, match="served by both"):
        load_handlers(("versions", "versions"))


def test_kafka_python_admin_sees_the_topics(broker, listener):
    from kafka.admin import KafkaAdminClient

    broker.create_topic("orders", 2)
    admin = KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers,
                             request_timeout_ms=5000, client_id="smoke")
    try:
        assert admin.list_topics() == ["orders"]
    finally:
        admin.close()


def test_confluent_admin_sees_the_topics(broker, listener):
    admin_module = pytest.importorskip("confluent_kafka.admin")
    broker.create_topic("orders", 2)
    admin = admin_module.AdminClient({"bootstrap.servers": listener.bootstrap_servers})
    metadata = admin.list_topics(timeout=10)
    assert sorted(metadata.topics) == ["orders"]
    assert len(metadata.topics["orders"].partitions) == 2
    assert list(metadata.brokers) == [listener.node_id]


def test_metadata_names_no_leader_that_it_does_not_list_as_a_broker(broker):
    """The controller may fence a broker between the handler's reading of the partitions and
    of the brokers: the partition it led is then answered as Kafka answers one whose leader is
    not alive (a client given a leader without an address cannot send to it)."""
    from pcmodel.topics.structs import PartitionReplicas
    from pcmodel.wire.api import RequestContext
    from pcmodel.wire.handlers import load_handlers
    from pcmodel.wire.view import BrokerAddress

    class FencedMeanwhile:  # broker 1 led partition 0 when read, and is gone from the brokers
        cluster_id = "c"

        def brokers(self):
            return [BrokerAddress(0, "127.0.0.1", 9092), BrokerAddress(2, "127.0.0.1", 9094)]

        def controller_id(self):
            return 0

        def partitions(self, topic, count):
            return [PartitionReplicas(0, 1, 4, (0, 1, 2), (0, 1, 2), ()),
                    PartitionReplicas(1, 2, 3, (2, 0, 1), (2, 0), (1,))]

    broker.create_topic("t", 2)
    handlers = load_handlers()
    handler = handlers[MetadataRequest.API_KEY]
    context = RequestContext(
        broker=broker, api_key=MetadataRequest.API_KEY, api_version=9, correlation_id=1,
        client_id=None, node_id=0, host="127.0.0.1", port=9092, handlers=handlers,
        response_class=handler.response_class, view=FencedMeanwhile())
    response = handler.handle(context, MetadataRequest[9](
        topics=[MetadataRequest.MetadataRequestTopic(name="t")], allow_auto_topic_creation=False,
        include_cluster_authorized_operations=False, include_topic_authorized_operations=False))
    partitions = response.topics[0].partitions
    assert [(p.partition_index, p.error_code, p.leader_id) for p in partitions] == [
        (0, 5, -1), (1, 0, 2)]  # 5: LEADER_NOT_AVAILABLE
    pages = handlers[DescribeTopicPartitionsRequest.API_KEY]
    paged = pages.handle(RequestContext(
        broker=broker, api_key=DescribeTopicPartitionsRequest.API_KEY, api_version=0,
        correlation_id=2, client_id=None, node_id=0, host="127.0.0.1", port=9092,
        handlers=handlers, response_class=pages.response_class, view=FencedMeanwhile()),
        DescribeTopicPartitionsRequest[0](topics=[], response_partition_limit=10))
    assert [(p.partition_index, p.error_code, p.leader_id)
            for p in paged.topics[0].partitions] == [(0, 0, -1), (1, 0, 2)]  # no error here
    assert [b.node_id for b in response.brokers] == [0, 2]
