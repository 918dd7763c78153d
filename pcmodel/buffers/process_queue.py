"""The ``queue`` variant between processes: ``multiprocessing.Queue``'s design plus what it lacks.

``multiprocessing.Queue`` is a pipe and a feeder thread per process: ``put`` hands an item to the
thread, which pickles it and writes it to the pipe; ``get`` reads the pipe. It has no
``task_done``/``join``, cannot be woken by a shutdown while a caller blocks on it, and pickles in
the feeder thread, where an unpicklable item is lost with a traceback on stderr. So
:class:`ProcessQueue` pickles each item once, in the caller (an unpicklable item raises there;
a large item in pieces that share its bytes rather than copy them), and sends that pickle as it
is through an :class:`~pcmodel.buffers.item_pipe.ItemPipe`: written at once when the pipe takes
it whole, else by a feeder thread (see there). The bound and the item count are two
semaphores of its own, ``_free`` and ``_ready``: a getter first takes a ``_ready`` permit (one per
item whose ``put`` has returned) and only then reads the pipe, where that item is sure to arrive;
it reads under the queue's lock, and if the item is not there yet it waits for the pipe without
the lock (putters go on meanwhile). Shutdown wakes blocked callers by a relay of tokens on those
semaphores, as the semaphore variant does. Items have no size cap.

What a dead peer does. ``put()`` may return while its process's feeder thread still holds the
item (when the pipe is full, or the item large); a producer SIGKILLed then takes the item with
it. The pipe counts, per producer, the items its feeder holds: a getter that finds the pipe empty
for a while although it was promised an item checks the producers, and if one that owes items has
died, the buffer is broken (``BufferBroken`` for every survivor that waits) instead of a getter
blocked for ever. Without a death every accepted item is delivered. A process that dies holding
the queue's lock, or owing a permit, or in the middle of writing an item, breaks it as in the
semaphore variant.
"""

from __future__ import annotations

import ctypes
import pickle
import queue
from typing import Any

from pcmodel.buffers.item_pipe import ItemPipe
from pcmodel.buffers.pickling import Pieces, dumps_in_pieces, dumps_item, unpickling_error
from pcmodel.buffers.robust import (
    PARTICIPANTS,
    SLICE,
    Health,
    RobustCondition,
    RobustLock,
    pid_alive,
)
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from pcmodel.errors import ShutDown

__all__ = ["ProcessQueue"]

def _check_timeout(block: bool, timeout: float | None) -> None:
    if block and timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number (or None to wait forever)")


_SLICE_MS = int(SLICE * 1000)
# A bytes or str payload this long the pickler hands to its file as it is (a shorter one it
# copies into its 64 KiB frames anyway): such an item is pickled in pieces.
_PIECES_FROM = 64 << 10


def _pickle(item: Any) -> bytes | Pieces:
    """``item``'s pickle; ItemNotPicklable if it has none. A long ``bytes`` or ``str`` item's
    comes in pieces that share its payload, for the pipe to write one after another: copied
    into one new pickle, a 64 KiB payload cost the producer a third of its time per item, and
    a megabyte's page faults more than the pipe's own copies."""
    if (type(item) is bytes or type(item) is str) and len(item) >= _PIECES_FROM:
        return dumps_in_pieces(item)
    try:
        return pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
    except Exception:
        return dumps_item(item)  # raises ItemNotPicklable, naming the item's type


class _QueueFields(ctypes.Structure):
    _fields_ = [("items", ctypes.c_int64), ("unfinished", ctypes.c_int64),
                ("shutdown", ctypes.c_int64)]


class ProcessQueue:
    """``multiprocessing.Queue`` with ``task_done``/``join`` and Python 3.13's ``shutdown``.

    ``put``/``get`` block as ``queue.Queue``'s do (``queue.Full``/``queue.Empty`` after
    ``timeout``); FIFO; ``ShutDown`` after ``shutdown()``; ``BufferBroken`` once a peer died in a
    way that loses items (see the module).
    """

    def __init__(self, context: Any, maxsize: int, health: Health) -> None:
        self.maxsize = maxsize
        self._pipe = ItemPipe(context, health)
        self._health = health
        self._free = RobustSemaphore(context, maxsize, health) if maxsize > 0 else None
        self._ready = RobustSemaphore(context, 0, health)
        self._lock = RobustLock(context, health)
        self._all_tasks_done = RobustCondition(context, self._lock, health)
        self._counts = context.RawValue(_QueueFields)
        self._table = health.table  # per producer: its pid, ..., items its feeder holds

    @property
    def is_shutdown(self) -> bool:
        return bool(self._counts.shutdown)

    def qsize(self) -> int:
        return self._counts.items

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.put_prepared(_pickle(item), block, timeout)

    prepare = staticmethod(_pickle)  # what put_prepared() takes: the item's pickle

    def put_prepared(self, data: bytes | Pieces, block: bool = True,
                     timeout: float | None = None) -> None:
        """``put`` for an item already pickled by ``prepare()`` (``put_many`` pickles a whole
        batch before it puts anything)."""
        _check_timeout(block, timeout)
        counts = self._counts
        if counts.shutdown:
            raise ShutDown("put() on a buffer that was shut down")
        if self._free is not None and not self._free.acquire(block, timeout):
            raise queue.Full
        owed = self._health.debt_slot() + 1  # this producer's owed-items cell, or 0: untracked
        with self._lock:
            if counts.shutdown:
                if self._free is not None:
                    self._free.release()  # relay the wake-up to the next blocked putter
                raise ShutDown("put() on a buffer that was shut down")
            counts.items += 1
            counts.unfinished += 1
        # Sent with the lock let go: no getter reads the pipe for this item before the _ready
        # permit below, and a write (or waking the feeder) while holding the lock made getters
        # and other putters wait for it.
        self._pipe.send(data, owed)
        if self._free is None:  # unbounded: no permit taken to pass on; count the one given
            self._ready.owe(1)
        self._ready.release()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        _check_timeout(block, timeout)
        counts = self._counts
        if not self._ready.acquire(block, timeout):
            if counts.shutdown and not counts.items:
                raise ShutDown("get() on a buffer that was shut down and is empty")
            raise queue.Empty
        with self._lock:
            if not counts.items:  # a shutdown token, not an item
                self._ready.release()
                raise ShutDown("get() on a buffer that was shut down and is empty")
            counts.items -= 1
            # Under load the item is in the pipe already: read it in this same hold (trying
            # costs one read, no poll, when it is not).
            data = self._pipe.recv_nowait()
        if data is None:
            data = self._receive()
        if self._free is not None:
            self._free.release()
        else:
            self._ready.owe(-1)
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise unpickling_error(exc, [], 1, 1) from exc

    def _receive(self) -> bytes:
        """The next item's pickle from the pipe, for a getter holding a ``_ready`` permit (the
        item's put() has returned); lock not held.

        The getter waits for the pipe without the lock, so that putters and feeder threads go
        on meanwhile (waiting with it held made every get wait for a put's whole trip through a
        feeder), and reads under the lock, one reader at a time. It checks the producers under
        the lock too, having found the pipe empty there: no item is then half-way into another
        getter's hands.
        """
        pipe = self._pipe
        while True:
            readable = pipe.wait_readable(_SLICE_MS)
            with self._lock:
                data = pipe.recv_nowait()  # None if another getter took what woke us
                if data is not None:
                    return data
                if not readable:
                    self._check_producers()

    def _read_waiting(self) -> bytes:
        """The next item's pickle once the pipe has it (its put() has returned); lock held."""
        pipe = self._pipe
        while (data := pipe.recv_nowait()) is None:
            if not pipe.wait_readable(_SLICE_MS):
                self._check_producers()
        return data

    def _check_producers(self) -> None:
        """Raise BufferBroken if a producer died owing items its feeder never wrote; lock held,
        pipe found empty."""
        self._health.check()
        table = self._table
        for producer in range(PARTICIPANTS):
            pid, owed = table[3 * producer], table[3 * producer + 2]
            if owed > 0 and pid and not pid_alive(pid):
                self._health.mark_broken(
                    f"process {pid} died before its feeder thread wrote {owed} item(s) that "
                    "put() had accepted")

    def put_nowait(self, item: Any) -> None:
        self.put(item, False)

    def get_nowait(self) -> Any:
        return self.get(False)

    def task_done(self) -> None:
        with self._lock:
            if self._counts.unfinished <= 0:
                raise ValueError("task_done() called too many times: more than items were put")
            self._counts.unfinished -= 1
            if self._counts.unfinished == 0:
                self._all_tasks_done.notify_all()

    def join(self) -> None:
        with self._lock:
            while self._counts.unfinished:
                self._all_tasks_done.wait()

    def shutdown(self, immediate: bool = False) -> None:
        counts = self._counts
        with self._lock:
            already = counts.shutdown
            counts.shutdown = 1
            if immediate:
                while counts.items and self._ready.acquire(False):
                    self._read_waiting()
                    counts.items -= 1
                    counts.unfinished = max(0, counts.unfinished - 1)
                    if self._free is not None:
                        self._free.release()
                    else:
                        self._ready.owe(-1)
                self._all_tasks_done.notify_all()
        if not already:
            self._ready.release()
            if self._free is not None:
                self._free.release()

    def close(self) -> None:
        """Stop the feeder thread of this process (after it has written what it holds)."""
        self._pipe.close()
