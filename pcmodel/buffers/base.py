"""What every bounded buffer shares: the queue.Queue surface, argument checks and statistics.

A variant (condition, semaphore, queue) writes only the algorithm: ``put``, ``get``, ``put_many``,
``get_many``, ``task_done``, ``join``, ``shutdown`` and ``qsize``. This base class builds the
non-blocking forms on the blocking ones (as trio does: ``op_nowait`` is ``op`` that may not wait),
checks arguments before anything changes, and turns the recorder into a frozen snapshot.

The backend (``thread`` or ``process``) hands the algorithm its primitives, storage and shared
state, so each algorithm is written once and runs unchanged on threads and on processes.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from pcmodel.buffers.backends import Backend
from pcmodel.buffers.registry import get_backend
from pcmodel.errors import ShutDown
from pcmodel.instrument import ActorState, BufferStats, Level, Recorder, merge_exports

__all__ = ["BatchFull", "Buffer"]


class BatchFull(queue.Full):
    """``put_many`` timed out (or would block) before every item was in the buffer.

    ``items_put`` tells how many of the batch, from its start, are in the buffer; the rest are not.
    """

    def __init__(self, items_put: int, total: int) -> None:
        super().__init__(f"put_many stored {items_put} of {total} items before it timed out")
        self.items_put = items_put
        self.total = total


def shut_down_error(operation: str) -> ShutDown:
    """The ShutDown exception for ``operation``, with a message saying what to do instead."""
    return ShutDown(f"{operation}() on a buffer that was shut down; create a new buffer to go on")


# What a closed buffer refuses (see ``Buffer.close``): every call of its own but ``close()``.
_REFUSED_WHEN_CLOSED = ("put", "get", "put_nowait", "get_nowait", "put_many", "get_many",
                        "qsize", "empty", "full", "task_done", "join", "shutdown", "stats",
                        "reset_stats", "flush_stats")


class _Closed:
    """Stands in for a method of a closed buffer: raises the one error that says so."""

    __slots__ = ("operation",)

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"{self.operation}() on a closed buffer: close() released what it "
                         "shares between processes; close it once every process is done with "
                         "it, or create a new buffer")


def batch_shut_down(items_put: int, total: int) -> ShutDown:
    """The ShutDown raised by ``put_many``: ``items_put`` and ``total`` say how much of the batch,
    from its start, is in the buffer (as :class:`BatchFull` does)."""
    error = ShutDown(f"put_many() stored {items_put} of {total} items before the buffer was "
                     "shut down; create a new buffer to go on")
    error.items_put = items_put
    error.total = total
    return error


class Buffer:
    """Base of every bounded buffer: drop-in for ``queue.Queue`` plus shutdown and batches.

    Subclasses set ``variant`` and implement the algorithm in ``_setup``, ``put``, ``get``,
    ``put_many``, ``get_many``, ``task_done``, ``join``, ``shutdown`` and ``_size``.
    """

    variant: ClassVar[str] = ""

    def __init__(
        self,
        maxsize: int = 0,
        *,
        backend: str | Backend = "thread",
        instrument: str | Level | bool | None = "off",
        clock: Callable[[], float] | None = None,
        name: str | None = None,
        **backend_options: Any,
    ) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"maxsize must be an int (<= 0 means unbounded), not {maxsize!r}")
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a function returning seconds (such as "
                            f"time.perf_counter), not {clock!r}")
        level = Level.parse(instrument)
        self._closed = False
        self.maxsize = maxsize
        self.name = name or f"{self.variant}-buffer"
        self._backend = get_backend(backend, **backend_options)
        self._level = level
        self._clock = clock or time.perf_counter
        self._encode = self._backend.encode
        self._decode = self._backend.decode
        self._encode_batch = self._backend.encode_batch
        self._decode_many = self._backend.decode_many
        self._rec: Recorder | None = (
            None if level is Level.OFF else self._backend.recorder(level, self._clock)
        )
        # The algorithms call these after an operation, with the lock held. Below the timeline
        # level a get records nothing and a put only a new maximum depth (the algorithms skip
        # the call while the depth stays at most ``state.report_above``): the counts follow
        # from the task accounting and the depth (see ``_puts`` and ``_gets``), which keeps
        # the counters level cheap.
        self._on_put = None if self._rec is None else self._rec.on_put
        self._on_get = self._rec.on_get if level is Level.TIMELINE else None
        self._state = self._backend.state()
        self._state.report_above = -1 if level is Level.TIMELINE else 0
        try:
            self._setup(self._backend, maxsize)
        except BaseException:  # a bound or a size it cannot have: nothing is left held either
            self._backend.close()
            raise

    def _setup(self, backend: Backend, maxsize: int) -> None:
        raise NotImplementedError

    # -- the queue.Queue surface built on the algorithm -------------------------------------

    def put_nowait(self, item: Any) -> None:
        """Put ``item`` if there is space now, else raise ``queue.Full``."""
        self.put(item, block=False)

    def get_nowait(self) -> Any:
        """Take an item if one is there now, else raise ``queue.Empty`` (``ShutDown`` once shut
        down and drained)."""
        return self.get(block=False)

    def qsize(self) -> int:
        """Items in the buffer now. Like queue.Queue's, already stale when you read it."""
        return self._size()

    def empty(self) -> bool:
        """True if the buffer holds no item now (not a promise that get() will block)."""
        return self._size() == 0

    def full(self) -> bool:
        """True if a bounded buffer is at capacity now (not a promise that put() will block)."""
        return 0 < self.maxsize <= self._size()

    @property
    def waiting(self) -> tuple[int, int]:
        """``(putters, getters)`` blocked in this buffer now: for observers and tests.

        The queue variant cannot see inside the library's queue and always reports ``(0, 0)``.
        """
        state = self._state
        return state.waiting_put, state.waiting_get

    @property
    def is_shutdown(self) -> bool:
        """True once ``shutdown()`` was called."""
        return bool(self._state.shutdown)

    # -- instrumentation ------------------------------------------------------------------

    @property
    def instrument(self) -> Level:
        """The recording level chosen at creation."""
        return self._level

    def _wait_ended(self, waiting: ActorState, started: float) -> None:
        """Record a wait in ``waiting`` that began at ``started`` and is over now
        (instrumentation on)."""
        self._rec.on_wait(waiting, started, self._clock())

    def stats(self) -> BufferStats:
        """A frozen snapshot of what was recorded (zeros and no actors when instrument='off')."""
        rec = self._rec
        state = self._state
        if rec is None:
            return BufferStats(self.variant, self._backend.name, self.maxsize, self._level,
                               0, 0, 0, self._size(), 0.0)
        actors, timeline = merge_exports(self._backend.exports(rec),
                                         self._level is Level.TIMELINE)
        depth = self._size()
        return BufferStats(
            variant=self.variant,
            backend=self._backend.name,
            maxsize=self.maxsize,
            level=self._level,
            puts=self._puts(state),
            gets=self._gets(state, depth),
            max_depth=state.max_depth,
            depth=depth,
            elapsed=self._clock() - rec.started,
            actors=actors,
            timeline=timeline,
        )

    def reset_stats(self) -> None:
        """Start recording afresh (this process's recorder and the buffer-wide counts)."""
        if self._rec is not None:
            self._rec.reset()
            self._backend.reset_exports()
            state = self._state
            state.puts = state.gets = state.discarded = 0
            state.puts_base = state.unfinished + state.finished
            state.max_depth = state.base_depth = self._size()
            state.report_above = -1 if self._level is Level.TIMELINE else state.max_depth

    def flush_stats(self) -> None:
        """Make this process's per-actor records visible to ``stats()`` in other processes.

        Process-backend children do this by themselves when they exit; threads need not call it.
        """
        if self._rec is not None:
            self._backend.flush(self._rec)

    # -- life cycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Release what the backend holds (shared memory, files). Idempotent.

        The thread backend holds nothing, and a thread buffer stays usable. A process buffer is
        closed in this process: every call but ``close()`` then raises ``ValueError`` (so does
        sending it to a new process), and ``repr()`` says ``closed``. Other processes' copies
        are not closed by this; close the buffer once they are done with it.
        """
        self._backend.close()
        if self._backend.holds_resources and not self._closed:
            self._closed = True
            # Instance attributes, which shadow the methods: an open buffer's calls pay for no
            # check, and a closed one's fail with one clear error whatever its state.
            for operation in _REFUSED_WHEN_CLOSED:
                setattr(self, operation, _Closed(operation))

    def __getstate__(self) -> dict:
        """What a new process gets (``spawn``); a closed buffer refuses to go (ValueError)."""
        if self._closed:
            raise ValueError("cannot send a closed buffer to another process: close() it only "
                             "once every process that uses it has been started and is done")
        return self.__dict__

    def __enter__(self) -> Buffer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        """A one-line summary. Never blocks: the size is read without the buffer's lock (a
        failure report or a debugger may ask from the very thread that holds it), so it is a
        snapshot that may be a moment old, as ``qsize()``'s is once it returns."""
        if self._closed:
            return f"<{type(self).__name__} {self._backend.name} closed>"
        putters, getters = self.waiting
        bound = self.maxsize if self.maxsize > 0 else "inf"
        flags = " shutdown" if self._state.shutdown else ""
        return (f"<{type(self).__name__} {self._backend.name} size={self._size_unlocked()}/"
                f"{bound} waiting_put={putters} waiting_get={getters}{flags}>")

    # -- helpers for the algorithms -------------------------------------------------------

    def _encode_all(self, items: Iterable[Any]) -> Any:
        """Encode a batch before any lock is taken, so a bad item changes nothing.

        The result is a sequence of ``len()`` items whose slices the storage's ``extend`` takes.
        """
        if self._encode_batch is not None:
            return self._encode_batch(items)
        encode = self._encode
        return list(items) if encode is None else [encode(item) for item in items]

    def _decode_all(self, taken: Any) -> list:
        """The items of what the storage's ``popmany`` returned, decoded outside the lock."""
        if self._decode_many is not None:
            return self._decode_many(taken)
        decode = self._decode
        return taken if decode is None else [decode(item) for item in taken]

    def _size(self) -> int:
        raise NotImplementedError

    def _size_unlocked(self) -> int:
        """The number of items stored, read without the lock (for ``repr``): the storage's
        length is one read, of a deque or of the ring's shared count."""
        return len(self._items)

    def _puts(self, state: Any) -> int:
        """Items put since recording started (counted one by one unless a subclass knows
        better)."""
        return state.puts

    def _gets(self, state: Any, depth: int) -> int:
        """Items taken since recording started: every item put is still there, was taken, or
        was discarded by an immediate shutdown."""
        return self._puts(state) + state.base_depth - depth - state.discarded


class TaskAccounting:
    """``task_done``/``join`` for algorithms that keep their own lock (condition, semaphore).

    Needs ``self._mutex``, ``self._all_tasks_done`` (a condition on that mutex) and
    ``self._state.unfinished``: the count of items put and not yet marked done.
    """

    def task_done(self) -> None:
        """Mark one taken item as processed; raise ValueError if called more often than put()."""
        with self._mutex:
            unfinished = self._state.unfinished - 1
            if unfinished < 0:
                raise ValueError("task_done() called too many times: more than items were put")
            self._state.unfinished = unfinished
            self._state.finished += 1
            if unfinished == 0:
                self._all_tasks_done.notify_all()

    def _discard_all(self) -> None:
        """Drop every stored item and count it as done (immediate shutdown); lock held.

        The storage's ``clear()`` drops all or nothing; the counts follow it, also when a
        Ctrl-C comes between the two (then counted before the exception goes on)."""
        state, items = self._state, self._items
        dropped = len(items)
        unfinished = state.unfinished
        done = dropped if dropped < unfinished else unfinished
        counts = (unfinished - done, state.finished + done, state.discarded + dropped)
        try:
            items.clear()
            state.unfinished, state.finished, state.discarded = counts
        except BaseException:
            if not items:  # cleared: counted as such (again, if it was already)
                state.unfinished, state.finished, state.discarded = counts
            raise
        finally:
            self._all_tasks_done.notify_all()

    def _puts(self, state: Any) -> int:
        """Items put since recording started, from the task accounting: each is unfinished or
        finished, so no put has to count itself."""
        return state.unfinished + state.finished - state.puts_base

    def join(self) -> None:
        """Block until every item put so far was marked ``task_done()`` (or discarded by
        ``shutdown(immediate=True)``)."""
        with self._mutex:
            while self._state.unfinished:
                self._all_tasks_done.wait()
