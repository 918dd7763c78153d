"""What a consumer knows about one assigned partition: its position, the records fetched
beyond it, and the leader epochs those records were written in.

:class:`PartitionState` is kafka-python's ``TopicPartitionState`` (``subscription_state.py``);
the consumer keeps one per assigned partition, under its lock, and the fetcher thread
(:mod:`~pcmodel.topics.fetcher`) and ``poll()`` read and move it. Leader epochs (KIP-320) are
kept as ``(leader epoch, first offset written in it)`` pairs, oldest first:
:func:`leader_epoch_at` reads them, :func:`extend_leader_epochs` adds a fetch's.
"""

from __future__ import annotations

from pcmodel.topics.log_records import LogRecord

__all__ = ["PartitionState", "extend_leader_epochs", "leader_epoch_at"]


class PartitionState:
    """What the consumer knows about one assigned partition (kafka-python's TopicPartitionState).

    ``position`` is the next offset ``poll()`` returns; ``pending`` holds fetched records from
    ``position`` on, taken out of the fetch buffer but not yet returned, and ``pending_end`` is
    where the data taken out of the buffer ends (the position once ``pending`` is empty);
    ``fetch_offset`` is where the fetcher reads next (``None``: not fetching). ``epoch``
    changes whenever the position jumps, so data fetched for an older epoch is dropped.
    ``high_watermark`` and ``last_stable_offset`` are the last fetch's.

    Leader epochs (KIP-320), which are not the ``epoch`` above: ``pending_leader_epochs`` are
    the ``(leader epoch, first offset)`` pairs of the data taken out of the buffer, and
    ``position_epoch`` is the leader epoch of the last record consumed before ``position``
    (the Java client's ``FetchPosition.offsetEpoch``; ``-1``: unknown, as after a seek or a
    reset), which a commit of the position carries. ``reset`` is ``"earliest"`` or
    ``"latest"`` while a ``seek_to_beginning`` / ``seek_to_end`` waits to be resolved (the
    position is ``None`` until then), else ``None``.
    """

    __slots__ = ("epoch", "fetch_offset", "high_watermark", "last_stable_offset", "paused",
                 "pending", "pending_end", "pending_leader_epochs", "position", "position_epoch",
                 "reset")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.position: int | None = None
        self.position_epoch = -1
        self.fetch_offset: int | None = None
        self.paused = False
        self.pending: list[LogRecord] = []
        self.pending_end: int | None = None
        self.pending_leader_epochs: list[tuple[int, int]] = []
        self.high_watermark: int | None = None
        self.last_stable_offset: int | None = None
        self.reset: str | None = None

    def is_fetchable(self) -> bool:
        """The fetcher should read this partition: it has a position and is not paused."""
        return not self.paused and self.fetch_offset is not None

    def move_to(self, offset: int, leader_epoch: int = -1) -> None:
        """Read from ``offset`` on: nothing fetched before counts any more (the caller gives
        the partition a new epoch). ``leader_epoch`` is the position's (``-1``: unknown)."""
        self.position = self.fetch_offset = self.pending_end = offset
        self.position_epoch = leader_epoch
        self.reset = None
        self.pending.clear()
        self.pending_leader_epochs.clear()

    def moved_on(self, position: int) -> None:
        """``poll()`` consumed every record before ``position``: remember the leader epoch of
        the last one and forget the epochs of the records before it."""
        self.position = position
        pairs = self.pending_leader_epochs
        self.position_epoch = leader_epoch_at(pairs, position - 1)
        keep = 0
        while keep + 1 < len(pairs) and pairs[keep + 1][1] <= position:
            keep += 1
        del pairs[:keep]


def leader_epoch_at(pairs: list[tuple[int, int]], offset: int) -> int:
    """The leader epoch of the record at ``offset``: that of the last ``(epoch, first offset)``
    pair starting at or before it (``-1``: before every pair)."""
    found = -1
    for epoch, start in pairs:
        if start > offset:
            break
        found = epoch
    return found


def extend_leader_epochs(pairs: list[tuple[int, int]], more: tuple[tuple[int, int], ...],
                         start: int) -> None:
    """Add to ``pairs`` the ``(epoch, first offset)`` pairs ``more`` of a fetch, from offset
    ``start`` on (where ``pairs`` end): the pairs stay in offset order, one per epoch."""
    for i, (epoch, first) in enumerate(more):
        if i + 1 < len(more) and more[i + 1][1] <= start:
            continue  # this epoch ends before start: the pairs have it already
        if not pairs or pairs[-1][0] != epoch:
            pairs.append((epoch, max(first, start)))
