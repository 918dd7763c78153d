"""The standard library's design: ``queue.Queue``, or between processes ``multiprocessing.Queue``'s.

This variant is the baseline the hand-written ones are measured against, and the answer to "what
should I use in real code?". The backend supplies the queue (``queue.Queue`` with 3.13's shutdown
for threads; for processes, ``multiprocessing.Queue``'s design, a pipe and a feeder thread per
process, carrying each item's pickle as it is, with shared accounting); this class adds
only what the library's queue lacks: batches (plain loops, since neither queue has a batch
operation: the benchmarks show what that costs) and instrumentation.

With instrumentation off, the queue's own methods are installed on the instance, so a call costs
exactly what the standard library's costs. With it on, a call first tries without blocking and
times only the wait that follows, so the fast path stays cheap.

What a Ctrl-C does: what the library's queue does. On threads that is ``queue.Queue``'s code (a
copy of 3.13's before 3.13), which a ``KeyboardInterrupt`` just after an item went in leaves with
the item stored and not yet counted for ``join()``, and just after ``get`` took one, with the
item lost to the caller; on processes see :mod:`pcmodel.buffers.process_queue`.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable
from typing import Any

from pcmodel.buffers.backends import Backend
from pcmodel.buffers.base import BatchFull, Buffer, batch_shut_down
from pcmodel.buffers.timeouts import check_timeout
from pcmodel.errors import ItemNotUnpicklable, ShutDown
from pcmodel.instrument import WAITING_FOR_ITEMS, WAITING_FOR_SPACE

__all__ = ["QueueBuffer"]


class QueueBuffer(Buffer):
    """Bounded FIFO buffer that delegates to the standard library's queue for its backend.

    Same guarantees as ``queue.Queue`` (blocking, FIFO, ``queue.Full``/``queue.Empty``), plus
    ``shutdown()`` with 3.13's semantics and ``put_many``/``get_many`` (loops of put/get).
    Uninstrumented on threads, ``put`` and ``get`` are the library queue's own, so they take a
    timeout as ``queue.Queue`` does (a NaN one spins, an infinite one overflows); otherwise a
    timeout no wait can have is refused as by the other variants (``ValueError``).
    """

    variant = "queue"

    def _setup(self, backend: Backend, maxsize: int) -> None:
        self._queue = q = backend.queue(maxsize)
        # The queue carries items as they are (the process one pickles each item once itself).
        self._encode = self._decode = self._encode_batch = self._decode_many = None
        # Counts are kept under a lock of their own: the queue's lock is not ours to hold.
        self._stats_lock = backend.lock()
        if self._rec is None and self._encode is None:
            # Nothing to add: hand calls straight to the library's queue.
            self.put = q.put
            self.get = q.get
            self.put_nowait = q.put_nowait
            self.get_nowait = q.get_nowait

    def _size(self) -> int:
        return self._queue.qsize()

    def _size_unlocked(self) -> int:
        return self._queue.qsize()  # the library's queue: its own short lock, never held long

    def _gets(self, state: Any, depth: int) -> int:
        return state.gets  # counted one by one: the library's queue discards unseen

    @property
    def is_shutdown(self) -> bool:
        return bool(self._queue.is_shutdown)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put ``item``, waiting for space as ``queue.Queue.put`` does."""
        check_timeout(block, timeout)
        self._put(item, block, timeout)

    def _put(self, item: Any, block: bool, timeout: float | None,
             put: Any = None) -> None:
        q = self._queue
        put = put or q.put
        rec = self._rec
        if rec is None:
            put(item, block, timeout)
            return
        try:
            put(item, False)
        except queue.Full:
            if not block:
                raise
            started = self._clock()
            try:
                put(item, True, timeout)
            finally:
                self._wait_ended(WAITING_FOR_SPACE, started)
        with self._stats_lock:
            self._state.puts += 1
            self._rec.on_put(self._state, 1, q.qsize())

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return an item, waiting for one as ``queue.Queue.get`` does."""
        check_timeout(block, timeout)
        q = self._queue
        rec = self._rec
        if rec is None:
            item = q.get(block, timeout)
        else:
            try:
                item = q.get(False)
            except queue.Empty:
                if not block:
                    raise
                started = self._clock()
                try:
                    item = q.get(True, timeout)
                finally:
                    self._wait_ended(WAITING_FOR_ITEMS, started)
            with self._stats_lock:
                self._rec.on_get(self._state, 1, q.qsize())
        return item

    def put_many(self, items: Iterable[Any], timeout: float | None = None, *,
                 block: bool = True) -> None:
        """Put every item in order, one ``put`` each (the library's queue has no batch put).

        Raises :class:`BatchFull` (with ``items_put``) if the batch's ``timeout`` runs out,
        ``ShutDown`` (with ``items_put`` too) if the buffer is shut down. On processes every item
        is pickled before the first is put, so an unpicklable one changes nothing.
        """
        check_timeout(block, timeout)
        prepare = getattr(self._queue, "prepare", None)  # processes: pickle all, then put
        if prepare is None:
            batch, put = list(items), None
        else:
            batch, put = [prepare(item) for item in items], self._queue.put_prepared
        deadline = None if timeout is None else time.monotonic() + timeout
        for done, item in enumerate(batch):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                self._put(item, block, remaining, put)
            except queue.Full:
                raise BatchFull(done, len(batch)) from None
            except ShutDown:
                raise batch_shut_down(done, len(batch)) from None

    def get_many(self, max_items: int, timeout: float | None = None, *,
                 block: bool = True) -> list:
        """Take up to ``max_items`` items: wait (up to ``timeout``) for the first only.
        ``ValueError`` for a timeout no wait can have, as ``put_many`` (``get`` itself may be
        the library queue's, which spins on a NaN one)."""
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ValueError(f"max_items must be a positive int, not {max_items!r}")
        check_timeout(block, timeout)
        taken = [self.get(block, timeout)]
        try:
            while len(taken) < max_items:
                taken.append(self.get(False))
        except (queue.Empty, ShutDown):
            pass
        except ItemNotUnpicklable as exc:  # hand over what was taken before the bad item
            raise ItemNotUnpicklable(str(exc), taken, exc.failed) from exc
        return taken

    def task_done(self) -> None:
        """Mark one taken item as processed (ValueError if called too often)."""
        self._queue.task_done()

    def join(self) -> None:
        """Block until every item put was marked done (or discarded by an immediate shutdown)."""
        self._queue.join()

    def shutdown(self, immediate: bool = False) -> None:
        """Shut down with Python 3.13's ``queue.Queue.shutdown`` semantics."""
        self._queue.shutdown(immediate)

    def close(self) -> None:
        """Release the backend's resources; for processes, flush and stop the queue's feeder."""
        closer = getattr(self._queue, "close", None)
        if closer is not None:
            closer()
        super().close()

    def __repr__(self) -> str:
        bound = self.maxsize if self.maxsize > 0 else "inf"
        flags = " shutdown" if self.is_shutdown else ""
        return f"<QueueBuffer {self._backend.name} size={self._size()}/{bound}{flags}>"
