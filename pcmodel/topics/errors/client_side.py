"""Client-side errors: kafka-python raises these without asking a broker.

Timeouts, commits that can no longer succeed, bad arguments and configuration, a state a call
cannot be made in, connections, serialization. See :mod:`pcmodel.topics.errors`.
"""

from __future__ import annotations

from pcmodel.topics.errors.base import KafkaError

__all__ = [
    "CommitFailedError",
    "IllegalArgumentError",
    "IllegalStateError",
    "KafkaConfigurationError",
    "KafkaConnectionError",
    "KafkaTimeoutError",
    "NoBrokersAvailable",
    "NoOffsetForPartitionError",
    "SerializationError",
    "UnassignedPartitionError",
]


class KafkaTimeoutError(KafkaError):
    """A blocking call ran out of time.

    Raised by ``send()`` when the record accumulator stayed full for ``max_block_ms``, by
    ``future.get(timeout)`` and ``flush(timeout)`` when the record was not acknowledged in time,
    and by broker calls that did not complete within their timeout.
    """

    retriable = True


class CommitFailedError(KafkaError):
    """A commit was rejected because the group moved on without this member.

    Raised by ``commit()`` when the member's generation is older than the group's (a rebalance
    happened, or the member was removed after missing ``session_timeout_ms`` or
    ``max_poll_interval_ms``). The partitions may already belong to another member, which will
    read the uncommitted records again: this is at-least-once delivery at work. Call ``poll()`` to
    rejoin.
    """

    def __init__(self, *args: object) -> None:
        if not args:
            args = (
                "Commit cannot be completed since the group has already rebalanced and assigned "
                "the partitions to another member. Call poll() to rejoin the group, and commit "
                "more often or raise max_poll_interval_ms if processing takes long.",
            )
        super().__init__(*args)


class IllegalArgumentError(KafkaError, ValueError):
    """An argument has the right type but a value that can never work.

    Raised for a negative offset passed to ``seek()``, a partition number out of range in
    ``send(partition=...)``, a negative ``timestamp_ms``, and similar. Also a ``ValueError`` (the
    Java client throws ``IllegalArgumentException``), so ``except ValueError`` catches it too.
    """


class IllegalStateError(KafkaError):
    """The call is not allowed in the client's current state.

    Raised when using a closed producer or consumer; when mixing ``subscribe()`` with
    ``assign()`` (the message lists the legal choices); for ``commit()`` without a
    ``group_id``; and, as :class:`UnassignedPartitionError`, for a partition the consumer is not
    assigned.
    """


class UnassignedPartitionError(IllegalStateError, ValueError):
    """``position()``, ``seek()``, ``pause()``, ``resume()`` or ``highwater()`` of a partition
    the consumer is not assigned.

    Both an ``IllegalStateError`` (what kafka-python documents for ``position()`` and the Java
    client throws for all of them) and a ``ValueError`` (what kafka-python documents for
    ``seek()``), so code catching either carries over.
    """


class KafkaConfigurationError(KafkaError):
    """A configuration key is unknown or unsupported, or its value is invalid.

    Raised by the ``KafkaProducer`` / ``KafkaConsumer`` constructors; the message names the key.
    Unsupported keys are never silently ignored.
    """


class KafkaConnectionError(KafkaError):
    """The connection to a broker process broke (the process died or closed the connection)."""

    retriable = True


class NoBrokersAvailable(KafkaError):  # noqa: N818 - kafka-python's name
    """No broker answered at the given handle: the broker process is not running or refused us.

    Raised by client constructors when connecting to a process-backed broker fails.
    """

    retriable = True


class NoOffsetForPartitionError(KafkaError):
    """The consumer has no position for a partition and ``auto_offset_reset='none'``.

    Raised by ``poll()`` (and ``position()``) when the group has no committed offset for an
    assigned partition, or the committed offset fell below the log start after retention,
    and the consumer was told not to reset. ``seek()`` to choose a position, or use ``'earliest'``
    / ``'latest'``.
    """


class SerializationError(KafkaError):
    """A key or value serializer or deserializer failed, or did not return ``bytes``.

    kafka-python lets the serializer's own exception escape; pcmodel wraps it (the original is
    the ``__cause__``) so the message can say which topic and which serializer, as the Java
    client's ``SerializationException`` does. Raised by ``send()`` before anything is queued, and
    by ``poll()`` for a record that cannot be deserialized.
    """
