"""Answers of the listener field by field against what Kafka's code answers: the
version-dependent code of a commit to a group that does not exist, the records a Produce answer
names when it refuses a batch for some of them, the address a described member connected from,
the states filter of ListGroups, and the order of an OffsetFetch answer."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import DescribeGroupsRequest, ListGroupsRequest
from kafka.protocol.consumer.group import JoinGroupRequest, OffsetCommitRequest, SyncGroupRequest

from pcmodel.topics.log_records import wall_clock_ms
from tests.wire.conftest import produce_request, record_batch

pytestmark = pytest.mark.timeout(60)

_GROUP_ID_NOT_FOUND = 69
_ILLEGAL_GENERATION = 22
_INVALID_TIMESTAMP = 32
_INVALID_RECORD = 87


def _commit(version: int, group: str, generation: int, topic: str = "t", member_id="m"):
    Topic = OffsetCommitRequest.OffsetCommitRequestTopic  # noqa: N806
    return OffsetCommitRequest[version](
        group_id=group, generation_id_or_member_epoch=generation, member_id=member_id,
        group_instance_id=None, retention_time_ms=-1, topics=[Topic(name=topic, partitions=[
            Topic.OffsetCommitRequestPartition(partition_index=0, committed_offset=1,
                                               committed_leader_epoch=-1, commit_timestamp=-1,
                                               committed_metadata="")])])


@pytest.mark.parametrize(("version", "code"), [
    (2, _ILLEGAL_GENERATION), (8, _ILLEGAL_GENERATION), (9, _GROUP_ID_NOT_FOUND)])
def test_offset_commit_to_a_missing_group_answers_by_version(broker, raw, version, code):
    broker.create_topic("t", 1)
    answer = raw.request(_commit(version, "nobody-joined", generation=3))
    assert answer.topics[0].partitions[0].error_code == code
    assert "nobody-joined" not in broker.group_states()  # nothing was created


def test_offset_commit_v9_from_an_old_generation_of_a_live_group_stays_illegal(broker, raw):
    broker.create_topic("t", 1)
    member = broker.join_group("g", "", protocols=[("range", b"")], timeout=10)
    broker.sync_group("g", member.member_id, member.generation,
                      assignments={member.member_id: b""}, timeout=10)
    answer = raw.request(_commit(9, "g", generation=member.generation + 1,
                                 member_id=member.member_id))
    assert answer.topics[0].partitions[0].error_code == _ILLEGAL_GENERATION


def test_offset_commit_v9_without_a_generation_creates_the_group(broker, raw):
    broker.create_topic("t", 1)
    answer = raw.request(_commit(9, "simple", generation=-1))
    assert answer.topics[0].partitions[0].error_code == 0
    assert broker.committed("simple", [("t", 0)])[("t", 0)].offset == 1


def _partition_answer(raw, topic, batch):
    return raw.request(produce_request(topic, 0, batch)).responses[0].partition_responses[0]


def test_produce_names_every_record_without_a_key_on_a_compacted_topic(broker, raw):
    broker.create_topic("c", 1, configs={"cleanup.policy": "compact"})
    broker.append("c", 0, [(b"k", b"v")])
    broker.delete_records({("c", 0): 1})
    answer = _partition_answer(raw, "c", record_batch([b"a", b"b", b"c"],
                                                      keys=[None, b"k", None]))
    why = "Compacted topic cannot accept message without key in topic partition c-0"
    assert answer.error_code == _INVALID_RECORD
    assert [(e.batch_index, e.batch_index_error_message) for e in answer.record_errors] == [
        (0, why), (2, why)]
    assert answer.error_message == (
        "One or more records have been rejected due to 2 record errors in total, and only "
        f"showing the first three errors at most: [RecordError(batchIndex=0, message='{why}'), "
        f"RecordError(batchIndex=2, message='{why}')]")
    assert answer.log_start_offset == 1  # Kafka answers the partition's, as for any refusal
    assert answer.base_offset == -1
    assert broker.end_offsets([("c", 0)]) == {("c", 0): 1}


def test_produce_names_every_record_out_of_the_timestamp_window(broker, raw):
    broker.create_topic("ts", 1, configs={"message.timestamp.after.max.ms": "60000"})
    now = wall_clock_ms()
    future = now + 3_600_000
    batch = record_batch([b"a", b"b", b"c"], timestamp=future - 1)  # times: -1, +0, +1
    answer = _partition_answer(raw, "ts", batch)
    assert answer.error_code == _INVALID_TIMESTAMP
    assert answer.error_message == "One or more records have been rejected due to invalid " \
                                   "timestamp"
    assert [e.batch_index for e in answer.record_errors] == [0, 1, 2]
    first = answer.record_errors[0].batch_index_error_message
    assert first.startswith(f"Timestamp {future - 1} of message with offset 0 is out of range. "
                            "The timestamp should be within [")


def test_produce_refuses_a_batch_for_its_times_before_its_keys(broker, raw):
    """A record without a key and another with a time out of range: Kafka lists both and
    answers INVALID_TIMESTAMP (any time refused makes the batch's error one of time)."""
    broker.create_topic("both", 1, configs={"cleanup.policy": "compact",
                                            "message.timestamp.after.max.ms": "60000"})
    late = wall_clock_ms() + 3_600_000
    batch = record_batch([b"a", b"b"], keys=[None, b"k"], timestamp=late)
    answer = _partition_answer(raw, "both", batch)
    assert answer.error_code == _INVALID_TIMESTAMP
    assert [e.batch_index for e in answer.record_errors] == [0, 1]
    assert answer.record_errors[0].batch_index_error_message.startswith("Compacted topic")
    assert answer.record_errors[1].batch_index_error_message.startswith(f"Timestamp {late + 1}")


def _stable_group(raw, group: str = "g") -> str:
    """Join ``group`` as its only member over ``raw`` and sync; the member id."""
    Protocol = JoinGroupRequest.JoinGroupRequestProtocol  # noqa: N806
    joined = raw.request(JoinGroupRequest[3](
        group_id=group, session_timeout_ms=30_000, rebalance_timeout_ms=30_000, member_id="",
        protocol_type="consumer", protocols=[Protocol(name="range", metadata=b"")]))
    assert joined.error_code == 0
    synced = raw.request(SyncGroupRequest[3](
        group_id=group, generation_id=joined.generation_id, member_id=joined.member_id,
        group_instance_id=None, assignments=[]))
    assert synced.error_code == 0
    return joined.member_id


def test_a_described_member_shows_the_address_it_joined_from(raw):
    member_id = _stable_group(raw)
    [group] = raw.request(DescribeGroupsRequest[5](groups=["g"],
                                                   include_authorized_operations=False)).groups
    [member] = group.members
    assert (member.member_id, member.client_id, member.client_host) == (
        member_id, "raw-test", "/127.0.0.1")


def test_list_groups_trims_the_states_asked_for(raw):
    _stable_group(raw)
    listed = raw.request(ListGroupsRequest[4](states_filter=[" STABLE\t"])).groups
    assert [(g.group_id, g.group_state) for g in listed] == [("g", "Stable")]
    assert raw.request(ListGroupsRequest[4](states_filter=["empty"])).groups == []


def test_offset_fetch_answers_the_partitions_in_the_order_asked(broker, raw):
    from kafka.protocol.consumer.group import OffsetFetchRequest

    broker.create_topic("t", 3)
    broker.commit_offsets("g", -1, "", {("t", 2): 7})
    Topic = OffsetFetchRequest.OffsetFetchRequestTopic  # noqa: N806
    answer = raw.request(OffsetFetchRequest[5](group_id="g", require_stable=False, topics=[
        Topic(name="t", partition_indexes=[2, 0]), Topic(name="other", partition_indexes=[0]),
        Topic(name="t", partition_indexes=[1])]))
    assert [(t.name, [(p.partition_index, p.committed_offset) for p in t.partitions])
            for t in answer.topics] == [("t", [(2, 7), (0, -1)]), ("other", [(0, -1)]),
                                        ("t", [(1, -1)])]
