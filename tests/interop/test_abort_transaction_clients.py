"""An administrator's abort of a transaction left open, with kafka-python 3's admin client:
``describe_producers`` shows where the open transaction began and its coordinator epoch,
``abort_transaction`` (WriteTxnMarkers to the partition's leader) ends it, and a
``read_committed`` consumer then reads past it without its records; an abort with an older
coordinator epoch is fenced. On a lone broker's listener and on a 3-broker cluster's."""

from __future__ import annotations

import pytest

pytest.importorskip("kafka", reason="needs kafka-python (the kafka extra)")

import kafka.errors  # noqa: E402
from kafka import TopicPartition as KafkaTopicPartition  # noqa: E402
from kafka.admin import AbortTransactionSpec, KafkaAdminClient  # noqa: E402

from pcmodel.cluster import Cluster  # noqa: E402
from pcmodel.topics import Broker  # noqa: E402
from pcmodel.topics.structs import TopicPartition  # noqa: E402
from tests.interop.transaction_clients import (  # noqa: E402
    TransactionalProducer,
    read_all,
    values,
)

pytestmark = pytest.mark.timeout(120)

SETTINGS = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)


def _abort_the_open_transaction(bootstrap: str, topic: str, end_offsets) -> None:
    """Commit a transaction on ``topic``-0 with kafka-python, leave the next one open, abort it
    with kafka-python's admin client; ``end_offsets(isolation_level)`` is the partition's end
    offset as the broker reports it."""
    tp = KafkaTopicPartition(topic, 0)
    producer = TransactionalProducer("kafka-python", bootstrap, f"hanging-{topic}")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        producer.init()
        producer.begin()
        producer.send(topic, 0, b"kept")
        producer.commit()  # offsets 0 and 1: the record and the coordinator's COMMIT marker
        producer.begin()
        producer.send(topic, 0, b"dropped")
        producer.flush()  # offset 2, in a transaction left open
        assert end_offsets("read_committed") == 2

        (state,) = admin.describe_producers([tp])[tp].active_producers
        assert state.current_transaction_start_offset == 2
        # The coordinator's marker at offset 1 set the partition's coordinator epoch: an older
        # one (kafka-python's default, -1, on a lone broker) is a deposed coordinator's.
        with pytest.raises(kafka.errors.TransactionCoordinatorFencedError):
            admin.abort_transaction(AbortTransactionSpec(
                tp, state.producer_id, state.producer_epoch, state.coordinator_epoch - 1))
        assert end_offsets("read_committed") == 2  # nothing written

        admin.abort_transaction(AbortTransactionSpec(
            tp, state.producer_id, state.producer_epoch, state.coordinator_epoch))
        assert end_offsets("read_committed") == end_offsets("read_uncommitted") == 4
        (state,) = admin.describe_producers([tp])[tp].active_producers
        assert state.current_transaction_start_offset == -1
        ends = {(topic, 0): 4}
        committed = read_all("kafka-python", bootstrap, "read_committed", ends)
        assert [(o, v) for _, _, o, v in committed] == [(0, b"kept")]
        assert values(read_all("kafka-python", bootstrap, "read_uncommitted", ends)) == [
            b"kept", b"dropped"]
        # The producer, whose coordinator was not told, ends its transaction as usual (its
        # ABORT marker ends nothing more) and carries on.
        producer.abort()
        producer.begin()
        producer.send(topic, 0, b"later")
        producer.commit()
        assert end_offsets("read_committed") == 7
        later = read_all("kafka-python", bootstrap, "read_committed", {(topic, 0): 7})
        assert values(later) == [b"kept", b"later"]
    finally:
        admin.close()
        producer.close()


def test_abort_transaction_on_a_lone_broker():
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("open", 1)
        tp = TopicPartition("open", 0)
        _abort_the_open_transaction(
            listener.bootstrap_servers, "open",
            lambda level: broker.end_offsets([tp], isolation_level=level)[tp])


def test_abort_transaction_on_a_cluster():
    with Cluster(3, **SETTINGS) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("open", 1, replication_factor=3, min_insync_replicas=2)
        tp = TopicPartition("open", 0)
        connection = cluster.connect()
        _abort_the_open_transaction(
            listeners.bootstrap_servers, "open",
            lambda level: connection.end_offsets([tp], isolation_level=level)[tp])
