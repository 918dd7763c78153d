"""What a topic's configs ask of each of its partition logs when records are appended.

A partition log keeps a :class:`LogSettings`, made from its topic's overrides by
:func:`log_settings` when the topic is created and again at every alteration of its configs:
which timestamps the records keep (``message.timestamp.type``), the window of create times the
topic takes around the broker's clock (``message.timestamp.before.max.ms``,
``message.timestamp.after.max.ms``), the largest batch (``max.message.bytes``) and the codec the
batches are stored with (``compression.type``) and its level (``compression.gzip.level``, ...).
``retention.ms`` and ``retention.bytes`` are the log's own settings: they act on the records
already there, not at an append. ``cleanup.policy`` says whether they apply at all (``delete``)
and whether the log is compacted (``compact``, with the configs
:class:`~pcmodel.topics.compaction.CompactionSettings` gathers).

Prior art: Kafka's ``LogConfig`` and ``LogValidator`` (``validateTimestamp``, the codec a batch
is recompressed to).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import NamedTuple

from pcmodel.topics.broker_checks import INT64_MAX
from pcmodel.topics.compaction import CompactionSettings
from pcmodel.topics.log_records import NO_TIMESTAMP
from pcmodel.topics.topic_configs import TOPIC_CONFIGS

__all__ = ["LogSettings", "log_settings"]

_KEY = itemgetter(0)  # of a checked record (key, value, headers, timestamp)
_TIMESTAMP = itemgetter(3)


def _judged(timestamp: int | None) -> bool:
    """Whether the window judges ``timestamp``: a create time given, not Kafka's "none"."""
    return timestamp is not None and timestamp != NO_TIMESTAMP


def _default(name: str) -> int:
    return int(TOPIC_CONFIGS[name].default)


class LogSettings(NamedTuple):
    """What a topic's configs ask of each of its partition logs at an append (retention aside).

    ``log_append_time``: stamp every record with the time of the append
    (``message.timestamp.type=LogAppendTime``) instead of keeping the producer's timestamps.
    ``max_message_bytes``: the largest batch appended (``max.message.bytes``), in bytes of
    Kafka's record format. ``compression_type``: how batches are stored (``compression.type``:
    ``"producer"``, ``"uncompressed"`` or a codec's name; see :meth:`stored_codec`).
    ``timestamp_before_max_ms`` and ``timestamp_after_max_ms``: how far a create time may lie
    before or after the broker's clock (see :meth:`timestamp_error`). ``compression_level``:
    the level of the topic's own codec (``None`` when ``compression_type`` is not a codec with
    levels). ``delete``: retention deletes records (``cleanup.policy`` has ``delete``).
    ``compaction``: how the log is compacted, or ``None`` (``cleanup.policy`` has no
    ``compact``).
    """

    log_append_time: bool = False
    max_message_bytes: int = _default("max.message.bytes")
    compression_type: str = "producer"
    timestamp_before_max_ms: int = _default("message.timestamp.before.max.ms")
    timestamp_after_max_ms: int = _default("message.timestamp.after.max.ms")
    compression_level: int | None = None
    delete: bool = True
    compaction: CompactionSettings | None = None

    def keyless(self, records: Sequence[tuple]) -> list[int]:
        """The indices of the checked ``records`` a compacted topic refuses: those without a
        key (as Kafka's log validator says); none on another topic."""
        if self.compaction is None:
            return []
        return [i for i, key in enumerate(map(_KEY, records)) if key is None]

    def key_error(self, records: Sequence[tuple]) -> str | None:
        """Why a batch of checked ``records`` is refused for a record without a key (a
        compacted topic takes none, as Kafka's log validator says); ``None`` if it is not."""
        if self.compaction is None or None not in map(_KEY, records):
            return None
        return (f"Compacted topic cannot accept message without key (the record at index "
                f"{self.keyless(records)[0]} of the batch); give every record a key")

    def window(self, now_ms: int) -> tuple[int, int]:
        """The earliest and the latest create time a record may carry at ``now_ms``: never
        after ``2**63 - 1``, the largest an int64 timestamp of Kafka's record batch carries,
        even under a ``message.timestamp.after.max.ms`` that reaches past it."""
        return (now_ms - self.timestamp_before_max_ms,
                min(now_ms + self.timestamp_after_max_ms, INT64_MAX))

    def untimely(self, records: Sequence[tuple], now_ms: int) -> list[int]:
        """The indices of the checked ``records`` refused at ``now_ms`` for their create time
        (see :meth:`timestamp_error`)."""
        if self.log_append_time:
            return []
        earliest, latest = self.window(now_ms)
        return [i for i, ts in enumerate(map(_TIMESTAMP, records))
                if _judged(ts) and not earliest <= ts <= latest]

    def timestamp_error(self, records: Sequence[tuple], now_ms: int) -> str | None:
        """Why a batch of ``records`` (checked ``(key, value, headers, timestamp)``, a timestamp
        of ``None`` for none given) is refused at ``now_ms`` on the broker's clock, as Kafka's
        log validator says it; ``None`` if it is not. A topic that stamps append times takes
        any create time, and every topic takes
        :data:`~pcmodel.topics.log_records.NO_TIMESTAMP` (``-1``, a Kafka client's "none"),
        which Kafka's ``validateTimestamp`` skips. Any other negative time is a create time
        like the rest: before every finite window."""
        if self.log_append_time:
            return None
        earliest, latest = self.window(now_ms)
        # Every append asks, so the common case runs without a Python loop: a time after the
        # window is found by max() (skipping None and 0, which cannot be late), and by default
        # any time before it is taken.
        if max(filter(None, map(_TIMESTAMP, records)), default=latest) <= latest and (
                self.timestamp_before_max_ms >= INT64_MAX  # Long.MAX_VALUE: no bound
                or min(filter(_judged, map(_TIMESTAMP, records)), default=earliest)
                >= earliest):
            return None
        index = self.untimely(records, now_ms)[0]
        return (f"Timestamp {records[index][3]} of the record at index {index} of the batch "
                f"is out of range. The timestamp should be within [{earliest}, {latest}] (the "
                "topic's message.timestamp.before.max.ms and message.timestamp.after.max.ms "
                "around the broker's clock)")

    def stored_codec(self, producer_codec: str | None) -> tuple[str | None, int | None]:
        """The codec, and its level (``None``: the codec's default), a batch compressed with
        ``producer_codec`` (``None``: not compressed) is stored with: the producer's as it came,
        none, or the topic's own at the topic's level, which Kafka recompresses to (a batch
        already in the topic's codec is kept as it is, as Kafka's ``LogValidator`` keeps it)."""
        if self.compression_type in ("producer", producer_codec):
            return producer_codec, None
        if self.compression_type == "uncompressed":
            return None, None
        return self.compression_type, self.compression_level


def log_settings(overrides: Mapping[str, str]) -> LogSettings:
    """The :class:`LogSettings` of a topic with these checked ``overrides``."""
    def number(name: str) -> int:
        return int(overrides.get(name, TOPIC_CONFIGS[name].default))

    compression_type = overrides.get("compression.type", "producer")
    level_config = f"compression.{compression_type}.level"
    policy = overrides.get("cleanup.policy", TOPIC_CONFIGS["cleanup.policy"].default).split(",")
    compaction = None
    if "compact" in policy:
        max_lag_ms = number("max.compaction.lag.ms")
        compaction = CompactionSettings(
            segment_bytes=number("segment.bytes"),
            segment_ms=min(number("segment.ms"), max_lag_ms),  # Kafka's maxSegmentMs
            min_cleanable_ratio=float(overrides.get(
                "min.cleanable.dirty.ratio", TOPIC_CONFIGS["min.cleanable.dirty.ratio"].default)),
            min_lag_ms=number("min.compaction.lag.ms"), max_lag_ms=max_lag_ms,
            delete_retention_ms=number("delete.retention.ms"))
    return LogSettings(
        log_append_time=overrides.get("message.timestamp.type") == "LogAppendTime",
        max_message_bytes=number("max.message.bytes"),
        compression_type=compression_type,
        timestamp_before_max_ms=number("message.timestamp.before.max.ms"),
        timestamp_after_max_ms=number("message.timestamp.after.max.ms"),
        compression_level=number(level_config) if level_config in TOPIC_CONFIGS else None,
        delete="delete" in policy, compaction=compaction)
