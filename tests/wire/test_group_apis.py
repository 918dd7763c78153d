"""The group and offset APIs on the wire, request by request: the handshake of a new member,
a lone member's round, commits, fetches and deletions of offsets, describing, listing and
deleting groups, and the answers Kafka gives to requests it refuses."""

from __future__ import annotations

from kafka.protocol.admin import (
    DeleteGroupsRequest,
    DescribeGroupsRequest,
    ListGroupsRequest,
)
from kafka.protocol.consumer.group import (
    HeartbeatRequest,
    JoinGroupRequest,
    LeaveGroupRequest,
    OffsetCommitRequest,
    OffsetDeleteRequest,
    OffsetFetchRequest,
    SyncGroupRequest,
)

from pcmodel.topics import Broker
from pcmodel.topics.broker import ExpiredOffsets
from pcmodel.topics.consumer_protocol import encode_assignment, encode_subscription
from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import RawClient

SUBSCRIPTION = encode_subscription(["t"])


def _join(raw, member_id="", version=9, **fields):
    protocols = [JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=SUBSCRIPTION)]
    return raw.request(JoinGroupRequest[version](
        group_id="g", session_timeout_ms=10_000, rebalance_timeout_ms=5_000, member_id=member_id,
        group_instance_id=fields.pop("group_instance_id", None), protocol_type="consumer",
        protocols=protocols, reason=None, **fields,
    ))


def _commit(raw, generation, member_id, partitions, group_instance_id=None):
    Topic = OffsetCommitRequest.OffsetCommitRequestTopic
    Partition = Topic.OffsetCommitRequestPartition
    return raw.request(OffsetCommitRequest[8](
        group_id="g", generation_id_or_member_epoch=generation, member_id=member_id,
        group_instance_id=group_instance_id,
        topics=[Topic(name=topic, partitions=[
            Partition(partition_index=p, committed_offset=o, committed_leader_epoch=-1,
                      committed_metadata="m") for p, o in parts.items()
        ]) for topic, parts in partitions.items()],
    ))


def _delete_offsets(raw, partitions):
    Topic = OffsetDeleteRequest.OffsetDeleteRequestTopic
    return raw.request(OffsetDeleteRequest[0](group_id="g", topics=[
        Topic(name=name, partitions=[Topic.OffsetDeleteRequestPartition(partition_index=p)
                                     for p in parts])
        for name, parts in partitions.items()
    ]))


def test_a_lone_member_joins_syncs_commits_and_leaves(broker, raw):
    broker.create_topic("t", 2)
    first = _join(raw)
    assert first.error_code == 79  # MEMBER_ID_REQUIRED, with the id to use
    member_id = first.member_id
    joined = _join(raw, member_id)
    assert (joined.error_code, joined.generation_id, joined.protocol_name) == (0, 1, "range")
    assert joined.leader == member_id and [m.metadata for m in joined.members] == [SUBSCRIPTION]
    plan = encode_assignment([TopicPartition("t", 0), TopicPartition("t", 1)])
    synced = raw.request(SyncGroupRequest[5](
        group_id="g", generation_id=1, member_id=member_id, group_instance_id=None,
        protocol_type="consumer", protocol_name="range",
        assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=member_id,
                                                                 assignment=plan)],
    ))
    assert (synced.error_code, bytes(synced.assignment)) == (0, plan)
    beat = raw.request(HeartbeatRequest[4](group_id="g", generation_id=1, member_id=member_id,
                                           group_instance_id=None))
    assert beat.error_code == 0
    stale = raw.request(HeartbeatRequest[4](group_id="g", generation_id=0, member_id=member_id,
                                            group_instance_id=None))
    assert stale.error_code == 22  # ILLEGAL_GENERATION

    committed = _commit(raw, 1, member_id, {"t": {0: 5}, "missing": {0: 1}})
    codes = {(t.name, p.partition_index): p.error_code
             for t in committed.topics for p in t.partitions}
    assert codes == {("t", 0): 0, ("missing", 0): 3}
    fenced = _commit(raw, 0, member_id, {"t": {1: 1}})
    assert fenced.topics[0].partitions[0].error_code == 22

    fetched = raw.request(OffsetFetchRequest[7](
        group_id="g", topics=[OffsetFetchRequest.OffsetFetchRequestTopic(
            name="t", partition_indexes=[0, 1])], require_stable=False))
    offsets = {p.partition_index: (p.committed_offset, p.metadata)
               for t in fetched.topics for p in t.partitions}
    assert offsets == {0: (5, "m"), 1: (-1, "")}

    described = raw.request(DescribeGroupsRequest[5](groups=["g", "nobody"],
                                                     include_authorized_operations=False))
    group, nobody = described.groups
    assert (group.group_state, group.protocol_type, group.protocol_data) == (
        "Stable", "consumer", "range")
    assert bytes(group.members[0].member_assignment) == plan
    assert (nobody.error_code, nobody.group_state) == (0, "Dead")
    assert (group.authorized_operations, nobody.authorized_operations) == (None, None)
    asked = raw.request(DescribeGroupsRequest[5](groups=["g", "nobody"],
                                                 include_authorized_operations=True))
    # No authorizer: every operation of a group, as Kafka answers (a Dead group too).
    assert [g.authorized_operations for g in asked.groups] == [{3, 6, 8, 10, 11}] * 2
    listed = raw.request(ListGroupsRequest[4](states_filter=["stable"]))
    assert [(g.group_id, g.protocol_type, g.group_state) for g in listed.groups] == [
        ("g", "consumer", "Stable")]

    kept = _delete_offsets(raw, {"t": [0], "gone": [0]})
    assert kept.error_code == 0
    assert [(t.name, [(p.partition_index, p.error_code) for p in t.partitions])
            for t in kept.topics] == [("t", [(0, 86)]), ("gone", [(0, 3)])]
    refused = raw.request(DeleteGroupsRequest[2](groups_names=["g"]))
    assert refused.results[0].error_code == 68  # NON_EMPTY_GROUP
    left = raw.request(LeaveGroupRequest[5](group_id="g", members=[
        LeaveGroupRequest.MemberIdentity(member_id=member_id, group_instance_id=None,
                                         reason=None),
        LeaveGroupRequest.MemberIdentity(member_id="ghost", group_instance_id=None,
                                         reason=None),
    ]))
    assert [m.error_code for m in left.members] == [0, 25]
    deleted = raw.request(DeleteGroupsRequest[2](groups_names=["g", "g"]))
    assert [r.error_code for r in deleted.results] == [0, 69]
    unknown = _delete_offsets(raw, {"t": [0]})
    assert (unknown.error_code, unknown.topics) == (69, [])  # GROUP_ID_NOT_FOUND, alone



def test_a_static_member_takes_its_place_again_and_its_old_id_is_fenced(broker, raw):
    broker.create_topic("t", 1)
    first = _join(raw, group_instance_id="i-1")
    assert first.error_code == 0  # no MEMBER_ID_REQUIRED round trip for a static member
    assert first.member_id.startswith("i-1-") and first.leader == first.member_id
    assert [m.group_instance_id for m in first.members] == ["i-1"]
    plan = encode_assignment([TopicPartition("t", 0)])
    synced = raw.request(SyncGroupRequest[5](
        group_id="g", generation_id=1, member_id=first.member_id, group_instance_id="i-1",
        protocol_type="consumer", protocol_name="range",
        assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=first.member_id,
                                                                 assignment=plan)],
    ))
    assert synced.error_code == 0
    # Restarted: v9 tells the leader it leads but must skip the assignment (KIP-814) ...
    again = _join(raw, group_instance_id="i-1")
    assert (again.error_code, again.generation_id, again.skip_assignment) == (0, 1, True)
    assert again.leader == again.member_id != first.member_id
    assert [m.group_instance_id for m in again.members] == ["i-1"]
    # ... v8 tells it the old leader's id, so that it acts as a follower.
    third = _join(raw, version=8, group_instance_id="i-1")
    assert (third.error_code, third.generation_id, third.leader, third.members) == (
        0, 1, again.member_id, [])
    resynced = raw.request(SyncGroupRequest[3](
        group_id="g", generation_id=1, member_id=third.member_id, group_instance_id="i-1",
        assignments=[]))
    assert (resynced.error_code, bytes(resynced.assignment)) == (0, plan)
    fenced = raw.request(HeartbeatRequest[4](group_id="g", generation_id=1,
                                             member_id=first.member_id, group_instance_id="i-1"))
    assert fenced.error_code == 82  # FENCED_INSTANCE_ID
    commit = _commit(raw, 1, again.member_id, {"t": {0: 1}}, group_instance_id="i-1")
    assert commit.topics[0].partitions[0].error_code == 82
    assert _commit(raw, 1, third.member_id, {"t": {0: 1}},
                   group_instance_id="i-1").topics[0].partitions[0].error_code == 0
    for version, instance in ((5, "i-1"), (3, None)):  # v4 added the instance id
        member = raw.request(DescribeGroupsRequest[version](
            groups=["g"], include_authorized_operations=False)).groups[0].members[0]
        assert member.member_id == third.member_id
        assert getattr(member, "group_instance_id", None) == instance
    left = raw.request(LeaveGroupRequest[5](group_id="g", members=[
        LeaveGroupRequest.MemberIdentity(member_id="", group_instance_id=i, reason=None)
        for i in ("i-1", "i-1", "i-2")]))
    assert [(m.group_instance_id, m.error_code) for m in left.members] == [
        ("i-1", 0), ("i-1", 25), ("i-2", 25)]
    assert broker.describe_group("g").state.value == "Empty"


def test_an_inconsistent_protocol_is_refused(broker, raw):
    broker.create_topic("t", 1)
    old = _join(raw, version=3)  # before v4: no MEMBER_ID_REQUIRED round trip
    assert old.error_code == 0 and old.generation_id == 1
    other = raw.request(JoinGroupRequest[5](
        group_id="g", session_timeout_ms=10_000, rebalance_timeout_ms=5_000, member_id="",
        group_instance_id=None, protocol_type="connect",
        protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")],
    ))
    assert other.error_code == 23  # INCONSISTENT_GROUP_PROTOCOL


def test_an_offset_commit_v3_with_its_own_retention_expires_then():
    # OffsetCommit v2-v4 carry retention_time_ms: that long after the commit, the offset goes,
    # whatever the broker's offsets.retention.minutes (here a week).
    wall = [1_700_000_000_000]
    with Broker(timestamp_clock=lambda: wall[0]) as broker, broker.serve_kafka() as listener, \
            RawClient(listener.address) as raw:
        broker.create_topic("t", 2)
        Topic = OffsetCommitRequest.OffsetCommitRequestTopic
        Partition = Topic.OffsetCommitRequestPartition
        answer = raw.request(OffsetCommitRequest[3](
            group_id="g", generation_id_or_member_epoch=-1, member_id="",
            retention_time_ms=60_000, topics=[Topic(name="t", partitions=[
                Partition(partition_index=0, committed_offset=5, committed_metadata="")])]))
        assert answer.topics[0].partitions[0].error_code == 0
        _commit(raw, -1, "", {"t": {1: 6}})  # v8: the broker's retention
        T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
        assert broker.expire_offsets(wall[0] + 59_999) == {}
        assert broker.expire_offsets(wall[0] + 60_000) == {"g": ExpiredOffsets((T0,), False)}
        assert broker.committed("g", [T0, T1])[T1].offset == 6
