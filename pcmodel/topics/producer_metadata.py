"""The producer's topic metadata: partition numbers cached per topic, and waiting for a topic.

``send()`` needs a topic's partitions to choose one. They are asked from the broker and cached
for ``metadata_max_age_ms``; a record for a partition the cache does not know refreshes it
first (the topic may have grown), and if the topic still has no such partition, ``send()``
waits for it, as the Java client's ``KafkaProducer.waitOnMetadata`` does: a partition added
meanwhile (``create_partitions()``) takes the record; after ``max_block_ms`` it raises
``KafkaTimeoutError`` in the Java client's words (kafka-python raises at once instead). A
negative partition is refused at once, as Java's ``ProducerRecord`` refuses it. A topic that
does not exist is created by the broker when
``allow_auto_create_topics`` and the broker's ``auto_create_topics_enable`` allow it; otherwise
the producer waits for it to appear, on a connection of its own so that the sender's appends
are not held up, for at most ``max_block_ms``, then raises ``KafkaTimeoutError``, as a Kafka
producer waits for metadata. ``close()`` ends such a wait: the ``send()`` raises the
``IllegalStateError`` a ``send()`` after ``close()`` gets, as the Java client's ``close()`` makes
its waiting ``send()`` fail (``ProducerMetadata.close()`` wakes ``awaitUpdate``).

:class:`ProducerMetadataMixin` is one part of :class:`~pcmodel.topics.producer.KafkaProducer`.

Prior art: kafka-python's ``KafkaProducer._wait_on_metadata`` and the Java client's
``ProducerMetadata``.
"""

from __future__ import annotations

from typing import Final

from pcmodel.topics.accumulator import ProducerState
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)

__all__ = ["ProducerMetadataMixin", "topic_name"]

#: How long one wait for metadata lasts at most before the waiting ``send()`` looks whether the
#: producer was closed meanwhile: the wait is on the broker's condition, which ``close()`` cannot
#: notify (an in-process broker is shared with other clients), so a closed producer's ``send()``
#: ends this long after ``close()`` at the latest.
CLOSE_CHECK_S: Final = 0.05


def topic_name(topic: object) -> str:
    """``topic`` as a plain ``str``: a ``str`` subclass (a ``StrEnum`` member, say) gives its
    text, as it does to kafka-python, which takes any str; ``TypeError`` for another type."""
    if isinstance(topic, str):
        # Not str(topic): a (str, Enum) member prints as "Class.NAME", not as its text.
        return str.__str__(topic)
    raise TypeError(f"topic must be a str, got {topic!r}")


class ProducerMetadataMixin:
    """Partition numbers per topic: cached, refreshed, waited for (producer part)."""

    def _partitions(self, topic: str, refresh: bool = False,
                    deadline: float | None = None) -> list[int]:
        """The topic's partition numbers, cached for ``metadata_max_age_ms``; a missing topic
        is waited for until ``deadline`` (by default ``max_block_ms`` from now)."""
        now = self._clock()
        cached = self._metadata.get(topic)
        if cached is not None and not refresh and now - cached[1] < self._metadata_max_age:
            return cached[0]
        if deadline is None:
            deadline = now + self._max_block
        partitions = sorted(self._wait_for_topic(topic, deadline))
        self._metadata[topic] = (partitions, now)
        return partitions

    def _partitions_for_send(self, topic: str, partition: int | None, now: float) -> list[int]:
        """The partitions of ``topic`` for a ``send()`` at ``now``: the cached list while it is
        younger than ``metadata_max_age_ms``, else asked again. A ``partition`` the list does
        not have is waited for (see the module). Raises ``IllegalArgumentError`` for a
        ``partition`` that is not an int, or is negative; ``KafkaTimeoutError`` when no such
        partition appeared within ``max_block_ms`` of ``now``."""
        partitions = self._partitions(topic)
        if partition is not None:
            if isinstance(partition, bool) or not isinstance(partition, int):
                raise IllegalArgumentError(f"partition must be an int, got {partition!r}")
            if partition < 0:
                raise IllegalArgumentError(
                    f"Invalid partition: {partition}. Partition number should always be "
                    "non-negative or None.")
            if partition not in partitions:
                partitions = self._wait_for_partition(topic, partition, now + self._max_block)
        return partitions

    def _wait_for_partition(self, topic: str, partition: int, deadline: float) -> list[int]:
        """Ask for the topic's partitions again until ``partition`` is among them (another
        client may be adding it) or ``deadline`` passes: then ``KafkaTimeoutError``."""
        while True:
            version = self._broker.metadata_version()
            partitions = self._partitions(topic, refresh=True, deadline=deadline)
            if partition in partitions:
                return partitions
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise KafkaTimeoutError(
                    f"Partition {partition} of topic {topic} with partition count "
                    f"{len(partitions)} is not present in metadata after "
                    f"{self.config['max_block_ms']} ms. Send to one of 0.."
                    f"{len(partitions) - 1}, or add partitions with "
                    "KafkaAdminClient.create_partitions()"
                )
            self._await_metadata_change(version, remaining)

    def _known_partitions(self, topic: str) -> list[int] | None:
        """The topic's partition numbers as last looked up, or None; never asks the broker."""
        cached = self._metadata.get(topic)
        return None if cached is None else cached[0]

    def _wait_for_topic(self, topic: str, deadline: float) -> set[int]:
        """Ask for the topic's partitions, waiting up to ``deadline`` for it to exist.

        The broker creates a missing topic if ``allow_auto_create_topics`` and its own
        ``auto_create_topics_enable`` say so; otherwise this waits, as a Kafka producer waits
        for metadata, and raises ``KafkaTimeoutError`` after ``max_block_ms``.
        """
        auto_create = self.config["allow_auto_create_topics"]
        while True:
            version = self._broker.metadata_version()
            try:
                return self._broker.partitions_for(topic, auto_create=auto_create)
            except UnknownTopicOrPartitionError:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise KafkaTimeoutError(
                        f"topic {topic!r} not present in metadata after "
                        f"{self.config['max_block_ms']} ms (max_block_ms): it does not exist "
                        "and the broker does not create topics automatically; create it "
                        "with KafkaAdminClient.create_topics()"
                    ) from None
                self._await_metadata_change(version, remaining)

    def _await_metadata_change(self, version: int, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the broker's metadata to move on from ``version``,
        on a connection of its own so that the sender's appends are not held up. Raises
        ``IllegalStateError`` once the producer is closed (``close()`` may come meanwhile)."""
        deadline = self._clock() + timeout
        while True:
            with self._lock:
                if self._state is not ProducerState.OPEN:
                    raise _closed("send()")  # the error of a send() after close()
                if self._metadata_conn is None:  # not after close(): it would never be closed
                    self._metadata_conn = self._given_broker.connect()
                conn = self._metadata_conn
            remaining = deadline - self._clock()
            if remaining <= 0:
                return
            wait = min(remaining, CLOSE_CHECK_S)
            started = self._clock()
            try:
                if conn.await_metadata_change(version, wait) != version:
                    return
            except IllegalStateError:  # the connection to a broker process closed by close()
                if self._state is ProducerState.OPEN:
                    raise
            # A closed in-process broker answers at once: the rest of the slice is waited out
            # here, where close() still wakes it, so as not to ask again and again until
            # max_block_ms (as a Java producer whose broker is gone waits out max.block.ms).
            left = wait - (self._clock() - started)
            if left > 0:
                with self._lock:
                    if self._state is ProducerState.OPEN:
                        self._batch_ready.wait(left)

    def partitions_for(self, topic: str) -> set[int]:
        """The partition numbers of ``topic`` (asks the broker).

        A missing topic is created or waited for as by ``send()``; ``KafkaTimeoutError`` after
        ``max_block_ms`` if it never appears. ``IllegalStateError`` after ``close()``: the
        producer's connection is gone (the Java client answers from its cache then, or waits
        ``max_block_ms`` for metadata its stopped sender never fetches), and when ``close()``
        comes while it waits for the topic.
        """
        if self._state is not ProducerState.OPEN:
            raise _closed("partitions_for()")
        try:
            return set(self._partitions(topic_name(topic), refresh=True))
        except IllegalStateError:
            if self._state is ProducerState.OPEN:
                raise
            raise _closed("partitions_for()") from None  # not send()'s words: closed meanwhile


def _closed(call: str) -> IllegalStateError:
    """The error of ``call`` on a closed producer, or cut short by ``close()``."""
    return IllegalStateError(f"{call} on a closed KafkaProducer; create a new producer")
