"""Delivery guarantees end to end: at-least-once across a crash, and block-policy backpressure."""

from __future__ import annotations

import os
import random
import threading

import pytest

from pcmodel.topics.errors import KafkaTimeoutError
from tests.topics.conftest import Poller, fill, group_settled, tp, wait_until

pytestmark = pytest.mark.timeout(30)

SEED = int(os.environ.get("PCMODEL_TEST_SEED", random.randrange(2**32)))


@pytest.fixture
def rng(request):
    print(f"seed: PCMODEL_TEST_SEED={SEED}")  # shown by pytest when the test fails
    return random.Random(SEED)


def test_at_least_once_when_a_member_crashes_mid_batch(broker, make_consumer, rng):
    """Commit after processing; a crash loses nothing and repeats only the uncommitted batch."""
    partitions, total = 2, 200
    broker.create_topic("orders", partitions)
    sent = set()
    for n in range(total):
        p = rng.randrange(partitions)
        broker.append("orders", p, [(None, str(n).encode())])
        sent.add(n)
    settings = {"group_id": "g", "auto_offset_reset": "earliest", "enable_auto_commit": False,
                "max_poll_records": 7}

    # Member A processes and commits batch after batch, then "crashes": it processes one more
    # batch, never commits it, and never polls again (its threads live on, like a hung process).
    crasher = make_consumer("orders", max_poll_interval_ms=300, **settings)
    processed_a: list[int] = []
    batches_before_crash = rng.randrange(3, 10)
    committed_batches = 0
    while committed_batches < batches_before_crash:
        for records in crasher.poll(timeout_ms=50).values():
            processed_a += [int(r.value) for r in records]
            committed_batches += 1
        crasher.commit()
    uncommitted: list[int] = []
    while not uncommitted:
        for records in crasher.poll(timeout_ms=50).values():
            uncommitted += [int(r.value) for r in records]
    processed_a += uncommitted

    survivor = make_consumer("orders", **settings)
    with Poller(survivor, commit=True) as poller:
        # The crashed member is removed after max_poll_interval_ms; the survivor takes over
        # from the committed offsets and reads to the end.
        wait_until(lambda: len(survivor.assignment()) == partitions)
        wait_until(lambda: set(processed_a) | {int(r.value) for r in poller.records} == sent)
    processed_b = [int(r.value) for r in poller.records]

    assert set(processed_a) | set(processed_b) == sent  # nothing lost
    duplicates = sorted(set(processed_a) & set(processed_b))
    assert duplicates == sorted(uncommitted)  # repeated: exactly the batch processed, uncommitted
    assert len(processed_b) == len(set(processed_b))
    lags = broker.describe_group("g").lag
    assert all(lag == 0 for lag in lags.values())


def test_a_rebalance_repeats_nothing_when_revoked_partitions_are_committed(broker,
                                                                           make_consumer):
    broker.create_topic("t", 4)
    for p in range(4):
        fill(broker, "t", p, [f"{p}-{i}".encode() for i in range(25)])
    settings = {"group_id": "g", "auto_offset_reset": "earliest", "enable_auto_commit": True}
    first = make_consumer("t", **settings)
    second = make_consumer("t", **settings)
    with Poller(first) as a:
        wait_until(lambda: a.count() >= 10)
        with Poller(second) as b:
            wait_until(group_settled(broker, "g", 2))
            wait_until(lambda: a.count() + b.count() >= 100)
            # Auto-commit commits revoked partitions before giving them up, so the second
            # member starts exactly where the first stopped.
            got = [r.value for r in a.records + b.records]
    assert sorted(got) == sorted(f"{p}-{i}".encode() for p in range(4) for i in range(25))


def test_block_retention_makes_the_producer_wait_for_the_group(broker, make_consumer):
    broker.create_topic("jobs", 1, retention_policy="block", retention_records=5)
    j0 = tp("jobs", 0)
    consumer = make_consumer("jobs", group_id="workers", auto_offset_reset="earliest",
                             enable_auto_commit=False)
    with Poller(consumer) as poller:
        wait_until(lambda: consumer.assignment() == {j0})
    # The group is subscribed, so it holds the partition: five records fit, the sixth waits.
    fill(broker, "jobs", 0, [str(i).encode() for i in range(5)])
    with pytest.raises(KafkaTimeoutError):
        broker.append("jobs", 0, [(None, b"5")], timeout=0.01)
    produced = threading.Event()

    def producer():
        for i in range(5, 40):
            broker.append("jobs", 0, [(None, str(i).encode())], timeout=10)
        produced.set()

    thread = threading.Thread(target=producer)
    thread.start()
    try:
        # Reading without committing frees nothing: the producer stays blocked.
        got = [int(r.value) for r in poll_until(consumer, 5)]
        assert got == [0, 1, 2, 3, 4]
        assert not produced.is_set()
        assert broker.end_offsets([j0]) == {j0: 5}
        consumer.commit()  # now the group has consumed them: space frees, the producer goes on
        with Poller(consumer, commit=True) as poller:
            wait_until(lambda: poller.count() == 35)
        assert produced.wait(10)
    finally:
        thread.join(10)
    got += [int(r.value) for r in poller.records]
    assert got == list(range(40))
    assert broker.beginning_offsets([j0]) == {j0: 40}  # consumed records left the log


def poll_until(consumer, count):
    got = []

    def enough():
        for records in consumer.poll(timeout_ms=20).values():
            got.extend(records)
        return len(got) >= count

    wait_until(enough)
    return got


def test_keyed_records_from_a_producer_keep_their_order_per_key(broker, make_consumer, rng):
    from pcmodel.topics.partitioner import default_partition
    from pcmodel.topics.producer import KafkaProducer

    broker.create_topic("clicks", 3)
    settings = {"group_id": "g", "auto_offset_reset": "earliest"}
    members = [make_consumer("clicks", **settings) for _ in range(2)]
    pollers = [Poller(c, commit=True) for c in members]
    for poller in pollers:
        poller.__enter__()
    try:
        wait_until(lambda: all(c.assignment() for c in members))
        wait_until(group_settled(broker, "g", 2))
        keys = [f"user-{i}" for i in range(8)]
        sent = [(rng.choice(keys), n) for n in range(300)]
        producer = KafkaProducer(broker=broker, key_serializer=str.encode, linger_ms=5)
        try:
            for key, n in sent:
                producer.send("clicks", key=key, value=str(n).encode())
            producer.flush(10)
        finally:
            producer.close()
        wait_until(lambda: sum(p.count() for p in pollers) == len(sent))
    finally:
        for poller in pollers:
            poller.stop()
    received = [r for p in pollers for r in p.records]
    for key in keys:
        expected = [n for k, n in sent if k == key]
        got = [int(r.value) for r in received if r.key == key.encode()]
        assert got == expected  # same order as sent, nothing lost, nothing twice
        assert {r.partition for r in received if r.key == key.encode()} <= {
            default_partition(key.encode(), 3)
        }
