"""The producer's topic metadata: partition numbers cached per topic, and waiting for a topic.

``send()`` needs a topic's partitions to choose one. They are asked from the broker and cached
for ``metadata_max_age_ms``; a record for a partition the cache does not know refreshes it
first (the topic may have grown). A topic that does not exist is created by the broker when
``allow_auto_create_topics`` and the broker's ``auto_create_topics_enable`` allow it; otherwise
the producer waits for it to appear, on a connection of its own so that the sender's appends
are not held up, for at most ``max_block_ms``, then raises ``KafkaTimeoutError``, as a Kafka
producer waits for metadata.

:class:`ProducerMetadataMixin` is one part of :class:`~pcmodel.topics.producer.KafkaProducer`.

Prior art: kafka-python's ``KafkaProducer._wait_on_metadata`` and the Java client's
``ProducerMetadata``.
"""

from __future__ import annotations

from typing import Any

from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)

__all__ = ["ProducerMetadataMixin"]


class ProducerMetadataMixin:
    """Partition numbers per topic: cached, refreshed, waited for (producer part)."""

    def _partitions(self, topic: str, refresh: bool = False) -> list[int]:
        """The topic's partition numbers, cached for ``metadata_max_age_ms``."""
        now = self._clock()
        cached = self._metadata.get(topic)
        if cached is not None and not refresh and now - cached[1] < self._metadata_max_age:
            return cached[0]
        partitions = sorted(self._wait_for_topic(topic, now + self._max_block))
        self._metadata[topic] = (partitions, now)
        return partitions

    def _partitions_for_send(self, topic: str, partition: int | None, now: float) -> list[int]:
        """The partitions of ``topic`` for a ``send()`` at ``now``: the cached list while it is
        younger than ``metadata_max_age_ms``, else asked again. Raises
        ``IllegalArgumentError`` for a ``partition`` that is not an int, or not one of them
        even after asking again (the topic may have grown since the cache was filled)."""
        cached = self._metadata.get(topic)
        if cached is not None and now - cached[1] < self._metadata_max_age:
            partitions = cached[0]
        else:
            partitions = self._partitions(topic, refresh=True)
        if partition is not None:
            if isinstance(partition, bool) or not isinstance(partition, int):
                raise IllegalArgumentError(f"partition must be an int, got {partition!r}")
            if partition not in partitions:
                partitions = self._partitions(topic, refresh=True)
            if partition not in partitions:
                raise IllegalArgumentError(
                    f"partition {partition} is out of range for topic {topic!r}, which has "
                    f"partitions 0..{len(partitions) - 1}"
                )
        return partitions

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
                self._waiting_conn().await_metadata_change(version, remaining)

    def _waiting_conn(self) -> Any:
        """A connection of its own for waiting, so that the sender's appends are not held up."""
        with self._lock:
            if self._metadata_conn is None:
                self._metadata_conn = self._given_broker.connect()
            return self._metadata_conn

    def partitions_for(self, topic: str) -> set[int]:
        """The partition numbers of ``topic`` (asks the broker).

        A missing topic is created or waited for as by ``send()``; ``KafkaTimeoutError`` after
        ``max_block_ms`` if it never appears.
        """
        return set(self._partitions(topic, refresh=True))
