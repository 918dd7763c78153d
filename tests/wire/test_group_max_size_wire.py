"""JoinGroup past ``group.max.size`` answers GROUP_MAX_SIZE_REACHED (81), which kafka-python
and the Java client raise from ``poll()`` as a fatal error (``GroupMaxSizeReachedError``)."""

from __future__ import annotations

from kafka.protocol.consumer.group import JoinGroupRequest, SyncGroupRequest

from pcmodel.topics.consumer_protocol import encode_subscription

SUBSCRIPTION = encode_subscription(["t"])


def _join(raw, member_id=""):
    protocols = [JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=SUBSCRIPTION)]
    return raw.request(JoinGroupRequest[5](
        group_id="g", session_timeout_ms=10_000, rebalance_timeout_ms=5_000,
        member_id=member_id, group_instance_id=None, protocol_type="consumer",
        protocols=protocols))


def test_a_join_to_a_full_group_answers_group_max_size_reached(broker, raw):
    broker.create_topic("t", 1)
    broker.group_classic_max_size = 1
    member_id = _join(raw).member_id  # MEMBER_ID_REQUIRED, with the id to use
    joined = _join(raw, member_id)
    assert joined.error_code == 0
    synced = raw.request(SyncGroupRequest[3](
        group_id="g", generation_id=joined.generation_id, member_id=member_id,
        group_instance_id=None, assignments=[]))
    assert synced.error_code == 0
    refused = _join(raw)
    assert refused.error_code == 81  # GROUP_MAX_SIZE_REACHED
    assert [m.member_id for m in broker.describe_group("g").members] == [member_id]
    stranger = _join(raw, "stranger-1")  # an id the group does not know: removed, id unknown
    assert (stranger.error_code, stranger.member_id) == (81, "")
    assert [m.member_id for m in broker.describe_group("g").members] == [member_id]
