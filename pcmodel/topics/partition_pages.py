"""DescribeTopicPartitions' pages: topics in name order, partitions from a cursor, at most so
many per answer (KIP-966).

Metadata answers every partition of every topic asked in one response, however many there
are. DescribeTopicPartitions answers at most ``response_partition_limit`` of them (and never
more than the broker's ``max.request.partition.size.limit``, 2000 by default), topics sorted
by name, and a *cursor* naming the topic and partition the next page starts at; the client
asks again from there. This module is that paging, as a pure function, after Kafka's
``KRaftMetadataCache.getTopicMetadataForDescribeTopicResponse``: the admin client and the
Kafka listener both page with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from pcmodel.topics.errors import (
    InvalidRequestError,
    InvalidTopicError,
    KafkaError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.topic_settings import check_topic_name

__all__ = ["MAX_PARTITIONS_PER_PAGE", "PartitionsCursor", "TopicPage", "page_of_partitions"]

#: Kafka's ``max.request.partition.size.limit``: no page holds more partitions.
MAX_PARTITIONS_PER_PAGE = 2000


class PartitionsCursor(NamedTuple):
    """Where a page starts: partition ``partition_index`` of topic ``topic_name``."""

    topic_name: str
    partition_index: int


class TopicPage(NamedTuple):
    """One topic's part of a page: the ``partitions`` (indices) it holds, or the ``error``
    of a topic asked for that does not exist (``UnknownTopicOrPartitionError``) or could not
    (``InvalidTopicError``)."""

    name: str
    partitions: range
    error: KafkaError | None = None


def page_of_partitions(
    counts: Mapping[str, int | None], *, every_topic: bool,
    cursor: PartitionsCursor | None, limit: int,
) -> tuple[list[TopicPage], PartitionsCursor | None]:
    """The page that starts at ``cursor`` (at the first topic if ``None``) and the cursor of
    the next one (``None``: this was the last).

    ``counts`` maps each topic to describe to its partition count, ``None`` for a topic asked
    for that does not exist; ``every_topic`` says the client asked for every topic (then an
    unknown one is not reported: there is none). At most ``limit`` partitions, bounded by
    :data:`MAX_PARTITIONS_PER_PAGE` and at least 1. Topics named before the cursor's are
    skipped. Raises ``InvalidRequestError`` for a cursor whose topic was not asked for, or
    with a negative partition, as Kafka does.
    """
    first = "" if cursor is None else cursor.topic_name
    names = sorted(name for name in counts if name >= first)
    if cursor is not None and not every_topic and cursor.topic_name not in names:
        raise InvalidRequestError("DescribeTopicPartitionsRequest topic list should contain "
                                  f"the cursor topic: {cursor.topic_name}")
    if cursor is not None and cursor.partition_index < 0:
        raise InvalidRequestError("DescribeTopicPartitionsRequest cursor partition must be "
                                  f"valid: {cursor}")
    remaining = max(min(MAX_PARTITIONS_PER_PAGE, limit), 1)
    pages: list[TopicPage] = []
    for name in names:
        if remaining == 0:  # the previous topic filled the page: the next starts here
            return pages, PartitionsCursor(name, 0)
        count = counts[name]
        if count is None:
            if not every_topic:
                pages.append(TopicPage(name, range(0), _missing(name)))
            continue
        start = cursor.partition_index if cursor is not None and name == first else 0
        end = min(count, start + remaining)
        pages.append(TopicPage(name, range(start, end)))
        if end < count:
            return pages, PartitionsCursor(name, end)
        remaining -= len(range(start, end))
    return pages, None


def _missing(name: str) -> KafkaError:
    try:
        check_topic_name(name)
    except (InvalidTopicError, TypeError) as exc:
        return InvalidTopicError(str(exc))
    return UnknownTopicOrPartitionError(f"unknown topic {name!r}")
