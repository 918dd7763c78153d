"""ConsumerGroupHeartbeat and ConsumerGroupDescribe on the Kafka listener, request by request,
and what the other group APIs answer about a Kafka 4 consumer group (Kafka 4's answers)."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest
from kafka.protocol.consumer.group import (
    JoinGroupRequest,
    OffsetCommitRequest,
    OffsetFetchRequest,
)
from kafka.protocol.metadata import ApiVersionsRequest
from kafka.protocol.producer import (
    AddOffsetsToTxnRequest,
    EndTxnRequest,
    InitProducerIdRequest,
    TxnOffsetCommitRequest,
)

from pcmodel.wire.schemas import ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest

pytestmark = pytest.mark.timeout(30)

UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL = 25, 22, 23
UNSUPPORTED_VERSION, INVALID_REQUEST, GROUP_ID_NOT_FOUND = 35, 42, 69
FENCED_MEMBER_EPOCH, UNSUPPORTED_ASSIGNOR, STALE_MEMBER_EPOCH = 110, 112, 113
MEMBER_ID_REQUIRED = 79


def heartbeat(raw, member_id, epoch, *, version=1, names=None, owned=None, **fields):
    """One ConsumerGroupHeartbeat; ``owned`` lists ``(topic id, partitions)``."""
    fields.setdefault("rebalance_timeout_ms", 30_000 if epoch == 0 else -1)
    if epoch == 0:
        owned = [] if owned is None else owned
        names = ["t"] if names is None else names
    Owned = ConsumerGroupHeartbeatRequest.TopicPartitions
    request = ConsumerGroupHeartbeatRequest[version](
        group_id=fields.pop("group_id", "g"), member_id=member_id, member_epoch=epoch,
        subscribed_topic_names=names,
        topic_partitions=None if owned is None else [
            Owned(topic_id=t, partitions=ps) for t, ps in owned],
        **fields)
    return raw.request(request)


def assigned(response):
    return {(t.topic_id, p) for t in response.assignment.topic_partitions for p in t.partitions}


@pytest.fixture
def topic_t(broker):
    """Topic ``t`` of 4 partitions: its topic id."""
    broker.create_topic("t", 4)
    return broker.topic_ids()["t"]


def test_api_versions_announce_the_consumer_group_apis(raw):
    versions = {k.api_key: (k.min_version, k.max_version)
                for k in raw.request(ApiVersionsRequest[3](client_software_name="t",
                                                           client_software_version="1")).api_keys}
    assert versions[68] == (0, 1) and versions[69] == (0, 1)


def test_join_heartbeat_and_leave(raw, topic_t):
    joined = heartbeat(raw, "m-1", 0)
    assert (joined.error_code, joined.member_id, joined.member_epoch) == (0, "m-1", 1)
    assert joined.heartbeat_interval_ms == 5000
    assert assigned(joined) == {(topic_t, p) for p in range(4)}
    again = heartbeat(raw, "m-1", 1)
    assert (again.error_code, again.member_epoch, again.assignment) == (0, 1, None)
    fenced = heartbeat(raw, "m-1", 7)
    assert fenced.error_code == FENCED_MEMBER_EPOCH and fenced.error_message
    left = heartbeat(raw, "m-1", -1)
    assert (left.error_code, left.member_epoch) == (0, -1)
    assert heartbeat(raw, "m-1", 1).error_code == UNKNOWN_MEMBER_ID


def test_v1_needs_the_member_id_v0_gets_one(raw, topic_t):
    assert heartbeat(raw, "", 0).error_code == INVALID_REQUEST
    given = heartbeat(raw, "", 0, version=0)
    assert given.error_code == 0 and len(given.member_id) == 36


def test_malformed_heartbeats(raw, topic_t):
    assert heartbeat(raw, "m", 0, rebalance_timeout_ms=-1).error_code == INVALID_REQUEST
    assert heartbeat(raw, "m", 0, owned=[(topic_t, [0])]).error_code == INVALID_REQUEST
    assert heartbeat(raw, "m", 0, server_assignor="cooperative-sticky").error_code == \
        UNSUPPORTED_ASSIGNOR
    assert heartbeat(raw, "m", 3, group_id="nope").error_code == GROUP_ID_NOT_FOUND


def test_commit_and_fetch_check_the_member_epoch(raw, topic_t):
    heartbeat(raw, "m", 0)
    Topic = OffsetCommitRequest.OffsetCommitRequestTopic
    Part = Topic.OffsetCommitRequestPartition

    def commit(epoch, version=9):
        return raw.request(OffsetCommitRequest[version](
            group_id="g", generation_id_or_member_epoch=epoch, member_id="m",
            group_instance_id=None, retention_time_ms=-1, topics=[Topic(name="t", partitions=[
                Part(partition_index=1, committed_offset=5, committed_leader_epoch=-1,
                     committed_metadata="")])]))

    def code(response):
        return response.topics[0].partitions[0].error_code

    assert code(commit(1)) == 0
    assert code(commit(0)) == STALE_MEMBER_EPOCH
    assert code(commit(1, version=8)) == UNSUPPORTED_VERSION
    Group = OffsetFetchRequest.OffsetFetchRequestGroup

    def fetch(member_id, epoch):
        return raw.request(OffsetFetchRequest[9](require_stable=False, groups=[Group(
            group_id="g", member_id=member_id, member_epoch=epoch, topics=None)])).groups[0]

    ok = fetch("m", 1)
    assert ok.error_code == 0
    assert [(t.name, p.partition_index, p.committed_offset)
            for t in ok.topics for p in t.partitions] == [("t", 1, 5)]
    assert fetch("m", 4).error_code == STALE_MEMBER_EPOCH
    assert fetch("who", 1).error_code == UNKNOWN_MEMBER_ID
    assert fetch(None, -1).error_code == 0


def test_describe_list_and_the_classic_apis(raw, topic_t):
    heartbeat(raw, "m", 0, server_assignor="range")
    described = raw.request(ConsumerGroupDescribeRequest[0](
        group_ids=["g", "missing", ""], include_authorized_operations=False)).groups
    g, missing, empty = described
    assert (g.error_code, g.group_state, g.group_epoch, g.assignment_epoch, g.assignor_name) \
        == (0, "Stable", 1, 1, "range")
    (member,) = g.members
    assert (member.member_id, member.member_epoch, member.subscribed_topic_names) == \
        ("m", 1, ["t"])
    tps = member.assignment.topic_partitions
    assert [(t.topic_name, t.topic_id, t.partitions) for t in tps] == \
        [("t", topic_t, [0, 1, 2, 3])]
    assert missing.error_code == GROUP_ID_NOT_FOUND and empty.error_code == 24
    listed = raw.request(ListGroupsRequest[5](states_filter=[], types_filter=[])).groups
    assert [(x.group_id, x.protocol_type, x.group_state, x.group_type) for x in listed] == \
        [("g", "consumer", "Stable", "consumer")]
    assert raw.request(ListGroupsRequest[5](states_filter=[], types_filter=["classic"])) \
        .groups == []
    dead = raw.request(DescribeGroupsRequest[5](groups=["g"],
                                                include_authorized_operations=False)).groups[0]
    assert (dead.error_code, dead.group_state) == (0, "Dead")
    # A classic member may join (Kafka 4): first MEMBER_ID_REQUIRED, as from any group; but
    # metadata that is no consumer subscription is refused.
    def join(member_id):
        return raw.request(JoinGroupRequest[5](
            group_id="g", session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
            member_id=member_id, group_instance_id=None, protocol_type="consumer",
            protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")]))
    required = join("")
    assert required.error_code == MEMBER_ID_REQUIRED and required.member_id
    assert join(required.member_id).error_code == INCONSISTENT_GROUP_PROTOCOL


def test_delete_groups_deletes_an_empty_consumer_group_only(raw, topic_t):
    heartbeat(raw, "m", 0)

    def delete():
        return raw.request(DeleteGroupsRequest[2](groups_names=["g"])).results[0].error_code

    assert delete() == 68  # NON_EMPTY_GROUP
    heartbeat(raw, "m", -1)
    assert delete() == 0
    described = raw.request(ConsumerGroupDescribeRequest[0](
        group_ids=["g"], include_authorized_operations=False)).groups[0]
    assert described.error_code == GROUP_ID_NOT_FOUND


def test_txn_offset_commit_of_a_consumer_group_member(raw, topic_t):
    """A transactional consumer-process-produce loop whose consumer is in a consumer group
    (KIP-447): TxnOffsetCommit carries the member id and epoch and is checked against them,
    a stale epoch answered ILLEGAL_GENERATION, as Kafka's coordinator answers."""
    heartbeat(raw, "m", 0)
    ids = raw.request(InitProducerIdRequest[4](
        transactional_id="tx", transaction_timeout_ms=60_000, producer_id=-1,
        producer_epoch=-1))
    producer = dict(transactional_id="tx", producer_id=ids.producer_id,
                    producer_epoch=ids.producer_epoch)
    assert raw.request(AddOffsetsToTxnRequest[3](group_id="g", **producer)).error_code == 0
    Topic = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic

    def commit(member_id, epoch):
        response = raw.request(TxnOffsetCommitRequest[3](
            group_id="g", generation_id=epoch, member_id=member_id, group_instance_id=None,
            topics=[Topic(name="t", partitions=[Topic.TxnOffsetCommitRequestPartition(
                partition_index=2, committed_offset=9, committed_leader_epoch=-1,
                committed_metadata="")])], **producer))
        return response.topics[0].partitions[0].error_code

    assert commit("m", 5) == ILLEGAL_GENERATION
    assert commit("who", 1) == UNKNOWN_MEMBER_ID
    assert commit("m", 1) == 0
    assert raw.request(EndTxnRequest[3](committed=True, **producer)).error_code == 0
    Group = OffsetFetchRequest.OffsetFetchRequestGroup
    fetched = raw.request(OffsetFetchRequest[9](require_stable=True, groups=[Group(
        group_id="g", member_id="m", member_epoch=1, topics=None)])).groups[0]
    assert [(t.name, p.partition_index, p.committed_offset)
            for t in fetched.topics for p in t.partitions] == [("t", 2, 9)]
