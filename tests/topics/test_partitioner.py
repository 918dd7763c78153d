"""Kafka's murmur2 and default partitioner bit for bit; the keyless partitioners' contracts."""

import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcmodel.topics.errors import KafkaConfigurationError
from pcmodel.topics.partitioner import (
    PARTITIONERS,
    BuiltInPartitioner,
    RoundRobinPartitioner,
    StickyPartitioner,
    default_partition,
    make_partitioner,
    murmur2,
)

pytestmark = pytest.mark.timeout(30)

# Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
KAFKA_MURMUR2_VECTORS = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]

# kafka-python, test/test_partitioner.py, test_murmur2_java_compatibility: partitions out of 1000
# "compare[d] with output from Kafka's org.apache.kafka.clients.producer.Partitioner".
JAVA_PARTITIONS_OF_1000 = [
    (b"", 681),
    (b"a", 524),
    (b"ab", 434),
    (b"abc", 107),
    (b"123456789", 566),
    (b"\x00 ", 742),
]


def _java_int(value):
    """Wrap to a signed 32-bit int, as Java's int arithmetic does."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _murmur2_transcribed(data):
    """Line-by-line transcription of Kafka's Java Utils.murmur2, slow but obviously faithful."""
    length = len(data)
    seed = _java_int(0x9747B28C)
    m = 0x5BD1E995
    r = 24
    h = _java_int(seed ^ length)
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = data[i4] + (data[i4 + 1] << 8) + (data[i4 + 2] << 16) + (data[i4 + 3] << 24)
        k = _java_int(k)
        k = _java_int(k * m)
        k ^= (k & 0xFFFFFFFF) >> r  # >>> is an unsigned shift
        k = _java_int(k * m)
        h = _java_int(h * m)
        h = _java_int(h ^ k)
    rest = length % 4
    if rest == 3:
        h = _java_int(h ^ (data[(length & ~3) + 2] << 16))
    if rest >= 2:
        h = _java_int(h ^ (data[(length & ~3) + 1] << 8))
    if rest >= 1:
        h = _java_int(h ^ data[length & ~3])
        h = _java_int(h * m)
    h = _java_int(h ^ ((h & 0xFFFFFFFF) >> 13))
    h = _java_int(h * m)
    h = _java_int(h ^ ((h & 0xFFFFFFFF) >> 15))
    return h


@pytest.mark.parametrize("data, expected", KAFKA_MURMUR2_VECTORS)
def test_murmur2_matches_kafka_utils_test(data, expected):
    assert murmur2(data) == expected


@pytest.mark.parametrize("data, expected", JAVA_PARTITIONS_OF_1000)
def test_default_partition_matches_java_client(data, expected):
    assert default_partition(data, 1000) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_murmur2_equals_the_java_transcription(data):
    result = murmur2(data)
    assert result == _murmur2_transcribed(data)
    assert -(1 << 31) <= result < (1 << 31)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=32), st.integers(min_value=1, max_value=10_000))
def test_default_partition_is_in_range_and_uses_to_positive(data, num_partitions):
    partition = default_partition(data, num_partitions)
    assert 0 <= partition < num_partitions
    # Kafka's Utils.toPositive is a mask, not abs(): they differ for negative hashes.
    assert partition == (murmur2(data) & 0x7FFFFFFF) % num_partitions


def test_murmur2_accepts_bytes_like_and_rejects_str():
    assert murmur2(bytearray(b"foobar")) == murmur2(memoryview(b"foobar")) == -790332482
    with pytest.raises(TypeError, match="encode"):
        murmur2("foobar")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "num_partitions, exc", [(0, ValueError), (-3, ValueError), (True, TypeError)]
)
def test_default_partition_rejects_bad_counts(num_partitions, exc):
    with pytest.raises(exc, match="num_partitions"):
        default_partition(b"k", num_partitions)


# --- partitioner objects ----------------------------------------------------------------------

ALL = list(range(6))


@pytest.mark.parametrize("name", sorted(PARTITIONERS))
def test_keyed_records_always_use_murmur2_and_ignore_availability(name):
    partitioner = make_partitioner(name, seed=1)
    for key, _ in KAFKA_MURMUR2_VECTORS:
        expected = default_partition(key, len(ALL))
        assert partitioner.partition("t", key, ALL, ALL) == expected
        # A key never moves to another partition because its own is unavailable: that would
        # break the key's ordering.
        assert partitioner.partition("t", key, ALL, [p for p in ALL if p != expected]) == expected
        partitioner.on_new_batch("t", expected)
        assert partitioner.partition("t", key, ALL, ALL) == expected


@pytest.mark.parametrize("name", sorted(PARTITIONERS))
def test_a_topic_without_partitions_is_an_error(name):
    with pytest.raises(ValueError, match="no partitions"):
        make_partitioner(name).partition("t", None, [], [])


def test_round_robin_cycles_over_available_partitions_per_topic():
    partitioner = RoundRobinPartitioner()
    picked = [partitioner.partition("a", None, ALL, ALL) for _ in range(8)]
    assert picked == [0, 1, 2, 3, 4, 5, 0, 1]
    # Another topic has its own counter.
    assert [partitioner.partition("b", None, ALL, ALL) for _ in range(3)] == [0, 1, 2]
    # The counter indexes into the available partitions only...
    assert [partitioner.partition("c", None, ALL, [1, 4]) for _ in range(4)] == [1, 4, 1, 4]
    # ...and falls back to all partitions when none is available, as Kafka's does.
    assert partitioner.partition("c", None, ALL, []) == 4  # counter 4 of 6 partitions


def test_round_robin_does_not_skip_on_new_batch():
    partitioner = RoundRobinPartitioner()
    picked = []
    for _ in range(6):
        partition = partitioner.partition("t", None, ALL, ALL)
        picked.append(partition)
        partitioner.on_new_batch("t", partition)
    assert picked == ALL


def test_sticky_sticks_until_its_batch_completes():
    partitioner = StickyPartitioner(seed=7)
    first = partitioner.partition("t", None, ALL, ALL)
    assert all(partitioner.partition("t", None, ALL, ALL) == first for _ in range(50))
    # A completed batch for some other partition changes nothing.
    partitioner.on_new_batch("t", (first + 1) % len(ALL))
    assert partitioner.partition("t", None, ALL, ALL) == first
    partitioner.on_new_batch("t", first)
    second = partitioner.partition("t", None, ALL, ALL)
    assert second != first
    assert all(partitioner.partition("t", None, ALL, ALL) == second for _ in range(50))


def test_sticky_picks_only_available_partitions_and_per_topic():
    partitioner = StickyPartitioner(seed=3)
    seen = set()
    for _ in range(40):
        partition = partitioner.partition("t", None, ALL, [2, 5])
        assert partition in (2, 5)
        seen.add(partition)
        partitioner.on_new_batch("t", partition)
    # With two available partitions it must alternate, never pick the one just left.
    assert seen == {2, 5}
    assert partitioner.partition("u", None, ALL, [3]) == 3
    partitioner.on_new_batch("u", 3)
    assert partitioner.partition("u", None, ALL, [3]) == 3  # the only choice stays the choice


def test_sticky_spreads_over_all_partitions_across_batches():
    partitioner = StickyPartitioner(seed=11)
    counts = Counter()
    for _ in range(600):
        partition = partitioner.partition("t", None, ALL, ALL)
        counts[partition] += 1
        partitioner.on_new_batch("t", partition)
    assert set(counts) == set(ALL)


def test_sticky_is_repeatable_with_a_seed():
    def run(seed):
        partitioner = StickyPartitioner(seed=seed)
        picked = []
        for _ in range(30):
            picked.append(partitioner.partition("t", None, ALL, ALL))
            partitioner.on_new_batch("t", picked[-1])
        return picked

    assert run(5) == run(5)


def test_registry_and_factory():
    assert set(PARTITIONERS) == {"default", "round_robin", "sticky"}
    # Kafka's default since 3.3 is the built-in partitioner (KIP-794), no longer KIP-480's.
    assert isinstance(make_partitioner("default"), BuiltInPartitioner)
    assert make_partitioner("default", batch_size=100).batch_size == 100
    assert isinstance(make_partitioner("sticky"), StickyPartitioner)
    assert isinstance(make_partitioner("round_robin"), RoundRobinPartitioner)
    assert make_partitioner("sticky") is not make_partitioner("sticky")
    with pytest.raises(KafkaConfigurationError, match="'round_robin'"):
        make_partitioner("random")


@pytest.mark.timeout(20)
def test_round_robin_is_exact_under_concurrent_senders():
    # Each counter value must be used exactly once, whatever the interleaving: then 4 threads x
    # 600 keyless records over 6 partitions give exactly 400 records per partition.
    partitioner = RoundRobinPartitioner()
    start = threading.Barrier(4)
    results = [[] for _ in range(4)]

    def sender(out):
        start.wait(timeout=10)
        for _ in range(600):
            out.append(partitioner.partition("t", None, ALL, ALL))

    threads = [threading.Thread(target=sender, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    assert not any(thread.is_alive() for thread in threads)
    assert Counter(p for out in results for p in out) == {p: 400 for p in ALL}
