"""Real clients read the producers' batches as pcmodel's listener keeps them, as from Kafka: a
consumer placed in the middle of a batch gets the whole batch and drops the records before its
position, a gzip batch is read as sent, and small fetch limits (batches cut at the limit) still
deliver every record exactly once."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.structs import TopicPartition

kafka = pytest.importorskip("kafka", reason="needs kafka-python (the kafka extra)")
KCAT = shutil.which("kcat") or shutil.which("kafkacat")
#: The three producers' batches: sizes and codecs.
BATCHES = ((100, None), (37, "gzip"), (63, None))
TOTAL = sum(size for size, _ in BATCHES)


@pytest.fixture(scope="module")
def served():
    """A broker and its listener holding topic ``t``: three batches written by kafka-python."""
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        offset = 0
        for size, codec in BATCHES:
            producer = kafka.KafkaProducer(bootstrap_servers=listener.bootstrap_servers,
                                           compression_type=codec, linger_ms=1000)
            try:
                for i in range(size):
                    producer.send("t", b"v%03d-" % (offset + i) + bytes(20), partition=0)
                producer.flush()  # one batch: every record waited for it
            finally:
                producer.close()
            offset += size
        yield broker, listener.bootstrap_servers


def _until(deadline_s: float, step, done) -> None:
    deadline = time.monotonic() + deadline_s
    while not done() and time.monotonic() < deadline:
        step()


def test_the_log_keeps_the_batches_kafka_python_produced(served):
    broker, _ = served
    result = broker.fetch({TopicPartition("t", 0): 0}, max_records=TOTAL, whole_batches=True)
    stored = result[TopicPartition("t", 0)].batches
    assert [(b.base_offset, b.last_offset, b.codec) for b in stored] == [
        (0, 99, None), (100, 136, "gzip"), (137, 199, None)]


@pytest.mark.parametrize("fetch_bytes", [None, 600])
@pytest.mark.parametrize("start", [50, 120])
def test_kafka_python_reads_from_the_middle_of_a_batch_exactly_once(served, start, fetch_bytes):
    _, bootstrap = served
    options = {} if fetch_bytes is None else {"max_partition_fetch_bytes": fetch_bytes,
                                              "fetch_max_bytes": fetch_bytes}
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                   **options)
    try:
        tp = kafka.TopicPartition("t", 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        got: list[int] = []
        _until(30, lambda: got.extend(r.offset for rs in consumer.poll(200).values()
                                      for r in rs),
               lambda: len(got) >= TOTAL - start)
        assert got == list(range(start, TOTAL))
        assert consumer.position(tp) == TOTAL
    finally:
        consumer.close()


@pytest.mark.parametrize("fetch_bytes", [None, 1000])  # librdkafka's smallest limit
@pytest.mark.parametrize("start", [50, 120])
def test_confluent_kafka_reads_from_the_middle_of_a_batch_exactly_once(served, start,
                                                                       fetch_bytes):
    confluent_kafka = pytest.importorskip("confluent_kafka", reason="needs confluent-kafka")
    _, bootstrap = served
    config = {"bootstrap.servers": bootstrap, "group.id": f"mid-{start}-{fetch_bytes}",
              "enable.auto.commit": False}
    if fetch_bytes is not None:
        config.update({"max.partition.fetch.bytes": fetch_bytes,
                       "fetch.max.bytes": fetch_bytes, "message.max.bytes": fetch_bytes})
    consumer = confluent_kafka.Consumer(config)
    try:
        consumer.assign([confluent_kafka.TopicPartition("t", 0, start)])
        got: list[tuple[int, bytes]] = []

        def step() -> None:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got.append((message.offset(), message.value()))

        _until(30, step, lambda: len(got) >= TOTAL - start)
        assert [offset for offset, _ in got] == list(range(start, TOTAL))
        assert all(value.startswith(b"v%03d-" % offset) for offset, value in got)
    finally:
        consumer.close()


def test_kcat_reads_from_the_middle_of_the_gzip_batch(served):
    if KCAT is None:
        pytest.skip("kcat is not installed (Debian/Ubuntu: apt-get install kcat)")
    _, bootstrap = served
    result = subprocess.run([KCAT, "-b", bootstrap, "-C", "-t", "t", "-p", "0", "-o", "120",
                             "-e", "-f", "%o\n"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert [int(line) for line in result.stdout.split()] == list(range(120, TOTAL))


def test_kafka_python_reads_two_partitions_through_small_fetch_limits(served):
    broker, bootstrap = served
    broker.create_topic("two", 2)
    for batch in range(3):
        for partition in (0, 1):
            broker.append("two", partition, [(None, b"%d-%d-%02d" % (partition, batch, i)
                                              + bytes(30)) for i in range(30)])
    # Each batch is about 1.5 kB: most fetches end inside a batch, or find that the next
    # partition's first batch does not fit.
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                   auto_offset_reset="earliest", fetch_max_bytes=2000,
                                   max_partition_fetch_bytes=2000)
    try:
        consumer.assign([kafka.TopicPartition("two", p) for p in (0, 1)])
        got: dict[int, list[int]] = {0: [], 1: []}
        _until(30, lambda: [got[tp.partition].extend(r.offset for r in rs)
                            for tp, rs in consumer.poll(200).items()],
               lambda: sum(map(len, got.values())) >= 180)
        assert got == {0: list(range(90)), 1: list(range(90))}
    finally:
        consumer.close()
