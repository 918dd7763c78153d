"""Transactions with real clients on a 3-broker replicated cluster, each broker with its own
Kafka listener: kafka-python 3 and confluent-kafka (librdkafka) producers commit and abort,
``read_committed`` consumers of both libraries see only what was committed, a
consume-transform-produce loop commits its group's offsets with its transaction, and when the
broker coordinating the transactional id dies the producer finds the next coordinator and its
next transaction commits."""

from __future__ import annotations

import pytest

from pcmodel.cluster import Cluster
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.conftest import wait_until
from tests.interop.transaction_clients import (
    LIBRARIES,
    Consumer,
    TransactionalProducer,
    read_all,
    values,
)

pytest.importorskip("confluent_kafka", reason="needs confluent-kafka (the interop extra)")

pytestmark = pytest.mark.timeout(120)

# Quick to notice a dead broker, yet generous enough that a loaded machine fences no live one;
# Kafka clients' groups want an initial rebalance delay (see the interop conftest).
SETTINGS = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10,
                group_initial_rebalance_delay_ms=300)


@pytest.fixture(scope="module")
def served():
    """A cluster and its listeners, shared by the module: each test uses its own topics,
    transactional ids and groups."""
    with Cluster(3, **SETTINGS) as cluster, cluster.serve_kafka() as listeners:
        yield cluster, listeners


def _ends(cluster, topic, partitions):
    """Each partition's high watermark, from its leader."""
    return cluster.connect().end_offsets([TopicPartition(topic, p) for p in range(partitions)])


@pytest.mark.parametrize("library", LIBRARIES)
def test_read_committed_sees_the_committed_transaction_and_none_of_the_aborted_one(served,
                                                                                   library):
    cluster, listeners = served
    topic = f"kept-{library}"
    cluster.create_topic(topic, 2, replication_factor=3, min_insync_replicas=2)
    producer = TransactionalProducer(library, listeners.bootstrap_servers, f"tx-{library}")
    try:
        producer.init()
        producer.begin()
        for partition in (0, 1):
            producer.send(topic, partition, b"kept-%d" % partition)
        producer.commit()
        producer.begin()
        for partition in (0, 1):
            producer.send(topic, partition, b"dropped-%d" % partition)
        producer.flush()
        producer.abort()
    finally:
        producer.close()
    ends = _ends(cluster, topic, 2)
    assert ends == {(topic, 0): 4, (topic, 1): 4}  # a record and a marker per transaction
    for reader in LIBRARIES:  # each library reads what the other wrote
        committed = read_all(reader, listeners.bootstrap_servers, "read_committed", ends)
        assert sorted(values(committed)) == [b"kept-0", b"kept-1"], reader
        uncommitted = read_all(reader, listeners.bootstrap_servers, "read_uncommitted", ends)
        assert sorted(values(uncommitted)) == [b"dropped-0", b"dropped-1", b"kept-0",
                                               b"kept-1"], reader


@pytest.mark.parametrize("library", LIBRARIES)
def test_consume_transform_produce_commits_the_offsets_with_the_transaction(served, library):
    cluster, listeners = served
    source_topic, out_topic, group = f"in-{library}", f"out-{library}", f"ctp-{library}"
    for name in (source_topic, out_topic):
        cluster.create_topic(name, 1, replication_factor=3, min_insync_replicas=2)
    cluster.produce(source_topic, 0, [(None, b"a"), (None, b"b"), (None, b"c")],
                    acks="all").get(timeout=30)
    connection = cluster.connect()
    source = TopicPartition(source_topic, 0)
    consumer = Consumer(library, listeners.bootstrap_servers, "read_committed", group=group)
    producer = TransactionalProducer(library, listeners.bootstrap_servers, f"ctp-tx-{library}")
    try:
        consumer.subscribe([source_topic])
        consumed = consumer.read_count(3)
        producer.init()
        for attempt in ("aborted", "committed"):
            producer.begin()
            for value in values(consumed):
                producer.send(out_topic, 0, value.upper())
            producer.send_offsets({(source_topic, 0): 3}, consumer)
            # Staged in the transaction, not yet the group's.
            assert connection.committed(group, [source]) == {source: None}
            if attempt == "aborted":
                producer.flush()  # in the log, to be aborted (else the client drops them)
                producer.abort()
                assert connection.committed(group, [source]) == {source: None}
            else:
                producer.commit()
                assert connection.committed(group, [source]) == {
                    source: OffsetAndMetadata(3, "")}
    finally:
        producer.close()
        consumer.close()
    ends = _ends(cluster, out_topic, 1)
    # Each attempt wrote three records and a marker: only the committed ones are read.
    assert ends == {(out_topic, 0): 8}
    for reader in LIBRARIES:
        out = read_all(reader, listeners.bootstrap_servers, "read_committed", ends)
        assert [(o, v) for _, _, o, v in out] == [(4, b"A"), (5, b"B"), (6, b"C")], reader


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_next_transaction_commits_at_the_next_coordinator(library):
    with Cluster(3, **SETTINGS) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
        tid = "moving"
        producer = TransactionalProducer(library, listeners.bootstrap_servers, tid)
        try:
            producer.init()
            producer.begin()
            producer.send("t", 0, b"first")
            producer.commit()
            log = cluster.transaction_log()
            coordinator = log.coordinator(tid)
            assert coordinator is not None
            cluster.kill(coordinator)
            if library == "kafka-python":
                # kafka-python 3.0.12 drops a transactional request whose coordinator refuses
                # the connection (its sender does not enqueue it again; fixed on its master
                # since), so the transaction would wait for it until delivery_timeout_ms.
                # The old coordinator comes back, as a follower, once the next one is
                # elected: it answers NOT_COORDINATOR, and the client finds the new one.
                wait_until(lambda: log.coordinator(tid) not in (None, coordinator), timeout=30)
                cluster.restart(coordinator)
                # It listens again only once unfenced; a request sent before that would meet
                # a refused connection, and be dropped as above.
                wait_until(lambda: listeners.listener(coordinator) is not None, timeout=30)
            # The client's next request to the old coordinator fails (connection refused, or
            # NOT_COORDINATOR); it asks FindCoordinator again and retries at the new one,
            # which loaded the id's state from __transaction_state.
            producer.begin()
            producer.send("t", 0, b"second")
            producer.commit()
            assert log.coordinator(tid) not in (None, coordinator)
        finally:
            producer.close()
        ends = _ends(cluster, "t", 1)
        assert ends == {("t", 0): 4}
        for reader in LIBRARIES:
            got = read_all(reader, listeners.bootstrap_servers, "read_committed", ends)
            assert values(got) == [b"first", b"second"], reader
