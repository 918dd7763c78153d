"""Offsets retention on one broker: Kafka's ``offsets.retention.minutes`` and its check.

Time is the test's: the broker's wall clock (``timestamp_clock``, epoch ms) and its monotonic
clock are hand clocks, so every expiry happens at a moment the test names.
"""

from __future__ import annotations

import json

import pytest

from pcmodel.topics.broker import Broker, ExpiredOffsets
from pcmodel.topics.errors import GroupIdNotFoundError, IllegalArgumentError
from pcmodel.topics.group_snapshot import GroupMetadataRecord
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.topics.conftest import FakeClock, WallClock, consumer_protocols, join_alone

pytestmark = pytest.mark.timeout(30)

MINUTE = 60_000
START = 1_700_000_000_000
A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def make_broker(wall: WallClock, **settings) -> Broker:
    broker = Broker(timestamp_clock=wall, clock=FakeClock(), **settings)
    broker.create_topic("a", 2)
    broker.create_topic("b", 1)
    return broker


def offsets_of(broker: Broker, group: str) -> dict:
    found = broker.committed(group, [A0, A1, B0])
    return {tp: v.offset for tp, v in found.items() if v is not None}


def test_offsets_of_a_group_without_members_expire_each_from_its_own_commit():
    wall = WallClock()
    with make_broker(wall, offsets_retention_minutes=60,
                     offsets_retention_check_interval_ms=1) as broker:
        broker.commit_offsets("solo", -1, "", {A0: 5, A1: 7})
        wall.now += 30 * MINUTE
        broker.commit_offsets("solo", -1, "", {A1: 8})
        wall.now += 30 * MINUTE - 1
        assert offsets_of(broker, "solo") == {A0: 5, A1: 8}
        wall.now += 1  # A0 committed 60 minutes ago; A1 30
        assert offsets_of(broker, "solo") == {A1: 8}
        assert "solo" in broker.list_groups()
        wall.now += 30 * MINUTE
        assert offsets_of(broker, "solo") == {}
        assert "solo" not in broker.list_groups()  # Empty without offsets: deleted
        with pytest.raises(GroupIdNotFoundError):
            broker.describe_group("solo")


def test_a_stable_consumer_group_keeps_the_offsets_of_the_topics_it_subscribes_to():
    wall = WallClock()
    with make_broker(wall, offsets_retention_minutes=60,
                     offsets_retention_check_interval_ms=1) as broker:
        joined = join_alone(broker, "g", ["a"], session_timeout_ms=1_800_000)
        broker.commit_offsets("g", joined.generation, joined.member_id, {A0: 3, B0: 4})
        wall.now += 24 * 60 * MINUTE  # a day: far past the retention
        assert broker.expire_offsets() == {"g": ExpiredOffsets((B0,), False)}
        assert offsets_of(broker, "g") == {A0: 3}  # subscribed: kept however old
        assert broker.describe_group("g").state == "Stable"

        broker.leave_group("g", joined.member_id)  # Empty from now: the clock starts again
        assert broker.describe_group("g").state == "Empty"
        wall.now += 60 * MINUTE - 1
        assert offsets_of(broker, "g") == {A0: 3}
        wall.now += 1
        assert offsets_of(broker, "g") == {}
        assert broker.list_groups() == []


def test_nothing_expires_while_the_group_rebalances():
    wall = WallClock()
    with make_broker(wall, offsets_retention_minutes=1,
                     offsets_retention_check_interval_ms=1) as broker:
        joined = join_alone(broker, "g", ["a"], session_timeout_ms=1_800_000)
        broker.commit_offsets("g", joined.generation, joined.member_id, {B0: 4})
        second = broker.join_group("g", "", protocols=consumer_protocols(["a"]),
                                   session_timeout_ms=1_800_000, timeout=0)
        assert second.pending and broker.describe_group("g").state == "PreparingRebalance"
        wall.now += 10 * MINUTE
        assert broker.expire_offsets() == {}
        assert offsets_of(broker, "g") == {B0: 4}


def test_the_check_runs_once_its_interval_has_passed():
    wall = WallClock()
    with make_broker(wall, offsets_retention_minutes=1) as broker:  # Kafka's 10-minute check
        broker.commit_offsets("solo", -1, "", {A0: 5})
        wall.now += 9 * MINUTE
        assert offsets_of(broker, "solo") == {A0: 5}  # long expired, not yet checked
        wall.now += MINUTE
        assert offsets_of(broker, "solo") == {}


def test_a_group_whose_members_left_without_committing_is_deleted_by_the_next_check():
    wall = WallClock()
    with make_broker(wall, offsets_retention_check_interval_ms=None) as broker:
        joined = join_alone(broker, "g", ["a"])
        broker.leave_group("g", joined.member_id)
        assert broker.list_groups() == ["g"]  # no check runs by itself
        assert broker.expire_offsets() == {"g": ExpiredOffsets((), True)}
        assert broker.list_groups() == []


def test_a_loaded_group_expires_from_the_stored_times_not_from_the_load():
    wall = WallClock()
    with make_broker(wall, offsets_retention_minutes=60,
                     offsets_retention_check_interval_ms=None) as broker:
        broker.load_offsets("solo", {A0: OffsetAndMetadata(5)}, {A0: START - 50 * MINUTE})
        broker.load_offsets("g", {A1: OffsetAndMetadata(6)}, {A1: START - 300 * MINUTE})
        became_empty = GroupMetadataRecord("g", 4, "consumer", None, None, (),
                                           START - 20 * MINUTE)
        assert broker.load_group(became_empty.encode())
        assert broker.describe_group("g").state == "Empty"
        assert broker.expire_offsets() == {}
        assert broker.expire_offsets(START + 10 * MINUTE) == {
            "solo": ExpiredOffsets((A0,), True)}
        assert broker.expire_offsets(START + 40 * MINUTE) == {"g": ExpiredOffsets((A1,), True)}


def test_the_group_record_keeps_the_time_its_state_began():
    wall = WallClock()
    with make_broker(wall) as broker:
        joined = join_alone(broker, "g", ["a"])
        wall.now += 5
        broker.leave_group("g", joined.member_id)
        record = GroupMetadataRecord.decode(broker.group_metadata("g"))
    assert record.members == () and record.current_state_timestamp == START + 5
    fields = json.loads(record.encode())
    del fields["current_state_timestamp"]  # a record stored before the field existed
    assert GroupMetadataRecord.decode(json.dumps(fields).encode()).current_state_timestamp == -1


def test_bad_settings_are_refused_with_their_name():
    with pytest.raises(IllegalArgumentError, match="offsets_retention_minutes"):
        Broker(offsets_retention_minutes=0)
    with pytest.raises(IllegalArgumentError, match="offsets_retention_check_interval_ms"):
        Broker(offsets_retention_check_interval_ms=0)
    with Broker() as broker, pytest.raises(IllegalArgumentError, match="now_ms"):
        broker.expire_offsets(-1)
