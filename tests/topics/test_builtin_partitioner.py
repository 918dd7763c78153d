"""The producer's default partitioner is the Java client's built-in one (Kafka 3.3+, KIP-794):
keyless records stick to a partition for batch_size bytes, the next one is drawn against the
queue sizes, a partition whose leader keeps a batch waiting is left out, and the three
partitioner settings are accepted and checked."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from pcmodel.topics.builtin_partitioner import (
    BuiltInPartitioner,
    PartitionLoad,
    cumulative_frequencies,
    weighted_partition,
)
from pcmodel.topics.errors import KafkaConfigurationError
from pcmodel.topics.partitioner import default_partition
from pcmodel.topics.producer import RECORD_OVERHEAD, KafkaProducer
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(30)

ALL = [0, 1, 2]


# --- the draw, as Java's BuiltInPartitioner computes it ----------------------------------------

def test_cumulative_frequencies_follow_javas_example():
    # BuiltInPartitioner.updatePartitionLoadStats: queues 0 3 1 -> weights 4 1 3 -> table 4 5 8.
    assert cumulative_frequencies(PartitionLoad({0: 0, 1: 3, 2: 1}), ALL) == ([4, 5, 8], ALL)
    # Random numbers 0..3 pick partition 0, 4 picks 1, 5..7 pick 2 (and wrap around).
    assert [weighted_partition([4, 5, 8], ALL, r) for r in range(9)] == [0, 0, 0, 0, 1, 2, 2, 2, 0]


def test_uniform_draw_when_the_queues_say_nothing():
    assert cumulative_frequencies(PartitionLoad({0: 2, 1: 2, 2: 2}), ALL) is None  # all equal
    assert cumulative_frequencies(PartitionLoad({0: 0, 1: 3}), ALL) is None  # 2 never had one
    assert cumulative_frequencies(PartitionLoad({0: 5}), [0]) is None  # nothing to choose
    assert cumulative_frequencies(PartitionLoad({0: 1, 1: 1, 2: 1}, frozenset(ALL)), ALL) is None


def test_unavailable_partitions_are_left_out_even_with_equal_queues():
    load = PartitionLoad({0: 1, 1: 1, 2: 1}, frozenset({0}))
    assert cumulative_frequencies(load, ALL) == ([1, 2], [1, 2])


def test_adaptive_draws_favour_short_queues():
    partitioner = BuiltInPartitioner(10, seed=3)
    load = PartitionLoad({0: 0, 1: 9, 2: 0})  # weights 10 1 10

    def source(topic, partitions):
        return load

    picked = Counter()
    for _ in range(2000):
        partition = partitioner.partition("t", None, ALL, ALL, source)
        picked[partition] += 1
        assert partitioner.record_appended("t", partition, 10, batch_full=True,
                                           all_partitions=ALL, load=source)
    assert picked[1] < 0.1 * 2000 < picked[0] and picked[2] > 0.4 * 2000
    uniform = BuiltInPartitioner(10, adaptive=False, seed=3)
    spread = Counter()
    for _ in range(2000):
        partition = uniform.partition("t", None, ALL, ALL, source)
        spread[partition] += 1
        uniform.record_appended("t", partition, 10, batch_full=True, all_partitions=ALL,
                                load=source)
    assert min(spread.values()) > 0.25 * 2000


# --- sticky by bytes ---------------------------------------------------------------------------

def test_switch_waits_for_a_full_batch_but_not_beyond_twice_batch_size():
    partitioner = BuiltInPartitioner(100, seed=1)
    first = partitioner.partition("t", None, ALL, ALL)
    assert not partitioner.record_appended("t", first, 99, batch_full=True, all_partitions=ALL)
    # batch_size reached while the batch has room: the switch is put off...
    assert not partitioner.record_appended("t", first, 1, batch_full=False, all_partitions=ALL)
    assert partitioner.partition("t", None, ALL, ALL) == first
    # ...until the batch has none (a call with 0 bytes, as the producer makes)...
    assert partitioner.record_appended("t", first, 0, batch_full=True, all_partitions=ALL)
    # ...or twice batch_size was produced.
    second = partitioner.partition("t", None, ALL, ALL)
    assert not partitioner.record_appended("t", second, 150, batch_full=False,
                                           all_partitions=ALL)
    assert partitioner.record_appended("t", second, 50, batch_full=False, all_partitions=ALL)


def test_records_elsewhere_do_not_count():
    partitioner = BuiltInPartitioner(100, seed=1)
    sticky = partitioner.partition("t", None, ALL, ALL)
    other = (sticky + 1) % 3
    assert not partitioner.record_appended("t", other, 500, batch_full=True, all_partitions=ALL)
    assert partitioner.partition("t", None, ALL, ALL) == sticky


def test_keys_are_hashed_unless_ignored():
    keyed = BuiltInPartitioner(seed=1)
    assert keyed.partition("t", b"k", ALL, ALL) == default_partition(b"k", 3)
    assert not keyed.uses_sticky(b"k")
    ignoring = BuiltInPartitioner(ignore_keys=True, seed=1)
    sticky = ignoring.partition("t", None, ALL, ALL)
    assert all(ignoring.partition("t", bytes([k]), ALL, ALL) == sticky for k in range(50))
    assert ignoring.uses_sticky(b"k")


# --- the producer drives it --------------------------------------------------------------------

def runs_of(partitions: list[int], size: int) -> list[set[int]]:
    return [set(partitions[i:i + size]) for i in range(0, len(partitions), size)]


def test_keyless_records_stay_for_batch_size_bytes_even_when_each_batch_leaves_alone(broker):
    # flush() after every record sends each one in a batch of its own: KIP-480's sticky
    # partitioner switched at every new batch; Kafka's default since 3.3 stays until
    # batch_size bytes (five records here) were produced to the partition.
    broker.create_topic("spread", 3)
    size = RECORD_OVERHEAD + 1
    with KafkaProducer(broker=broker, batch_size=5 * size) as producer:
        partitions = []
        for _ in range(30):
            partitions.append(producer.send("spread", b"x").get(timeout=10).partition)
            producer.flush(timeout=10)
    assert all(len(run) == 1 for run in runs_of(partitions, 5)), partitions


def test_ignore_keys_sends_keyed_records_the_keyless_way(broker):
    broker.create_topic("k", 3)
    size = RECORD_OVERHEAD + len(b"same") + len(b"v")
    with KafkaProducer(broker=broker, batch_size=4 * size, linger_ms=60_000,
                       partitioner_ignore_keys=True) as producer:
        futures = [producer.send("k", b"v", key=b"same") for _ in range(48)]
        producer.flush(timeout=10)
    partitions = [f.get(timeout=10).partition for f in futures]
    assert all(len(run) == 1 for run in runs_of(partitions, 4)), partitions
    # Twelve draws of the next partition: all the same by chance about once in 180000 runs.
    assert len(set(partitions)) > 1
    with KafkaProducer(broker=broker) as producer:
        hashed = producer.send("k", b"v", key=b"same").get(timeout=10).partition
    assert hashed == default_partition(b"same", 3)


@pytest.mark.parametrize("given", ["default", "instance"])
def test_each_kind_of_record_takes_its_path_with_the_built_in_partitioner(broker, given):
    # The producer chooses its path once, for the partitioner it was given (by name or as an
    # object): keyed records still hash, an explicit partition is kept, keyless ones stick and
    # are counted there.
    broker.create_topic("paths", 3)
    size = RECORD_OVERHEAD + 1
    partitioner = "default" if given == "default" else BuiltInPartitioner(3 * size, seed=5)
    with KafkaProducer(broker=broker, batch_size=3 * size, linger_ms=60_000,
                       partitioner=partitioner) as producer:
        keyless = [producer.send("paths", b"x") for _ in range(12)]
        keyed = [producer.send("paths", b"v", key=key) for key in (b"a", b"b", b"c", b"d")]
        explicit = [producer.send("paths", b"v", key=b"a", partition=p) for p in (2, 0, 1)]
        producer.flush(timeout=10)
    assert [f.get(timeout=10).partition for f in keyed] == [
        default_partition(key, 3) for key in (b"a", b"b", b"c", b"d")]
    assert [f.get(timeout=10).partition for f in explicit] == [2, 0, 1]
    partitions = [f.get(timeout=10).partition for f in keyless]
    assert all(len(run) == 1 for run in runs_of(partitions, 3)), partitions


class GatedBroker:
    """A broker whose appends to one partition wait until ``gate`` is set."""

    def __init__(self, broker, partition: int) -> None:
        self._broker = broker
        self.partition = partition
        self.gate = threading.Event()
        self.entered = threading.Event()

    def connect(self):
        return self

    def __getattr__(self, name):
        return getattr(self._broker, name)

    def _wait(self, partition: int) -> None:
        if partition == self.partition:
            self.entered.set()
            assert self.gate.wait(20)

    def append(self, topic, partition, records, **kwargs):
        self._wait(partition)
        return self._broker.append(topic, partition, records, **kwargs)

    def append_idempotent(self, topic, partition, records, **kwargs):
        self._wait(partition)
        return self._broker.append_idempotent(topic, partition, records, **kwargs)


def test_a_partition_whose_leader_keeps_a_batch_waiting_is_left_out(broker):
    broker.create_topic("slow", 3)
    gated = GatedBroker(broker, 0)
    size = RECORD_OVERHEAD + 1
    producer = KafkaProducer(broker=gated, batch_size=2 * size,
                             partitioner_availability_timeout_ms=50)
    try:
        # Every partition has a batch (the adaptive draw needs them all); partition 0's waits.
        explicit = [producer.send("slow", b"x", partition=p) for p in ALL]
        assert gated.entered.wait(10)
        waiting_since = time.monotonic()
        wait_until(lambda: time.monotonic() - waiting_since > 0.1)
        keyless = [producer.send("slow", b"x") for _ in range(40)]
        gated.gate.set()
        producer.flush(timeout=10)
        assert [f.get(timeout=10).partition for f in explicit] == ALL
        partitions = Counter(f.get(timeout=10).partition for f in keyless)
    finally:
        gated.gate.set()
        producer.close()
    assert 0 not in partitions and sum(partitions.values()) == 40


def test_concurrent_senders_lose_nothing_and_spread(broker):
    broker.create_topic("many", 3)
    size = RECORD_OVERHEAD + 1
    start = threading.Barrier(4)
    with KafkaProducer(broker=broker, batch_size=20 * size) as producer:
        futures: list[list] = [[] for _ in range(4)]

        def send(out):
            start.wait(timeout=10)
            out.extend(producer.send("many", b"x") for _ in range(300))

        threads = [threading.Thread(target=send, args=(out,)) for out in futures]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        producer.flush(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    partitions = Counter(f.get(timeout=10).partition for out in futures for f in out)
    assert sum(partitions.values()) == 1200
    ends = broker.end_offsets([TopicPartition("many", p) for p in ALL])
    assert sum(ends.values()) == 1200 and len(partitions) > 1


# --- settings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, words", [
    ({"partitioner_adaptive_partitioning_enable": "yes"}, "True or False"),
    ({"partitioner_ignore_keys": 1}, "True or False"),
    ({"partitioner_availability_timeout_ms": -1}, "number of milliseconds from 0 to"),
    ({"partitioner_availability_timeout_ms": True}, "number of milliseconds from 0 to"),
    ({"partitioner": "sticky", "partitioner_ignore_keys": True}, "no effect"),
    ({"partitioner": "round_robin", "partitioner_availability_timeout_ms": 10}, "no effect"),
])
def test_bad_partitioner_settings_are_refused(broker, settings, words):
    with pytest.raises(KafkaConfigurationError, match=words):
        KafkaProducer(broker=broker, **settings)


def test_kafkas_defaults_and_other_values_are_accepted(broker):
    with KafkaProducer(broker=broker, partitioner="sticky",
                       partitioner_adaptive_partitioning_enable=True,
                       partitioner_availability_timeout_ms=0, partitioner_ignore_keys=False):
        pass
    with KafkaProducer(broker=broker, batch_size=123,
                       partitioner_adaptive_partitioning_enable=False,
                       partitioner_availability_timeout_ms=2.5,
                       partitioner_ignore_keys=True) as producer:
        chosen = producer._partitioner
    assert isinstance(chosen, BuiltInPartitioner)
    assert (chosen.batch_size, chosen.adaptive, chosen.availability_timeout_ms,
            chosen.ignore_keys) == (123, False, 2.5, True)


def test_a_misspelt_setting_names_the_right_one(broker):
    with pytest.raises(KafkaConfigurationError, match="partitioner_ignore_keys"):
        KafkaProducer(broker=broker, partitioner_ignore_key=True)
