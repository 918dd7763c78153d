"""Online migration (KIP-848) on the Kafka listener, request by request: a classic group that a
ConsumerGroupHeartbeat turns into a consumer group, its classic member served through
JoinGroup, SyncGroup, Heartbeat and OffsetCommit, and the way back (Kafka 4's answers)."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import DescribeGroupsRequest, ListGroupsRequest
from kafka.protocol.consumer.group import (
    HeartbeatRequest,
    JoinGroupRequest,
    LeaveGroupRequest,
    OffsetCommitRequest,
    SyncGroupRequest,
)

from pcmodel.topics.consumer_protocol import (
    decode_assignment,
    encode_assignment,
    encode_subscription,
)
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.schemas import ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest

pytestmark = pytest.mark.timeout(30)

REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, MEMBER_ID_REQUIRED = 27, 22, 79


@pytest.fixture
def topic_t(broker):
    broker.create_topic("t", 4)
    return broker.topic_ids()["t"]


def join(raw, member_id=""):
    return raw.request(JoinGroupRequest[5](
        group_id="g", session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
        member_id=member_id, group_instance_id=None, protocol_type="consumer",
        protocols=[JoinGroupRequest.JoinGroupRequestProtocol(
            name="range", metadata=encode_subscription(["t"]))]))


def sync(raw, member_id, generation, assignments=()):
    Assignment = SyncGroupRequest.SyncGroupRequestAssignment
    return raw.request(SyncGroupRequest[3](
        group_id="g", generation_id=generation, member_id=member_id, group_instance_id=None,
        assignments=[Assignment(member_id=m, assignment=a) for m, a in assignments]))


def beat(raw, member_id, generation):
    return raw.request(HeartbeatRequest[3](group_id="g", generation_id=generation,
                                           member_id=member_id, group_instance_id=None))


def consumer_beat(raw, member_id, epoch):
    joining = epoch == 0
    return raw.request(ConsumerGroupHeartbeatRequest[1](
        group_id="g", member_id=member_id, member_epoch=epoch, instance_id=None, rack_id=None,
        rebalance_timeout_ms=30_000 if joining else -1,
        subscribed_topic_names=["t"] if joining else None, subscribed_topic_regex=None,
        server_assignor=None, topic_partitions=[] if joining else None))


def listed(raw):
    groups = raw.request(ListGroupsRequest[5](states_filter=[], types_filter=[])).groups
    return [(g.group_id, g.group_state, g.group_type) for g in groups]


def test_a_classic_member_rides_an_upgrade_and_a_downgrade(broker, raw, topic_t):
    member_id = join(raw).member_id  # MEMBER_ID_REQUIRED first
    joined = join(raw, member_id)
    assert joined.error_code == 0 and joined.leader == member_id
    everything = encode_assignment([TopicPartition("t", p) for p in range(4)])
    assert sync(raw, member_id, joined.generation_id, [(member_id, everything)]).error_code == 0
    assert listed(raw) == [("g", "Stable", "classic")]
    generation = joined.generation_id

    upgrade = consumer_beat(raw, "m", 0)
    assert (upgrade.error_code, upgrade.member_epoch) == (0, generation + 1)
    assert listed(raw) == [("g", "Reconciling", "consumer")]
    assert beat(raw, member_id, generation).error_code == REBALANCE_IN_PROGRESS
    rejoined = join(raw, member_id)
    assert (rejoined.error_code, rejoined.generation_id, rejoined.leader,
            rejoined.protocol_name, rejoined.members) == (0, generation + 1, "", "range", [])
    synced = sync(raw, member_id, generation + 1)
    assert synced.error_code == 0
    kept = {tp.partition for tp in decode_assignment(synced.assignment)}
    assert kept and kept < {0, 1, 2, 3}
    assert beat(raw, member_id, generation + 1).error_code == 0
    assert beat(raw, member_id, generation).error_code == ILLEGAL_GENERATION
    taken = consumer_beat(raw, "m", upgrade.member_epoch)
    assert {p for t in taken.assignment.topic_partitions for p in t.partitions} == \
        {0, 1, 2, 3} - kept
    # A classic member commits with an old OffsetCommit version and its generation.
    Topic = OffsetCommitRequest.OffsetCommitRequestTopic
    Part = Topic.OffsetCommitRequestPartition
    committed = raw.request(OffsetCommitRequest[2](
        group_id="g", generation_id_or_member_epoch=generation + 1, member_id=member_id,
        retention_time_ms=-1, topics=[Topic(name="t", partitions=[Part(
            partition_index=min(kept), committed_offset=5, committed_metadata="")])]))
    assert committed.topics[0].partitions[0].error_code == 0
    described = raw.request(ConsumerGroupDescribeRequest[0](
        group_ids=["g"], include_authorized_operations=False)).groups[0]
    assert sorted(m.member_id for m in described.members) == sorted(["m", member_id])

    left = consumer_beat(raw, "m", -1)
    assert (left.error_code, left.member_epoch) == (0, -1)
    assert listed(raw) == [("g", "PreparingRebalance", "classic")]
    tp = TopicPartition("t", min(kept))
    assert broker.committed("g", [tp])[tp].offset == 5
    assert beat(raw, member_id, generation + 1).error_code == REBALANCE_IN_PROGRESS
    again = join(raw, member_id)
    assert (again.error_code, again.generation_id, again.leader) == \
        (0, generation + 2, member_id)
    dead = raw.request(DescribeGroupsRequest[5](groups=["g"],
                                                include_authorized_operations=False)).groups[0]
    assert (dead.group_state, dead.protocol_type) == ("CompletingRebalance", "consumer")
    assert raw.request(LeaveGroupRequest[3](group_id="g", members=[
        LeaveGroupRequest[3].MemberIdentity(member_id=member_id, group_instance_id=None)])
    ).members[0].error_code == 0
    assert listed(raw) == [("g", "Empty", "classic")]


def test_a_classic_member_leaves_a_consumer_group(raw, topic_t):
    consumer_beat(raw, "m", 0)
    required = join(raw)
    assert required.error_code == MEMBER_ID_REQUIRED
    joined = join(raw, required.member_id)
    assert joined.error_code == 0 and joined.generation_id == 2
    assert raw.request(LeaveGroupRequest[1](group_id="g", member_id=required.member_id)
                       ).error_code == 0
    assert listed(raw) == [("g", "Assigning", "consumer")]
