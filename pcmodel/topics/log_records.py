"""Records as the broker takes them (:class:`NewRecord`) and as a partition log keeps them.

A producer hands the broker serialized records: ``(key, value, headers, timestamp_ms)``, keys
and values ``bytes`` or ``None``, headers ``(str, bytes)`` pairs, a timestamp in epoch
milliseconds or ``None`` for "stamp it when appended". :func:`validate_records` checks a whole
batch before anything is appended (``TypeError`` / ``IllegalArgumentError`` saying what was
wrong), with a fast path for the common shapes. A stored record is a :class:`LogRecord`: its
offset, its timestamp and whether that is the producer's create time or the log's append time
(Kafka's codes), and the bytes, which is what ``Broker.fetch`` returns. Timestamps are dates,
read from the wall clock; durations never are.

Prior art: Kafka's record format v2 fields and ``TimestampType`` codes, kafka-python's
``ConsumerRecord`` field names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from pcmodel.topics.errors import IllegalArgumentError

__all__ = [
    "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME",
    "LogRecord",
    "NewRecord",
    "validate_new_record",
    "validate_records",
    "wall_clock_ms",
]

#: Kafka's timestamp type codes, as ``ConsumerRecord.timestamp_type`` reports them.
TIMESTAMP_CREATE_TIME = 0
TIMESTAMP_LOG_APPEND_TIME = 1


def wall_clock_ms() -> int:
    """Milliseconds since the epoch: what record timestamps are (not used for durations)."""
    return time.time_ns() // 1_000_000


class NewRecord(NamedTuple):
    """A record as a producer hands it to the broker (already serialized).

    ``timestamp_ms`` is the producer's create time, or ``None`` to stamp the append time.
    """

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


class LogRecord(NamedTuple):
    """A record stored in a partition log, as ``Broker.fetch`` returns it (bytes, not objects)."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def validate_new_record(record: Any) -> NewRecord:
    """Return ``record`` as a :class:`NewRecord`, or raise ``TypeError``/``IllegalArgumentError``.

    Accepts a ``NewRecord`` or a tuple of 2 to 4 fields in its order. Keys and values must be
    ``bytes`` or ``None`` (serialize first); headers a sequence of ``(str, bytes)`` pairs.
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
            or not isinstance(header[1], bytes)
        ):
            raise TypeError(f"headers must be (str, bytes) pairs, got {header!r}")
    ts = rec.timestamp_ms
    if ts is not None:
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise TypeError(f"timestamp_ms must be an int or None, got {ts!r}")
        if ts < 0:
            raise IllegalArgumentError(f"timestamp_ms must be >= 0, got {ts}")
    return NewRecord(rec.key, rec.value, headers, ts)


def validate_records(records: Sequence[Any]) -> list[tuple]:
    """Check a batch for :meth:`PartitionLog.append`; return it as ``(key, value, headers, ts)``.

    The common shapes (``bytes``/``None`` key and value, no headers) take a fast path without
    building a :class:`NewRecord`; anything else goes through :func:`validate_new_record`, so
    the errors are the same. Nothing is returned unless every record is valid.
    """
    checked = []
    for rec in records:
        if (type(rec) is tuple or type(rec) is NewRecord) and 2 <= len(rec) <= 4:
            key, value = rec[0], rec[1]
            headers = rec[2] if len(rec) > 2 else ()
            ts = rec[3] if len(rec) > 3 else None
            if (
                (key is None or type(key) is bytes)
                and (value is None or type(value) is bytes)
                and not headers
                and (ts is None or (type(ts) is int and ts >= 0))
            ):
                checked.append((key, value, (), ts))
                continue
        checked.append(tuple(validate_new_record(rec)))
    return checked
