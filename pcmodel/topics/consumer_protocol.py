"""What consumers put in a group's opaque bytes: subscriptions and assignments.

The group coordinator never looks inside a member's *metadata* or *assignment*: to it they are
bytes, chosen by the clients of each ``protocol_type``. Consumers (``protocol_type="consumer"``)
all use one layout, Kafka's ``ConsumerProtocolSubscription`` and ``ConsumerProtocolAssignment``
schemas, so that a pcmodel consumer, a kafka-python consumer and a librdkafka consumer can read
each other's and share one group. pcmodel's consumer writes and reads them here; the coordinator
only reads subscriptions, to know which topics a consumer group follows (as Kafka's own
``GroupMetadata`` does, for describing lag and for retention).

Layout (big-endian; a string is an int16 length and UTF-8; an array an int32 count; bytes an
int32 length, -1 for null)::

    Subscription  version:int16  topics:[string]  user_data:bytes
                  v1+: owned_partitions:[topic:string partitions:[int32]]
                  v2+: generation_id:int32   v3+: rack_id:nullable string
    Assignment    version:int16  assigned_partitions:[topic:string partitions:[int32]]
                  user_data:bytes

Later versions only append fields, so a reader takes the prefix it knows and ignores the rest:
that is Kafka's own rule for these two schemas. pcmodel writes version 1 (owned partitions are
what cooperative rebalancing needs).

These few fixed fields are written with :mod:`struct` because the core library is standard
library only; the Kafka wire front end, which needs the full protocol, uses a maintained codec.

Prior art: Kafka's ``clients/src/main/resources/common/message/ConsumerProtocolSubscription.json``
and ``ConsumerProtocolAssignment.json``; kafka-python's ``kafka/coordinator/protocol.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import NamedTuple

from pcmodel.topics.structs import TopicPartition

__all__ = [
    "PROTOCOL_TYPE",
    "Assignment",
    "Subscription",
    "decode_assignment",
    "decode_full_assignment",
    "decode_subscription",
    "encode_assignment",
    "encode_subscription",
]

#: The ``protocol_type`` every Kafka consumer joins its group with.
PROTOCOL_TYPE = "consumer"


class Subscription(NamedTuple):
    """A consumer's subscription: its topics, the partitions it owns now (v1+), the generation
    it last joined (v2+, ``-1`` when unknown or absent) and its rack (v3+, ``None``)."""

    topics: tuple[str, ...]
    owned_partitions: tuple[TopicPartition, ...] = ()
    user_data: bytes | None = None
    version: int = 1
    generation_id: int = -1
    rack_id: str | None = None


def encode_subscription(
    topics: Iterable[str], owned_partitions: Iterable[TopicPartition] = ()
) -> bytes:
    """Encode a version-1 subscription (sorted topics and partitions, no user data)."""
    out = [struct.pack(">h", 1), _strings(sorted(topics)), _bytes(None)]
    out.append(_partitions(owned_partitions))
    return b"".join(out)


def decode_subscription(data: bytes) -> Subscription:
    """Decode any version's subscription; raises ``ValueError`` for malformed bytes."""
    reader = _Reader(data)
    version = reader.int16()
    topics = tuple(reader.string() for _ in range(reader.int32()))
    user_data = reader.bytes()
    owned: tuple[TopicPartition, ...] = ()
    generation_id, rack_id = -1, None
    if version >= 1 and reader.remaining():
        owned = reader.partitions()
    if version >= 2 and reader.remaining():
        generation_id = reader.int32()
    if version >= 3 and reader.remaining():
        rack_id = reader.nullable_string()
    return Subscription(topics, owned, user_data, version, generation_id, rack_id)


def encode_assignment(partitions: Iterable[TopicPartition]) -> bytes:
    """Encode a version-1 assignment (partitions grouped by topic, sorted; no user data)."""
    return struct.pack(">h", 1) + _partitions(partitions) + _bytes(None)


class Assignment(NamedTuple):
    """A member's assignment: its partitions, grouped by topic as encoded, and user data."""

    partitions: tuple[TopicPartition, ...]
    user_data: bytes | None = None
    version: int = 1


def decode_assignment(data: bytes) -> tuple[TopicPartition, ...]:
    """Decode any version's assignment to its partitions; ``b""`` means none.

    Raises ``ValueError`` for malformed bytes; what follows the partitions is not read.
    """
    if not data:
        return ()
    reader = _Reader(data)
    reader.int16()
    return reader.partitions()


def decode_full_assignment(data: bytes) -> Assignment:
    """Decode any version's assignment with its user data; ``b""`` is an empty one.

    Raises ``ValueError`` for malformed bytes.
    """
    if not data:
        return Assignment(())
    reader = _Reader(data)
    version = reader.int16()
    partitions = reader.partitions()
    return Assignment(partitions, reader.bytes() if reader.remaining() else None, version)


# --- encoding ---------------------------------------------------------------------------------


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def _strings(texts: list[str]) -> bytes:
    return struct.pack(">i", len(texts)) + b"".join(_string(t) for t in texts)


def _bytes(data: bytes | None) -> bytes:
    if data is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(data)) + data


def _partitions(partitions: Iterable[TopicPartition]) -> bytes:
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    out = [struct.pack(">i", len(by_topic))]
    for topic in sorted(by_topic):
        numbers = sorted(by_topic[topic])
        out.append(_string(topic) + struct.pack(f">i{len(numbers)}i", len(numbers), *numbers))
    return b"".join(out)


# --- decoding ---------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(bytes(data))
        self._at = 0

    def remaining(self) -> int:
        return len(self._data) - self._at

    def _take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.remaining() < size:
            raise ValueError("truncated consumer protocol bytes")
        (value,) = struct.unpack_from(fmt, self._data, self._at)
        self._at += size
        return value

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def _raw(self, length: int) -> bytes:
        if length < 0 or self.remaining() < length:
            raise ValueError("truncated consumer protocol bytes")
        raw = bytes(self._data[self._at : self._at + length])
        self._at += length
        return raw

    def string(self) -> str:
        return self._raw(self.int16()).decode()

    def nullable_string(self) -> str | None:
        length = self.int16()
        return None if length == -1 else self._raw(length).decode()

    def bytes(self) -> bytes | None:
        length = self.int32()
        return None if length == -1 else self._raw(length)

    def partitions(self) -> tuple[TopicPartition, ...]:
        result = []
        for _ in range(self.int32()):
            topic = self.string()
            result += [TopicPartition(topic, self.int32()) for _ in range(self.int32())]
        return tuple(result)
