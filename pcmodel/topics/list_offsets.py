"""Kafka's ListOffsets, one algorithm for a lone broker and a cluster: which offset each
kind of lookup finds, and which leader epoch comes with it.

A lookup names a partition and either a timestamp in ms (the first record at or after it) or
an :class:`~pcmodel.topics.structs.OffsetSpec`. Kafka's ``Partition.fetchOffsetForTimestamp``
answers ``EARLIEST`` with the log start and the epoch of the record there, ``LATEST`` with the
end consumers see (the high watermark, or the last stable offset for ``read_committed``) and
the leader's *current* epoch, and a timestamp or ``MAX_TIMESTAMP`` with the record found and
the epoch its leader *wrote* it in (the leader's epoch cache, ``UnifiedLog.epochForOffset``).
A record a ``read_committed`` consumer cannot read yet is not found. A new leader whose high
watermark has not yet reached the start of its epoch cannot tell where the readable records
end: ``LATEST``, and a lookup that finds nothing, are answered OFFSET_NOT_AVAILABLE
(retriable) instead of an end that moved backwards. A lone broker and a cluster differ only
in the lookups they pass in: a lone broker has one epoch, 0, and never a lagging watermark.

Prior art: Kafka's ``Partition.fetchOffsetForTimestamp`` and
``UnifiedLog.fetchOffsetByTimestamp``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pcmodel.topics.errors import UnsupportedVersionError
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.structs import NOTHING_TIERED, OffsetAndTimestamp, OffsetSpec, TopicPartition

__all__ = ["answer_list_offsets"]


def answer_list_offsets(
    conn: Any, specs: Mapping[TopicPartition, int], isolation_level: str,
    written_epoch: Callable[[TopicPartition, int], int],
    current_epoch: Callable[[TopicPartition], int],
    check_available: Callable[[TopicPartition], None] = lambda tp: None,
) -> dict[TopicPartition, OffsetAndTimestamp | None]:
    """Kafka's ListOffsets answer for each partition, from ``conn``'s lookups
    (``beginning_offsets``, ``end_offsets``, ``offsets_for_times``, ``max_timestamp_offsets``),
    by the rules of the module docstring (what each spec finds:
    :meth:`~pcmodel.topics.broker.Broker.list_offsets`). ``written_epoch(tp, offset)`` is the
    leader epoch in which the record at ``offset`` was written, ``current_epoch(tp)`` the
    leader's epoch now; both ``-1`` where they cannot say. ``check_available(tp)`` raises
    while the leader cannot say where its readable records end (a cluster's new leader whose
    high watermark lags behind the start of its epoch: ``OffsetNotAvailableError``); a lone
    broker always can. Raises ``TypeError`` for a spec
    that is not an int, ``UnsupportedVersionError`` for a negative one Kafka does not have,
    and what ``conn``'s lookups raise."""
    read_committed = check_isolation_level(isolation_level)
    answers: dict[TopicPartition, OffsetAndTimestamp | None] = {}
    for tp, spec in specs.items():
        if isinstance(spec, bool) or not isinstance(spec, int):
            raise TypeError(f"offset spec for {tp} must be an OffsetSpec or a timestamp in ms, "
                            f"got {spec!r}")
        if spec < 0 and spec not in OffsetSpec._value2member_map_:
            raise UnsupportedVersionError(f"offset spec {spec} for {tp}: Kafka has "
                                          f"{[s.name for s in OffsetSpec]} and timestamps")
        hit: OffsetAndTimestamp | None
        if spec in (OffsetSpec.EARLIEST, OffsetSpec.EARLIEST_LOCAL):  # no tiered storage
            start = conn.beginning_offsets([tp])[tp]
            hit = OffsetAndTimestamp(start, -1, written_epoch(tp, start))
        elif spec == OffsetSpec.LATEST:
            check_available(tp)
            end = conn.end_offsets([tp], isolation_level=isolation_level)[tp]
            hit = OffsetAndTimestamp(end, -1, current_epoch(tp))
        elif spec in NOTHING_TIERED:
            hit = None
        else:
            hit = (conn.max_timestamp_offsets([tp]) if spec == OffsetSpec.MAX_TIMESTAMP
                   else conn.offsets_for_times({tp: spec}))[tp]
            if hit is not None and read_committed and \
                    hit.offset >= conn.end_offsets([tp], isolation_level=isolation_level)[tp]:
                hit = None  # not stable yet: a read_committed consumer cannot read it
            if hit is None:
                check_available(tp)  # found nothing: perhaps only because the HW lags
            else:
                hit = hit._replace(leader_epoch=written_epoch(tp, hit.offset))
        answers[tp] = hit
    return answers
