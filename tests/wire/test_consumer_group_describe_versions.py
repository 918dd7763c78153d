"""ConsumerGroupDescribe v1 (Kafka 4.0, KIP-1099): each member's MemberType, 0 for a classic
member and 1 for a consumer-protocol member, encoded and decoded by kafka-python's codec from
Kafka's JSON schema; v0 has no such field."""

from __future__ import annotations

import pytest
from kafka.protocol.metadata import ApiVersionsRequest

from pcmodel.wire.schemas import ConsumerGroupDescribeRequest
from tests.wire.test_group_migration import consumer_beat, join

pytestmark = pytest.mark.timeout(30)

MEMBER_ID_REQUIRED, GROUP_ID_NOT_FOUND = 79, 69
CLASSIC, CONSUMER = 0, 1


@pytest.fixture
def mixed_group(broker, raw):
    """Consumer group ``g`` of ``"m"`` (consumer protocol) and a classic member: its id."""
    broker.create_topic("t", 4)
    assert consumer_beat(raw, "m", 0).error_code == 0
    required = join(raw)
    assert required.error_code == MEMBER_ID_REQUIRED
    assert join(raw, required.member_id).error_code == 0
    return required.member_id


def describe(raw, version, group_ids=("g",)):
    return raw.request(ConsumerGroupDescribeRequest[version](
        group_ids=list(group_ids), include_authorized_operations=False)).groups


def test_api_versions_announce_describe_v1(raw):
    versions = {k.api_key: (k.min_version, k.max_version)
                for k in raw.request(ApiVersionsRequest[3](client_software_name="t",
                                                           client_software_version="1")).api_keys}
    assert versions[69] == (0, 1)


def test_v1_tells_classic_members_from_consumer_members(raw, mixed_group):
    (group,) = describe(raw, 1)
    assert group.error_code == 0
    assert {m.member_id: m.member_type for m in group.members} == {
        "m": CONSUMER, mixed_group: CLASSIC}
    missing, empty = describe(raw, 1, ["missing", ""])
    assert (missing.error_code, missing.members) == (GROUP_ID_NOT_FOUND, [])
    assert (empty.error_code, empty.members) == (24, [])  # INVALID_GROUP_ID


def test_v0_answers_the_same_group_without_the_member_type(raw, mixed_group):
    (old,) = describe(raw, 0)
    (new,) = describe(raw, 1)
    # A MemberType byte sent at v0 would shift every later field: the members would not
    # decode to the same ids and assignments.
    assert [(m.member_id, m.assignment, m.target_assignment) for m in old.members] == \
        [(m.member_id, m.assignment, m.target_assignment) for m in new.members]
    # Version 0 carries no MemberType: what the codec gives is the field's default, -1.
    assert {getattr(m, "member_type", -1) for m in old.members} == {-1}
