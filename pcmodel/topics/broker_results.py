"""What the broker's data path answers: where an append landed (:class:`AppendResult`), what
one partition of a fetch read (:class:`FetchResult`) and why it read nothing (:class:`FetchError`).

Plain picklable values, the same from a broker in this process, a broker process and a
cluster's connection. :mod:`~pcmodel.topics.broker_produce_fetch` makes them (and re-exports
them). Their fields follow a partition's part of Kafka's ProduceResponse and FetchResponse,
where those have one.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_records import LogRecord
from pcmodel.topics.log_transactions import AbortedTransaction, TransactionalBatch

__all__ = ["AppendResult", "FetchError", "FetchResult"]


class FetchError(str, enum.Enum):
    """Why one partition of a fetch returned no records (the others are still served)."""

    OFFSET_OUT_OF_RANGE = "offset_out_of_range"
    UNKNOWN_TOPIC_OR_PARTITION = "unknown_topic_or_partition"


class AppendResult(NamedTuple):
    """Where an appended batch landed: offsets ``base_offset .. base_offset + n - 1``.

    ``log_append_time_ms`` is the broker's wall-clock time of the append on a topic that stamps
    every record with it (``message.timestamp.type=LogAppendTime``), else ``-1``: what Kafka's
    ProduceResponse answers, and the timestamp a producer then reports for its records.
    ``max_timestamp_ms`` is the largest timestamp of the batch as the log stores it, which the
    broker remembers as an idempotent producer's last timestamp (DescribeProducers), and ``-1``
    if every one is negative (Kafka's batch ``maxTimestamp`` starts at ``NO_TIMESTAMP``) or
    where the answer does not say (a cluster's answer to a client).
    """

    base_offset: int
    log_start_offset: int
    log_append_time_ms: int
    max_timestamp_ms: int = -1


class FetchResult(NamedTuple):
    """One partition's part of a fetch.

    ``records`` start at the requested offset, in offset order (consecutive, except where
    compaction removed records); ``high_watermark`` is the end offset (for lag),
    ``log_start_offset`` the first retained one. ``error`` is ``None`` or why nothing could be
    read (then ``records`` is empty).

    On a partition with transactions, ``records`` include the markers
    (:class:`~pcmodel.topics.log_transactions.ControlRecord`) and the records of aborted
    transactions, as Kafka's fetch does: ``transactional_batches`` says which records are
    transactional and which are markers, ``aborted_transactions`` (``read_committed`` only)
    which transactions of the range read were aborted, and
    :func:`~pcmodel.topics.log_transactions.visible_records` makes the application's records
    of them. ``last_stable_offset`` is the partition's (``-1`` with an error).

    A fetch for ``whole_batches`` (the Kafka listener's) starts ``records`` at the first record
    of the batch holding the requested offset and ends them with a whole batch, as Kafka's log
    answers: ``batches`` are those producers' batches, as appended
    (:class:`~pcmodel.topics.log_batches.StoredBatch`; records without one, a log replayed
    from a journal, are in none). The reader drops the records before its position, as
    Kafka's clients do.
    """

    records: tuple[LogRecord, ...]
    high_watermark: int
    log_start_offset: int
    error: FetchError | None
    last_stable_offset: int = -1
    transactional_batches: tuple[TransactionalBatch, ...] = ()
    aborted_transactions: tuple[AbortedTransaction, ...] | None = None
    batches: tuple[StoredBatch, ...] = ()
