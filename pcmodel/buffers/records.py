"""What a process buffer's ring holds: the kinds of record, and the items on their way in and out.

A putter encodes its items before it takes the buffer's lock, into what the ring stores (see
:mod:`pcmodel.buffers.ring`): one item's pickle, or an :class:`EncodedBatch` of a ``put_many``
batch, each pickle travelling inline, in a block of the arena (:func:`payload_for`) or in a
spilled file. A getter takes :class:`Taken` pieces under the lock and turns them back into items
with :func:`decode_piece` once it has let go.
"""

from __future__ import annotations

import bisect
import itertools
import pickle
from collections.abc import Sequence
from typing import Any

from pcmodel.buffers.arena import ARENA_FROM, Block, SharedArena
from pcmodel.buffers.pickling import Pieces
from pcmodel.buffers.spill import Spilled, SpillFolder

__all__ = ["BLOCK_ITEM", "CHUNK_BYTES", "ITEM", "LIST", "SPILLED_ITEM", "SPILLED_LIST", "WRAP",
           "EncodedBatch", "Taken", "decode_piece", "payload_for"]

CHUNK_BYTES = 120 << 10
"""A ``put_many`` run is pickled in lists of about this many bytes at most: a batch of 100 items
of 1 KiB is one run (one pickle, one record, one unpickle), and a run's pickle and a getter's copy
of it stay below malloc's threshold for fresh pages (128 KiB, see ``_REUSED_COPY_FROM``).
Measured in one process, put_many + get_many of 100 items of 1 KiB: 314 to 319 ns per item for
the semaphore variant against 361 to 380 with runs of 64 KiB (two per batch), 284 to 319 against
326 to 347 for the condition variant."""

WRAP, ITEM, LIST, SPILLED_ITEM, SPILLED_LIST, BLOCK_ITEM = range(6)


def payload_for(data: bytes | Pieces, spill_over: int, folder: SpillFolder,
                arena: SharedArena | None) -> bytes | Pieces | Spilled | Block:
    """Where one pickle travels, decided before the lock is taken: a file of ``folder`` when it
    is larger than ``spill_over`` bytes, a block of ``arena`` (if given) from
    :data:`~pcmodel.buffers.arena.ARENA_FROM` bytes while the arena has room, else the ring
    itself (``data``, copied in under the lock)."""
    length = len(data)
    if length > spill_over:
        return folder.write(data)
    if arena is not None and length >= ARENA_FROM:
        block = arena.store(data)
        if block is not None:
            return block
    return data


class EncodedBatch:
    """A ``put_many`` batch, pickled before any lock is taken: runs of items, one pickle each.

    Behaves as a sequence of items for the algorithms: ``len()`` counts items, and slicing
    ``batch[a:b]`` gives the items from ``a`` to ``b`` as windows onto the same pickles.
    """

    __slots__ = ("segments", "_length", "_starts")

    def __init__(self, segments: list[tuple[Any, int, int, int]],
                 length: int | None = None) -> None:
        # (payload, kind, first, count): payload is bytes, Spilled or Block; kind ITEM or LIST.
        self.segments = segments
        self._length = sum(s[3] for s in segments) if length is None else length
        # Where each segment's items begin in the batch, and the batch's length at the end
        # (obvious for one segment, the common case).
        self._starts = [0, self._length] if len(segments) == 1 else list(
            itertools.accumulate((s[3] for s in segments), initial=0))

    @classmethod
    def encode(cls, items: Sequence[Any], chunk_items: int, spill_over: int,
               folder: SpillFolder, dumps: Any, arena: SharedArena | None = None
               ) -> EncodedBatch:
        """Pickle ``items`` in runs of at most ``chunk_items`` (and about :data:`CHUNK_BYTES`);
        each pickle travels as :func:`payload_for` says (a run of several items never in the
        arena: items from :data:`~pcmodel.buffers.arena.ARENA_FROM` bytes on, judged by the
        first one, travel alone)."""
        segments = []
        total = len(items)
        first: bytes | None = None
        if total and chunk_items > 1:  # large items: fewer per run, judged by the first one
            first = dumps(items[0])
            # An item for the arena travels alone, copied outside the lock.
            chunk_items = (1 if len(first) >= ARENA_FROM
                           else max(1, min(chunk_items, CHUNK_BYTES // max(1, len(first)))))
        start = 0
        while start < total:
            count = min(chunk_items, total - start)
            if count > 1:  # the whole batch, the common case, is pickled without a copy
                data = dumps(items if count == total else items[start:start + count])
                segments.append((payload_for(data, spill_over, folder, None), LIST, 0, count))
            else:
                data = first if start == 0 and first is not None else dumps(items[start])
                segments.append((payload_for(data, spill_over, folder, arena), ITEM, 0, 1))
            start += count
        return cls(segments, total)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: slice) -> EncodedBatch:
        start, stop, _ = index.indices(self._length)
        if start == 0 and stop == self._length:
            return self  # the whole batch: the common case when the buffer has room
        starts = self._starts
        windows = []
        # Begin at the segment that holds item ``start``: a batch stored one free slot at a
        # time is sliced once per item, and walking from the first segment each time made
        # that quadratic in the batch's length.
        segment = bisect.bisect_right(starts, start) - 1
        while segment < len(self.segments) and starts[segment] < stop:
            payload, kind, first, count = self.segments[segment]
            position = starts[segment]
            low, high = max(start, position), min(stop, position + count)
            if low < high:
                windows.append((payload, kind, first + low - position, high - low))
            segment += 1
        return EncodedBatch(windows, max(0, stop - start))


class Taken:
    """Pieces of records taken by ``popmany`` (decoded outside the lock); ``len()`` counts
    items."""

    __slots__ = ("pieces", "count")

    def __init__(self, pieces: list, count: int) -> None:
        self.pieces = pieces
        self.count = count

    def __len__(self) -> int:
        return self.count


def decode_piece(piece: Any, loads: Any = pickle.loads) -> list:
    """The items of one piece taken from the ring, in order (reads and removes spilled files)."""
    if type(piece) is bytes:
        return [loads(piece)]
    if type(piece) is Block:
        return [piece.read(loads)]
    kind, data, first, count = piece
    if isinstance(data, Spilled):
        data = SpillFolder.take(data)
    if kind in (ITEM, SPILLED_ITEM):
        return [loads(data)]
    run = loads(data)
    return run if first == 0 and count == len(run) else run[first:first + count]
