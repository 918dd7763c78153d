"""What ``send()`` accepts as a record's key, value and headers, and how they become bytes.

A key or value goes through its serializer when one is configured (a function or a
``Serializer`` object: :mod:`pcmodel.topics.serde`); without one it must already be ``bytes``
(``bytearray`` and ``memoryview`` are copied to ``bytes``). A serializer that raises fails the
send with ``SerializationError`` (the Java client's behaviour), one that returns something other
than bytes with ``TypeError``, as kafka-python raises; ``None`` stays ``None`` (no key, or a
tombstone) and is not passed to the serializer. Headers must be a list of ``(str, bytes)`` pairs
(``TypeError`` otherwise, also for pairs a serializer added), and their size counts towards the
record's. A header's value may be ``None``: the Java client's ``RecordHeader`` allows a null
value, which Kafka's record format writes as length -1 and consumers read back as null
(kafka-python refuses it with ``TypeError``; the Java client wins). Nothing is queued when a
check fails.

A record too large for ``max_request_size`` is refused as the Java client refuses it: its size
is taken as Kafka's upper bound for a batch of that record alone (batch header and the most
framing included, ``DefaultRecordBatch.estimateBatchSizeUpperBound``), so that what is refused
here is what Java refuses. ``buffer_memory`` is held against pcmodel's own accounting of a
record (``RECORD_OVERHEAD`` plus its bytes), the one ``batch_size`` pages are counted in.

:class:`SerializerMixin` is one part of :class:`~pcmodel.topics.producer.KafkaProducer`.

Prior art: kafka-python's ``KafkaProducer._serialize`` and its header checks in ``send()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcmodel.topics.broker_checks import INT64_MAX
from pcmodel.topics.errors import (
    IllegalArgumentError,
    MessageSizeTooLargeError,
    SerializationError,
)
from pcmodel.topics.log_records import (
    MAX_RECORD_OVERHEAD,
    RECORD_BATCH_OVERHEAD,
    single_record_batch_bound,
)

__all__ = ["SerializerMixin"]

#: The latest ``timestamp_ms`` send() takes: Kafka's timestamps are Java longs, and a later one
#: would fail its whole batch at the broker. The wire's int64 limit, named for what send() bounds.
MAX_TIMESTAMP_MS = INT64_MAX

#: Bytes a record costs beyond its key, value and headers in pcmodel's accounting (Kafka's
#: record framing is 14 to 21).
RECORD_OVERHEAD = 14
#: The most Kafka's bound for a batch of one record (see the module) exceeds pcmodel's size of
#: the record, headers aside: batch header, the most framing, three varints of 5 bytes.
MOST_FRAMING_BEYOND_OVERHEAD = RECORD_BATCH_OVERHEAD + MAX_RECORD_OVERHEAD - RECORD_OVERHEAD + 15


class SerializerMixin:
    """Keys and values to bytes with the configured serializers (producer part)."""

    def _check_record_size(self, size: int, key: bytes | None, value: bytes | None,
                           headers: tuple[tuple[str, bytes | None], ...]) -> None:
        """Raise ``MessageSizeTooLargeError`` for a record of ``size`` bytes (pcmodel's
        accounting) that could never be sent (see the module)."""
        limit = self.config["max_request_size"]
        if size + MOST_FRAMING_BEYOND_OVERHEAD + 10 * len(headers) > limit:  # else surely within it
            bound = single_record_batch_bound(key, value, headers)
            if bound > limit:
                raise MessageSizeTooLargeError(
                    f"The message is {bound} bytes when serialized which is larger than "
                    f"{limit}, which is the value of max_request_size; raise it or send "
                    "smaller records")
        if size > self.config["buffer_memory"]:
            raise MessageSizeTooLargeError(
                f"The message is {size} bytes when serialized which is larger than the total "
                f"memory buffer you have configured with buffer_memory "
                f"({self.config['buffer_memory']}); raise it or send smaller records")

    def _serialize(
        self, what: str, serializer: Callable[..., Any] | None, topic: str,
        headers: list | None, obj: Any,
    ) -> bytes | None:
        """``obj`` as bytes (None stays None). ``serializer`` is called as ``f(obj)``, or as
        ``f(topic, headers, obj)`` when ``headers`` (the record's list, which it may add to) is
        not None. A ``bytearray``, ``memoryview`` or bytes subclass becomes plain ``bytes``.
        Raises SerializationError if the serializer raises, TypeError if the result is not
        bytes."""
        if obj is None:
            return None
        if serializer is not None:
            try:
                obj = serializer(obj) if headers is None else serializer(topic, headers, obj)
            except Exception as exc:
                raise SerializationError(
                    f"{what}_serializer failed on {type(obj).__name__} for topic {topic!r}: {exc}"
                ) from exc
            if obj is None:
                return None
        if type(obj) is bytes:
            return obj
        # A bytes subclass too becomes plain bytes: a broker process refuses other types, and
        # would fail the whole batch, the other records in it included.
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return bytes(obj)
        hint = (
            f"the {what}_serializer returned {type(obj).__name__}; it must return bytes"
            if serializer is not None
            else f"pass {what}_serializer=... to turn {type(obj).__name__} into bytes"
        )
        # TypeError, as kafka-python raises for a serialized key or value of another type.
        raise TypeError(f"the {what} for topic {topic!r} is not bytes: {hint}")


def _check_headers(headers: object) -> tuple[tuple[tuple[str, bytes | None], ...], int]:
    """Validate headers as kafka-python does; return them as a tuple and their size.

    Raises ``TypeError`` (kafka-python's type) unless ``headers`` is a list of (str, bytes)
    pairs, whose value may be ``None`` (a null header value, as the Java client allows; it
    counts no bytes towards the size); ``IllegalArgumentError`` for a key with no UTF-8 form.
    A pair of subclasses (a namedtuple, a ``StrEnum`` key, a bytes subclass) is returned as a
    plain ``(str, bytes)`` tuple.
    """
    if headers is None:
        return (), 0
    if not isinstance(headers, list):
        raise TypeError(
            f"headers must be a list of (str, bytes) pairs, got {type(headers).__name__}"
        )
    result = []
    size = 0
    for pair in headers:
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not (pair[1] is None or isinstance(pair[1], bytes))
        ):
            raise TypeError(
                f"each header must be a (str, bytes) pair (or (str, None)), got {pair!r}; "
                "encode values to bytes"
            )
        if type(pair) is not tuple or type(pair[0]) is not str or (
                pair[1] is not None and type(pair[1]) is not bytes):
            # Subclasses (a namedtuple, a StrEnum key) as plain values: a broker process
            # refuses other types, and would fail the whole batch.
            pair = (str.__str__(pair[0]), None if pair[1] is None else bytes(pair[1]))
        try:
            key_size = len(pair[0].encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for the wire
            raise IllegalArgumentError(
                f"header key {pair[0]!r} cannot be encoded as UTF-8 (a lone surrogate); "
                "pass valid text") from None
        result.append(pair)
        size += key_size + (0 if pair[1] is None else len(pair[1]))
    return tuple(result), size
