"""Kafka-tutorial programs, each written once, run on every target of the ``kafka`` fixture.

Each program uses only ``kafka.<Name>`` and ``**kafka.connection`` (see conftest.py) and returns
what it observed; the test compares that with ``EXPECTED``: what Apache Kafka (3.x, default
broker settings, the Java client's semantics) does with the same program. Where Tansu deviates
from Apache Kafka the deviation is named in ``TANSU_DEVIATIONS`` and only the rest is compared.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.conftest import wait_until

# What Apache Kafka answers. Keyed partitions are murmur2(key) % 3, Kafka's default partitioner.
EXPECTED = {
    "keyed": {"user-0": 1, "user-1": 2, "user-2": 2, "user-3": 2, "user-4": 1},
    "futures": {"offsets": [0, 1, 2], "callback_offsets": [0, 1, 2], "header_size": -1},
    "commit_position": {"position_before": 0, "committed_before": None, "position_after": 3,
                        "committed_after": 3, "committed_metadata": "checkpoint"},
    "seek": {"beginning": 0, "end": 5, "after_seek_2": [2, 3, 4], "after_seek_to_beginning": 0,
             "after_seek_to_end": 5},
    "pause": {"while_paused": [], "after_resume": [b"p0", b"p1"]},
    "at_least_once": {"first_run": [b"r0", b"r1", b"r2"], "second_run": [b"r2", b"r3"]},
    "offsets_for_times": {"first_at_or_after_2000": 2, "after_all": None},
    "lag": {"lag": 3, "lag_after_commit": 0},
    "headers": {"headers": [("trace", b"42")], "value": b"compressed", "header_size": 7},
    "group_offsets": {"altered": "NoError", "after_alter": (3, "by-admin"), "reset_earliest": 0,
                      "reset_to_time": 2, "reset_beyond_end": 5, "kept_metadata": "by-admin",
                      "replayed": [b"v2", b"v3", b"v4"], "deleted": "NoError",
                      "after_delete": {}, "deleted_again": "GroupIdNotFoundError"},
    "group_sizes": {"range": [2, 4], "roundrobin": [3, 3], "sticky": [3, 3],
                    "cooperative-sticky": [3, 3]},
    # A broker without an authorizer (no authorizer.class.name), as Kafka's AclApis answers.
    "acls": {"described": ("SecurityDisabledError", "No Authorizer is configured on the broker"),
             "succeeded": [], "failed": ["SecurityDisabledError", "SecurityDisabledError"],
             "deleted": [(True, [], "SecurityDisabledError")]},
}

#: Where Tansu (the Kafka-protocol broker used here) answers differently from Apache Kafka:
#: ``(program, observed field)`` -> what Tansu does. These fields are not compared on Tansu.
TANSU_DEVIATIONS: dict[tuple[str, str], str] = {
    ("commit_position", "committed_metadata"): "commit metadata is not stored (None)",
    ("seek", "end"): "the log end offset advances by 1 per batch, not per record",
    ("seek", "after_seek_to_end"): "the same: seek_to_end lands on the per-batch end offset",
    ("lag", "lag"): "the same per-batch end offset makes the lag wrong",
    ("lag", "lag_after_commit"): "the same: negative lag after committing the position",
    ("offsets_for_times", "first_at_or_after_2000"): "lookup by timestamp answers offset 0",
    ("offsets_for_times", "after_all"): "a timestamp after every record finds a record",
}


def check(kafka, program: str, observed: dict) -> None:
    """Compare ``observed`` with Kafka's recorded answer, minus the target's known deviations."""
    expected = dict(EXPECTED[program])
    observed = dict(observed)
    if kafka.name == "kafka-python-tansu":
        for prog, field in TANSU_DEVIATIONS:
            if prog == program:
                expected.pop(field)
                observed.pop(field)
    assert observed == expected


#: Kafka API keys a kind of program needs (to skip it where a target does not serve them yet).
OFFSETS_API = {8, 9}  # OffsetCommit, OffsetFetch
GROUP_API = {11, 12, 13, 14}  # JoinGroup, Heartbeat, LeaveGroup, SyncGroup
OFFSET_ADMIN_API = {2, 47}  # ListOffsets, OffsetDelete
ACL_API = {29, 30, 31}  # DescribeAcls, CreateAcls, DeleteAcls


def requires(kafka, keys: set[int]) -> None:
    missing = sorted(keys & kafka.missing_apis)
    if missing:
        pytest.skip(f"{kafka.name}: the broker does not serve API keys {missing}")


def new_topic_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def create(kafka, name: str, partitions: int) -> None:
    admin = kafka.KafkaAdminClient(**kafka.connection)
    try:
        admin.create_topics([kafka.NewTopic(name, num_partitions=partitions,
                                            replication_factor=1)])
    finally:
        admin.close()


def consumer(kafka, *topics, **config):
    config = {"auto_offset_reset": "earliest", "fetch_max_wait_ms": 50, **config}
    return kafka.KafkaConsumer(*topics, **kafka.connection, **config)


def poll_values(c, count: int, timeout: float = 20.0) -> list:
    got: list = []

    def more() -> bool:
        for records in c.poll(timeout_ms=50).values():
            got.extend(records)
        return len(got) >= count

    wait_until(more, timeout)
    return got


# --- the programs -------------------------------------------------------------------------------


def test_keyed_records_go_to_kafkas_partition(kafka):
    topic = new_topic_name()
    create(kafka, topic, 3)
    producer = kafka.KafkaProducer(**kafka.connection, key_serializer=kafka.DefaultSerializer())
    seen = {key: producer.send(topic, key=key, value=b"v").get(timeout=20).partition
            for key in EXPECTED["keyed"]}
    producer.close()
    assert seen == EXPECTED["keyed"]


def test_futures_and_callbacks(kafka):
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection)
    from_callbacks = []
    futures = []
    for i in range(3):
        future = producer.send(topic, f"m{i}".encode())
        future.add_callback(lambda md: from_callbacks.append(md.offset))
        futures.append(future)
    producer.flush()
    metadata = [f.get(timeout=20) for f in futures]
    producer.close()
    assert [m.offset for m in metadata] == EXPECTED["futures"]["offsets"]
    assert sorted(from_callbacks) == EXPECTED["futures"]["callback_offsets"]
    assert metadata[0].serialized_header_size == EXPECTED["futures"]["header_size"]


def test_commit_committed_position(kafka):
    requires(kafka, OFFSETS_API)
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection)
    for i in range(3):
        producer.send(topic, f"c{i}".encode())
    producer.flush()
    producer.close()
    tp = kafka.TopicPartition(topic, 0)
    c = consumer(kafka, group_id=f"g-{topic}", enable_auto_commit=False)
    c.assign([tp])
    observed = {"position_before": c.position(tp), "committed_before": c.committed(tp)}
    poll_values(c, 3)
    observed["position_after"] = c.position(tp)
    c.commit({tp: kafka.OffsetAndMetadata(3, "checkpoint", -1)})
    observed["committed_after"] = c.committed(tp)
    observed["committed_metadata"] = c.committed(tp, metadata=True).metadata
    c.close()
    check(kafka, "commit_position", observed)


def test_seek_and_offsets(kafka):
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection)
    for i in range(5):
        producer.send(topic, f"s{i}".encode())
    producer.flush()
    producer.close()
    tp = kafka.TopicPartition(topic, 0)
    c = consumer(kafka)
    c.assign([tp])
    observed = {"beginning": c.beginning_offsets([tp])[tp], "end": c.end_offsets([tp])[tp]}
    c.seek(tp, 2)
    observed["after_seek_2"] = [r.offset for r in poll_values(c, 3)]
    c.seek_to_beginning(tp)
    observed["after_seek_to_beginning"] = c.position(tp)
    c.seek_to_end(tp)
    observed["after_seek_to_end"] = c.position(tp)
    c.close()
    check(kafka, "seek", observed)


def test_pause_and_resume(kafka):
    topic = new_topic_name()
    create(kafka, topic, 1)
    tp = kafka.TopicPartition(topic, 0)
    producer = kafka.KafkaProducer(**kafka.connection)
    producer.send(topic, b"p0")
    producer.send(topic, b"p1")
    producer.flush()
    producer.close()
    c = consumer(kafka)
    c.assign([tp])
    c.pause(tp)
    while_paused = [r.value for rs in c.poll(timeout_ms=300).values() for r in rs]
    assert c.paused() == {tp}
    c.resume(tp)
    after = [r.value for r in poll_values(c, 2)]
    c.close()
    assert {"while_paused": while_paused, "after_resume": after} == EXPECTED["pause"]


def test_at_least_once_after_a_crash(kafka):
    requires(kafka, OFFSETS_API)
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection)
    for i in range(4):
        producer.send(topic, f"r{i}".encode())
    producer.flush()
    producer.close()
    tp = kafka.TopicPartition(topic, 0)
    group = f"g-{topic}"
    first = consumer(kafka, group_id=group, enable_auto_commit=False)
    first.assign([tp])
    got = [r.value for r in poll_values(first, 3)][:3]
    first.commit({tp: kafka.OffsetAndMetadata(2, "", -1)})  # processed two, then it crashes
    first.close(autocommit=False)
    second = consumer(kafka, group_id=group, enable_auto_commit=False)
    second.assign([tp])
    again = [r.value for r in poll_values(second, 2)]
    second.close()
    assert {"first_run": got, "second_run": again} == EXPECTED["at_least_once"]


def test_offsets_for_times(kafka):
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection)
    for i, ts in enumerate([1000, 1500, 2000, 2500]):
        producer.send(topic, f"o{i}".encode(), timestamp_ms=ts)
    producer.flush()
    producer.close()
    tp = kafka.TopicPartition(topic, 0)
    c = consumer(kafka)
    found = c.offsets_for_times({tp: 2000})[tp]
    after = c.offsets_for_times({tp: 9000})[tp]
    c.close()
    check(kafka, "offsets_for_times", {"first_at_or_after_2000": found.offset,
                                       "after_all": after})


def test_lag_of_a_group(kafka):
    requires(kafka, OFFSETS_API)
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection)
    for i in range(3):
        producer.send(topic, f"l{i}".encode())
    producer.flush()
    producer.close()
    tp = kafka.TopicPartition(topic, 0)
    c = consumer(kafka, group_id=f"g-{topic}", enable_auto_commit=False)
    c.assign([tp])
    c.commit({tp: kafka.OffsetAndMetadata(0, "", -1)})
    lag = c.end_offsets([tp])[tp] - c.committed(tp)
    poll_values(c, 3)
    c.commit()
    lag_after = c.end_offsets([tp])[tp] - c.committed(tp)
    c.close()
    check(kafka, "lag", {"lag": lag, "lag_after_commit": lag_after})


def test_admin_create_and_delete(kafka):
    topic = new_topic_name()
    admin = kafka.KafkaAdminClient(**kafka.connection)
    try:
        admin.create_topics([kafka.NewTopic(topic, num_partitions=2, replication_factor=1)])
        assert topic in admin.list_topics()
        with pytest.raises(kafka.errors.TopicAlreadyExistsError):
            admin.create_topics([kafka.NewTopic(topic, num_partitions=2, replication_factor=1)])
        admin.delete_topics([topic])
        wait_until(lambda: topic not in admin.list_topics(), 20)
    finally:
        admin.close()


def test_admin_moves_replays_and_deletes_a_groups_offsets(kafka):
    requires(kafka, OFFSETS_API | OFFSET_ADMIN_API)
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection)
    for i in range(5):
        producer.send(topic, f"v{i}".encode(), timestamp_ms=1000 * (i + 1))
    producer.flush()
    producer.close()
    tp = kafka.TopicPartition(topic, 0)
    group = f"g-{topic}"
    admin = kafka.KafkaAdminClient(**kafka.connection)
    try:
        altered = admin.alter_group_offsets(group, {tp: kafka.OffsetAndMetadata(3, "by-admin", -1)})
        after = admin.list_group_offsets({group: None})[group][tp]
        observed = {"altered": altered[tp].__name__, "after_alter": (after.offset, after.metadata)}
        for key, spec in (("reset_earliest", kafka.OffsetSpec.EARLIEST),
                          ("reset_beyond_end", 99), ("reset_to_time", kafka.OffsetTimestamp(2500))):
            observed[key] = admin.reset_group_offsets(group, {tp: spec})[tp]["offset"]
        observed["kept_metadata"] = admin.list_group_offsets({group: None})[group][tp].metadata
        c = consumer(kafka, group_id=group, enable_auto_commit=False)
        c.assign([tp])  # no group membership: the group stays empty, its offset is the start
        observed["replayed"] = [r.value for r in poll_values(c, 3)]
        c.close()
        observed["deleted"] = admin.delete_group_offsets(group, [tp])[tp].__name__
        observed["after_delete"] = admin.list_group_offsets({group: None})[group]
        try:
            admin.delete_group_offsets(group, [tp])
            observed["deleted_again"] = "no error"
        except kafka.errors.KafkaError as exc:
            observed["deleted_again"] = type(exc).__name__
    finally:
        admin.close()
    check(kafka, "group_offsets", observed)


def test_admin_manages_acls_on_a_broker_without_an_authorizer(kafka):
    requires(kafka, ACL_API)
    if kafka.name == "kafka-python-tansu":
        pytest.skip("Tansu lists no ACLs instead of answering SECURITY_DISABLED, and leaves "
                    "CreateAcls unanswered (the request times out)")
    topics = kafka.ResourcePatternFilter(kafka.ResourceType.TOPIC, None,
                                         kafka.ACLResourcePatternType.ANY)
    any_acl = kafka.ACLFilter(principal=None, host=None, operation=kafka.ACLOperation.ANY,
                              permission_type=kafka.ACLPermissionType.ANY,
                              resource_pattern=topics)
    read = kafka.ACL(principal="User:alice", host="*", operation=kafka.ACLOperation.READ,
                     permission_type=kafka.ACLPermissionType.ALLOW,
                     resource_pattern=kafka.ResourcePattern(kafka.ResourceType.TOPIC, "orders"))
    admin = kafka.KafkaAdminClient(**kafka.connection)
    try:
        try:
            described = ("listed", len(admin.describe_acls(any_acl)[0]))
        except kafka.errors.KafkaError as exc:
            described = (type(exc).__name__, exc.args[0])
        created = admin.create_acls([read, read])
        deleted = admin.delete_acls([any_acl])
    finally:
        admin.close()
    check(kafka, "acls", {
        "described": described,
        "succeeded": created["succeeded"],
        "failed": [error.__name__ for error in created["failed"]],
        "deleted": [(asked == any_acl, matched, error.__name__)
                    for asked, matched, error in deleted]})


def test_gzip_and_headers(kafka):
    topic = new_topic_name()
    create(kafka, topic, 1)
    producer = kafka.KafkaProducer(**kafka.connection, compression_type="gzip")
    md = producer.send(topic, b"compressed", headers=[("trace", b"42")]).get(timeout=20)
    producer.close()
    c = consumer(kafka)
    c.assign([kafka.TopicPartition(topic, 0)])
    record = poll_values(c, 1)[0]
    c.close()
    assert {"headers": list(record.headers), "value": record.value,
            "header_size": md.serialized_header_size} == EXPECTED["headers"]


def test_serializer_objects_and_the_headers_they_add(kafka):
    topic = new_topic_name()
    create(kafka, topic, 1)

    class Tagged(kafka.JsonSerializer):
        def serialize(self, topic, headers, data):
            headers.append(("content-type", b"application/json"))
            return super().serialize(topic, headers, data)

    producer = kafka.KafkaProducer(**kafka.connection, value_serializer=Tagged())
    producer.send(topic, value={"n": 1}).get(timeout=20)
    producer.close()
    c = consumer(kafka, value_deserializer=kafka.JsonSerializer())
    c.assign([kafka.TopicPartition(topic, 0)])
    record = poll_values(c, 1)[0]
    c.close()
    assert (record.value, list(record.headers)) == ({"n": 1},
                                                    [("content-type", b"application/json")])


def test_pattern_subscription_with_a_listener(kafka):
    requires(kafka, GROUP_API)
    if kafka.name == "kafka-python-tansu":
        pytest.skip("kafka-python's pattern subscription is never assigned Tansu's partitions "
                    "within 30 s (not investigated further)")
    prefix = new_topic_name()
    create(kafka, f"{prefix}-a", 1)
    create(kafka, f"{prefix}-b", 1)

    class Listener(kafka.ConsumerRebalanceListener):
        def __init__(self):
            self.assigned = set()

        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            self.assigned |= {tp.topic for tp in assigned}

    listener = Listener()
    c = consumer(kafka, group_id=f"g-{prefix}")
    try:
        c.subscribe(pattern=f"{prefix}-.*", listener=listener)
        # Each poll of a pattern subscription first waits for fresh metadata; a join round
        # still running when poll() returns goes on in the background, and kafka-python 3.0.12
        # throws away a round that finished unawaited and sends a new JoinGroup. With 50 ms
        # polls, a loaded machine (a SyncGroup answer 60 ms late) kept such a member
        # rebalancing for 30 s (hundreds of generations); a poll long enough for a whole
        # round awaits it.
        wait_until(lambda: c.poll(timeout_ms=1000) is not None and len(listener.assigned) == 2,
                   30)
    finally:
        c.close()
    assert listener.assigned == {f"{prefix}-a", f"{prefix}-b"}


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "sticky", "cooperative-sticky"])
def test_each_assignor_in_a_threaded_group(kafka, strategy):
    """Two members in threads, two topics of three partitions: Kafka's split per assignor."""
    requires(kafka, GROUP_API)
    if kafka.name == "kafka-python-pcmodel":
        # kafka-python 3.0.12 can drop a completed rebalance. When a leader rejoins (its first
        # assignment was empty because it lacked the topics' metadata, or the metadata changed)
        # and the round outlasts poll(timeout_ms=50), need_rejoin() turns False as soon as the
        # client computes the new assignment, poll() never awaits the in-flight join again, and
        # the SyncGroup answer it received is ignored (heartbeats stay disabled): the coordinator
        # is Stable with both members assigned, and the member is removed after its session.
        # The fixture's 300 ms initial rebalance delay gives the leader its metadata before the
        # first round, which makes this rare but not gone: these 4 tests passed in 9 looped runs
        # of 10 on a loaded machine (1 of 10 without the delay).
        pytest.skip("kafka-python 3.0.12 ignores a SyncGroup answer that arrives after "
                    "poll() timed out in a leader's rejoin (9 of 10 runs pass with the 300 ms "
                    "initial rebalance delay)")
    if kafka.name == "kafka-python-tansu" and strategy != "range":
        # A group takes 5 to 10 s to form on Tansu: one assignor there keeps the suite within
        # its time budget; every assignor runs with kafka-python on pcmodel's own listener.
        pytest.skip("time budget: on Tansu only the range assignor")
    topics = [new_topic_name(), new_topic_name()]
    for t in topics:
        create(kafka, t, 3)
    group = f"g-{topics[0]}"
    assignor = kafka.assignors[strategy]
    members = [consumer(kafka, *topics, group_id=group, partition_assignment_strategy=[assignor],
                        session_timeout_ms=10_000, heartbeat_interval_ms=100)
               for _ in range(2)]
    stop = threading.Event()

    def run(c):
        while not stop.is_set():
            c.poll(timeout_ms=50)

    threads = [threading.Thread(target=run, args=(c,)) for c in members]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sum(len(c.assignment()) for c in members) == 6
                   and all(c.assignment() for c in members), 40)
        sizes = sorted(len(c.assignment()) for c in members)
    finally:
        stop.set()
        for t in threads:
            t.join(20)
        for c in members:
            c.close()
    assert sizes == EXPECTED["group_sizes"][strategy]
