"""Real Kafka clients on a 3-broker replicated cluster, each broker with its own Kafka listener:
they follow the leaders through Metadata when a broker is killed or stopped, nothing
acknowledged with ``acks=all`` is lost, and a group's committed offsets and metadata outlive
its coordinator."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import pytest

pytest.importorskip("kafka", reason="the cluster lessons need kafka-python")

import kafka  # noqa: E402
from kafka.admin import KafkaAdminClient  # noqa: E402

from pcmodel.cluster import Cluster  # noqa: E402
from tests.conftest import wait_until  # noqa: E402

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
# Quick to notice a dead broker, yet generous enough that a loaded machine fences no live one;
# Kafka clients' groups want an initial rebalance delay (see the interop conftest).
SETTINGS = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10,
                group_initial_rebalance_delay_ms=300)


@pytest.fixture
def cluster():
    with Cluster(3, **SETTINGS) as c:
        yield c


@pytest.fixture
def bootstrap(cluster):
    with cluster.serve_kafka() as listeners:
        yield listeners.bootstrap_servers


def values_in(cluster, topic, partition=0):
    leader = cluster.leader(topic, partition)
    hw = cluster.replica_status(topic, partition)
    committed = next(r.high_watermark for r in hw if r.leader)
    return [r.value for r in cluster.log(leader, topic, partition)[:committed]]


class Acks:
    """Delivery reports, collected from the client's own thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok: dict[bytes, int] = {}
        self.failed: list[tuple[bytes, object]] = []

    def record(self, value: bytes, offset: int | None, error: object = None) -> None:
        with self.lock:
            if error is None:
                self.ok[value] = offset
            else:
                self.failed.append((value, error))

    def count(self) -> int:
        with self.lock:
            return len(self.ok)


def test_a_sigkilled_broker_process_leaves_metadata_and_returns_on_its_port():
    """Process mode: the leader's broker process is SIGKILLed; clients follow; it restarts."""
    with Cluster(3, mode="processes", **SETTINGS) as cluster, \
            cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
        producer = kafka.KafkaProducer(bootstrap_servers=listeners.bootstrap_servers,
                                       acks="all", linger_ms=5, retry_backoff_ms=50)
        admin = None
        try:
            first = [producer.send("t", b"%d" % i) for i in range(20)]
            assert [f.get(timeout=20).offset for f in first] == list(range(20))
            old = cluster.leader("t", 0)
            cluster.kill(old)
            assert cluster.nodes[old].exitcode == -9  # a real SIGKILL
            more = [producer.send("t", b"%d" % i) for i in range(20, 40)]
            assert [f.get(timeout=30).offset for f in more] == list(range(20, 40))
            wait_until(lambda: old not in cluster.live_brokers())
            admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
            (part,) = admin.describe_topics(["t"])[0]["partitions"]
            assert part["leader_id"] == cluster.leader("t", 0) != old
            assert part["offline_replicas"] == [old]
            host, port = listeners.addresses[old]
            cluster.restart(old)
            assert listeners.addresses[old] == (host, port) and listeners.listener(old)
            wait_until(lambda: old in cluster.isr("t", 0), timeout=20)
            assert values_in(cluster, "t") == [b"%d" % i for i in range(40)]
        finally:
            producer.close(timeout=10)
            if admin is not None:
                admin.close()


def test_kafka_python_producer_follows_a_new_leader_and_loses_nothing(cluster, bootstrap):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    acks = Acks()
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                   retry_backoff_ms=50, request_timeout_ms=10000,
                                   delivery_timeout_ms=30000)
    admin = None
    try:
        def send(i):
            value = b"%d" % i
            future = producer.send("t", value)
            future.add_callback(lambda md: acks.record(value, md.offset))
            future.add_errback(lambda exc: acks.record(value, None, exc))

        for i in range(100):
            send(i)
        wait_until(lambda: acks.count() >= 10, timeout=20)
        old = cluster.leader("t", 0)
        cluster.kill(old)  # mid-stream: some batches are in flight to the dead leader
        for i in range(100, 200):
            send(i)
        producer.flush(timeout=40)
        assert acks.failed == [] and acks.count() == 200
        new = cluster.leader("t", 0)
        assert new not in (None, old)
        # Every acknowledged record is committed at the offset its acknowledgement named,
        # once (kafka-python 3 is idempotent by default), in order.
        log = values_in(cluster, "t")
        assert log == [b"%d" % i for i in range(200)]
        assert all(log[offset] == value for value, offset in acks.ok.items())
        # Once the controller fenced the dead broker, an admin client (whose bootstrap skips
        # the dead address) sees the new leader, its epoch, the dead broker offline.
        wait_until(lambda: old not in cluster.live_brokers())
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        (described,) = admin.describe_topics(["t"])
        (part,) = described["partitions"]
        # The cluster's latest election: epoch 1, the one after the kill, unless a loaded machine
        # held a live broker's heartbeats past its session and the controller fenced it too,
        # which moves the leadership again under a new epoch.
        elections = [(event.broker, event.detail[1]) for event in cluster.events
                     if event.kind == "leader" and event.tp.topic == "t"]
        assert (part["leader_id"], part["leader_epoch"]) == elections[-1]
        assert part["leader_id"] != old and part["leader_epoch"] >= 1
        assert part["offline_replicas"] == [old] and old not in part["isr_nodes"]
        assert sorted(part["replica_nodes"]) == [0, 1, 2]
    finally:
        producer.close(timeout=10)
        if admin is not None:
            admin.close()


@pytest.mark.parametrize("fault", ["kill", "stop"])
def test_confluent_producer_follows_a_new_leader_and_loses_nothing(cluster, bootstrap, fault):
    confluent = pytest.importorskip("confluent_kafka")
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    acks = Acks()
    producer = confluent.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                   "enable.idempotence": True, "linger.ms": 5,
                                   "retry.backoff.ms": 50, "log_level": 3})

    def report(error, message):
        acks.record(message.value(), message.offset(), error)

    for i in range(100):
        producer.produce("t", b"%d" % i, partition=0, on_delivery=report)
    producer.poll(0)
    wait_until(lambda: producer.poll(0) >= 0 and acks.count() >= 10, timeout=20)
    old = cluster.leader("t", 0)
    getattr(cluster, fault)(old)  # a crash, or a controlled shutdown (a new leader at once)
    if fault == "stop":
        assert cluster.leader("t", 0) not in (None, old)
    for i in range(100, 200):
        producer.produce("t", b"%d" % i, partition=0, on_delivery=report)
    assert producer.flush(40) == 0
    assert acks.failed == [] and acks.count() == 200
    assert cluster.leader("t", 0) not in (None, old)
    log = values_in(cluster, "t")
    assert log == [b"%d" % i for i in range(200)]
    assert all(log[offset] == value for value, offset in acks.ok.items())


def test_kafka_python_group_consumes_across_a_leader_change(cluster, bootstrap):
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                   retry_backoff_ms=50)
    consumer = kafka.KafkaConsumer("t", bootstrap_servers=bootstrap, group_id="g",
                                   auto_offset_reset="earliest", enable_auto_commit=False,
                                   fetch_max_wait_ms=100, retry_backoff_ms=50)
    # The topic's metadata before the first poll joins the group: a leader that joins
    # without it (a slow machine) assigns nothing, and kafka-python may not look again
    # before metadata_max_age_ms (5 min).
    assert consumer.partitions_for_topic("t") == {0, 1}
    seen: list[bytes] = []

    def read_until(count):
        def more():
            for records in consumer.poll(timeout_ms=100).values():
                seen.extend(r.value for r in records)
            return len(set(seen)) >= count
        wait_until(more, timeout=30)
        consumer.commit()

    try:
        for i in range(20):
            producer.send("t", b"a%d" % i, partition=i % 2)
        producer.flush(timeout=20)
        read_until(20)
        coordinator = cluster.leader("__consumer_offsets", 0)
        victim = cluster.leader("t", 0)
        assert victim != coordinator  # this test is about the data leader
        cluster.kill(victim)
        for i in range(20):
            producer.send("t", b"b%d" % i, partition=i % 2)
        producer.flush(timeout=30)
        read_until(40)
        assert cluster.leader("t", 0) not in (None, victim)
        assert sorted(set(seen)) == sorted([b"a%d" % i for i in range(20)] +
                                           [b"b%d" % i for i in range(20)])
        # The committed offsets are the replicated ones: read them back through the cluster.
        committed = cluster.connect().committed("g", [("t", 0), ("t", 1)])
        assert sorted(v.offset for v in committed.values()) == [20, 20]
    finally:
        consumer.close()
        producer.close(timeout=10)


@pytest.mark.parametrize("fault", ["kill", "stop"])
def test_kafka_python_group_survives_the_loss_of_its_coordinator(cluster, bootstrap, fault):
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                   retry_backoff_ms=50)
    consumer = kafka.KafkaConsumer("t", bootstrap_servers=bootstrap, group_id="g",
                                   auto_offset_reset="earliest", enable_auto_commit=False,
                                   fetch_max_wait_ms=100, retry_backoff_ms=50,
                                   heartbeat_interval_ms=200)
    # The topic's metadata before the first poll joins the group: a leader that joins
    # without it (a slow machine) assigns nothing, and kafka-python may not look again
    # before metadata_max_age_ms (5 min).
    assert consumer.partitions_for_topic("t") == {0, 1}
    seen: list[bytes] = []

    def read_until(count):
        def more():
            for records in consumer.poll(timeout_ms=100).values():
                seen.extend(r.value for r in records)
            return len(set(seen)) >= count
        wait_until(more, timeout=30)

    try:
        for i in range(20):
            producer.send("t", b"a%d" % i, partition=i % 2)
        producer.flush(timeout=20)
        read_until(20)
        consumer.commit()
        # Another group commits once, by hand, before the coordinator dies (and never again).
        watcher = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id="watcher",
                                      enable_auto_commit=False)
        try:
            watcher.assign([kafka.TopicPartition("t", 0)])
            watcher.commit({kafka.TopicPartition("t", 0): kafka.OffsetAndMetadata(5, "", -1)})
        finally:
            watcher.close()
        before = consumer._coordinator._generation  # (generation id, member id, protocol)
        coordinator = cluster.leader("__consumer_offsets", 0)
        getattr(cluster, fault)(coordinator)  # a crash, or a controlled shutdown
        for i in range(20):
            producer.send("t", b"b%d" % i, partition=i % 2)
        producer.flush(timeout=30)
        read_until(40)
        # The new coordinator loaded the group's metadata from __consumer_offsets, as Kafka's
        # does: the consumer finds it (NOT_COORDINATOR / a closed connection, FindCoordinator)
        # and its heartbeats and commits succeed with the same member id and generation.
        ends = [kafka.TopicPartition("t", p) for p in (0, 1)]

        def commit_at_the_new_coordinator():
            for records in consumer.poll(timeout_ms=100).values():
                seen.extend(r.value for r in records)
            try:
                consumer.commit()
            except kafka.errors.CommitFailedError:
                return False
            return True

        wait_until(commit_at_the_new_coordinator, timeout=30)
        after = consumer._coordinator._generation
        assert (after.generation_id, after.member_id) == (before.generation_id,
                                                          before.member_id)
        assert set(consumer.assignment()) == set(ends)
        assert all(seen.count(v) == 1 for v in seen)  # no rebalance: nothing read twice
        assert cluster.leader("__consumer_offsets", 0) not in (None, coordinator)
        # Offsets committed before the loss were kept: nothing read before it came again.
        assert all(seen.count(b"a%d" % i) == 1 for i in range(20))
        assert set(seen) >= {b"b%d" % i for i in range(20)}
        committed = cluster.connect().committed("g", [("t", 0), ("t", 1)])
        assert sorted(v.offset for v in committed.values()) == [20, 20]
        # An admin client asks the new coordinator for all of each group's offsets: it knows
        # them from the replicated offsets topic, also those of the group it never saw.
        wait_until(lambda: coordinator not in cluster.live_brokers())
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            listed = admin.list_group_offsets(["g", "watcher"])
        finally:
            admin.close()
        assert {(tp.partition, v.offset) for tp, v in listed["g"].items()} == {(0, 20), (1, 20)}
        assert {(tp.partition, v.offset) for tp, v in listed["watcher"].items()} == {(0, 5)}
    finally:
        consumer.close()
        producer.close(timeout=10)


def test_kafka_python_admin_moves_a_groups_offsets_across_a_coordinator_loss(cluster, bootstrap):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(6):
        producer.send("t", b"v%d" % i, partition=0, timestamp_ms=1000 * (i + 1))
    producer.flush(timeout=20)
    producer.close(timeout=10)
    t0 = kafka.TopicPartition("t", 0)

    def once_reachable(call):
        """``call()``'s answer, asked again while the client still picks the dead broker (its
        metadata names it until refreshed)."""
        answers = []

        def attempt():
            try:
                answers.append(call())
            except (kafka.errors.KafkaConnectionError, kafka.errors.NodeNotReadyError):
                return False
            return True
        wait_until(attempt, timeout=20)
        return answers[0]

    before = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        assert before.alter_group_offsets("g", {t0: kafka.OffsetAndMetadata(2, "by-admin", -1)}
                                          ) == {t0: kafka.errors.NoError}
    finally:
        before.close()
    coordinator = cluster.leader("__consumer_offsets", 0)
    cluster.kill(coordinator)
    wait_until(lambda: cluster.leader("__consumer_offsets", 0) not in (None, coordinator),
               timeout=20)
    # An operator's tool run after the loss (kafka-python's admin client caches a group's
    # coordinator for its lifetime, so this is a new one, as kafka-consumer-groups is).
    admin = once_reachable(lambda: KafkaAdminClient(bootstrap_servers=bootstrap))
    try:
        # The new coordinator loaded the group (it only ever committed) and its metadata.
        listed = once_reachable(admin.list_groups)
        assert [(g["group_id"], g["group_state"]) for g in listed] == [("g", "Empty")]
        stored = once_reachable(lambda: admin.list_group_offsets({"g": None}))["g"][t0]
        assert (stored.offset, stored.metadata) == (2, "by-admin")
        reset = admin.reset_group_offsets("g", {t0: kafka.admin.OffsetTimestamp(4500)})
        assert reset == {t0: {"error": kafka.errors.NoError, "offset": 4}}
        assert admin.list_group_offsets({"g": None})["g"][t0].metadata == "by-admin"
        assert admin.delete_group_offsets("g", [t0]) == {t0: kafka.errors.NoError}
        assert admin.list_group_offsets({"g": None})["g"] == {}
        assert once_reachable(admin.list_groups) == []  # empty, with no offset left: deleted
    finally:
        admin.close()


def test_both_admin_clients_delete_records_at_each_leader_and_every_replica(cluster, bootstrap):
    confluent_admin = pytest.importorskip("confluent_kafka.admin")
    confluent = pytest.importorskip("confluent_kafka")
    cluster.create_topic("t", 3, replication_factor=3, min_insync_replicas=2)
    for p in range(3):  # the partitions have different leaders
        cluster.produce("t", p, [(None, b"%d" % i) for i in range(5)], acks="all").get(10)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        answers = admin.delete_records({kafka.TopicPartition("t", 0): 2,
                                        kafka.TopicPartition("t", 1): -1})
        assert {tp.partition: a["low_watermark"] for tp, a in answers.items()} == {0: 2, 1: 5}
        with pytest.raises(kafka.errors.OffsetOutOfRangeError):
            admin.delete_records({kafka.TopicPartition("t", 2): 6})
    finally:
        admin.close()
    client = confluent_admin.AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    futures = client.delete_records([confluent.TopicPartition("t", 2, 3)],
                                    request_timeout=20)
    deleted = futures[confluent.TopicPartition("t", 2, 3)].result(timeout=30)
    assert deleted.low_watermark == 3
    # Each answer came once every live replica had deleted the records.
    for p, start in ((0, 2), (1, 5), (2, 3)):
        assert {r.log_start_offset for r in cluster.replica_status("t", p)} == {start}


def test_kcat_lists_every_broker_and_leader():
    if KCAT is None:
        pytest.skip("kcat is not installed (Debian/Ubuntu: apt-get install kcat)")
    with Cluster(3, **SETTINGS) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 3, replication_factor=3)
        result = subprocess.run([KCAT, "-b", listeners.bootstrap_servers, "-L", "-J", "-t", "t"],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        listed = json.loads(result.stdout)
        assert sorted((b["id"], b["name"]) for b in listed["brokers"]) == [
            (b, f"{host}:{port}") for b, (host, port) in sorted(listeners.addresses.items())]
        (topic,) = listed["topics"]
        for part in topic["partitions"]:
            state = cluster.metadata()[("t", part["partition"])]
            assert part["leader"] == state.leader
            assert [r["id"] for r in part["replicas"]] == list(state.replicas)
