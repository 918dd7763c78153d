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

A fetch answers the producers' batches as the log keeps them
(:class:`~pcmodel.topics.log_batches.StoredBatch`), as Kafka's log does: each with its base
offset, its last offset and its codec, a compressed one compressed once and its bytes kept for
every later fetch; a batch the fetch begins in the middle of is sent from its first record (the
client drops the records before its position; also a batch DeleteRecords cut, its records
below the log start included), one that compaction thinned keeps its base and last offsets.
Inside a batch, and among records of no batch (a log replayed from an old journal), records
are cut into several batches only where one batch cannot hold them: where the timestamp type
changes (a batch has one), after a run of records without a timestamp (``-1``) that starts a
batch (aiokafka's builder cannot write one before a timed record), where the leader epoch that
wrote them changes (each batch carries, as its *partitionLeaderEpoch*, the epoch of the leader
that appended its records, KIP-101: consumers validate their position with it after a leader
change, KIP-320; a producer's own value of the field is not kept, as Kafka's leader overwrites
it on append), and at the edges of each transactional batch the partition remembers
(:class:`~pcmodel.topics.log_transactions.TransactionalBatch`), so that a consumer sees what
Kafka's log holds: a transactional producer's records in batches carrying its producer id and
epoch and the transactional attribute, and each marker alone in a control batch whose record
has Kafka's marker key and value. Each batch carries the producer id, epoch and first
sequence number its stored batch keeps: those its idempotent producer wrote (the ``producer``
of :meth:`PartitionLog.append <pcmodel.topics.log.PartitionLog.append>`), -1 each for a
producer without idempotence; a marker's batch has no sequence (-1, Kafka's ``NO_SEQUENCE``).
Consumers see the same offsets, keys, values, headers and timestamps.

Neither codec's batch builder sets the control attribute (only brokers write control batches);
the builder writes the batch and :func:`_set_header` then sets that bit (and the log-append-time
bit), correcting the CRC, as a broker fills in the fields it owns.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from kafka.record.util import calc_crc32c

from pcmodel.topics.broker_checks import INT32_MAX
from pcmodel.topics.compression import DecompressedTooLarge, decompress_bounded
from pcmodel.topics.errors import KafkaConfigurationError
from pcmodel.topics.log_batches import StoredBatch
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

__all__ = ["CODEC_LIBRARY", "MAX_DECOMPRESSED_BYTES", "BatchRejected", "ProducedBatch",
           "compression_available", "decode_batch", "encode_records", "is_transactional"]

#: Codec numbers of the batch attributes (Kafka's), with the name and "is it installed".
_CODECS = {
    0: ("none", lambda: True),
    1: ("gzip", codec.has_gzip),
    2: ("snappy", codec.has_snappy),
    3: ("lz4", codec.has_lz4),
    4: ("zstd", codec.has_zstd),
}
#: The codec numbers by name, for writing a stored batch with its codec.
_CODEC_IDS = {name: number for number, (name, _) in _CODECS.items()}
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
_LAST_OFFSET_DELTA_OFFSET = struct.calcsize(">qiibIh")
# A batch's length (after the base offset), its epoch, its record count (the header's end).
_LENGTH = _EPOCH = _RECORD_COUNT = struct.Struct(">i")
_LENGTH_OFFSET = struct.calcsize(">q")
_EPOCH_OFFSET = struct.calcsize(">qi")
#: The size limit of a builder writing a stored batch: none, the batch is sent whole (a
#: batch's length is an int32, so no batch is larger).
_UNLIMITED = INT32_MAX
_CODEC_MASK = 0x07
_TIMESTAMP_TYPE_MASK = 0x08
_TRANSACTIONAL_MASK = 0x10
_CONTROL_MASK = 0x20
#: The first Produce version that may carry zstd batches.
_FIRST_ZSTD_PRODUCE = 7
#: Kafka's ``RecordBatch.NO_SEQUENCE``: the first sequence number of a batch without one.
_NO_SEQUENCE = -1
#: The partition leader epoch of fetched batches when no epochs are given: a lone broker's only
#: epoch, as its Metadata, ListOffsets and OffsetForLeaderEpoch answer it.
LEADER_EPOCH = 0
_HEADER_SIZE = 61  # the whole v2 batch header
#: The most bytes a compressed batch may expand to (with its header): a request's most (the
#: listener's default ``max_request_bytes``, Kafka's ``socket.request.max.bytes``).
MAX_DECOMPRESSED_BYTES = 100 * 1024 * 1024


class BatchRejected(Exception):  # noqa: N818 - the batch is rejected, with Kafka's error code
    """A produced batch the broker must refuse: ``code`` is Kafka's error code for it.
    ``by_validator``: Kafka refuses it in its log's validator (``LogValidator``), not before,
    so its answer carries the partition's log start offset."""

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
    in a Produce request older than v7 (UNSUPPORTED_COMPRESSION_TYPE), fails its CRC
    (CORRUPT_MESSAGE), uses a codec whose package is missing (UNSUPPORTED_COMPRESSION_TYPE),
    fails a check of Kafka's ``LogValidator.validateBatch`` (see :func:`_check_header`), is a
    transactional one without a producer id (INVALID_RECORD), or holds records that do not
    decode as its header announces them (INVALID_RECORD, as Kafka's ``DefaultRecord`` refuses
    them). A compressed batch is decompressed up to :data:`MAX_DECOMPRESSED_BYTES` only: past
    it MESSAGE_TOO_LARGE, a payload not valid for its codec UNKNOWN_SERVER_ERROR (as Kafka
    answers its codec's bare ``KafkaException``). Nothing is returned unless all decoded.
    """
    _check_frame(data, produce_version)
    batch = DefaultRecordBatch(data := bytes(data))
    if batch.base_offset != 0:  # Kafka's UnifiedLog.analyzeAndValidateRecords
        raise BatchRejected(kafka_errors.InvalidRecordError.errno,
                            f"a produced record batch's base offset must be 0 (the broker "
                            f"assigns offsets), got {batch.base_offset}", by_validator=True)
    if not batch.validate_crc():
        raise BatchRejected(kafka_errors.CorruptRecordError.errno, "record batch CRC mismatch")
    name, available = _CODECS.get(batch.compression_type, (None, None))
    if name is None:
        raise BatchRejected(kafka_errors.UnsupportedCompressionTypeError.errno,
                            f"unknown compression codec {batch.compression_type}")
    if not available():
        raise BatchRejected(kafka_errors.UnsupportedCompressionTypeError.errno,
                            f"{name} compression needs the {CODEC_PACKAGES[name]} package on "
                            "the broker")
    _check_header(batch, data)
    if batch.compression_type:
        batch = DefaultRecordBatch(_decompressed(data, name, MAX_DECOMPRESSED_BYTES))
    try:
        records = [_as_tuple(rec) for rec in batch]
    except Exception as exc:  # the codecs raise their own types for a batch that lies
        reason = exc.args[0] if exc.args else exc
        raise BatchRejected(kafka_errors.InvalidRecordError.errno,
                            f"the record batch's records do not decode: {reason}",
                            by_validator=True) from None
    return ProducedBatch(records, batch.producer_id, batch.producer_epoch, batch.base_sequence,
                         len(data), None if name == "none" else name,
                         batch.is_transactional,
                         batch.timestamp_type == TIMESTAMP_LOG_APPEND_TIME)


def _check_header(batch: Any, data: bytes) -> None:
    """Kafka's ``LogValidator.validateBatch`` for a client's v2 batch, in its order (each
    INVALID_RECORD): the offset range its last offset delta gives must hold as many records as
    its count says, at least one; no control batch (only brokers write markers); a batch
    with a producer id must carry a sequence number. Then a transactional batch must carry
    its producer id."""
    (count,) = _RECORD_COUNT.unpack_from(data, _HEADER_SIZE - 4)
    last_delta = batch.last_offset_delta
    problem = None
    if last_delta + 1 <= 0:
        problem = f"Batch has an invalid offset range: [0, {last_delta}]"
    elif count <= 0:
        problem = f"Invalid reported count for record batch: {count}"
    elif last_delta + 1 != count:
        problem = (f"Inconsistent batch offset range [0, {last_delta}] and count of records "
                   f"{count}")
    elif batch.is_control_batch:
        problem = "Clients are not allowed to write control records"
    elif batch.producer_id >= 0 and batch.base_sequence < 0:
        problem = (f"Invalid sequence number {batch.base_sequence} in record batch with "
                   f"producerId {batch.producer_id}")
    if problem is not None:
        raise BatchRejected(kafka_errors.InvalidRecordError.errno, problem, by_validator=True)
    if batch.is_transactional and batch.producer_id < 0:
        raise BatchRejected(kafka_errors.InvalidRecordError.errno,
                            "a transactional batch must carry its producer id and epoch")


def _decompressed(data: bytes, name: str, limit: int) -> bytes:
    """The batch ``data`` (compressed with ``name``) as the same batch uncompressed, its
    records decompressed only up to ``limit`` bytes with the header (see :func:`decode_batch`
    for the errors). Its CRC is not recomputed: the compressed batch's was checked."""
    try:
        records = decompress_bounded(name, memoryview(data)[_HEADER_SIZE:],
                                     max(0, limit - _HEADER_SIZE))
    except DecompressedTooLarge:
        raise BatchRejected(
            kafka_errors.MessageSizeTooLargeError.errno,
            f"the record batch takes more than {limit} bytes once decompressed, more than a "
            "request may carry; send smaller batches") from None
    except KafkaConfigurationError as exc:
        raise BatchRejected(kafka_errors.UnsupportedCompressionTypeError.errno, str(exc)) from None
    except ValueError as exc:
        # Kafka's codecs throw a bare KafkaException (GzipCompression.wrapForInput; the
        # DefaultRecordBatch iterator's "Failed to decompress record stream"): appendToLocalLog's
        # "case t: Throwable" answers it UNKNOWN_SERVER_ERROR (Errors.forException), log start.
        raise BatchRejected(kafka_errors.UnknownError.errno, str(exc),
                            by_validator=True) from None
    plain = bytearray(data[:_HEADER_SIZE]) + records
    _LENGTH.pack_into(plain, _LENGTH_OFFSET, len(plain) - 12)
    (attributes,) = _ATTRIBUTES.unpack_from(plain, _ATTRIBUTES_OFFSET)
    _ATTRIBUTES.pack_into(plain, _ATTRIBUTES_OFFSET, attributes & ~_CODEC_MASK)
    return bytes(plain)


def _as_tuple(rec: Any) -> WireRecord:
    # A header value may be None (Kafka's null header value, length -1): kept as such.
    headers = tuple(map(tuple, rec.headers)) if rec.headers else ()
    # The timestamp as sent, negative ones included: -1 (NO_TIMESTAMP) is not a request to
    # stamp the append time, and the broker judges the others (see WireRecord).
    return WireRecord(rec.key, rec.value, headers, rec.timestamp)


def encode_records(records: Sequence[LogRecord], max_bytes: int,
                   batches: Sequence[TransactionalBatch] = (),
                   epochs: Sequence[tuple[int, int]] = (), *,
                   at_least_one: bool = True,
                   stored: Sequence[StoredBatch] = ()) -> bytes:
    """``records`` (in offset order) as v2 batches, cut at ``max_bytes`` as Kafka cuts a fetch.

    ``stored`` are the producers' batches the records belong to, in offset order (a whole-batch
    fetch's ``batches``): each goes out as that batch, with its base offset (also when its first
    records are gone: a fetch from the middle of a batch, or compaction), its last offset and
    its codec; a compressed batch whose records are all there is compressed once and its bytes
    kept on it. Records in no stored batch are batched as consecutive records of one kind.
    ``batches`` are the transactional batches among them, in offset order (a fetch's
    ``transactional_batches``): their records are encoded as such (see the module).
    ``epochs`` are ``(leader_epoch, start_offset)`` pairs, oldest first (the leader's epoch
    cache, :class:`~pcmodel.cluster.epochs.EpochEntry`): a record was written in the epoch of
    the last pair starting at or before its offset, and each batch carries its records' epoch,
    a batch never spanning two; records before every pair (and all of them, without
    ``epochs``) carry :data:`LEADER_EPOCH`.

    The byte limit is Kafka's (``LogSegment.read``): the batches are sent up to ``max_bytes``
    and the last one is cut there, a partial batch the client discards (it fetches that batch
    again next time). The first batch is never cut: with ``at_least_one`` it is sent whole
    however large (KIP-74: so that an oversized batch cannot stall a consumer; Kafka allows it
    only in the first partition of a fetch that sends any bytes: ``at_least_one=False`` for
    the others), without it nothing is sent if it does not fit. Returns ``b""`` for no
    records.
    """
    out = bytearray()
    i = 0
    for owner, batch, epoch, end in _segments(records, batches, epochs, stored):
        if len(out) >= max_bytes and not (at_least_one and not out):
            break
        cached = _whole_compressed(batch, end - i)
        if cached is not None:
            position = len(out)
            out += cached
            # The leader epoch is outside the CRC: the one cached bytes serve every epoch.
            _EPOCH.pack_into(out, position + _EPOCH_OFFSET, epoch)
            i = end
        while i < end and (len(out) < max_bytes or (at_least_one and not out)):
            i = _encode_batch(records, i, end, owner, batch, epoch,
                              max_bytes - len(out), out)
    first_batch = _LENGTH.unpack_from(out, _LENGTH_OFFSET)[0] + 12 if out else 0
    if at_least_one:
        return bytes(out[:max(max_bytes, first_batch)])
    # Kafka answers nothing rather than part of the first batch (ReplicaManager.readFromLog).
    return bytes(out[:max_bytes]) if first_batch <= max_bytes else b""


def _whole_compressed(batch: StoredBatch | None, count: int) -> bytes | None:
    """The cached bytes of ``batch`` if it is compressed, encoded before, and all ``count`` of
    its records are being sent (none compacted, cut or deleted since)."""
    if batch is None or batch.compressed is None or batch.compressed.count != count:
        return None
    return batch.compressed.wire


def _segments(records: Sequence[LogRecord], batches: Sequence[TransactionalBatch],
              epochs: Sequence[tuple[int, int]] = (), stored: Sequence[StoredBatch] = (),
              ) -> list[tuple[TransactionalBatch | None, StoredBatch | None, int, int]]:
    """``records`` cut into runs that share their transactional batch (``None``: none), their
    stored batch (``None``: none) and their leader epoch: ``(owner, stored batch, epoch, end
    index)`` per run, in order."""
    runs: list[tuple[TransactionalBatch | None, StoredBatch | None, int, int]] = []
    b = s = 0
    e = -1  # the index in ``epochs`` of the pair the current record belongs to
    for i, rec in enumerate(records):
        while b < len(batches) and batches[b].last_offset < rec.offset:
            b += 1
        owner = batches[b] if b < len(batches) and batches[b].base_offset <= rec.offset else None
        while s < len(stored) and stored[s].last_offset < rec.offset:
            s += 1
        batch = stored[s] if s < len(stored) and stored[s].base_offset <= rec.offset else None
        while e + 1 < len(epochs) and epochs[e + 1][1] <= rec.offset:
            e += 1
        epoch = epochs[e][0] if e >= 0 else LEADER_EPOCH
        if runs and runs[-1][0] is owner and runs[-1][1] is batch and runs[-1][2] == epoch:
            runs[-1] = (owner, batch, epoch, i + 1)
        else:
            runs.append((owner, batch, epoch, i + 1))
    return runs


def _encode_batch(records: Sequence[LogRecord], i: int, end: int,
                  owner: TransactionalBatch | None, stored: StoredBatch | None, epoch: int,
                  room: int, out: bytearray) -> int:
    """Append to ``out`` one batch of ``records[i:end]`` from ``i`` on (all of ``owner``'s and
    of the producer's batch ``stored``, whose records they are, written in leader epoch
    ``epoch``); return the index of the first record left for the next batch.

    A stored batch is written whole, with its codec, base offset and last offset; records of no
    stored batch fill a batch of about ``room`` bytes (at least one record)."""
    first = records[i]
    log_append = first.timestamp_type == TIMESTAMP_LOG_APPEND_TIME
    codec = 0 if stored is None else _CODEC_IDS.get(stored.codec, 0)
    size = _UNLIMITED if stored is not None else max(1, room)
    # The first batch of a stored one keeps its base offset, records before it gone or not.
    whole_from = stored is not None and (i == 0 or records[i - 1].offset < stored.base_offset)
    base = stored.base_offset if whole_from else first.offset
    producer_id, producer_epoch, sequence = _producer_fields(owner, stored, base)
    builder = DefaultRecordBatchBuilder(2, codec, owner is not None, producer_id,
                                        producer_epoch, sequence, size)
    append = builder.append
    start = i
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
            break  # the size limit: this record starts the next batch
        i += 1
    batch = builder.build()
    # The broker fills in the base offset and the leader epoch its records were written in
    # (neither is under the CRC, which starts at the attributes).
    _BASE_OFFSET_AND_EPOCH.pack_into(batch, 0, base, len(batch) - 12, epoch)
    control = owner is not None and owner.is_control
    # A batch whose last records compaction removed still ends at its last offset (Kafka's
    # cleaner keeps it), so that the client's next fetch starts after it.
    last_delta = None
    if stored is not None and i == end and records[end - 1].offset < stored.last_offset:
        last_delta = stored.last_offset - base
    if log_append or control or last_delta is not None:
        _set_header(batch, (_TIMESTAMP_TYPE_MASK if log_append else 0)
                    | (_CONTROL_MASK if control else 0),
                    first.timestamp if log_append else None, last_delta)
    if whole_from and i == end and stored.compressed is not None \
            and stored.compressed.count == end - start:
        stored.compressed.wire = bytes(batch)  # the whole batch: its bytes serve every fetch
    out += batch
    return i


def _producer_fields(owner: TransactionalBatch | None, stored: StoredBatch | None,
                     base: int) -> tuple[int, int, int]:
    """The producer id, epoch and base sequence of a batch starting at ``base``: those the
    producer wrote in its batch ``stored`` (its sequence moved on by the records before
    ``base``, where one stored batch goes out as several), else the transaction's producer
    with no sequence, else none (-1 each)."""
    if stored is not None and stored.producer_id >= 0:
        sequence = stored.base_sequence
        if sequence >= 0:  # sequence numbers wrap around after INT32_MAX, as Kafka's
            sequence = (sequence + base - stored.base_offset) % (INT32_MAX + 1)
        return stored.producer_id, stored.producer_epoch, sequence
    if owner is not None:
        return owner.producer_id, owner.producer_epoch, _NO_SEQUENCE
    return -1, -1, _NO_SEQUENCE


def _set_header(batch: bytearray, attribute_bits: int, append_time: int | None,
                last_offset_delta: int | None = None) -> None:
    """Set attribute bits only a broker sets (the control bit of a marker's batch, the
    log-append-time type, with its ``append_time`` as the batch's max timestamp) and the last
    offset delta of a batch that lost its last records to compaction, and fix the batch's
    CRC."""
    (attributes,) = _ATTRIBUTES.unpack_from(batch, _ATTRIBUTES_OFFSET)
    _ATTRIBUTES.pack_into(batch, _ATTRIBUTES_OFFSET, attributes | attribute_bits)
    if append_time is not None:
        struct.pack_into(">q", batch, _MAX_TIMESTAMP_OFFSET, append_time)
    if last_offset_delta is not None:
        struct.pack_into(">i", batch, _LAST_OFFSET_DELTA_OFFSET, last_offset_delta)
    _CRC.pack_into(batch, _CRC_OFFSET, calc_crc32c(memoryview(batch)[_ATTRIBUTES_OFFSET:]))
