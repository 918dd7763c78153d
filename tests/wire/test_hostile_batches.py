"""Record batches a hostile or broken client crafts: each refused as Kafka's broker refuses it
(``LogValidator.validateBatch``, ``DefaultRecord``), nothing appended, the rest of the request
served; a compressed batch is never decompressed past ``records.MAX_DECOMPRESSED_BYTES``."""

from __future__ import annotations

import gzip
import struct

import pytest
from kafka.protocol.producer import ProduceRequest
from kafka.record.util import calc_crc32c

from pcmodel.topics.structs import TopicPartition
from pcmodel.wire import records as wire_records
from tests.wire.conftest import fetch_request, fetched_records, still_serving

pytestmark = pytest.mark.timeout(30)

INVALID_RECORD, MESSAGE_TOO_LARGE = 87, 10
GZIP, SNAPPY, LZ4, ZSTD = 1, 2, 3, 4


def _varint(n: int) -> bytes:
    """Kafka's zigzag varint (negative lengths included, as a hostile client writes them)."""
    v = ((n << 1) ^ (n >> 63)) & (2**64 - 1)
    out = bytearray()
    while v > 0x7F:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    return bytes(out + bytes([v]))


def _record(offset_delta: int, key: bytes = b"k", value: bytes = b"v", *,
            key_len: int | None = None, value_len: int | None = None,
            header_count: int = 0) -> bytes:
    body = (b"\x00" + _varint(0) + _varint(offset_delta)
            + _varint(len(key) if key_len is None else key_len) + key
            + _varint(len(value) if value_len is None else value_len) + value
            + _varint(header_count))
    return _varint(len(body)) + body


def _batch(records: bytes, count: int, *, last_delta: int | None = None, codec: int = 0,
           base_offset: int = 0, producer: tuple[int, int, int] = (-1, -1, -1)) -> bytes:
    """A v2 batch with a valid CRC around whatever ``records`` and header fields it is given."""
    pid, epoch, sequence = producer
    after_crc = struct.pack(">hiqqqhii", codec, count - 1 if last_delta is None else last_delta,
                            1000, 1000, pid, epoch, sequence, count) + records
    rest = struct.pack(">ibI", 0, 2, calc_crc32c(after_crc)) + after_crc
    return struct.pack(">qi", base_offset, len(rest)) + rest


def _compressors():
    found = {GZIP: gzip.compress}
    try:
        import cramjam
    except ImportError:
        return found
    found[SNAPPY] = lambda data: bytes(cramjam.snappy.compress_raw(data))
    try:
        import lz4.frame
        found[LZ4] = lz4.frame.compress
    except ImportError:
        pass
    try:
        import zstandard
        found[ZSTD] = zstandard.ZstdCompressor().compress
    except ImportError:
        pass
    return found


COMPRESSORS = _compressors()
TWO = _record(0) + _record(1)


def _produce(raw, batches: dict[int, bytes]):
    """Produce ``{partition: batch}`` to topic ``t`` in one request; the answers by partition."""
    data = ProduceRequest.TopicProduceData
    answer = raw.request(ProduceRequest[9](
        transactional_id=None, acks=1, timeout_ms=5000, topic_data=[data(name="t", partition_data=[
            data.PartitionProduceData(index=p, records=b) for p, b in batches.items()])]))
    return {p.index: p for p in answer.responses[0].partition_responses}


def _ends(broker, partitions: int = 1) -> list[int]:
    tps = [TopicPartition("t", p) for p in range(partitions)]
    return [broker.end_offsets(tps)[tp] for tp in tps]


@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
def test_decompression_stops_past_its_limit(codec):
    from pcmodel.topics.compression import DecompressedTooLarge, decompress_bounded

    payload = bytes(200_000)
    compressed = COMPRESSORS[codec](payload)
    name = {GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}[codec]
    assert decompress_bounded(name, compressed, len(payload)) == payload
    with pytest.raises(DecompressedTooLarge):
        decompress_bounded(name, compressed, len(payload) - 1)
    with pytest.raises(ValueError):
        decompress_bounded(name, b"not a compressed payload", len(payload))


@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
def test_a_compressed_batch_is_decompressed_up_to_a_bound_only(
        broker, raw, listener, monkeypatch, codec):
    # A bomb in small: 100 KB of records in a few hundred compressed bytes, under a bound of
    # 100 KB (the listener's is 100 MiB).
    records = _record(0, value=bytes(100_000))
    limit = 61 + len(records)  # the batch header and its records
    broker.create_topic("t", 1)
    bomb = _batch(COMPRESSORS[codec](records), 1, codec=codec)
    assert len(bomb) < limit // 10
    monkeypatch.setattr(wire_records, "MAX_DECOMPRESSED_BYTES", limit - 1, raising=False)
    refused = _produce(raw, {0: bomb})[0]
    assert (refused.error_code, refused.log_start_offset) == (MESSAGE_TOO_LARGE, -1)
    assert "once decompressed" in refused.error_message
    assert _ends(broker) == [0]
    monkeypatch.setattr(wire_records, "MAX_DECOMPRESSED_BYTES", limit, raising=False)
    assert _produce(raw, {0: bomb})[0].error_code == 0
    assert _ends(broker) == [1]
    still_serving(listener.address)


@pytest.mark.parametrize("batch, message", [
    (_batch(TWO, 2, last_delta=5), "Inconsistent batch offset range [0, 5] and count of records 2"),
    (_batch(TWO, 2, last_delta=-1), "Batch has an invalid offset range: [0, -1]"),
    (_batch(TWO, -1, last_delta=1), "Invalid reported count for record batch: -1"),
    (_batch(TWO, 2, producer=(5, 0, -1)),
     "Invalid sequence number -1 in record batch with producerId 5"),
    (_batch(TWO, 2, base_offset=5), "base offset must be 0"),
], ids=["last-delta-too-far", "last-delta-negative", "count-negative", "no-sequence",
        "base-offset"])
def test_a_header_kafka_refuses_is_invalid_record(broker, raw, batch, message):
    broker.create_topic("t", 1)
    answer = _produce(raw, {0: batch})[0]
    assert (answer.error_code, answer.log_start_offset) == (INVALID_RECORD, 0)
    assert message in answer.error_message
    assert _ends(broker) == [0]


@pytest.mark.parametrize("records, count", [
    (TWO, 3), (TWO, 1), (TWO + b"\x00\x00", 2),
    (_record(0, key_len=10_000), 1), (_record(0, value_len=10_000_000), 1),
    (_record(0, header_count=2**31 - 1), 1), (_record(0, header_count=-3), 1),
    (b"\xff" * 12, 1), (_varint(-5) + bytes(10), 1),
], ids=["more-counted", "fewer-counted", "trailing-bytes", "key-past-the-end",
        "value-past-the-end", "huge-header-count", "negative-header-count",
        "overflowing-varint", "negative-length"])
def test_records_that_lie_about_their_lengths_are_invalid_record(broker, raw, records, count):
    # As Kafka's DefaultRecord: InvalidRecordException, answered with the log start offset.
    broker.create_topic("t", 1)
    answer = _produce(raw, {0: _batch(records, count, last_delta=count - 1)})[0]
    assert (answer.error_code, answer.log_start_offset) == (INVALID_RECORD, 0)
    assert "do not decode" in answer.error_message
    assert _ends(broker) == [0]


def test_only_the_bad_batches_partitions_fail(broker, raw, listener, monkeypatch):
    monkeypatch.setattr(wire_records, "MAX_DECOMPRESSED_BYTES", 10_000, raising=False)
    broker.create_topic("t", 4)
    bomb = _batch(gzip.compress(_record(0, value=bytes(100_000))), 1, codec=GZIP)
    answers = _produce(raw, {0: _batch(TWO, 2), 1: bomb, 2: _batch(TWO, 2, last_delta=7),
                             3: _batch(gzip.compress(TWO), 2, codec=GZIP)})
    assert [answers[p].error_code for p in range(4)] == [0, MESSAGE_TOO_LARGE, INVALID_RECORD, 0]
    assert _ends(broker, 4) == [2, 0, 0, 2]
    fetched = raw.request(fetch_request({("t", 0): 0, ("t", 3): 0}))
    for partition in fetched.responses[0].partitions:
        assert [(r.offset, r.key, r.value) for r in fetched_records(partition)] == [
            (0, b"k", b"v"), (1, b"k", b"v")]
    still_serving(listener.address)


def test_offset_deltas_out_of_order_are_renumbered_as_kafka_does(broker, raw):
    # Kafka's validator assigns offsets itself and does not judge the deltas a client wrote.
    broker.create_topic("t", 1)
    answer = _produce(raw, {0: _batch(_record(1, value=b"a") + _record(1, value=b"b"), 2)})[0]
    assert answer.error_code == 0
    fetched = raw.request(fetch_request({("t", 0): 0})).responses[0].partitions[0]
    assert [(r.offset, r.value) for r in fetched_records(fetched)] == [(0, b"a"), (1, b"b")]
