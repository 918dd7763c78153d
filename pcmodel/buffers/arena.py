"""Where large items travel beside the ring: blocks of shared memory copied outside the lock.

A process buffer's algorithms hold their lock while an item goes into or out of the ring (see
:mod:`pcmodel.buffers.ring`). For a small item that is a few hundred nanoseconds; a megabyte
takes a hundred microseconds or more to copy, and every other producer and consumer waits for it,
so the buffer can move no more than one large copy at a time although two cores could each be
copying. A large item's pickle therefore goes into a block of this arena instead:

1. the putter allocates a block (a short hold of the arena's own lock) and copies the pickle into
   it, before it takes the buffer's lock;
2. under the buffer's lock, the ring gets a record of a few bytes naming the block, exactly as it
   gets the name of a spilled file: the algorithms do not change;
3. the getter takes that record under the buffer's lock, and unpickles straight from the block
   after letting go of it; then it frees the block (another short hold of the arena's lock).

So the copies of a producer and a consumer overlap, and only the bookkeeping is serialised.
Handing the record over under the buffer's lock also orders the copies: the putter's copy is
done before the record is stored, and the getter reads only after taking the record.

Blocks are allocated one after another around the arena, as records are in the ring, but they are
freed in any order (four getters finish their copies when they finish). A freed block is given
back when every block allocated before it is free too: the arena's head moves past it then. So a
slow getter keeps the space behind its block from being reused for a while, and when the arena has
no room a putter simply stores its item in the ring as before: nothing waits for the arena.

A :class:`Block` dropped without reaching the ring (a put that timed out, raised ``Full`` or was
interrupted) or without being read (a getter interrupted before decoding) is freed by its process's
next use of the arena, so a failed call leaks no space. (Not at once: a block may be dropped by a
garbage collection that runs while its thread holds the arena's lock, which is not re-entrant.) A
process killed between allocating and storing, or between taking and freeing, leaves its block
allocated for the arena's lifetime: later large items then travel through the ring, more slowly
but correctly.
"""

from __future__ import annotations

import ctypes
import struct
from multiprocessing import heap
from typing import Any

from pcmodel.buffers.identity import current_pid
from pcmodel.buffers.pickling import Pieces, copy_pickle
from pcmodel.buffers.robust import Health, RobustLock

__all__ = ["ARENA_FROM", "WARM_SPAN", "Block", "SharedArena", "int64_view"]

ARENA_FROM = 32 << 10
"""Pickles from this many bytes on travel through the arena (smaller ones are copied into the
ring under the lock: for them two more short lock holds would cost more than the copy)."""

WARM_SPAN = 2 << 20
"""Bytes at the arena's start that blocks keep to while few are in use (see ``_allocate``):
measured at 64 KiB, 4x4, capacity 16, an 8 MiB arena: 10-15% more items per second than
sweeping all of it (two cores with 1 MiB of L2 each)."""

_HEADER = struct.Struct("<qq")  # block size in bytes (header and padding included), state
_HEADER_SIZE = _HEADER.size
_STATE = struct.Struct("<q")  # the header's second field, written alone to free a block
_STATE_AT = 8  # where that field sits in the header
_WRAP, _USED, _FREE = range(3)
_HEAD, _TAIL, _BLOCKS = range(3)  # indexes in the arena's shared metadata


def int64_view(array: Any) -> memoryview:
    """A memoryview of a ctypes int64 array: indexing it is cheaper than indexing the array."""
    return memoryview(array).cast("B").cast("q")


class Block:
    """``length`` bytes of a pickle at ``offset`` in ``arena``, owned by one process at a time.

    The owner is first the putter (from :meth:`SharedArena.store` until the ring has the
    block's record) and then the getter (from taking the record until :meth:`read`). A block
    dropped while owned is freed later (see the module).
    """

    __slots__ = ("arena", "offset", "length", "owned", "pid")

    def __init__(self, arena: SharedArena, offset: int, length: int,
                 owned: bool = True) -> None:
        self.arena = arena
        self.offset = offset
        self.length = length
        self.owned = owned  # False: still the ring's (a getter's from when it takes the record)
        self.pid = current_pid()  # a forked child's copy of this object owns nothing

    def __len__(self) -> int:
        return self.length

    def read(self, loads: Any) -> Any:
        """``loads`` of the block's bytes (read in place, no copy first); the block is freed
        whether or not ``loads`` succeeds."""
        try:
            start = self.offset + _HEADER_SIZE
            with self.arena.view[start:start + self.length] as data:
                return loads(data)
        finally:
            self.free()

    def free(self) -> None:
        """Give the block back to the arena (once; a block no longer owned is left alone)."""
        if self.owned:
            self.owned = False
            self.arena.free(self.offset)

    def __del__(self) -> None:
        # Takes no lock: a garbage collection may run this while this thread holds the arena's.
        if self.owned and self.pid == current_pid():
            self.owned = False
            self.arena.free_later(self.offset)


class SharedArena:
    """``size`` bytes of shared memory handing large pickles over in blocks (see the module).

    :meth:`store` and :meth:`Block.read` may be called from any process holding the buffer,
    with or without the buffer's lock; the arena has its own, a :class:`~pcmodel.buffers.robust.
    RobustLock` (a process that dies holding it breaks the buffer, as for the buffer's lock).
    """

    def __init__(self, context: Any, size: int, health: Health) -> None:
        self.size = size
        self._lock = RobustLock(context, health)
        self._shared_meta = context.RawArray(ctypes.c_int64, 3)
        self._meta = int64_view(self._shared_meta)
        # Not cleared, as for the ring: untouched pages cost nothing, and no byte is read
        # before it is written.
        self._data = heap.BufferWrapper(size)
        self.view = self._data.create_memoryview()
        self._dropped: list[int] = []  # offsets of this process's dropped blocks, to be freed
        self._dropped_pid = current_pid()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["view"], state["_meta"]  # memoryviews do not pickle; rebuilt on arrival
        state["_dropped"], state["_dropped_pid"] = [], 0  # the sender's to free, not ours
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.view = self._data.create_memoryview()
        self._meta = int64_view(self._shared_meta)

    @property
    def blocks(self) -> int:
        """Blocks allocated and not yet given back (freed ones behind a busy one included)."""
        return self._meta[_BLOCKS]

    def store(self, data: bytes | Pieces) -> Block | None:
        """A block holding ``data``, copied without any lock held; None if the arena has no
        room for it now (the caller then stores ``data`` in the ring)."""
        length = len(data)
        with self._lock:
            if self._dropped:
                self._free_dropped()
                self._give_back()
            offset = self._allocate((_HEADER_SIZE + length + 7) & ~7)
        if offset < 0:
            return None
        block = Block(self, offset, length)  # first: an interrupted copy drops it, freeing it
        copy_pickle(data, self.view, offset + _HEADER_SIZE)
        return block

    def free(self, offset: int) -> None:
        """Mark the block at ``offset`` free, and give back every free block at the head."""
        with self._lock:
            _STATE.pack_into(self.view, offset + _STATE_AT, _FREE)
            if self._dropped:
                self._free_dropped()
            self._give_back()

    def free_later(self, offset: int) -> None:
        """Have this process's next :meth:`store` or :meth:`free` free the block at ``offset``.
        Takes no lock, so it is safe anywhere, a garbage collection included."""
        if self._dropped_pid != current_pid():  # a forked child: the parent's list is not ours
            self._dropped, self._dropped_pid = [], current_pid()
        self._dropped.append(offset)

    def _free_dropped(self) -> None:
        """Free the blocks this process dropped (lock held)."""
        dropped = self._dropped
        if self._dropped_pid != current_pid():
            dropped.clear()  # inherited from the parent through a fork: its blocks, not ours
            return
        while dropped:
            _STATE.pack_into(self.view, dropped.pop() + _STATE_AT, _FREE)

    def _give_back(self) -> None:
        """Move the head past every free block at it (lock held)."""
        meta, view, size = self._meta, self.view, self.size
        while meta[_BLOCKS] > 0:
            head = meta[_HEAD]
            if size - head < _HEADER_SIZE:  # too short for a header: blocks went on at 0
                meta[_HEAD] = 0
                continue
            block_size, state = _HEADER.unpack_from(view, head)
            if state == _WRAP:
                meta[_HEAD] = 0
            elif state == _FREE:
                meta[_HEAD] = head + block_size
                meta[_BLOCKS] -= 1
            else:
                break
        if meta[_BLOCKS] == 0:  # empty: start again at the beginning (fewer pages touched)
            meta[_HEAD] = meta[_TAIL] = 0

    def _allocate(self, need: int) -> int:
        """The offset of a new block of ``need`` bytes, marked used; -1 if there is no room.
        Called with the arena's lock held."""
        meta, size = self._meta, self.size
        blocks = meta[_BLOCKS]
        head, tail = meta[_HEAD], meta[_TAIL]
        if blocks == 0:
            offset = 0 if need <= size else -1
        elif tail > head:  # used: [head, tail); free: [tail, size) and [0, head)
            # Back to the beginning early, once past WARM_SPAN while less than that is in use
            # (and the beginning has room): the copies then keep to a few recently touched
            # megabytes (in cache, mapped in every process) instead of sweeping the arena.
            early = tail >= WARM_SPAN and tail - head < WARM_SPAN and head >= need
            if size - tail >= need and not early:
                offset = tail
            elif head >= need:  # wrap: the rest of the end is skipped
                if size - tail >= _HEADER_SIZE:
                    _HEADER.pack_into(self.view, tail, 0, _WRAP)
                offset = 0
            else:
                offset = -1
        else:  # wrapped (or exactly full): free is [tail, head)
            offset = tail if head - tail >= need else -1
        if offset >= 0:
            _HEADER.pack_into(self.view, offset, need, _USED)
            meta[_TAIL] = offset + need
            meta[_BLOCKS] = blocks + 1
        return offset
