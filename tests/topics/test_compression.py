"""compression_type: batches stored compressed in the log, read back intact, the saving visible."""

from __future__ import annotations

import pytest

from pcmodel.topics import (
    KafkaConfigurationError,
    KafkaProducer,
    TopicPartition,
    UnsupportedCompressionTypeError,
)
from pcmodel.topics import compression as compression_module
from pcmodel.topics.compression import (
    CODEC_NAMES,
    COMPRESSION_LEVELS,
    CompressedBatch,
    get_codec,
)
from pcmodel.topics.config_resources import AlterConfigOp
from pcmodel.topics.errors import InvalidConfigurationError
from tests.topics.conftest import drain

RECORDS = [
    (b"key-%d" % i, b"the same words again and again " * 8, (("h", b"%d" % i),), 1000 + i)
    for i in range(50)
]


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_a_batch_round_trips_through_each_codec(name):
    batch = CompressedBatch.build(get_codec(name), RECORDS)
    batch.base_offset, batch.append_time = 10, 5
    decoded = batch.decode()
    assert [(o, ts, t, k, v, h) for o, ts, t, k, v, h in decoded] == [
        (10 + i, ts, 0, k, v, h) for i, (k, v, h, ts) in enumerate(RECORDS)
    ]
    assert batch.stored_size < batch.uncompressed_size / 4


def test_records_without_timestamp_get_the_batch_append_time():
    batch = CompressedBatch.build(get_codec("gzip"), [(None, b"v", (), None)])
    batch.base_offset, batch.append_time = 0, 777
    assert batch.decode() == [(0, 777, 1, None, b"v", ())]


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_producer_compression_is_stored_and_consumed(broker, make_consumer, name):
    broker.create_topic("z", 1)
    broker.create_topic("plain", 1)
    for topic, codec in (("z", name), ("plain", None)):
        with KafkaProducer(broker=broker, compression_type=codec, linger_ms=50) as producer:
            for key, value, headers, ts in RECORDS:
                producer.send(topic, value, key=key, headers=list(headers), timestamp_ms=ts)
    stored = broker.log_stats("z")[0]
    plain = broker.log_stats("plain")[0]
    assert stored.records == plain.records == len(RECORDS)
    assert stored.uncompressed_bytes == plain.uncompressed_bytes == plain.stored_bytes
    assert stored.compressed_batches >= 1 and stored.stored_bytes < plain.stored_bytes / 4
    consumer = make_consumer(auto_offset_reset="earliest")
    consumer.assign([TopicPartition("z", 0)])
    got = drain(consumer, len(RECORDS))
    assert [(r.offset, r.key, r.value, tuple(r.headers), r.timestamp) for r in got] == [
        (i, k, v, h, ts) for i, (k, v, h, ts) in enumerate(RECORDS)
    ]
    # Reads from the middle of a batch, and lookups by time, see the same records.
    middle = broker.fetch({TopicPartition("z", 0): 17})[TopicPartition("z", 0)].records
    assert middle[0].offset == 17 and middle[0].key == b"key-17"
    assert broker.offsets_for_times({TopicPartition("z", 0): 1020})[
        TopicPartition("z", 0)
    ].offset == 20


def test_retention_drops_compressed_records_by_offset(broker):
    broker.create_topic("r", 1, retention_records=10)
    broker.append("r", 0, [(None, b"x" * 100)] * 30, compression="gzip")
    assert broker.beginning_offsets([TopicPartition("r", 0)]) == {TopicPartition("r", 0): 20}
    records = broker.fetch({TopicPartition("r", 0): 20})[TopicPartition("r", 0)].records
    assert [r.offset for r in records] == list(range(20, 30))


def test_unknown_or_missing_codec_is_a_clear_error(broker, monkeypatch):
    with pytest.raises(KafkaConfigurationError, match="compression_type"):
        KafkaProducer(broker=broker, compression_type="brotli")
    broker.create_topic("t", 1)
    with pytest.raises(UnsupportedCompressionTypeError):
        broker.append("t", 0, [(None, b"x")], compression="brotli")
    monkeypatch.setattr(compression_module, "_cache", {})
    monkeypatch.setattr(compression_module, "_import", lambda module: None)  # none installed
    missing_lz4 = r"pip install lz4 \(the 'compression' extra\)"
    with pytest.raises(KafkaConfigurationError, match=missing_lz4):
        KafkaProducer(broker=broker, compression_type="lz4")
    assert get_codec("gzip").name == "gzip"  # always there: the standard library
    with pytest.raises(InvalidConfigurationError, match=r"compression.type=zstd: .*pip install"):
        broker.create_topic("z", configs={"compression.type": "zstd"})
    assert "z" not in broker.list_topics()


def stored_codecs(broker, topic):
    """The codec of every batch a partition log keeps (None for an uncompressed record)."""
    log = broker._topics[topic].logs[0]
    return [getattr(getattr(entry, "codec", None), "name", None) for entry in log._records]


def test_the_topics_compression_type_decides_how_batches_are_stored(broker):
    values = [(None, b"the same words again " * 20)] * 5
    for name, codec in (("keep", "producer"), ("plain", "uncompressed"), ("gz", "gzip")):
        broker.create_topic(name, configs={"compression.type": codec})
        broker.append(name, 0, values)  # a producer without compression
        broker.append(name, 0, values, compression="gzip")
    assert stored_codecs(broker, "keep") == [None] * 5 + ["gzip"] * 5
    assert stored_codecs(broker, "plain") == [None] * 10
    assert stored_codecs(broker, "gz") == ["gzip"] * 10
    stats = broker.log_stats("gz")[0]
    assert stats.compressed_batches == 2 and stats.stored_bytes < stats.uncompressed_bytes
    assert [r.value for r in broker.fetch({TopicPartition("gz", 0): 0})[
        TopicPartition("gz", 0)].records] == [v for _, v in values] * 2
    broker.alter_topic_configs("gz", [("compression.type", AlterConfigOp.SET, "uncompressed")])
    broker.append("gz", 0, values, compression="gzip")
    assert stored_codecs(broker, "gz") == ["gzip"] * 10 + [None] * 5


def stored_batch_sizes(broker, topic):
    """The compressed size of every batch a partition log keeps, in offset order."""
    log = broker._topics[topic].logs[0]
    return [entry.stored_size for entry in dict.fromkeys(log._records)]


def test_a_topic_compresses_at_its_codecs_level(broker):
    values = [(None, b"%d words, and words again; " % i * 30) for i in range(40)]
    for level in ("1", "9"):
        broker.create_topic(f"gz{level}", configs={"compression.type": "gzip",
                                                   "compression.gzip.level": level})
        broker.append(f"gz{level}", 0, values)  # uncompressed: the topic compresses it
        broker.append(f"gz{level}", 0, values, compression="gzip")  # kept as the producer's
    fast, small = stored_batch_sizes(broker, "gz1"), stored_batch_sizes(broker, "gz9")
    assert fast[0] > small[0]  # the topic's own level
    assert fast[1] == small[1]  # the producer's batch, at gzip's default level
    tp = TopicPartition("gz1", 0)
    assert [r.value for r in broker.fetch({tp: 0})[tp].records] == [v for _, v in values] * 2
    with pytest.raises(ValueError, match="lz4 compression level must be between 1 and 17"):
        get_codec("lz4", 18)
    assert get_codec("snappy", 5) is get_codec("snappy")  # snappy has no levels
    data = b"abc" * 1000
    for name in ("lz4", "zstd"):
        codec = get_codec(name, COMPRESSION_LEVELS[name][1])
        assert codec.decompress(codec.compress(data)) == data


def test_compression_levels_take_kafkas_ranges(broker):
    refused = {
        ("compression.gzip.level", "0"): "Value must be between 1 and 9 or equal to -1",
        ("compression.gzip.level", "10"): "Value must be no more than 9",
        ("compression.lz4.level", "0"): "Value must be at least 1",
        ("compression.lz4.level", "18"): "Value must be no more than 17",
        ("compression.zstd.level", "-131073"): "Value must be at least -131072",
        ("compression.zstd.level", "23"): "Value must be no more than 22",
    }
    for (name, value), message in refused.items():
        with pytest.raises(InvalidConfigurationError, match=message):
            broker.create_topic("t", configs={name: value})
    broker.create_topic("t", configs={"compression.type": "zstd",
                                      "compression.zstd.level": "-5",
                                      "compression.gzip.level": "-1"})
    broker.append("t", 0, [(None, b"v" * 500)])
    assert stored_codecs(broker, "t") == ["zstd"]
    tp = TopicPartition("t", 0)
    assert [r.value for r in broker.fetch({tp: 0})[tp].records] == [b"v" * 500]
