"""Record batches (Kafka's message format v2) to and from the broker's records.

A producer sends, per partition, one record batch: a header (base offset, length, CRC-32C,
attributes with the compression codec and timestamp type, producer id and sequence, record
count) and the records, compressed together. A maintained codec reads one (checking the CRC and
decompressing) and writes one; this module only converts between batches and the broker's
records: a produced batch's as :class:`~pcmodel.topics.log_records.WireRecord` s (the
timestamps as the client sent them, negative ones included, which the broker takes as Kafka's
does), a fetch's from :class:`~pcmodel.topics.log_records.LogRecord` s (a timestamp of ``-1``
comes back as ``-1``, as Kafka returns it).

Two codecs with the same interface (aiokafka's record module began as a port of
kafka-python's): **kafka-python**'s pure-Python ``kafka.record`` (always present: the ``kafka``
extra), and **aiokafka**'s C-accelerated ``aiokafka.record``, used when aiokafka is installed
(``pip install 'pcmodel[kafka-speedups]'``) because reading and writing records one by one in
Python costs about five times more than everything else a produce or fetch does.
:data:`CODEC_LIBRARY` says which one is in use.

A transactional producer's batch is marked in its header (the *transactional* attribute, its
producer id and epoch); it is appended as the producer's
(:meth:`~pcmodel.topics.broker.Broker.append_idempotent` with ``transactional=True``). A
*control* batch (attribute bit 0x20) holds a transaction marker, which only a broker writes:
one from a client is refused with INVALID_RECORD, as Kafka's ``LogValidator`` refuses it.

The broker stores records, not batches, so a fetch re-batches them: consecutive records go into
one uncompressed batch, split where the timestamp type changes (a batch has one), after a run
of records without a timestamp (``-1``) that starts a batch (aiokafka's builder cannot write
one before a timed record), where a size limit is reached, where the leader epoch that wrote
them changes (each batch carries, as its *partitionLeaderEpoch*, the epoch of the leader that
appended its records, KIP-101: consumers validate their position with it after a leader
change, KIP-320; a producer's own value of the field is not kept, as Kafka's leader overwrites
it on append), and at the edges of each transactional batch the partition remembers
(:class:`~pcmodel.topics.log_transactions.TransactionalBatch`), so that a consumer sees what
Kafka's log holds: a transactional producer's records in batches carrying its producer id and
epoch and the transactional attribute, and each marker alone in a control batch whose record
has Kafka's marker key and value. The log does not keep a batch's first sequence number, so
fetched batches carry -1 there (Kafka's ``NO_SEQUENCE``; consumers do not read it). Consumers
see the same offsets, keys, values, headers and timestamps.

Neither codec's batch builder sets the control attribute (only brokers write control batches);
the builder writes the batch and :func:`_set_header` then sets that bit (and the log-append-time
bit), correcting the CRC, as a broker fills in the fields it owns.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from kafka.record.util import calc_crc32c

from pcmodel.topics.log_records import (
    NO_TIMESTAMP,
    TIMESTAMP_LOG_APPEND_TIME,
    LogRecord,
    WireRecord,
)
from pcmodel.topics.log_transactions import TransactionalBatch
from pcmodel.wire.api import kafka_errors

try:
    from aiokafka import codec
    from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

    CODEC_LIBRARY = "aiokafka"
except ImportError:  # the pure-Python codec of the kafka extra
    from kafka import codec
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

    CODEC_LIBRARY = "kafka-python"

__all__ = [
    "CODEC_LIBRARY",
    "BatchRejected",
    "ProducedBatch",
    "compression_available",
    "decode_batch",
    "encode_records",
    "is_transactional",
]

#: Codec numbers of the batch attributes (Kafka's), with the name and "is it installed".
_CODECS = {
    0: ("none", lambda: True),
    1: ("gzip", codec.has_gzip),
    2: ("snappy", codec.has_snappy),
    3: ("lz4", codec.has_lz4),
    4: ("zstd", codec.has_zstd),
}
#: Which Python package brings each optional codec.
CODEC_PACKAGES = {"snappy": "python-snappy or cramjam", "lz4": "lz4", "zstd": "zstandard"}
# The fixed start of a v2 batch: base offset, length of the rest, leader epoch, magic.
_LOG_OVERHEAD = struct.Struct(">qiib")
_BASE_OFFSET_AND_EPOCH = struct.Struct(">qii")  # base offset, (length), leader epoch
_ATTRIBUTES = struct.Struct(">h")
_CRC = struct.Struct(">I")
_ATTRIBUTES_OFFSET = struct.calcsize(">qiibI")
_CRC_OFFSET = struct.calcsize(">qiib")
_MAX_TIMESTAMP_OFFSET = struct.calcsize(">qiibIhiq")
_CODEC_MASK = 0x07
_TIMESTAMP_TYPE_MASK = 0x08
_TRANSACTIONAL_MASK = 0x10
_CONTROL_MASK = 0x20
#: The first Produce version that may carry zstd batches.
_FIRST_ZSTD_PRODUCE = 7
#: Kafka's ``RecordBatch.NO_SEQUENCE``, the first sequence number of fetched batches.
_NO_SEQUENCE = -1
#: The partition leader epoch of fetched batches when no epochs are given: a lone broker's only
#: epoch, as its Metadata, ListOffsets and OffsetForLeaderEpoch answer it.
LEADER_EPOCH = 0
_HEADER_SIZE = 61  # the whole v2 batch header


class BatchRejected(Exception):  # noqa: N818 - the batch is rejected, with Kafka's error code
    """A produced batch the broker must refuse: ``code`` is Kafka's error code for it.
    ``by_validator``: Kafka refuses it in its log's validator (``LogValidator.validateBatch``),
    not before, so its answer carries the partition's log start offset."""

    def __init__(self, code: int, message: str, *, by_validator: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.by_validator = by_validator


class ProducedBatch(NamedTuple):
    """A decoded produced batch: its records, the idempotent producer's numbering, its size.

    ``producer_id`` is -1 for a producer without idempotence (then epoch and sequence are -1).
    ``size`` is the batch's bytes as sent (compressed, if it was), which a topic's
    ``max.message.bytes`` bounds. ``compression`` is the codec the client compressed it with
    (``None``: none), which a topic with ``compression.type=producer`` keeps. ``transactional``
    is the header's transactional attribute: the batch belongs to the producer's transaction.
    ``log_append_time`` is the header's timestamp-type attribute: the client claims its
    records were stamped by a log (which a producer must not; see
    :mod:`pcmodel.wire.handlers.produce`), and each record then reads the batch's max
    timestamp as its own, as the codec reads it.
    """

    records: list[WireRecord]
    producer_id: int
    producer_epoch: int
    first_sequence: int
    size: int
    compression: str | None = None
    transactional: bool = False
    log_append_time: bool = False


def compression_available(name: str) -> bool:
    """True if the codec ``name`` (``gzip``, ``snappy``, ``lz4``, ``zstd``) can be used here."""
    return any(n == name and has() for n, has in _CODECS.values())


def _check_frame(data: bytes | None, produce_version: int) -> None:
    """Kafka's ``ProduceRequest.validateRecords``, in its order: one v2 batch, not zstd
    before Produce v7 (the version that announced zstd, KIP-110)."""
    if not data or len(data) < _HEADER_SIZE:
        raise BatchRejected(kafka_errors.InvalidRecordError.errno,
                            "no complete record batch in the request")
    _, length, _, magic = _LOG_OVERHEAD.unpack_from(data)
    if magic != 2:
        raise BatchRejected(
            kafka_errors.InvalidRecordError.errno,
            f"Produce requests (v3 and later) may only carry record batches with magic v2, "
            f"got v{magic}",
        )
    codec = _ATTRIBUTES.unpack_from(data, _ATTRIBUTES_OFFSET)[0] & _CODEC_MASK
    if produce_version < _FIRST_ZSTD_PRODUCE and _CODECS.get(codec, ("",))[0] == "zstd":
        raise BatchRejected(
            kafka_errors.UnsupportedCompressionTypeError.errno,
            f"Produce requests with version {produce_version} may not use zstd compression "
            f"(v{_FIRST_ZSTD_PRODUCE} and later may)",
        )
    if length + 12 != len(data):
        raise BatchRejected(
            kafka_errors.InvalidRecordError.errno,
            "a Produce request (v3 or later) must carry exactly one complete record batch "
            "per partition",
        )


def is_transactional(data: bytes | None) -> bool:
    """Whether ``data`` starts with a v2 batch whose header says *transactional*, read from the
    header alone (Kafka's ``RequestUtils.hasTransactionalRecords``, which a Produce request's
    ``transactional_id`` is checked against); ``False`` for anything else, which
    :func:`decode_batch` then judges."""
    if not data or len(data) < _HEADER_SIZE or _LOG_OVERHEAD.unpack_from(data)[3] != 2:
        return False
    return bool(_ATTRIBUTES.unpack_from(data, _ATTRIBUTES_OFFSET)[0] & _TRANSACTIONAL_MASK)


def decode_batch(data: bytes | None, produce_version: int = _FIRST_ZSTD_PRODUCE) -> ProducedBatch:
    """The one v2 batch in ``data`` (sent in a Produce request of ``produce_version``, by
    default one that may carry every codec): records as
    :class:`~pcmodel.topics.log_records.WireRecord` s, each with its timestamp as sent (``-1``,
    Kafka's ``NO_TIMESTAMP``, and any other negative value included: the broker treats them as
    Kafka's does).

    Raises :class:`BatchRejected` with Kafka's code if ``data`` is not exactly one v2 batch
    (INVALID_RECORD: Produce v3+ carries one v2 batch per partition), is compressed with zstd
    in a Produce request older than v7 (UNSUPPORTED_COMPRESSION_TYPE), fails its CRC or does
    not decode (CORRUPT_MESSAGE), uses a codec whose package is missing
    (UNSUPPORTED_COMPRESSION_TYPE), is a control batch or a transactional one without a
    producer id (INVALID_RECORD, as Kafka's ``LogValidator``), or holds no record.
    Nothing is returned unless every record decoded.
    """
    _check_frame(data, produce_version)
    data = bytes(data)
    batch = DefaultRecordBatch(data)
    if not batch.validate_crc():
        raise BatchRejected(kafka_errors.CorruptRecordError.errno, "record batch CRC mismatch")
    name, available = _CODECS.get(batch.compression_type, (None, None))
    if name is None:
        raise BatchRejected(kafka_errors.UnsupportedCompressionTypeError.errno,
                            f"unknown compression codec {batch.compression_type}")
    if not available():
        raise BatchRejected(
            kafka_errors.UnsupportedCompressionTypeError.errno,
            f"{name} compression needs the {CODEC_PACKAGES[name]} package on the broker",
        )
    if batch.is_control_batch:
        raise BatchRejected(kafka_errors.InvalidRecordError.errno,
                            "Clients are not allowed to write control records",
                            by_validator=True)
    if batch.is_transactional and batch.producer_id < 0:
        raise BatchRejected(kafka_errors.InvalidRecordError.errno,
                            "a transactional batch must carry its producer id and epoch")
    try:
        records = [_as_tuple(rec) for rec in batch]
    except Exception as exc:  # the codecs raise their own types for a batch that lies
        raise BatchRejected(kafka_errors.CorruptRecordError.errno,
                            f"record batch does not decode: {exc}") from None
    if not records:
        raise BatchRejected(kafka_errors.InvalidRecordError.errno, "empty record batch",
                            by_validator=True)
    return ProducedBatch(records, batch.producer_id, batch.producer_epoch, batch.base_sequence,
                         len(data), None if batch.compression_type == 0 else name,
                         batch.is_transactional,
                         batch.timestamp_type == TIMESTAMP_LOG_APPEND_TIME)


def _as_tuple(rec: Any) -> WireRecord:
    # A header value may be None (Kafka's null header value, length -1): kept as such.
    headers = tuple(map(tuple, rec.headers)) if rec.headers else ()
    # The timestamp as sent, negative ones included: -1 (NO_TIMESTAMP) is not a request to
    # stamp the append time, and the broker judges the others (see WireRecord).
    return WireRecord(rec.key, rec.value, headers, rec.timestamp)


def encode_records(records: Sequence[LogRecord], max_bytes: int,
                   batches: Sequence[TransactionalBatch] = (),
                   epochs: Sequence[tuple[int, int]] = (), *,
                   at_least_one: bool = True) -> bytes:
    """``records`` (in offset order) as v2 batches of at most about ``max_bytes`` in total.

    ``batches`` are the transactional batches among them, in offset order (a fetch's
    ``transactional_batches``): their records are encoded as such, in batches of their own
    (see the module). ``epochs`` are ``(leader_epoch, start_offset)`` pairs, oldest first (the
    leader's epoch cache, :class:`~pcmodel.cluster.epochs.EpochEntry`): a record was written in
    the epoch of the last pair starting at or before its offset, and each batch carries its
    records' epoch, a batch never spanning two; records before every pair (and all of them,
    without ``epochs``) carry :data:`LEADER_EPOCH`. Every batch fits in ``max_bytes`` except
    the first one with ``at_least_one``: its first record is then included, however large
    (Kafka returns at least one batch so that a consumer can make progress, KIP-74, but only
    in the first partition of a fetch that has any: ``at_least_one=False`` for the others).
    Returns ``b""`` for no records, or for none that fit.
    """
    out = bytearray()
    i = 0
    full = False
    for owner, epoch, end in _segments(records, batches, epochs):
        while i < end and not full:
            i, full = _encode_batch(records, i, end, owner, epoch, max_bytes - len(out), out,
                                    may_overflow=at_least_one and not out)
            full = full or len(out) >= max_bytes
        if full:
            break
    return bytes(out)


def _segments(records: Sequence[LogRecord], batches: Sequence[TransactionalBatch],
              epochs: Sequence[tuple[int, int]] = ()
              ) -> list[tuple[TransactionalBatch | None, int, int]]:
    """``records`` cut into runs that share their transactional batch (``None``: none) and
    their leader epoch: ``(owner, epoch, end index)`` per run, in order."""
    runs: list[tuple[TransactionalBatch | None, int, int]] = []
    b = 0
    e = -1  # the index in ``epochs`` of the pair the current record belongs to
    for i, rec in enumerate(records):
        while b < len(batches) and batches[b].last_offset < rec.offset:
            b += 1
        owner = batches[b] if b < len(batches) and batches[b].base_offset <= rec.offset else None
        while e + 1 < len(epochs) and epochs[e + 1][1] <= rec.offset:
            e += 1
        epoch = epochs[e][0] if e >= 0 else LEADER_EPOCH
        if runs and runs[-1][0] is owner and runs[-1][1] == epoch:
            runs[-1] = (owner, epoch, i + 1)
        else:
            runs.append((owner, epoch, i + 1))
    return runs


def _encode_batch(records: Sequence[LogRecord], i: int, end: int,
                  owner: TransactionalBatch | None, epoch: int, room: int,
                  out: bytearray, *, may_overflow: bool) -> tuple[int, bool]:
    """Append to ``out`` one batch of ``records[i:end]`` from ``i`` on (all of ``owner``'s,
    whose records they are, written in leader epoch ``epoch``) that fits in ``room`` bytes, or
    of its first record alone if ``may_overflow``; return the next index and whether the size
    limit was reached."""
    start = i
    first = records[i]
    log_append = first.timestamp_type == TIMESTAMP_LOG_APPEND_TIME
    if owner is None:
        builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, max(1, room))
    else:
        builder = DefaultRecordBatchBuilder(2, 0, True, owner.producer_id,
                                            owner.producer_epoch, _NO_SEQUENCE, max(1, room))
    append = builder.append
    base = first.offset
    full = False
    # aiokafka's builder takes a first timestamp of -1 for "none yet" and would date the first
    # record with the second one's time: a batch that starts with NO_TIMESTAMP holds only those.
    untimed = first.timestamp == NO_TIMESTAMP
    while i < end:
        rec = records[i]
        if (rec.timestamp_type == TIMESTAMP_LOG_APPEND_TIME) != log_append or (
            log_append and rec.timestamp != first.timestamp
        ):
            break  # a batch has one timestamp type (and one log-append time)
        if untimed and rec.timestamp != NO_TIMESTAMP:
            break
        if append(rec.offset - base, rec.timestamp, rec.key, rec.value,
                  list(rec.headers)) is None:
            full = True  # the size limit: this record waits for the next fetch
            break
        i += 1
    batch = builder.build()
    if len(batch) > room and not may_overflow:
        return start, True  # a builder always takes one record: this one waits
    # The broker fills in the base offset and the leader epoch its records were written in
    # (neither is under the CRC, which starts at the attributes).
    _BASE_OFFSET_AND_EPOCH.pack_into(batch, 0, base, len(batch) - 12, epoch)
    control = owner is not None and owner.is_control
    if log_append or control:
        _set_header(batch, (_TIMESTAMP_TYPE_MASK if log_append else 0)
                    | (_CONTROL_MASK if control else 0),
                    first.timestamp if log_append else None)
    out += batch
    return i, full


def _set_header(batch: bytearray, attribute_bits: int, append_time: int | None) -> None:
    """Set attribute bits only a broker sets (the control bit of a marker's batch, the
    log-append-time type, with its ``append_time`` as the batch's max timestamp) and fix the
    batch's CRC."""
    (attributes,) = _ATTRIBUTES.unpack_from(batch, _ATTRIBUTES_OFFSET)
    _ATTRIBUTES.pack_into(batch, _ATTRIBUTES_OFFSET, attributes | attribute_bits)
    if append_time is not None:
        struct.pack_into(">q", batch, _MAX_TIMESTAMP_OFFSET, append_time)
    _CRC.pack_into(batch, _CRC_OFFSET, calc_crc32c(memoryview(batch)[_ATTRIBUTES_OFFSET:]))
