"""Record batches (Kafka's message format v2) to and from the broker's records.

A producer sends, per partition, one record batch: a header (base offset, CRC-32C, attributes
with the compression codec and timestamp type, producer id, record count) and the records,
compressed together. kafka-python's ``DefaultRecordBatch`` reads one (checking the CRC and
decompressing) and ``DefaultRecordBatchBuilder`` writes one; this module only converts between
them and the broker's ``(key, value, headers, timestamp_ms)`` tuples and
:class:`~pcmodel.topics.log.LogRecord` s.

The broker stores records, not batches, so a fetch re-batches them: consecutive records go into
one uncompressed batch, split where the timestamp type changes (a batch has one) and where a
size limit is reached. Consumers see the same offsets, keys, values, headers and timestamps.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

from kafka import codec
from kafka.errors import CorruptRecordError, UnsupportedCodecError
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c

from pcmodel.topics.log import TIMESTAMP_LOG_APPEND_TIME, LogRecord
from pcmodel.wire.api import kafka_errors

__all__ = [
    "BatchRejected",
    "ProducedBatch",
    "compression_available",
    "decode_batch",
    "encode_records",
]

_CODECS = {
    DefaultRecordBatch.CODEC_NONE: ("none", lambda: True),
    DefaultRecordBatch.CODEC_GZIP: ("gzip", codec.has_gzip),
    DefaultRecordBatch.CODEC_SNAPPY: ("snappy", codec.has_snappy),
    DefaultRecordBatch.CODEC_LZ4: ("lz4", codec.has_lz4),
    DefaultRecordBatch.CODEC_ZSTD: ("zstd", codec.has_zstd),
}
#: Which Python package brings each optional codec.
CODEC_PACKAGES = {"snappy": "python-snappy or cramjam", "lz4": "lz4", "zstd": "zstandard"}
_HEADER = DefaultRecordBatch.HEADER_STRUCT
_BASE_OFFSET = struct.Struct(">q")
_ATTRIBUTES = struct.Struct(">h")
_MAX_TIMESTAMP = struct.Struct(">q")
_MAX_TIMESTAMP_OFFSET = struct.calcsize(">qiibIhiq")


class BatchRejected(Exception):  # noqa: N818 - the batch is rejected, with Kafka's error code
    """A produced batch the broker must refuse: ``code`` is Kafka's error code for it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ProducedBatch(NamedTuple):
    """A decoded produced batch: its records, and the idempotent producer's numbering.

    ``producer_id`` is -1 for a producer without idempotence (then epoch and sequence are -1).
    """

    records: list[tuple]
    producer_id: int
    producer_epoch: int
    first_sequence: int


def compression_available(name: str) -> bool:
    """True if the codec ``name`` (``gzip``, ``snappy``, ``lz4``, ``zstd``) can be used here."""
    return any(n == name and has() for n, has in _CODECS.values())


def decode_batch(data: bytes | None) -> ProducedBatch:
    """The one v2 batch in ``data``: records as ``(key, value, headers, timestamp)`` tuples.

    Raises :class:`BatchRejected` with Kafka's code if ``data`` is not exactly one valid v2
    batch (INVALID_RECORD; Produce v3+ carries one batch per partition), fails its CRC
    (CORRUPT_MESSAGE), uses a codec whose package is missing (UNSUPPORTED_COMPRESSION_TYPE), is
    transactional or a control batch (not supported here), or holds no record. Nothing is
    returned unless every record decoded.
    """
    if not data:
        raise BatchRejected(kafka_errors.InvalidRecordError.errno, "no record batch")
    try:
        records = MemoryRecords(bytes(data))
        batch = records.next_batch()
        if batch is None or records.has_next() or records.valid_bytes() != len(data):
            raise BatchRejected(
                kafka_errors.InvalidRecordError.errno,
                "a Produce request (v3 or later) must carry exactly one complete record batch "
                "per partition",
            )
    except CorruptRecordError as exc:
        raise BatchRejected(kafka_errors.CorruptRecordError.errno, str(exc)) from None
    if batch.magic != 2:
        raise BatchRejected(
            kafka_errors.UnsupportedForMessageFormatError.errno,
            f"message format v{batch.magic} is not supported; produce record batches (v2)",
        )
    if not batch.validate_crc():
        raise BatchRejected(kafka_errors.CorruptRecordError.errno, "record batch CRC mismatch")
    name, available = _CODECS.get(batch.compression_type, (None, None))
    if name is None:
        raise BatchRejected(
            kafka_errors.UnsupportedCompressionTypeError.errno,
            f"unknown compression codec {batch.compression_type}",
        )
    if not available():
        raise BatchRejected(
            kafka_errors.UnsupportedCompressionTypeError.errno,
            f"{name} compression needs the {CODEC_PACKAGES[name]} package on the broker",
        )
    if batch.is_transactional or batch.is_control_batch:
        raise BatchRejected(
            kafka_errors.InvalidRecordError.errno,
            "transactional batches are not supported by this broker",
        )
    try:
        out = [
            (
                rec.key, rec.value,
                tuple((k, b"" if v is None else v) for k, v in rec.headers),
                rec.timestamp if rec.timestamp >= 0 else None,  # -1: no timestamp, stamp it
            )
            for rec in batch
        ]
    except (CorruptRecordError, UnsupportedCodecError, OSError, ValueError) as exc:
        raise BatchRejected(kafka_errors.CorruptRecordError.errno,
                            f"record batch does not decode: {exc}") from None
    if not out:
        raise BatchRejected(kafka_errors.InvalidRecordError.errno, "empty record batch")
    return ProducedBatch(out, batch.producer_id, batch.producer_epoch, batch.base_sequence)


def encode_records(records: Sequence[LogRecord], max_bytes: int) -> bytes:
    """``records`` (consecutive offsets) as v2 batches of at most about ``max_bytes`` in total.

    The first record is always included, however large (Kafka returns at least one batch so
    that a consumer can make progress, KIP-74). Returns ``b""`` for no records.
    """
    out = bytearray()
    i = 0
    full = False
    while i < len(records) and not full:
        first = records[i]
        log_append = first.timestamp_type == TIMESTAMP_LOG_APPEND_TIME
        builder = DefaultRecordBatchBuilder(
            magic=2, compression_type=0, is_transactional=False, producer_id=-1,
            producer_epoch=-1, base_sequence=-1, batch_size=max(1, max_bytes - len(out)),
        )
        while i < len(records):
            rec = records[i]
            if (rec.timestamp_type == TIMESTAMP_LOG_APPEND_TIME) != log_append or (
                log_append and rec.timestamp != first.timestamp
            ):
                break  # a batch has one timestamp type (and one log-append time)
            if builder.append(rec.offset - first.offset, rec.timestamp, rec.key, rec.value,
                              rec.headers) is None:
                full = True  # the size limit: this record waits for the next fetch
                break
            i += 1
        batch = builder.build()
        _BASE_OFFSET.pack_into(batch, 0, first.offset)
        if log_append:
            _mark_log_append_time(batch, first.timestamp)
        out += batch
        full = full or len(out) >= max_bytes
    return bytes(out)


def _mark_log_append_time(batch: bytearray, append_time: int) -> None:
    """Set the batch's timestamp type to log-append time (a broker's job) and fix its CRC."""
    (attributes,) = _ATTRIBUTES.unpack_from(batch, DefaultRecordBatch.ATTRIBUTES_OFFSET)
    _ATTRIBUTES.pack_into(batch, DefaultRecordBatch.ATTRIBUTES_OFFSET,
                          attributes | DefaultRecordBatch.TIMESTAMP_TYPE_MASK)
    _MAX_TIMESTAMP.pack_into(batch, _MAX_TIMESTAMP_OFFSET, append_time)
    crc = calc_crc32c(memoryview(batch)[DefaultRecordBatch.ATTRIBUTES_OFFSET:])
    struct.pack_into(">I", batch, DefaultRecordBatch.CRC_OFFSET, crc)
