"""Requests at the edges of what Kafka accepts, answered with Kafka's error codes: fetch session
epochs, batches a Produce request of its version may not carry, a bad batch for a partition that
does not exist, group requests that name no group, and topics named twice in one request or by
an id."""

from __future__ import annotations

import struct
import uuid

from kafka.protocol.admin import CreatePartitionsRequest, DeleteTopicsRequest
from kafka.protocol.consumer.group import HeartbeatRequest, LeaveGroupRequest
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.util import calc_crc32c

from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import fetch_request, produce_request, record_batch

FETCH_SESSION_ID_NOT_FOUND, INVALID_RECORD, UNSUPPORTED_COMPRESSION_TYPE = 70, 87, 76
UNKNOWN_TOPIC_OR_PARTITION, INVALID_GROUP_ID, CORRUPT_MESSAGE, INVALID_REQUEST = 3, 24, 2, 42
UNKNOWN_TOPIC_ID = 100
ZSTD = 4
_ATTRIBUTES_AT, _CRC_AT = 21, 17  # in a v2 batch header


def _partition(response):
    return response.responses[0].partition_responses[0]


def _with_codec(batch: bytes, codec: int) -> bytes:
    """``batch`` with the codec bits of its attributes set to ``codec``, its CRC fixed."""
    out = bytearray(batch)
    attributes = struct.unpack_from(">h", out, _ATTRIBUTES_AT)[0] & ~0x07 | codec
    struct.pack_into(">h", out, _ATTRIBUTES_AT, attributes)
    struct.pack_into(">I", out, _CRC_AT, calc_crc32c(bytes(out[_ATTRIBUTES_AT:])))
    return bytes(out)


def test_an_incremental_fetch_naming_an_unknown_session_is_refused(broker, raw):
    broker.create_topic("t", 2)
    broker.append("t", 0, [(None, b"a")])
    full = raw.request(fetch_request({("t", 0): 0, ("t", 1): 0}))
    assert full.error_code == 0 and full.session_id == 0  # sessions declined: sessionless
    for session_id, epoch in ((0, 1), (1234, 1), (1234, 7)):
        request = fetch_request({("t", 0): 0})
        request.session_id, request.session_epoch = session_id, epoch
        answer = raw.request(request)
        # Answering only the partition named would read as "t-1 has nothing new", which an
        # incremental fetch does not mean: Kafka refuses a session it does not know.
        assert (answer.error_code, answer.session_id, answer.responses) == (
            FETCH_SESSION_ID_NOT_FOUND, 0, [])
    request = fetch_request({("t", 0): 0})
    request.session_id, request.session_epoch = 1234, 0  # full: closes 1234, asks for a new one
    answer = raw.request(request)
    assert answer.error_code == 0 and answer.responses[0].partitions[0].records


def test_a_produce_of_a_magic_v1_message_set_is_invalid_record(broker, raw):
    broker.create_topic("t", 1)
    builder = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 20)
    builder.append(0, timestamp=1_000, key=None, value=bytes(100))
    part = _partition(raw.request(produce_request("t", 0, bytes(builder.build()))))
    assert part.error_code == INVALID_RECORD  # Kafka's ProduceRequest.validateRecords
    assert "magic v2" in part.error_message
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}


def test_zstd_needs_produce_v7(broker, raw):
    broker.create_topic("t", 1)
    zstd = record_batch([bytes(1000)], compression=ZSTD)
    for version in (3, 6):
        part = _partition(raw.request(produce_request("t", 0, zstd, version=version)))
        assert part.error_code == UNSUPPORTED_COMPRESSION_TYPE, version
    # Kafka checks the codec before the CRC or the records: a batch that only claims zstd
    # is refused the same way.
    claims_zstd = _with_codec(record_batch([b"z"]), ZSTD)
    part = _partition(raw.request(produce_request("t", 0, claims_zstd, version=5)))
    assert part.error_code == UNSUPPORTED_COMPRESSION_TYPE
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}
    for version in (7, 9):
        part = _partition(raw.request(produce_request("t", 0, zstd, version=version)))
        assert part.error_code == 0, version
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 2}


def test_a_bad_batch_for_a_missing_partition_is_unknown_topic_or_partition(broker, raw):
    broker.create_topic("t", 1)
    corrupt = bytearray(record_batch([b"a"]))
    corrupt[-1] ^= 0xFF
    for topic, partition in (("t", 3), ("absent", 0)):
        for batch in (bytes(corrupt), record_batch([b"a"]) * 2):
            part = _partition(raw.request(produce_request(topic, partition, batch)))
            assert part.error_code == UNKNOWN_TOPIC_OR_PARTITION, (topic, partition)
    # The partition exists: the batch itself is judged.
    assert _partition(raw.request(produce_request("t", 0, bytes(corrupt)))).error_code == \
        CORRUPT_MESSAGE


def test_heartbeat_and_leave_group_naming_no_group_are_invalid_group_id(raw):
    for version in (0, 4):
        answer = raw.request(HeartbeatRequest[version](
            group_id="", generation_id=1, member_id="m", group_instance_id=None))
        assert answer.error_code == INVALID_GROUP_ID, version
    answer = raw.request(LeaveGroupRequest[0](group_id="", member_id="m"))
    assert answer.error_code == INVALID_GROUP_ID
    Member = LeaveGroupRequest.MemberIdentity  # noqa: N806
    answer = raw.request(LeaveGroupRequest[5](group_id="", members=[
        Member(member_id="m", group_instance_id=None, reason=None)]))
    assert (answer.error_code, answer.members) == (INVALID_GROUP_ID, [])


def test_create_partitions_naming_a_topic_twice_grows_neither(broker, raw):
    broker.create_topic("twice", 1)
    broker.create_topic("once", 1)
    Topic = CreatePartitionsRequest.CreatePartitionsTopic  # noqa: N806
    answer = raw.request(CreatePartitionsRequest[3](
        topics=[Topic(name="twice", count=2, assignments=None),
                Topic(name="once", count=3, assignments=None),
                Topic(name="twice", count=4, assignments=None)],
        timeout_ms=5000, validate_only=False))
    assert [(r.name, r.error_code, r.error_message) for r in answer.results] == [
        ("once", 0, None), ("twice", INVALID_REQUEST, "Duplicate topic name.")]
    assert broker.list_topics() == {"once": 3, "twice": 1}


def test_delete_topics_by_id_as_kafka_checks_it(broker, raw):
    broker.create_topic("t", 1)
    State = DeleteTopicsRequest.DeleteTopicState  # noqa: N806
    some_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    answer = raw.request(DeleteTopicsRequest[6](timeout_ms=5000, topics=[
        State(name=None, topic_id=None), State(name=None, topic_id=some_id),
        State(name="t", topic_id=some_id)]))
    assert sorted((r.name or "", r.topic_id == some_id, r.error_code)
                  for r in answer.responses) == [
        ("", False, INVALID_REQUEST),  # neither name nor id
        ("", True, UNKNOWN_TOPIC_ID),  # no topic has that id
        ("t", True, INVALID_REQUEST)]  # both
    assert broker.list_topics() == {"t": 1}
