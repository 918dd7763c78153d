"""The empty group id, "": Kafka still accepts it for OffsetCommit and OffsetFetch, and only there.

For backwards compatibility with clients of the days when "" was the consumer's default
``group.id``, Kafka's ``GroupCoordinatorService.commitOffsets`` and ``fetchOffsets`` refuse only
a null group id; JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetDelete and TxnOffsetCommit
check ``isGroupIdNotEmpty`` and answer INVALID_GROUP_ID (24). Both a lone broker's listener and a
cluster's are asked.
"""

from __future__ import annotations

import pytest
from kafka.protocol.consumer.group import (
    HeartbeatRequest,
    JoinGroupRequest,
    LeaveGroupRequest,
    OffsetCommitRequest,
    OffsetDeleteRequest,
    OffsetFetchRequest,
    SyncGroupRequest,
)
from kafka.protocol.metadata import FindCoordinatorRequest
from kafka.protocol.producer import TxnOffsetCommitRequest

from pcmodel.topics.errors import InvalidGroupIdError
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.wire.conftest import RawClient

pytestmark = pytest.mark.timeout(60)

INVALID_GROUP_ID = 24


def commit(raw, group, partition, offset):
    Topic = OffsetCommitRequest.OffsetCommitRequestTopic
    answer = raw.request(OffsetCommitRequest[8](
        group_id=group, generation_id_or_member_epoch=-1, member_id="", group_instance_id=None,
        topics=[Topic(name="t", partitions=[Topic.OffsetCommitRequestPartition(
            partition_index=partition, committed_offset=offset, committed_leader_epoch=-1,
            committed_metadata="m")])]))
    return answer.topics[0].partitions[0].error_code


def fetch_v7(raw, group, partition):
    answer = raw.request(OffsetFetchRequest[7](
        group_id=group, topics=[OffsetFetchRequest.OffsetFetchRequestTopic(
            name="t", partition_indexes=[partition])], require_stable=False))
    part = answer.topics[0].partitions[0]
    return answer.error_code, part.error_code, part.committed_offset


def fetch_v8(raw, group, partition):
    Group = OffsetFetchRequest.OffsetFetchRequestGroup  # noqa: N806
    answer = raw.request(OffsetFetchRequest[8](require_stable=False, groups=[
        Group(group_id=group, topics=[Group.OffsetFetchRequestTopics(
            name="t", partition_indexes=[partition])])])).groups[0]
    part = answer.topics[0].partitions[0]
    return answer.error_code, part.error_code, part.committed_offset


def group_api_codes(raw):
    """The error code of each API that changes a group, asked for group ""."""
    Protocol = JoinGroupRequest.JoinGroupRequestProtocol  # noqa: N806
    Deleted = OffsetDeleteRequest.OffsetDeleteRequestTopic  # noqa: N806
    Txn = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic  # noqa: N806
    return {
        "join": raw.request(JoinGroupRequest[5](
            group_id="", session_timeout_ms=30_000, rebalance_timeout_ms=30_000, member_id="",
            group_instance_id=None, protocol_type="consumer",
            protocols=[Protocol(name="range", metadata=b"")])).error_code,
        "sync": raw.request(SyncGroupRequest[3](
            group_id="", generation_id=1, member_id="m", group_instance_id=None,
            assignments=[])).error_code,
        "heartbeat": raw.request(HeartbeatRequest[3](
            group_id="", generation_id=1, member_id="m", group_instance_id=None)).error_code,
        "leave": raw.request(LeaveGroupRequest[0](group_id="", member_id="m")).error_code,
        "offset delete": raw.request(OffsetDeleteRequest[0](group_id="", topics=[
            Deleted(name="t", partitions=[Deleted.OffsetDeleteRequestPartition(
                partition_index=0)])])).error_code,
        "txn offset commit": raw.request(TxnOffsetCommitRequest[3](
            transactional_id="tx", group_id="", producer_id=1, producer_epoch=0,
            generation_id=-1, member_id="", group_instance_id=None, topics=[
                Txn(name="t", partitions=[Txn.TxnOffsetCommitRequestPartition(
                    partition_index=0, committed_offset=1, committed_leader_epoch=-1,
                    committed_metadata="")])])).topics[0].partitions[0].error_code,
    }


def test_a_lone_broker_commits_and_fetches_offsets_of_the_empty_group(broker, raw):
    broker.create_topic("t", 2)
    assert commit(raw, "", 0, 5) == 0
    assert fetch_v7(raw, "", 0) == (0, 0, 5)
    assert fetch_v8(raw, "", 0) == (0, 0, 5)
    assert fetch_v7(raw, "", 1) == (0, 0, -1)  # nothing committed there
    assert broker.committed("", [TopicPartition("t", 0)]) == {
        TopicPartition("t", 0): OffsetAndMetadata(5, "m")}
    assert set(group_api_codes(raw).values()) == {INVALID_GROUP_ID}


def test_a_cluster_commits_and_fetches_offsets_of_the_empty_group(served):
    cluster, listeners = served
    with RawClient(listeners.addresses[0]) as raw:
        found = raw.request(FindCoordinatorRequest[3](key="", key_type=0))
    assert found.error_code == 0
    with RawClient(listeners.addresses[found.node_id]) as raw:
        assert commit(raw, "", 1, 7) == 0
        assert fetch_v8(raw, "", 1) == (0, 0, 7)
        assert set(group_api_codes(raw).values()) == {INVALID_GROUP_ID}


def test_the_broker_refuses_a_group_id_that_is_not_a_string(broker):
    broker.create_topic("t", 1)
    with pytest.raises(InvalidGroupIdError, match="must be a string"):
        broker.commit_offsets(None, -1, "", {TopicPartition("t", 0): 1})
    with pytest.raises(InvalidGroupIdError, match="non-empty"):
        broker.delete_offsets("", [TopicPartition("t", 0)])
