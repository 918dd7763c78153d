"""Records as the broker takes them (:class:`NewRecord`) and as a partition log keeps them.

A producer hands the broker serialized records: ``(key, value, headers, timestamp_ms)``, keys
and values ``bytes`` or ``None``, headers ``(str, bytes)`` pairs (a header's value may be
``None``: Kafka's null header value, which the record format writes as length -1), a timestamp
in epoch milliseconds or ``None`` for "stamp it when appended". :func:`validate_records` checks
a whole batch before anything is appended (``TypeError`` / ``IllegalArgumentError`` saying what was
wrong), with a fast path for the common shapes. A stored record is a :class:`LogRecord`: its
offset, its timestamp and whether that is the producer's create time or the log's append time
(Kafka's codes), and the bytes, which is what ``Broker.fetch`` returns. Timestamps are dates,
read from the wall clock; durations never are. :func:`record_batch_size` weighs a batch as
Kafka's record format v2 encodes it, which is what a topic's ``max.message.bytes`` bounds.

Negative timestamps follow Kafka, which checks them in the client, not in the broker. Java's
``ProducerRecord`` refuses one ("Timestamp should always be non-negative or null"), and so do
pcmodel's ``KafkaProducer.send(timestamp_ms=...)`` and a :class:`NewRecord` given to
``Broker.append`` (``IllegalArgumentError``). Kafka's broker takes any 64-bit timestamp a
client's batch carries, and so does pcmodel's from a Kafka client: the Kafka listener hands
the broker each such record as a :class:`WireRecord`. There ``-1`` is Kafka's
``RecordBatch.NO_TIMESTAMP``: kept as ``-1`` (a create time) on a ``CreateTime`` topic and never
checked against the topic's window of create times, not stamped with the append time as
``None`` is. Any other negative value is an ordinary create time: kept as sent under the default
window (``message.timestamp.before.max.ms`` is unbounded), refused with INVALID_TIMESTAMP by a
finite one. A ``LogAppendTime`` topic stamps every record, whatever it carried.

Prior art: Kafka's record format v2 fields and ``TimestampType`` codes, kafka-python's
``ConsumerRecord`` field names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from pcmodel.topics.errors import IllegalArgumentError

__all__ = [
    "RECORD_BATCH_OVERHEAD",
    "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME",
    "NO_TIMESTAMP",
    "LogRecord",
    "NewRecord",
    "WireRecord",
    "record_batch_size",
    "record_batch_size_bound",
    "single_record_batch_bound",
    "validate_new_record",
    "validate_records",
    "wall_clock_ms",
]

#: Kafka's timestamp type codes, as ``ConsumerRecord.timestamp_type`` reports them.
TIMESTAMP_CREATE_TIME = 0
TIMESTAMP_LOG_APPEND_TIME = 1
#: Kafka's ``RecordBatch.NO_TIMESTAMP``: a record a Kafka client sent without a timestamp.
NO_TIMESTAMP = -1

#: Bytes of a v2 record batch's header: base offset 8, length 4, leader epoch 4, magic 1, CRC 4,
#: attributes 2, last offset delta 4, first and max timestamps 8 + 8, producer id 8, producer
#: epoch 2, base sequence 4, record count 4.
RECORD_BATCH_OVERHEAD = 61

#: The most bytes a record without headers takes beyond its key and value: its attributes (1),
#: the varints of its length, timestamp delta, offset delta, key and value lengths and header
#: count (5 + 10 + 5 + 5 + 5 + 5).
_MOST_RECORD_FRAMING = 36
_KEY, _VALUE, _HEADERS = itemgetter(0), itemgetter(1), itemgetter(2)


def wall_clock_ms() -> int:
    """Milliseconds since the epoch: what record timestamps are (not used for durations)."""
    return time.time_ns() // 1_000_000


class NewRecord(NamedTuple):
    """A record as a producer hands it to the broker (already serialized).

    ``timestamp_ms`` is the producer's create time, or ``None`` to stamp the append time.
    """

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None


class WireRecord(NamedTuple):
    """A record as a Kafka client's batch carried it (the Kafka listener decodes these).

    ``timestamp_ms`` is Kafka's: any 64-bit int, :data:`NO_TIMESTAMP` (``-1``) for none, never
    ``None``. The broker keeps it as Kafka's broker does (see the module): a negative value is
    not refused as in a :class:`NewRecord`.
    """

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_ms: int


class LogRecord(NamedTuple):
    """A record stored in a partition log, as ``Broker.fetch`` returns it (bytes, not objects)."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


def validate_new_record(record: Any) -> NewRecord:
    """Return ``record`` as a :class:`NewRecord`, or raise ``TypeError``/``IllegalArgumentError``.

    Accepts a ``NewRecord``, a :class:`WireRecord` or a tuple of 2 to 4 fields in their order.
    Keys and values must be ``bytes`` or ``None`` (serialize first); headers a sequence of
    ``(str, bytes)`` pairs, whose value may be ``None`` (a null header value, as Kafka's record
    format allows). A timestamp is an int or ``None``, and not negative unless the record is a
    ``WireRecord``: the check of Java's ``ProducerRecord`` for the one, of Kafka's broker (none)
    for the other.
    """
    if not isinstance(record, tuple) or not 2 <= len(record) <= 4:
        raise TypeError(
            f"a record is a tuple (key, value[, headers[, timestamp_ms]]), got {record!r}"
        )
    rec = NewRecord(*record)
    for name in ("key", "value"):
        field = getattr(rec, name)
        if field is not None and not isinstance(field, bytes):
            raise TypeError(
                f"record {name} must be bytes or None, got {type(field).__name__}; "
                f"configure a {name}_serializer"
            )
    headers = tuple(tuple(h) for h in rec.headers or ())
    for header in headers:
        if (
            len(header) != 2
            or not isinstance(header[0], str)
            or not (header[1] is None or isinstance(header[1], bytes))
        ):
            raise TypeError(f"headers must be (str, bytes or None) pairs, got {header!r}")
    ts = rec.timestamp_ms
    if ts is not None:
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise TypeError(f"timestamp_ms must be an int or None, got {ts!r}")
        if ts < 0 and type(record) is not WireRecord:
            raise IllegalArgumentError(f"timestamp_ms must be >= 0, got {ts}")
    return NewRecord(rec.key, rec.value, headers, ts)


def validate_records(records: Sequence[Any]) -> list[tuple]:
    """Check a batch for :meth:`PartitionLog.append`; return it as ``(key, value, headers, ts)``.

    The common shapes (``bytes``/``None`` key and value, no headers) take a fast path without
    building a :class:`NewRecord`; anything else goes through :func:`validate_new_record`, so
    the errors are the same. A :class:`WireRecord`'s negative timestamp stays (``-1`` included:
    :data:`NO_TIMESTAMP` is kept, not stamped); every other record's must be ``None`` or
    ``>= 0``. Nothing is returned unless every record is valid.
    """
    checked = []
    for rec in records:
        kind = type(rec)
        if (kind is tuple or kind is NewRecord or kind is WireRecord) and 2 <= len(rec) <= 4:
            key, value = rec[0], rec[1]
            headers = rec[2] if len(rec) > 2 else ()
            ts = rec[3] if len(rec) > 3 else None
            if (
                (key is None or type(key) is bytes)
                and (value is None or type(value) is bytes)
                and not headers
                and (ts is None or (type(ts) is int and (ts >= 0 or kind is WireRecord)))
            ):
                checked.append((key, value, (), ts))
                continue
        checked.append(tuple(validate_new_record(rec)))
    return checked


def _varint_size(value: int) -> int:
    """Bytes of ``value`` as a zig-zag varint, Kafka's encoding of a record's fields."""
    zigzag = (value << 1) ^ (value >> 63)
    return max(1, (zigzag.bit_length() + 6) // 7)


def _field_size(data: bytes | None) -> int:
    """Bytes of a length-prefixed field: a varint length (-1 for ``None``), then the bytes."""
    return 1 if data is None else len(data) + _varint_size(len(data))


def record_batch_size(records: Sequence[tuple]) -> int:
    """Bytes of ``records`` (checked by :func:`validate_records`) as one uncompressed batch in
    Kafka's record format v2: what a producer's batch of them weighs, and what a topic's
    ``max.message.bytes`` bounds. Timestamps count as deltas from the first record's."""
    first = next((ts for *_, ts in records if ts is not None), 0)
    size = RECORD_BATCH_OVERHEAD
    for offset_delta, (key, value, headers, timestamp) in enumerate(records):
        body = (1  # attributes
                + _varint_size(0 if timestamp is None else timestamp - first)
                + _varint_size(offset_delta)
                + _field_size(key) + _field_size(value)
                + _varint_size(len(headers)))
        for header_key, header_value in headers:
            body += _field_size(header_key.encode("utf-8")) + _field_size(header_value)
        size += _varint_size(body) + body
    return size


#: Kafka's ``DefaultRecord.MAX_RECORD_OVERHEAD``: the most a record's framing takes beyond its
#: key, value and headers (attributes, and the varints of its length, deltas and field sizes).
MAX_RECORD_OVERHEAD = 21


def single_record_batch_bound(key: bytes | None, value: bytes | None,
                              headers: Sequence[tuple[str, bytes | None]]) -> int:
    """The most bytes a batch of this one record takes in Kafka's record format v2: the Java
    producer's ``DefaultRecordBatch.estimateBatchSizeUpperBound``, the size it holds against
    ``max.request.size`` before sending a record."""
    size = (RECORD_BATCH_OVERHEAD + MAX_RECORD_OVERHEAD + _field_size(key) + _field_size(value)
            + _varint_size(len(headers)))
    for header_key, header_value in headers:
        size += _field_size(header_key.encode("utf-8")) + _field_size(header_value)
    return size


def record_batch_size_bound(records: Sequence[tuple]) -> int:
    """A size :func:`record_batch_size` never exceeds, taken without a Python loop: every record
    framed at its largest. A batch within its topic's limit by this bound needs no weighing,
    which is every batch of a producer that keeps the default limits."""
    if any(map(_HEADERS, records)):
        return record_batch_size(records)
    return (RECORD_BATCH_OVERHEAD + _MOST_RECORD_FRAMING * len(records)
            + sum(map(len, filter(None, map(_KEY, records))))
            + sum(map(len, filter(None, map(_VALUE, records)))))
