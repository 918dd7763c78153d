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
semaphore variant. A put owes its permit from its first step to its last, also on an unbounded
queue (where it takes none): one that dies after counting its item breaks the buffer rather than
leave a count with no item behind.

What an interrupt does. A ``put`` or ``get`` that an exception stops half-way (Ctrl-C's
``KeyboardInterrupt``, raised by a signal handler between any two of its steps) undoes what it
did, so that the counts, the permits and the pipe's frames still match: a put whose item has
not reached the pipe takes back its count and gives back its slot; a get that has read nothing
gives back its count and its permit, and the item stays for the next getter. An item that has
reached the pipe is delivered, and an item read is taken: the pipe finishes a frame that it has
begun to move before the exception goes on (see :mod:`pcmodel.buffers.item_pipe`). A shutdown
interrupted while it discards wakes every blocked caller all the same. Limit: an exception that
lands inside a primitive's own few bytecodes (a lock's or a semaphore's) is not undone.
"""

from __future__ import annotations

import ctypes
import pickle
import queue
from typing import Any

from pcmodel.buffers.identity import pid_of, process_alive
from pcmodel.buffers.item_pipe import ItemPipe
from pcmodel.buffers.pickling import Pieces, dumps_in_pieces, dumps_item, unpickling_error
from pcmodel.buffers.robust import (
    PARTICIPANTS,
    SLICE,
    Health,
    RobustCondition,
    RobustLock,
)
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from pcmodel.buffers.timeouts import check_timeout
from pcmodel.errors import BufferBroken, ShutDown

__all__ = ["ProcessQueue"]

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
        self._table = health.table  # per producer: its identity, ..., items its feeder holds

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
        check_timeout(block, timeout)
        counts = self._counts
        if counts.shutdown:
            raise ShutDown("put() on a buffer that was shut down")
        if self._free is None:  # unbounded: owe the permit this put gives (see the module)
            self._ready.owe(1)
        elif not self._free.acquire(block, timeout):
            raise queue.Full
        counted = False
        try:
            with self._lock:
                if counts.shutdown:
                    raise ShutDown("put() on a buffer that was shut down")
                counts.items += 1
                counts.unfinished += 1
                counted = True
            # Sent with the lock let go: no getter reads the pipe for this item before the
            # _ready permit below, and a write (or waking the feeder) while holding the lock
            # made getters and other putters wait for it.
            self._pipe.send(data, self._health.debt_slot() + 1)  # its owed-items cell, or 0
        except BaseException as exc:
            if not isinstance(exc, BufferBroken):
                self._withdraw(counted)
            raise
        self._ready.release()
        self._pipe.raise_held()

    def _withdraw(self, counted: bool) -> None:
        """Undo a put whose item never reached the pipe: its count, and the permit it holds
        (for a ShutDown, the wake-up relayed to the next blocked putter)."""
        if counted:
            with self._lock:
                self._counts.items -= 1
                self._counts.unfinished -= 1
        if self._free is not None:
            self._free.release()
        else:
            self._ready.owe(-1)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        check_timeout(block, timeout)
        counts = self._counts
        if not self._ready.acquire(block, timeout):
            if counts.shutdown and not counts.items:
                raise ShutDown("get() on a buffer that was shut down and is empty")
            raise queue.Empty
        data = None
        counted = False
        try:
            with self._lock:
                if not counts.items:  # a shutdown token, not an item: relayed below
                    raise ShutDown("get() on a buffer that was shut down and is empty")
                counts.items -= 1
                counted = True
                # Under load the item is in the pipe already: read it in this same hold
                # (trying costs one read, no poll, when it is not).
                data = self._pipe.recv_nowait()
            if data is None:
                data = self._receive()
        except BaseException as exc:
            if not isinstance(exc, BufferBroken):
                if data is None:
                    self._give_back(counted)  # nothing read: the item stays for the next getter
                else:
                    self._pass_slot()  # read, then interrupted letting go of the lock
            raise
        self._pass_slot()
        self._pipe.raise_held()  # came while the item was half read: taken, and lost
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise unpickling_error(exc, [], 1, 1) from exc

    def _give_back(self, counted: bool) -> None:
        """Undo a get that read nothing: its count and its ``_ready`` permit (a shutdown
        token's relay to the next getter)."""
        if counted:
            with self._lock:
                self._counts.items += 1
        self._ready.release()

    def _pass_slot(self) -> None:
        """An item left the pipe: its slot goes to the putters (unbounded: the permit this
        getter took is counted as passed on)."""
        if self._free is not None:
            self._free.release()
        else:
            self._ready.owe(-1)

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
            whose, owed = table[3 * producer], table[3 * producer + 2]
            if owed > 0 and whose and not process_alive(whose):
                self._health.mark_broken(
                    f"process {pid_of(whose)} died before its feeder thread wrote {owed} item(s) "
                    "that put() had accepted")

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
        already = True
        try:
            with self._lock:
                already = counts.shutdown
                counts.shutdown = 1
                if immediate:
                    self._discard_all()
        finally:  # even if interrupted while discarding: every blocked caller must wake
            if not already:
                self._ready.release()
                if self._free is not None:
                    self._free.release()

    def _discard_all(self) -> None:
        """Take every item that has its ``_ready`` permit out of the pipe, counted as done, and
        wake ``join()``; lock held. An item whose frame was not begun when an exception came
        keeps its permit and its count."""
        counts = self._counts
        try:
            while counts.items and self._ready.acquire(False):
                try:
                    self._read_waiting()
                except BaseException as exc:
                    if not isinstance(exc, BufferBroken):
                        self._ready.release()
                    raise
                counts.items -= 1
                counts.unfinished = max(0, counts.unfinished - 1)
                self._pass_slot()
        finally:
            self._all_tasks_done.notify_all()
        self._pipe.raise_held()

    def close(self) -> None:
        """Stop the feeder thread of this process (after it has written what it holds)."""
        self._pipe.close()
