"""The broker's client contract: admin, append/fetch, offsets, commits, picklable answers."""

from __future__ import annotations

import inspect
import pickle
import threading

import pytest

from pcmodel.topics.broker import CLIENT_METHODS, Broker, FetchError, TopicDescription
from pcmodel.topics.errors import (
    GroupIdNotFoundError,
    GroupNotEmptyError,
    IllegalArgumentError,
    IllegalGenerationError,
    IllegalStateError,
    InvalidGroupIdError,
    InvalidPartitionsError,
    InvalidTopicError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.partitioner import default_partition
from pcmodel.topics.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition
from tests.topics.conftest import WallClock, consumer_protocols, fill, join_alone, tp

pytestmark = pytest.mark.timeout(15)


def test_client_methods_exist_and_are_documented():
    assert len(set(CLIENT_METHODS)) == len(CLIENT_METHODS)
    for name in CLIENT_METHODS:
        method = getattr(Broker, name)
        assert callable(method) and inspect.getdoc(method), name
    assert "close" not in CLIENT_METHODS and "connect" not in CLIENT_METHODS


def test_every_answer_pickles(broker):
    broker.create_topic("t", 2)
    answers = [
        broker.append("t", 0, [(b"k", b"v", [("h", b"x")], 7)]),
        broker.fetch({tp("t", 0): 0, tp("t", 1): 5}),
        broker.list_topics(),
        broker.describe_topic("t"),
        broker.partitions_for("t"),
        broker.end_offsets([tp("t", 0)]),
        broker.offsets_for_times({tp("t", 0): 0}),
        broker.join_group("g", "", protocols=consumer_protocols(["t"]), timeout=5),
        broker.sync_group("g", broker.describe_group("g").leader, 1, assignments={}),
        broker.heartbeat("g", "nobody", 0),
        broker.committed("g", [tp("t", 0)]),
        broker.describe_group("g"),
        broker.space_stats("t", 0),
    ]
    for answer in answers:
        assert pickle.loads(pickle.dumps(answer)) == answer


def test_admin_create_list_describe_grow_delete(broker):
    broker.create_topic("a", 3, retention_records=10)
    broker.create_topic("b")
    assert broker.list_topics() == {"a": 3, "b": 1}
    assert broker.partitions_for("a") == {0, 1, 2}
    version = broker.metadata_version()
    broker.add_partitions("b", 2)
    assert broker.metadata_version() > version
    fill(broker, "a", 2, [b"x", b"y"])
    assert broker.describe_topic("a") == TopicDescription(
        "a", 3, "delete", 10, None, "condition", (0, 0, 0), (0, 0, 2)
    )
    broker.delete_topic("a")
    assert broker.list_topics() == {"b": 2}
    with pytest.raises(UnknownTopicOrPartitionError, match="existing topics"):
        broker.partitions_for("a")
    assert broker.space_stats("b", 1) is None  # delete policy: nothing ever waits


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("bad name!",), {}, InvalidTopicError),
        ((".",), {}, InvalidTopicError),
        (("x" * 250,), {}, InvalidTopicError),
        (("t", 0), {}, InvalidPartitionsError),
        (("t", 1), {"retention_policy": "compact"}, IllegalArgumentError),
        (("t", 1), {"retention_policy": "block"}, IllegalArgumentError),
        (("t", 1), {"retention_policy": "block", "retention_records": 5, "retention_ms": 9},
         IllegalArgumentError),
        (("t", 1), {"retention_records": 0}, IllegalArgumentError),
        (("t", 1), {"variant": "monitor"}, IllegalArgumentError),
        (("t", 1), {"instrument": "verbose"}, IllegalArgumentError),
        ((7,), {}, TypeError),
    ],
)
def test_bad_topic_settings_create_nothing(broker, args, kwargs, error):
    with pytest.raises(error):
        broker.create_topic(*args, **kwargs)
    assert broker.list_topics() == {}


def test_existing_topics_and_partition_counts_are_protected(broker):
    broker.create_topic("t", 2)
    with pytest.raises(TopicAlreadyExistsError):
        broker.create_topic("t", 5)
    with pytest.raises(InvalidPartitionsError, match=r"^.*Topic already has 2 partition\(s\)\.$"):
        broker.add_partitions("t", 2)
    with pytest.raises(UnknownTopicOrPartitionError):
        broker.add_partitions("nope", 3)
    with pytest.raises(UnknownTopicOrPartitionError):
        broker.delete_topic("nope")
    assert broker.list_topics() == {"t": 2}


def test_append_and_fetch_keep_order_and_offsets(broker):
    broker.create_topic("t", 2)
    assert broker.append("t", 1, [(None, b"a"), (None, b"b")]).base_offset == 0
    assert broker.append("t", 1, [(None, b"c")]).base_offset == 2
    result = broker.fetch({tp("t", 1): 1, tp("t", 0): 0})
    assert [r.value for r in result[tp("t", 1)].records] == [b"b", b"c"]
    assert result[tp("t", 1)].high_watermark == 3
    assert result[tp("t", 0)].records == ()
    limited = broker.fetch({tp("t", 1): 0}, max_records=2)[tp("t", 1)].records
    assert [r.offset for r in limited] == [0, 1]


def test_keyed_records_placed_with_the_default_partitioner_stay_together(broker):
    broker.create_topic("t", 4)
    keys = [f"user-{i}".encode() for i in range(20)]
    for n, key in enumerate(keys * 3):
        broker.append("t", default_partition(key, 4), [(key, str(n).encode())])
    seen: dict[bytes, set[int]] = {}
    for p in range(4):
        for rec in broker.fetch({tp("t", p): 0}, max_records=1000)[tp("t", p)].records:
            seen.setdefault(rec.key, set()).add(p)
    assert all(len(parts) == 1 for parts in seen.values())
    assert set(seen) == set(keys)


def test_bad_appends_change_nothing(broker):
    broker.create_topic("t", 1)
    with pytest.raises(UnknownTopicOrPartitionError, match="partitions 0..0"):
        broker.append("t", 1, [(None, b"x")])
    with pytest.raises(UnknownTopicOrPartitionError):
        broker.append("missing", 0, [(None, b"x")])
    with pytest.raises(TypeError, match="serializer"):
        broker.append("t", 0, [(None, b"ok"), (None, "not bytes")])
    with pytest.raises(IllegalArgumentError):
        broker.append("t", 0, [])
    with pytest.raises(ValueError):
        broker.append("t", -1, [(None, b"x")])
    assert broker.end_offsets([tp("t", 0)]) == {tp("t", 0): 0}


def test_fetch_long_polls_until_an_append(broker):
    broker.create_topic("t", 1)
    results = []
    started = threading.Event()

    def fetcher():
        started.set()
        results.append(broker.fetch({tp("t", 0): 0}, timeout=10))

    thread = threading.Thread(target=fetcher)
    thread.start()
    assert started.wait(5)
    fill(broker, "t", 0, [b"hello"])
    thread.join(10)
    assert [r.value for r in results[0][tp("t", 0)].records] == [b"hello"]


def test_fetch_times_out_empty_and_reports_errors_per_partition():
    wall = WallClock()
    with Broker(timestamp_clock=wall) as broker:
        broker.create_topic("t", 2, retention_ms=1_000)
        fill(broker, "t", 0, [b"a", b"b"])
        assert broker.fetch({tp("t", 1): 0}, timeout=0.01)[tp("t", 1)].records == ()
        wall.now += 2_000
        result = broker.fetch({tp("t", 0): 0, tp("t", 1): 0, tp("t", 9): 0, tp("gone", 0): 0})
        assert result[tp("t", 0)].error is FetchError.OFFSET_OUT_OF_RANGE
        assert result[tp("t", 0)].log_start_offset == 2
        assert result[tp("t", 1)].error is None
        assert result[tp("t", 9)].error is FetchError.UNKNOWN_TOPIC_OR_PARTITION
        assert result[tp("gone", 0)].error is FetchError.UNKNOWN_TOPIC_OR_PARTITION
        assert broker.beginning_offsets([tp("t", 0)]) == {tp("t", 0): 2}
        with pytest.raises(IllegalArgumentError):
            broker.fetch({tp("t", 0): -1})


def test_offsets_queries(broker):
    broker.create_topic("t", 1, retention_records=2)
    broker.append("t", 0, [(None, b"a", (), 10), (None, b"b", (), 20), (None, b"c", (), 30)])
    t0 = tp("t", 0)
    assert broker.beginning_offsets([t0]) == {t0: 1}
    assert broker.end_offsets([t0]) == {t0: 3}
    # A lone broker's only leader epoch is 0: the epoch of every record found.
    assert broker.offsets_for_times({t0: 15}) == {t0: OffsetAndTimestamp(1, 20, 0)}
    assert broker.offsets_for_times({t0: 31}) == {t0: None}
    with pytest.raises(UnknownTopicOrPartitionError):
        broker.end_offsets([tp("t", 3)])


def test_commits_are_per_group_and_validated(broker):
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a", b"b", b"c"])
    t0 = tp("t", 0)
    broker.commit_offsets("g1", -1, "", {t0: 2})
    broker.commit_offsets("g2", -1, "", {t0: OffsetAndMetadata(1, "note")})
    assert broker.committed("g1", [t0]) == {t0: OffsetAndMetadata(2)}
    assert broker.committed("g2", [t0]) == {t0: OffsetAndMetadata(1, "note")}
    assert broker.committed("g3", [t0]) == {t0: None}
    # As in Kafka, an offset beyond the log end is stored (the reader resets on its next fetch).
    broker.commit_offsets("g4", -1, "", {t0: 4})
    assert broker.committed("g4", [t0]) == {t0: OffsetAndMetadata(4)}
    with pytest.raises(IllegalArgumentError):
        broker.commit_offsets("g1", -1, "", {t0: -1})
    with pytest.raises(UnknownTopicOrPartitionError):
        broker.commit_offsets("g1", -1, "", {t0: 1, tp("t", 1): 0})
    with pytest.raises(UnknownMemberIdError, match="not in group"):
        broker.commit_offsets("g1", 3, "ghost", {t0: 1})
    with pytest.raises(IllegalGenerationError, match="does not exist"):
        broker.commit_offsets("g9", 3, "ghost", {t0: 1})
    with pytest.raises(InvalidGroupIdError):
        broker.commit_offsets(None, -1, "", {t0: 1})
    assert broker.committed("g1", [t0]) == {t0: OffsetAndMetadata(2)}  # all or nothing
    with pytest.raises(GroupIdNotFoundError):
        broker.describe_group("g3")
    assert broker.list_groups() == ["g1", "g2", "g4"]


def test_deleting_a_topic_drops_its_committed_offsets(broker):
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a"])
    broker.commit_offsets("g", -1, "", {tp("t", 0): 1})
    broker.delete_topic("t")
    broker.create_topic("t", 1)
    assert broker.committed("g", [tp("t", 0)]) == {tp("t", 0): None}


def test_block_topic_append_waits_for_the_slowest_group(broker):
    broker.create_topic("b", 1, retention_policy="block", retention_records=2,
                        instrument="counters")
    b0 = tp("b", 0)
    broker.commit_offsets("fast", -1, "", {b0: 0})
    broker.commit_offsets("slow", -1, "", {b0: 0})
    fill(broker, "b", 0, [b"1", b"2"])
    with pytest.raises(KafkaTimeoutError):
        broker.append("b", 0, [(None, b"3")], timeout=0.01)
    stats = broker.space_stats("b", 0)  # the layer-1 buffer recorded the wait
    assert stats.variant == "condition" and stats.maxsize == 2
    assert stats.blocked_on_full > 0
    done = threading.Event()
    started = threading.Event()

    def producer():
        started.set()
        broker.append("b", 0, [(None, b"3")], timeout=10)
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert started.wait(5)
    broker.commit_offsets("fast", -1, "", {b0: 2})
    assert not done.is_set()  # the slow group still holds both records
    assert broker.beginning_offsets([b0]) == {b0: 0}
    broker.commit_offsets("slow", -1, "", {b0: 1})
    assert done.wait(5)
    thread.join(5)
    assert broker.beginning_offsets([b0]) == {b0: 1}
    assert broker.end_offsets([b0]) == {b0: 3}


def test_deleting_a_block_topic_fails_the_waiting_append(broker):
    broker.create_topic("b", 1, retention_policy="block", retention_records=1)
    fill(broker, "b", 0, [b"1"])
    errors = []
    started = threading.Event()

    def producer():
        started.set()
        try:
            broker.append("b", 0, [(None, b"2")], timeout=10)
        except UnknownTopicOrPartitionError as exc:
            errors.append(exc)

    thread = threading.Thread(target=producer)
    thread.start()
    assert started.wait(5)
    broker.delete_topic("b")
    thread.join(10)
    assert len(errors) == 1


def test_close_wakes_a_long_poll_and_refuses_further_calls():
    broker = Broker()
    broker.create_topic("t", 1)
    errors = []
    started = threading.Event()

    def fetcher():
        started.set()
        try:
            broker.fetch({tp("t", 0): 0}, timeout=10)
        except IllegalStateError as exc:
            errors.append(exc)

    thread = threading.Thread(target=fetcher)
    thread.start()
    assert started.wait(5)
    broker.close()
    thread.join(10)
    assert len(errors) == 1
    with pytest.raises(IllegalStateError, match="closed"):
        broker.create_topic("u")
    broker.close()  # idempotent


def test_connect_returns_the_broker_itself(broker):
    assert broker.connect() is broker
    assert isinstance(TopicPartition("t", 0), tuple)


def test_deleting_an_idle_group_releases_its_hold_on_a_block_topic(broker):
    broker.create_topic("b", 1, retention_policy="block", retention_records=2)
    b0 = tp("b", 0)
    broker.commit_offsets("fast", -1, "", {b0: 0})
    broker.commit_offsets("gone", -1, "", {b0: 0})
    fill(broker, "b", 0, [b"1", b"2"])
    broker.commit_offsets("fast", -1, "", {b0: 2})
    with pytest.raises(KafkaTimeoutError):
        broker.append("b", 0, [(None, b"3")], timeout=0.01)
    member = join_alone(broker, "busy", ["b"])
    with pytest.raises(GroupNotEmptyError, match="members"):
        broker.delete_group("busy")
    with pytest.raises(GroupIdNotFoundError):
        broker.delete_group("nobody")
    broker.leave_group("busy", member.member_id)
    broker.delete_group("busy")  # subscribed, never committed: it held the partition too
    broker.delete_group("gone")
    assert broker.list_groups() == ["fast"]
    assert broker.beginning_offsets([b0]) == {b0: 2}
    broker.append("b", 0, [(None, b"3")], timeout=0.01)


def test_deleting_a_group_with_members_raises_group_not_empty_and_changes_nothing(broker):
    broker.create_topic("t", 1)
    t0 = tp("t", 0)
    member = join_alone(broker, "busy", ["t"])
    broker.commit_offsets("busy", member.generation, member.member_id, {t0: 0})
    with pytest.raises(GroupNotEmptyError, match="still has 1 members; close them first") as caught:
        broker.delete_group("busy")
    assert caught.value.errno == 68
    assert not isinstance(caught.value, IllegalStateError)
    assert broker.list_groups() == ["busy"]
    assert broker.committed("busy", [t0]) == {t0: OffsetAndMetadata(0)}
    broker.leave_group("busy", member.member_id)
    broker.delete_group("busy")
    assert broker.list_groups() == []
