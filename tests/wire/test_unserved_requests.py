"""Requests the listener does not serve are refused as a Kafka 4 broker refuses them: an API
or version that ApiVersions does not list closes the connection unanswered (Kafka's
``SocketServer.parseRequestHeader``), never an empty answer that reads as success, and only
ApiVersions newer than ours is answered (KIP-511). On a lone broker and on a cluster's."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import (
    AlterClientQuotasRequest,
    AlterUserScramCredentialsRequest,
    DescribeClientQuotasRequest,
    DescribeQuorumRequest,
    DescribeUserScramCredentialsRequest,
    ListConfigResourcesRequest,
    UpdateFeaturesRequest,
)
from kafka.protocol.consumer import FetchRequest, OffsetCommitRequest
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.producer import ProduceRequest

from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import RawClient, closed_by_listener, record_batch, still_serving

Topic = OffsetCommitRequest.OffsetCommitRequestTopic
Part = Topic.OffsetCommitRequestPartition




def _commit_at(version: int):
    return OffsetCommitRequest[version](
        group_id="g", generation_id_or_member_epoch=-1, member_id="", retention_time_ms=-1,
        topics=[Topic(name="t", partitions=[Part(partition_index=0, committed_offset=5,
                                                 commit_timestamp=-1, committed_metadata="")])])


def test_an_offset_commit_below_the_served_versions_commits_nothing_and_closes(broker, listener):
    # OffsetCommit v1 has no request-wide error field: an answer with no topics would tell the
    # client its commit went through.
    broker.create_topic("t", 1)
    with RawClient(listener.address) as raw:
        raw.send(_commit_at(1))
        assert closed_by_listener(raw.sock)
    assert broker.committed("g", [TopicPartition("t", 0)]) == {("t", 0): None}
    still_serving(listener.address)


def test_a_produce_at_an_unserved_version_appends_nothing_and_closes(broker, listener):
    broker.create_topic("t", 1)
    Data = ProduceRequest.TopicProduceData
    for version in (2, 10):  # below v3 and above v9, what ApiVersions lists
        with RawClient(listener.address) as raw:
            raw.send(ProduceRequest[version](
                transactional_id=None, acks=1, timeout_ms=5000,
                topic_data=[Data(name="t", partition_data=[Data.PartitionProduceData(
                    index=0, records=record_batch([b"a"]))])]))
            assert closed_by_listener(raw.sock), version
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}


def test_a_fetch_below_the_served_versions_closes(broker, listener):
    # Fetch v3 has no request-wide error field either: an empty answer would read as "nothing
    # new".
    broker.create_topic("t", 1)
    Topic_ = FetchRequest.FetchTopic
    with RawClient(listener.address) as raw:
        raw.send(FetchRequest[3](
            replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
            topics=[Topic_(topic="t", partitions=[Topic_.FetchPartition(
                partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])]))
        assert closed_by_listener(raw.sock)


UNSERVED_APIS = [
    DescribeQuorumRequest[0](topics=[]),
    UpdateFeaturesRequest[0](timeout_ms=1000, feature_updates=[]),
    DescribeClientQuotasRequest[0](components=[], strict=False),
    AlterClientQuotasRequest[0](entries=[], validate_only=False),
    DescribeUserScramCredentialsRequest[0](users=None),
    AlterUserScramCredentialsRequest[0](deletions=[], upsertions=[]),
    ListConfigResourcesRequest[0](),
]


@pytest.mark.parametrize("request_", UNSERVED_APIS, ids=lambda r: r.name)
def test_an_api_not_advertised_closes_only_its_connection(listener, request_):
    with RawClient(listener.address) as raw:
        assert request_.API_KEY not in {key.api_key for key in raw.request(
            ApiVersionsRequest[3](client_software_name="x", client_software_version="1")
        ).api_keys}
        raw.send(request_)
        assert closed_by_listener(raw.sock)
    still_serving(listener.address)


def _too_new_api_versions(raw: RawClient) -> ApiVersionsResponse:
    request = ApiVersionsRequest[3](client_software_name="raw", client_software_version="1")
    request.with_header(correlation_id=41, client_id="raw")
    frame = bytearray(request.encode(header=True, framed=True))
    frame[6:8] = (9).to_bytes(2, "big")  # ApiVersions v9: newer than any schema
    raw.sock.sendall(bytes(frame))
    return ApiVersionsResponse.decode(raw.recv_frame(), version=0, header=True)


def test_the_answer_to_a_too_new_api_versions_lists_only_api_versions(listener):
    # Kafka's ApiVersionsRequest.getErrorResponse: UNSUPPORTED_VERSION and ApiVersions' own
    # range, at v0, the connection open for the client's retry.
    with RawClient(listener.address) as raw:
        answer = _too_new_api_versions(raw)
        assert (answer.header.correlation_id, answer.error_code) == (41, 35)
        assert [(k.api_key, k.min_version, k.max_version) for k in answer.api_keys] == [
            (18, 0, 4)]
        assert raw.request(ApiVersionsRequest[4](
            client_software_name="raw", client_software_version="1")).error_code == 0
    assert listener.statistics().unserved == {"18 v9": 1}


def test_a_cluster_listener_refuses_as_a_lone_one(served):
    cluster, listeners = served
    address = listeners.addresses[1]
    with RawClient(address) as raw:
        assert [k.api_key for k in _too_new_api_versions(raw).api_keys] == [18]
        raw.send(_commit_at(1))
        assert closed_by_listener(raw.sock)
    with RawClient(address) as raw:
        raw.send(DescribeQuorumRequest[0](topics=[]))
        assert closed_by_listener(raw.sock)
    still_serving(address)
    assert cluster.connect().committed("g", [("t", 0)])[("t", 0)] is None
