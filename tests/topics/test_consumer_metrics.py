"""KafkaConsumer.metrics(): records and bytes consumed, fetches, lag, commits and rebalances, each
counted where it happens and read under kafka-python's group names."""

from __future__ import annotations

import math

import pytest

from tests.topics.conftest import drain, fill, tp, wait_until

pytestmark = pytest.mark.timeout(20)


def fetch_metrics(consumer):
    return consumer.metrics()["consumer-fetch-manager-metrics"]


def coordinator_metrics(consumer):
    return consumer.metrics()["consumer-coordinator-metrics"]


def test_records_bytes_and_lag_follow_what_poll_returns(broker, make_consumer):
    broker.create_topic("t", 1)
    broker.append("t", 0, [(b"key", b"value")] + [(None, b"12345")] * 9)
    consumer = make_consumer(auto_offset_reset="earliest", max_poll_records=4)
    assert math.isnan(fetch_metrics(consumer)["records-lag-max"])  # nothing assigned yet
    consumer.assign([tp("t", 0)])
    first = drain(consumer, 4)
    assert len(first) == 4
    metrics = fetch_metrics(consumer)
    assert metrics["records-consumed-total"] == 4
    assert metrics["bytes-consumed-total"] == len(b"keyvalue") + 3 * 5
    assert metrics["records-lag-max"] == 10 - 4  # high watermark 10, position 4
    assert metrics["fetch-total"] >= 1
    drain(consumer, 6)
    metrics = fetch_metrics(consumer)
    assert (metrics["records-consumed-total"], metrics["records-lag-max"]) == (10, 0.0)
    fill(broker, "t", 0, [b"late"] * 3)
    # The lag is seen once a fetch brings the new high watermark (the fetcher long-polls).
    wait_until(lambda: fetch_metrics(consumer)["records-lag-max"] == 3.0)


def test_commits_assignments_and_rebalances_are_counted(broker, make_consumer):
    broker.create_topic("t", 2)
    fill(broker, "t", 0, [b"a", b"b"])
    consumer = make_consumer("t", group_id="g", enable_auto_commit=False,
                             auto_offset_reset="earliest")
    drain(consumer, 2)
    metrics = coordinator_metrics(consumer)
    assert (metrics["assigned-partitions"], metrics["rebalance-total"]) == (2, 1)
    assert metrics["commit-total"] == 0
    consumer.commit()
    consumer.commit_async().result(timeout=10)
    assert coordinator_metrics(consumer)["commit-total"] == 2
    other = make_consumer("t", group_id="g", enable_auto_commit=False)

    def rebalanced():
        consumer.poll(timeout_ms=10)
        other.poll(timeout_ms=10)
        return coordinator_metrics(consumer)["assigned-partitions"] == 1 == \
            coordinator_metrics(other)["assigned-partitions"]

    wait_until(rebalanced)
    assert coordinator_metrics(consumer)["rebalance-total"] >= 2
    consumer.close(autocommit=False)
    assert coordinator_metrics(consumer)["commit-total"] == 2  # still readable after close
