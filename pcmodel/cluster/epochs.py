"""Leader epochs (KIP-101, KIP-279): which leader wrote which offsets, to truncate correctly.

Each replica keeps, per partition, the list of ``(leader_epoch, start_offset)`` pairs: the first
offset every leader wrote. A follower that comes back (or sees a new leader) asks the leader
"where does my latest epoch end in *your* log?" and truncates there. Truncating to the high
watermark instead, as Kafka did before KIP-101, can lose committed records or leave two replicas
with different records at the same offset; the epoch rule cannot.

Invariant: epochs strictly increase along the list and start offsets never decrease; the records
of epoch ``e`` are the offsets ``[start(e), start(next epoch))``, the last epoch running to the
log end offset. When records leave from the start of the log (retention, DeleteRecords), the
epochs that wrote only those go too, and the oldest one kept starts at the new log start.

Prior art: Kafka ``LeaderEpochFileCache`` (``assign``, ``endOffsetFor``, ``truncateFromEnd``,
``truncateFromStart``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["UNDEFINED_EPOCH", "EpochEntry", "LeaderEpochCache", "high_watermark_behind_epoch",
           "truncation_step", "written_epochs"]

#: Kafka's ``UNDEFINED_EPOCH``: no epoch at or below the one asked for.
UNDEFINED_EPOCH = -1


class EpochEntry(NamedTuple):
    """Leader ``epoch`` wrote its first record at ``start_offset``."""

    epoch: int
    start_offset: int


class LeaderEpochCache:
    """The ``(epoch, start_offset)`` history of one replica of one partition."""

    def __init__(self) -> None:
        self._entries: list[EpochEntry] = []

    @property
    def entries(self) -> tuple[EpochEntry, ...]:
        """The history, oldest first."""
        return tuple(self._entries)

    @property
    def latest_epoch(self) -> int:
        """The newest epoch, or ``UNDEFINED_EPOCH`` when the log never had a record."""
        return self._entries[-1].epoch if self._entries else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> None:
        """Note that ``epoch`` starts at ``start_offset`` (a leader's first write, or a copy).

        An epoch not newer than the latest is already known and ignored. Entries starting at or
        after ``start_offset`` are dropped first: they were epochs that wrote nothing.
        """
        if epoch <= self.latest_epoch:
            return
        while self._entries and self._entries[-1].start_offset >= start_offset:
            self._entries.pop()
        self._entries.append(EpochEntry(epoch, start_offset))

    def epoch_at(self, offset: int) -> int:
        """The epoch that wrote ``offset`` (``UNDEFINED_EPOCH`` before the first entry)."""
        found = UNDEFINED_EPOCH
        for entry in self._entries:
            if entry.start_offset > offset:
                break
            found = entry.epoch
        return found

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Kafka's OffsetsForLeaderEpoch answer ``(e, end)``: where ``epoch`` ends in this log.

        For the latest epoch, ``(epoch, log_end_offset)``. Else ``e`` is the largest known epoch
        ``<= epoch`` and ``end`` the first offset *not* written in it: the start of the next
        known epoch. An epoch older than every known one (its records left from the start of
        the log) ends where the oldest known one starts: ``(epoch, that start)``, so that a
        follower copies from there. ``(UNDEFINED_EPOCH, -1)`` for an undefined epoch, an empty
        history, or an epoch newer than the latest (asked of a leader that is behind).
        """
        entries = self._entries
        if epoch < 0 or not entries or epoch > entries[-1].epoch:
            return UNDEFINED_EPOCH, -1
        if epoch == entries[-1].epoch:
            return epoch, log_end_offset
        following = next(i for i, entry in enumerate(entries) if entry.epoch > epoch)
        found = epoch if following == 0 else entries[following - 1].epoch
        return found, entries[following].start_offset

    def truncate_from_end(self, end_offset: int) -> None:
        """Forget epochs that start at or after ``end_offset`` (the log was truncated there)."""
        while self._entries and self._entries[-1].start_offset >= end_offset:
            self._entries.pop()

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at ``start_offset``: forget the epochs that wrote only records
        below it; the epoch that wrote the record there now starts there."""
        if not self._entries or self._entries[0].start_offset >= start_offset:
            return  # the history starts there already (asked at every fetch: mostly this)
        below = [entry for entry in self._entries if entry.start_offset <= start_offset]
        del self._entries[:len(below)]
        self._entries.insert(0, EpochEntry(below[-1].epoch, start_offset))

    def copy_from(self, leader_entries: tuple[EpochEntry, ...], upto: int) -> None:
        """Adopt the leader's epochs for records copied below offset ``upto``."""
        for entry in leader_entries:
            if entry.start_offset < upto:
                self.assign(entry.epoch, entry.start_offset)

    def __repr__(self) -> str:
        return f"<LeaderEpochCache {[tuple(e) for e in self._entries]}>"


def truncation_step(
    follower: LeaderEpochCache,
    follower_leo: int,
    follower_hw: int,
    leader_answer: tuple[int, int],
) -> tuple[int, bool]:
    """One step of a follower's truncation: ``(offset to truncate to, finished)``.

    The follower asked the leader about its latest epoch; the leader answered ``(e, end)`` for
    the largest epoch ``e`` it knows at or below that one (KIP-279). If the follower knows ``e``
    too, both logs hold epoch ``e``'s records up to the shorter of the two ends, and everything
    before it: truncate to ``min(leader's end of e, own end of e)`` and stop. If the follower
    never saw ``e``, it keeps only what precedes its own largest epoch below ``e`` and asks
    again with that epoch (not finished). An undefined answer (the leader knows no epoch that
    old) falls back to the follower's high watermark, the pre-KIP-101 rule.
    """
    epoch, leader_end = leader_answer
    if follower.latest_epoch == UNDEFINED_EPOCH:
        return follower_leo, True  # an empty history: nothing to disagree about
    if epoch == UNDEFINED_EPOCH:
        return min(follower_hw, follower_leo), True
    own_epoch, own_end = follower.end_offset_for(epoch, follower_leo)
    if own_epoch == UNDEFINED_EPOCH:
        return min(follower_hw, follower_leo), True
    if own_epoch != epoch:
        return min(own_end, follower_leo), False
    return min(leader_end, own_end, follower_leo), True


def written_epochs(epoch_at: Callable[[int], int],
                   end_offset_for: Callable[[int], tuple[int, int]],
                   leader_epoch: int, first_offset: int, last_offset: int,
                   ) -> list[tuple[int, int]]:
    """The epochs in which a leader wrote its records ``first_offset..last_offset`` (a
    fetch's), read from its epoch cache through ``epoch_at`` (ListOffsets' question:
    :meth:`LeaderEpochCache.epoch_at`) and ``end_offset_for`` (OffsetForLeaderEpoch's:
    :meth:`LeaderEpochCache.end_offset_for`), ``leader_epoch`` being its current one:
    ``(epoch, first offset written in it)`` pairs, oldest first, the first at
    ``first_offset``, as the record batches of a Kafka fetch carry them
    (*partitionLeaderEpoch*).

    The epoch of ``first_offset``, then, while that epoch ends at or before ``last_offset``,
    the epoch at its end: one question for records of the current epoch, two per older epoch
    they span. Records below every epoch kept (retention got there since the read) are
    ``UNDEFINED_EPOCH``, up to where the kept epochs begin (found by bisection: the epochs
    never decrease along the log). If the cache changes between two questions, what it said
    first is kept.
    """
    found: list[tuple[int, int]] = []
    offset = first_offset
    while offset <= last_offset:
        epoch = epoch_at(offset)
        found.append((epoch, offset))
        if epoch >= leader_epoch >= 0:
            break  # no epoch of the cache is newer than the leader's: it runs to the end
        if epoch == UNDEFINED_EPOCH:
            low, high = offset + 1, last_offset + 1
            while low < high:
                middle = (low + high) // 2
                if epoch_at(middle) == UNDEFINED_EPOCH:
                    low = middle + 1
                else:
                    high = middle
            offset = low
            continue
        known, end = end_offset_for(epoch)
        if known != epoch or end <= offset:
            break
        offset = end
    return found


def high_watermark_behind_epoch(cluster: Any, topic: str, partition: int, leader: int,
                                epoch: int) -> tuple[int, int] | None:
    """``(high watermark, epoch start)`` of broker ``leader``, leading the partition at leader
    ``epoch``, while its high watermark is below the first offset of its epoch; ``None`` once
    it has reached it (at once for epoch 0).

    A new leader learns its followers' log ends only from their fetches: until then its high
    watermark may lag behind what earlier leaders committed. Kafka's leaders answer offset
    lookups OFFSET_NOT_AVAILABLE then, and their coordinators COORDINATOR_LOAD_IN_PROGRESS.
    Raises ``NotLeaderForPartitionError`` while the broker has not heard that it leads.
    """
    if epoch <= 0:
        return None
    _, epoch_start = cluster.end_offset_for_epoch(leader, topic, partition, epoch - 1)
    status = next(s for s in cluster.replica_status(topic, partition) if s.broker == leader)
    if status.high_watermark < epoch_start:
        return status.high_watermark, epoch_start
    return None
