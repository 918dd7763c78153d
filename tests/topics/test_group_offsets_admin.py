"""Moving and deleting a group's committed offsets: the broker's OffsetDelete and the admin
client's alter, reset and delete, with Kafka's rules for groups that have members."""

from __future__ import annotations

import pytest

from pcmodel.topics import (
    GroupIdNotFoundError,
    GroupNotEmptyError,
    GroupSubscribedToTopicError,
    IllegalArgumentError,
    KafkaAdminClient,
    KafkaTimeoutError,
    NoError,
    OffsetAndMetadata,
    OffsetAndTimestamp,
    OffsetSpec,
    OffsetTimestamp,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
    UnsupportedVersionError,
)
from tests.topics.conftest import fill, join_alone, tp

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def admin(broker):
    with KafkaAdminClient(broker=broker) as client:
        yield client


def stamped(broker, topic: str, count: int) -> None:
    """``count`` records in partition 0 of ``topic``; the one at offset i stamped 1000 * (i+1)."""
    for i in range(count):
        broker.append(topic, 0, [(None, f"v{i}".encode(), (), 1000 * (i + 1))])


def kinds(results: dict) -> dict:
    """``{partition: error class name or None}`` of a ``delete_offsets`` answer."""
    return {p: None if e is None else type(e).__name__ for p, e in results.items()}


# --- the broker's OffsetDelete --------------------------------------------------------------------


def test_an_empty_groups_offsets_go_and_the_group_goes_with_the_last(broker):
    broker.create_topic("t", 2)
    t0, t1 = tp("t", 0), tp("t", 1)
    broker.commit_offsets("g", -1, "", {t0: 3, t1: 4})
    assert kinds(broker.delete_offsets("g", [t0, tp("t", 7), tp("nope", 0)])) == {
        t0: None, tp("t", 7): "UnknownTopicOrPartitionError",
        tp("nope", 0): "UnknownTopicOrPartitionError",
    }
    assert broker.committed("g", [t0, t1]) == {t0: None, t1: OffsetAndMetadata(4)}
    assert broker.list_groups() == ["g"]
    assert kinds(broker.delete_offsets("g", [t1, t0])) == {t1: None, t0: None}
    assert broker.list_groups() == []  # Empty with no offset: deleted, as Kafka does
    with pytest.raises(GroupIdNotFoundError):
        broker.delete_offsets("g", [t0])


def test_a_group_with_members_keeps_the_offsets_of_the_topics_it_subscribes_to(broker):
    broker.create_topic("t", 1)
    broker.create_topic("old", 1)
    t0, old0 = tp("t", 0), tp("old", 0)
    member = join_alone(broker, "g", ["t"])
    broker.commit_offsets("g", member.generation, member.member_id, {t0: 1, old0: 2})
    results = broker.delete_offsets("g", [t0, old0])
    assert kinds(results) == {t0: "GroupSubscribedToTopicError", old0: None}
    assert results[t0].errno == 86
    assert broker.committed("g", [t0, old0]) == {t0: OffsetAndMetadata(1), old0: None}
    broker.leave_group("g", member.member_id)
    assert kinds(broker.delete_offsets("g", [t0])) == {t0: None}  # Empty now
    assert broker.list_groups() == []


def test_a_group_with_members_of_another_protocol_refuses_as_a_whole(broker):
    broker.create_topic("t", 1)
    joined = broker.join_group("workers", "", protocols=[("plan", b"")],
                               protocol_type="connect", timeout=5)
    broker.sync_group("workers", joined.member_id, joined.generation, assignments={})
    with pytest.raises(GroupNotEmptyError, match="not a consumer group") as caught:
        broker.delete_offsets("workers", [tp("t", 0)])
    assert caught.value.errno == 68
    with pytest.raises(GroupIdNotFoundError, match="no group 'nobody'"):
        broker.delete_offsets("nobody", [tp("t", 0)])


def test_deleting_a_groups_last_offset_on_a_block_topic_releases_it(broker):
    broker.create_topic("b", 1, retention_policy="block", retention_records=2)
    broker.create_topic("t", 1)
    b0 = tp("b", 0)
    broker.commit_offsets("fast", -1, "", {b0: 0})
    broker.commit_offsets("slow", -1, "", {b0: 0, tp("t", 0): 0})
    fill(broker, "b", 0, [b"1", b"2"])
    broker.commit_offsets("fast", -1, "", {b0: 2})
    with pytest.raises(KafkaTimeoutError):  # "slow" holds the partition at offset 0
        broker.append("b", 0, [(None, b"3")], timeout=0.01)
    assert kinds(broker.delete_offsets("slow", [b0])) == {b0: None}
    assert broker.list_groups() == ["fast", "slow"]  # it still has an offset of "t"
    assert broker.beginning_offsets([b0]) == {b0: 2}
    broker.append("b", 0, [(None, b"3")], timeout=0.01)


def test_deleting_a_topic_deletes_a_memberless_group_that_had_offsets_only_there(broker):
    broker.create_topic("t", 1)
    broker.create_topic("u", 1)
    t0, u0 = tp("t", 0), tp("u", 0)
    broker.commit_offsets("only-t", -1, "", {t0: 1})
    broker.commit_offsets("both", -1, "", {t0: 1, u0: 2})
    member = join_alone(broker, "busy", ["u"])
    broker.commit_offsets("busy", member.generation, member.member_id, {t0: 3})
    broker.delete_topic("t")
    assert broker.list_groups() == ["both", "busy"]  # "busy" has a member, "both" an offset
    assert broker.committed("both", [t0, u0]) == {t0: None, u0: OffsetAndMetadata(2)}
    assert broker.committed("busy", [t0]) == {t0: None}


# --- the admin client ---------------------------------------------------------------------------


def test_alter_commits_for_an_empty_group_and_reports_per_partition(admin, broker):
    broker.create_topic("t", 2)
    t0, t1 = tp("t", 0), tp("t", 1)
    result = admin.alter_group_offsets("g", {t0: OffsetAndMetadata(3, "by-admin"),
                                             tp("t", 9): OffsetAndMetadata(1)})
    assert result == {t0: NoError, tp("t", 9): UnknownTopicOrPartitionError}
    assert admin.list_group_offsets("g") == {"g": {t0: OffsetAndMetadata(3, "by-admin")}}
    member = join_alone(broker, "g", ["t"])
    assert admin.alter_group_offsets("g", {t1: OffsetAndMetadata(1)}) == {
        t1: UnknownMemberIdError}  # only members commit while the group has them
    assert broker.committed("g", [t1]) == {t1: None}
    broker.leave_group("g", member.member_id)
    assert admin.alter_group_offsets("g", {}) == {}


def test_alter_refuses_bad_values_before_committing_anything(admin, broker):
    broker.create_topic("t", 2)
    t0, t1 = tp("t", 0), tp("t", 1)
    with pytest.raises(TypeError, match="OffsetAndMetadata"):
        admin.alter_group_offsets("g", {t0: OffsetAndMetadata(1), t1: 5})
    with pytest.raises(IllegalArgumentError, match="must be an int >= 0, not -1"):
        admin.alter_group_offsets("g", {t0: OffsetAndMetadata(1), t1: OffsetAndMetadata(-1)})
    with pytest.raises(TypeError):
        admin.alter_group_offsets("g", {("t",): OffsetAndMetadata(1)})
    assert broker.list_groups() == []


def test_list_partition_offsets_answers_as_kafkas_list_offsets(admin, broker):
    broker.create_topic("t", 1)
    stamped(broker, "t", 5)
    t0 = tp("t", 0)
    # A found offset carries the leader's epoch (a lone broker's is 0), a missing one -1.
    assert admin.list_partition_offsets({t0: OffsetSpec.EARLIEST}) == {
        t0: OffsetAndTimestamp(0, -1, 0)}
    assert admin.list_partition_offsets({t0: OffsetSpec.LATEST}) == {
        t0: OffsetAndTimestamp(5, -1, 0)}
    assert admin.list_partition_offsets({t0: OffsetTimestamp(2500)}) == {
        t0: OffsetAndTimestamp(2, 3000, 0)}
    assert admin.list_partition_offsets({t0: 9_999}) == {t0: OffsetAndTimestamp(-1, -1, None)}
    # The first record with the largest timestamp (KIP-734), with the epoch that wrote it.
    assert admin.list_partition_offsets({t0: OffsetSpec.MAX_TIMESTAMP}) == {
        t0: OffsetAndTimestamp(4, 5000, 0)}
    # No tiered storage: the local log start is the log start, and nothing is tiered.
    assert admin.list_partition_offsets({t0: OffsetSpec.EARLIEST_LOCAL}) == {
        t0: OffsetAndTimestamp(0, -1, 0)}
    assert admin.list_partition_offsets({t0: OffsetSpec.LATEST_TIERED}) == {
        t0: OffsetAndTimestamp(-1, -1, None)}
    assert admin.list_partition_offsets({t0: OffsetSpec.EARLIEST_PENDING_UPLOAD}) == {
        t0: OffsetAndTimestamp(-1, -1, None)}
    with pytest.raises(UnsupportedVersionError,
                       match="offset spec -9 .* Kafka has EARLIEST.*EARLIEST_PENDING_UPLOAD"):
        admin.list_partition_offsets({t0: -9})
    with pytest.raises(TypeError, match="unsupported offset spec"):
        admin.list_partition_offsets({t0: "earliest"})
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.list_partition_offsets({tp("t", 3): OffsetSpec.LATEST})
    with pytest.raises(IllegalArgumentError, match="isolation_level"):
        admin.list_partition_offsets({t0: OffsetSpec.LATEST}, isolation_level=2)


def test_reset_clamps_to_the_log_keeps_metadata_and_replays(admin, broker, make_consumer):
    broker.create_topic("t", 1, retention_records=4)
    stamped(broker, "t", 5)
    t0 = tp("t", 0)
    start = broker.beginning_offsets([t0])[t0]
    assert start == 1  # the first record is no longer retained
    admin.alter_group_offsets("g", {t0: OffsetAndMetadata(4, "note")})
    targets = [(OffsetSpec.EARLIEST, 1), (OffsetSpec.LATEST, 5), (OffsetTimestamp(2500), 2),
               (OffsetSpec.MAX_TIMESTAMP, 4), (OffsetSpec.LATEST_TIERED, 5),
               (OffsetTimestamp(99_000), 5), (3, 3), (0, 1), (99, 5), (-7, 5)]
    for spec, expected in targets:
        assert admin.reset_group_offsets("g", {t0: spec}) == {
            t0: {"error": NoError, "offset": expected}}, spec
        assert broker.committed("g", [t0]) == {t0: OffsetAndMetadata(expected, "note")}
    admin.reset_group_offsets("g", {t0: OffsetTimestamp(3000)})
    consumer = make_consumer(group_id="g", enable_auto_commit=False)
    consumer.assign([t0])
    assert consumer.position(t0) == 2


def test_reset_refuses_bad_targets_before_committing_anything(admin, broker):
    broker.create_topic("t", 2)
    t0, t1 = tp("t", 0), tp("t", 1)
    with pytest.raises(TypeError, match="unsupported reset target"):
        admin.reset_group_offsets("g", {t0: OffsetSpec.EARLIEST, t1: "earliest"})
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.reset_group_offsets("g", {t0: OffsetSpec.EARLIEST, tp("t", 5): 0})
    assert admin.reset_group_offsets("g", {}) == {}
    assert broker.list_groups() == []


def test_delete_group_offsets_maps_each_partition_to_an_error_class(admin, broker):
    broker.create_topic("t", 1)
    broker.create_topic("old", 1)
    t0, old0 = tp("t", 0), tp("old", 0)
    member = join_alone(broker, "g", ["t"])
    broker.commit_offsets("g", member.generation, member.member_id, {t0: 1, old0: 2})
    assert admin.delete_group_offsets("g", [t0, old0, tp("old", 4)]) == {
        t0: GroupSubscribedToTopicError, old0: NoError, tp("old", 4): UnknownTopicOrPartitionError}
    assert admin.delete_group_offsets("g", []) == {}
    with pytest.raises(GroupIdNotFoundError):
        admin.delete_group_offsets("nobody", [t0])
