"""The storage of process buffers: a ring of variable-length records in shared memory.

An item crosses processes as its pickle, and takes the bytes its pickle needs. A record is a
20-byte header (size, kind, payload length, first item, item count) followed by the payload,
padded to 8 bytes; records follow one another and go back to the start of the ring once it has
room to spare (a record is never split: see ``_place``). A record holds one of:

* ``ITEM``: the pickle of one item (``put``);
* ``LIST``: the pickle of a list of items, a run of ``put_many`` pickled once; ``first`` and
  ``count`` say which of its items are still in the buffer, so ``get`` can take one item of a run
  (unpickling the run to find it) and ``get_many`` takes the rest;
* ``SPILLED_ITEM`` / ``SPILLED_LIST``: the same, kept in a file of the buffer's private folder
  whose name is the payload. An item whose pickle is larger than a quarter of the ring goes
  there (written before the lock is taken), and so does a record that finds the ring out of
  bytes (written with the lock held: rare when the ring is sized for the items it carries);
* ``BLOCK_ITEM``: the pickle of one large item, copied into a block of the buffer's arena
  before the lock was taken (see :mod:`pcmodel.buffers.arena`); the payload is the block's
  offset and length, and the getter reads the block after letting go of the lock.

So no item is too large, and ``maxsize`` counts items as ``queue.Queue``'s does; the ring's byte
size (``ring_size``) only decides what travels inline. The ring's pages are taken from
``multiprocessing``'s shared heap without being cleared first, so a large ring costs memory only
where records have been written (an empty ring starts again at its beginning). A spilled file is
read and removed by its reader, outside the lock; whatever a dead process leaves in the folder goes
with the folder when the buffer is closed or its creator exits. Nothing is left in ``/dev/shm``:
the ring is ``multiprocessing``'s anonymous shared memory (its heap, which ``sharedctypes`` uses
too). The ring is not synchronised: the buffer algorithms call it with their lock held, and
guarantee that they add only when ``len()`` is below ``maxsize`` and take only what ``len()`` says
is there.

Each change is published by one store of the ring's metadata (head, tail, items, records), after
the record's bytes are written, so an exception in the middle (Ctrl-C's KeyboardInterrupt) leaves
the ring as it was or as it is after: never a tail moved without its count. ``extend`` stores a
batch's records all or none. A block or a file that an interrupted change had in hand may stay
allocated until the buffer is closed: space, never an item. The record kinds and the encoded
batches are in :mod:`pcmodel.buffers.records`.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Iterable
from multiprocessing import heap
from typing import Any

from pcmodel.buffers.arena import Block, SharedArena, int64_view
from pcmodel.buffers.pickling import Pieces, copy_pickle
from pcmodel.buffers.records import (
    BLOCK_ITEM,
    ITEM,
    LIST,
    SPILLED_ITEM,
    SPILLED_LIST,
    WRAP,
    EncodedBatch,
    Taken,
)
from pcmodel.buffers.spill import Spilled, SpillFolder, unlink_quietly

__all__ = ["DEFAULT_RING_SIZE", "SharedRing", "default_ring_size"]

DEFAULT_RING_SIZE = 8 << 20
"""The least default ring size in bytes; see :func:`default_ring_size`."""
_MAX_DEFAULT_RING_SIZE = 64 << 20
_HEADER = struct.Struct("<IIIII")  # record size, kind, payload length, first item, item count
_HEADER_SIZE = _HEADER.size
_pack_header, _unpack_header = _HEADER.pack_into, _HEADER.unpack_from
_BLOCK = struct.Struct("<qq")  # a BLOCK_ITEM's payload: the block's offset and length
_unpack_block = _BLOCK.unpack_from
# Bytes kept free for each record the buffer may still take, so that a record that finds the
# ring out of bytes can always store the name of its spilled file (a record of at most 48 bytes,
# plus at most as much lost at the end of the ring when it wraps); a block's record is smaller.
RESERVE_PER_ITEM = 96
_HEAD, _TAIL, _ITEMS, _RECORDS = range(4)  # indexes in the ring's shared metadata
# A change of the ring is published by one store of its metadata, so that an exception between
# two steps (Ctrl-C's KeyboardInterrupt) leaves the ring as it was before or as it is after:
# every field at once, or tail, items and records at once (the head stays where it is).
_META = struct.Struct("=4q")
_publish_all = _META.pack_into
_publish_added = struct.Struct("=3q").pack_into  # from _TAIL_AT: tail, items, records
_TAIL_AT = 8
# A plain item's pickle from this size on is copied out of the ring into a buffer each thread
# reuses, not into a new bytes object: malloc serves blocks this large (its mmap threshold) with
# fresh pages, which cost page faults on every take (measured, copy and unpickle: 1 MiB 180 µs
# through the reused buffer against 876 µs through a new bytes object, 256 KiB 25 against 162);
# below it a new object is the cheaper one (64 KiB: 5.0 against 6.5 µs).
_REUSED_COPY_FROM = 128 << 10
_copies = threading.local()


def default_ring_size(maxsize: int) -> int:
    """The ring size used when none is given: 64 KiB per item of ``maxsize`` (the memory the
    fixed slots of earlier versions took), between 8 MiB and 64 MiB, and never below
    :func:`least_ring_size`. Items up to a quarter of it travel inline."""
    return max(least_ring_size(maxsize),
               min(_MAX_DEFAULT_RING_SIZE, max(DEFAULT_RING_SIZE, maxsize * 65536)))


def least_ring_size(maxsize: int) -> int:
    """The smallest ring that works for ``maxsize`` items: the reserve for spilled records."""
    return (maxsize + 1) * RESERVE_PER_ITEM


class SharedRing:
    """A FIFO of pickled items in a ring of ``size`` bytes of shared memory (see the module).

    ``append(payload)`` stores one encoded item (bytes, :class:`~pcmodel.buffers.pickling.
    Pieces`, :class:`~pcmodel.buffers.spill.Spilled` or a :class:`~pcmodel.buffers.arena.Block`
    of ``arena``, which the ring then owns); ``extend(batch)``
    an :class:`EncodedBatch`; ``popleft()`` returns one piece and ``popmany(n)`` a
    :class:`Taken`, both decoded by :func:`decode_piece` outside the lock. Every method must be
    called with the buffer's lock held.
    """

    def __init__(self, context: Any, maxsize: int, size: int, folder: SpillFolder,
                 arena: SharedArena | None = None) -> None:
        if size < least_ring_size(maxsize):
            raise ValueError(
                f"ring_size={size} is too small for maxsize={maxsize}: a process buffer keeps "
                f"{RESERVE_PER_ITEM} bytes per item in reserve; use ring_size >= "
                f"{least_ring_size(maxsize)} (or leave it out for the default)")
        self.maxsize = maxsize
        self.size = size
        self._folder = folder
        self.arena = arena
        self._shared_meta = context.RawArray(ctypes.c_int64, 4)
        self._meta = int64_view(self._shared_meta)
        self._meta_bytes = self._meta.cast("B")  # the same, for one store of all its fields
        # The heap block RawArray is made of, without RawArray's clearing of every byte: the
        # ring never reads a byte it did not write, and untouched pages then cost nothing.
        self._data = heap.BufferWrapper(size)
        self._view = self._data.create_memoryview()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_view"], state["_meta"], state["_meta_bytes"]  # rebuilt on arrival
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._view = self._data.create_memoryview()
        self._meta = int64_view(self._shared_meta)
        self._meta_bytes = self._meta.cast("B")

    def __len__(self) -> int:
        return self._meta[_ITEMS]

    @property
    def records(self) -> int:
        """Records in the ring (a run stored by ``put_many`` is one record)."""
        return self._meta[_RECORDS]

    # -- adding ---------------------------------------------------------------------------

    def append(self, payload: bytes | Pieces | Spilled | Block, kind: int = ITEM,
               first: int = 0, count: int = 1) -> None:
        if type(payload) is bytes:
            # The common case, inline: a pickle placed where _place would place it (a
            # ``put_many`` run comes here too, from ``extend``, as a LIST of ``count`` items).
            meta = self._meta
            records = meta[_RECORDS]
            length = len(payload)
            need = (_HEADER_SIZE + length + 7) & ~7
            room = need + (self.maxsize - records - 1) * RESERVE_PER_ITEM
            size = self.size
            if records == 0:
                offset = 0 if room <= size else -1
                meta[_HEAD] = 0
            else:
                head, offset = meta[_HEAD], meta[_TAIL]
                fits = (head - offset >= room if offset < head  # wrapped: free is [tail, head)
                        else size - offset >= need and size - offset + head >= room
                        and head - room < self.maxsize * need // count)
                if not fits:
                    offset = -1
            if offset >= 0:
                view = self._view
                _pack_header(view, offset, need, kind, length, first, count)
                start = offset + _HEADER_SIZE
                view[start:start + length] = payload
                _publish_added(self._meta_bytes, _TAIL_AT, offset + need, meta[_ITEMS] + count,
                               records + 1)
                return
        self._write(payload, kind, first, count)

    def extend(self, batch: EncodedBatch | Iterable[bytes]) -> None:
        """Add every item of ``batch``, or none if an exception stops it part-way."""
        if type(batch) is EncodedBatch and len(batch.segments) == 1:
            self.append(*batch.segments[0])  # the common case: one record, one store
            return
        before = _META.unpack_from(self._meta_bytes)
        segments = batch.segments if type(batch) is EncodedBatch else [
            (payload, ITEM, 0, 1) for payload in batch]
        try:
            for payload, kind, first, count in segments:
                self.append(payload, kind, first, count)
        except BaseException:
            # Take back the records stored so far (their bytes are left as free space; a file a
            # record spilled to stays in the folder until the buffer is closed): the caller
            # counts none of the batch as stored. Its blocks are its own again, to be freed.
            _publish_all(self._meta_bytes, 0, *before)
            for payload, *_ in segments:
                if type(payload) is Block:
                    payload.owned = True
            raise

    def _write(self, payload: bytes | Pieces | Spilled | Block, kind: int, first: int,
               count: int) -> None:
        if type(payload) is bytes or type(payload) is Pieces:
            data = payload
            spilled = False
        elif type(payload) is Block:  # a name, as a spilled file's: it goes in the reserve
            data = _BLOCK.pack(payload.offset, payload.length)
            kind = BLOCK_ITEM
            spilled = True
        else:
            data = payload.name.encode()
            kind += SPILLED_ITEM - ITEM
            spilled = True
        length = len(data)
        need = (_HEADER_SIZE + length + 7) & ~7
        meta = self._meta
        records = meta[_RECORDS]
        # Invariant: free bytes >= (maxsize - records) * RESERVE_PER_ITEM. Every record holds an
        # item, so while an item may be added there is room for at least a spilled record; an
        # inline record may only use bytes beyond the reserve of the records that may follow it.
        reserve = 0 if spilled else (self.maxsize - records - 1) * RESERVE_PER_ITEM
        offset = self._place(need, reserve, records, count)
        if offset < 0:  # the ring is out of bytes: this record goes to a file
            if spilled:
                raise RuntimeError("SharedRing: no room for a spilled record although its "
                                   "reserve was kept; the buffer algorithm broke its invariant")
            self._write(self._folder.write(data), kind, first, count)
            return
        _pack_header(self._view, offset, need, kind, length, first, count)
        copy_pickle(data, self._view, offset + _HEADER_SIZE)
        if type(payload) is Block:
            payload.owned = False  # the ring's from the store below, until a getter takes it
        try:
            _publish_added(self._meta_bytes, _TAIL_AT, offset + need, meta[_ITEMS] + count,
                           records + 1)
        except BaseException:
            if type(payload) is Block and meta[_RECORDS] == records:  # not stored after all
                payload.owned = True
            raise

    def _place(self, need: int, reserve: int, records: int, count: int) -> int:
        """Where a record of ``need`` bytes (``count`` items) goes, ``reserve`` left free; or -1."""
        size, meta = self.size, self._meta
        if records == 0:
            meta[_HEAD] = meta[_TAIL] = 0
            return 0 if need + reserve <= size else -1
        head, tail = meta[_HEAD], meta[_TAIL]
        if tail > head:  # used: [head, tail); free: [tail, size) and [0, head)
            # Back to the start once it has room for the reserve (the end is lost until the head
            # passes it) and a full buffer of such records, all that can come before the head does.
            full = self.maxsize * need // count
            early = head - need - (self.maxsize - records - 1) * RESERVE_PER_ITEM >= full
            if not early and size - tail >= need and size - tail + head >= need + reserve:
                return tail
            if head >= need and head - need >= reserve:  # what is left after a wrap: [need, head)
                if size - tail >= _HEADER_SIZE:
                    _pack_header(self._view, tail, 0, WRAP, 0, 0, 0)
                return 0
            return -1
        return tail if head - tail >= need + reserve else -1  # wrapped: free is [tail, head)

    # -- taking ---------------------------------------------------------------------------

    def _head(self) -> tuple[int, int, int, int, int, int]:
        meta = self._meta
        if meta[_RECORDS] <= 0:
            raise IndexError("take from an empty SharedRing")
        offset = meta[_HEAD]
        if self.size - offset >= _HEADER_SIZE:
            header = _unpack_header(self._view, offset)
            if header[1] != WRAP:
                return (offset, *header)
        meta[_HEAD] = 0  # the records go on at the start of the ring
        return (0, *_unpack_header(self._view, 0))

    def _drop_head(self, offset: int, size: int, count: int) -> None:
        meta = self._meta
        records = meta[_RECORDS] - 1
        if records:
            _publish_all(self._meta_bytes, 0, offset + size, meta[_TAIL], meta[_ITEMS] - count,
                         records)
        else:
            _publish_all(self._meta_bytes, 0, 0, 0, 0, 0)

    def _take(self, wanted: int, cut: bool = True) -> tuple[Any, int]:
        """Take up to ``wanted`` items from the head record: (piece, items taken). With
        ``cut=False``, a record holding more than ``wanted`` is left as it is: (None, 0)."""
        offset, size, kind, length, first, count = self._head()
        if count > wanted and not cut:
            return None, 0
        start = offset + _HEADER.size
        data = bytes(self._view[start:start + length])
        taking = min(wanted, count)
        if taking == count:
            if kind == BLOCK_ITEM:
                return self._take_block(data, offset, size), 1
            self._drop_head(offset, size, count)
            if kind == ITEM:
                return data, 1
            if kind == SPILLED_ITEM:
                return (SPILLED_ITEM, self._spilled(data), 0, 1), 1
            return (kind, data if kind == LIST else self._spilled(data), first, count), count
        # Part of a run: the rest stays, with its window moved on, and the count with it (an
        # exception between the two stores puts the window back).
        items = self._meta[_ITEMS]
        try:
            _pack_header(self._view, offset, size, kind, length, first + taking, count - taking)
            self._meta[_ITEMS] = items - taking
        except BaseException:
            if self._meta[_ITEMS] == items:
                _pack_header(self._view, offset, size, kind, length, first, count)
            raise
        if kind == SPILLED_LIST:  # the file stays for the rest: this reader gets its own name
            return (kind, self._folder.share(self._spilled(data)), first, taking), taking
        return (kind, data, first, taking), taking

    def _take_block(self, data: Any, offset: int, size: int) -> Block:
        """The block of the head record (a BLOCK_ITEM), which is dropped: the getter's from
        then on (freed once read, or when dropped unread). Interrupted before the record is
        dropped, the block stays the ring's; after, it is the getter's, freed if dropped."""
        block = Block(self.arena, *_unpack_block(data), owned=False)
        records = self._meta[_RECORDS]
        try:
            self._drop_head(offset, size, 1)
            block.owned = True
        except BaseException:
            block.owned = self._meta[_RECORDS] != records
            raise
        return block

    def _spilled(self, name: bytes) -> Spilled:
        return Spilled(self._folder.path, name.decode())

    def popleft(self) -> Any:
        """One item's piece: bytes for a plain item (the common case), a Block for an item in
        the arena, else a tuple. A large plain item comes as a memoryview of this thread's
        reused buffer, valid until the thread takes again: decode it first."""
        meta = self._meta
        records = meta[_RECORDS]
        offset = meta[_HEAD]
        view = self._view
        if records <= 0 or self.size - offset < _HEADER_SIZE:
            return self._take(1)[0]  # empty (IndexError), or a wrap at the very end
        size, kind, length, _first, _count = _unpack_header(view, offset)
        # The common cases, inline: one item, in the ring or in the arena, removed whole.
        start = offset + _HEADER_SIZE
        if kind == ITEM:
            if length < _REUSED_COPY_FROM:
                data = view[start:start + length].tobytes()
            else:
                data = _reused_copy(view[start:start + length])
        elif kind == BLOCK_ITEM:
            return self._take_block(view[start:start + _BLOCK.size], offset, size)
        else:  # a wrap, a run or a spilled record: the general path
            return self._take(1)[0]
        if records == 1:
            _publish_all(self._meta_bytes, 0, 0, 0, 0, 0)
        else:
            _publish_all(self._meta_bytes, 0, offset + size, meta[_TAIL], meta[_ITEMS] - 1,
                         records - 1)
        return data

    def popmany(self, n: int) -> Taken:
        """Pieces holding the next items, at least one and at most ``n`` (``n <= len(self)``):
        whole records, and part of the first one only when it alone holds more than ``n``.

        A run is one pickle, so a getter that takes part of it unpickles all of it, and the
        getter that takes the rest does so again. Getters asking for as many items as the
        putters' runs hold, in a ring out of step with the runs (one short take is enough),
        would cut nearly every record in two; stopping at a record's end instead brings them
        back in step at once (measured, 4 producers and 4 consumers, batches of 100 at capacity
        1024: 1.9 of every 2.0 pieces a ``get_many`` took were cuts, against 0.2 of 1.1 now; CPU
        time per item 0.77x for the semaphore variant and 0.81x for the condition variant).
        """
        pieces = []
        taken = 0
        meta, view, size = self._meta, self._view, self.size
        while taken < n:
            # The common case, inline: a whole run (or item) in the ring, not at a wrap, taken
            # as ``_take`` would take it.
            offset = meta[_HEAD]
            if size - offset >= _HEADER_SIZE:
                need, kind, length, first, count = _unpack_header(view, offset)
                if kind in (LIST, ITEM) and count <= n - taken:
                    start = offset + _HEADER_SIZE
                    data = view[start:start + length].tobytes()
                    pieces.append(data if kind == ITEM else (LIST, data, first, count))
                    taken += count
                    # The record dropped, as _drop_head drops it (the call saved: the lock
                    # is held).
                    records = meta[_RECORDS] - 1
                    if records:
                        _publish_all(self._meta_bytes, 0, offset + need, meta[_TAIL],
                                     meta[_ITEMS] - count, records)
                    else:
                        _publish_all(self._meta_bytes, 0, 0, 0, 0, 0)
                    continue
            piece, count = self._take(n - taken, not taken)
            if not count:
                break  # the next record would be cut: it stays whole for the next getter
            pieces.append(piece)
            taken += count
        return Taken(pieces, taken)

    def clear(self) -> None:
        """Drop every record at once (one store), then the blocks and files of the dropped
        ones: an exception meanwhile leaves some of those allocated until the buffer is closed
        (space, not items)."""
        meta, view, size = self._meta, self._view, self.size
        offset = meta[_HEAD]
        held = []  # what the records hold beside the ring: blocks, and the files' names
        for _ in range(meta[_RECORDS]):
            if size - offset < _HEADER_SIZE or _unpack_header(view, offset)[1] == WRAP:
                offset = 0
            need, kind, length, _first, _count = _unpack_header(view, offset)
            start = offset + _HEADER_SIZE
            if kind == BLOCK_ITEM:
                held.append(Block(self.arena, *_unpack_block(view, start), owned=False))
            elif kind in (SPILLED_ITEM, SPILLED_LIST):
                held.append(self._spilled(bytes(view[start:start + length])))
            offset += need
        _publish_all(self._meta_bytes, 0, 0, 0, 0, 0)
        for piece in held:
            if type(piece) is Block:
                piece.owned = True
                piece.free()
            else:
                unlink_quietly(piece.path)


def _reused_copy(data: memoryview) -> memoryview:
    """``data`` copied into this thread's reused buffer (grown when too small)."""
    buffer = getattr(_copies, "buffer", None)
    if buffer is None or len(buffer) < len(data):
        buffer = _copies.buffer = bytearray(len(data))
    buffer[:len(data)] = data  # same length: copied in place, the buffer keeps its size
    return memoryview(buffer)[:len(data)]
