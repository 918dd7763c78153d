"""The process backend: the same algorithms, with their state moved into shared memory.

Processes share no objects, so everything an algorithm touches comes from ``multiprocessing``:

* primitives: ``context.Lock()``, ``context.Condition()``, ``context.Semaphore()`` (named POSIX
  semaphores, which every process can wait on);
* storage: :class:`SharedRing`, a ring of fixed-size slots in shared memory. Items travel as
  pickles: a putter pickles *before* taking the lock (as ``multiprocessing.Queue`` does), so an
  unpicklable or oversized item raises in the caller and the buffer is untouched; a getter
  unpickles after releasing the lock;
* scalar state: a ``ctypes`` structure in shared memory with the fields of ``SharedState``;
* the ``queue`` variant: :class:`ProcessQueue`, a ``multiprocessing.Queue`` plus the accounting
  and shutdown it lacks.

Shared memory comes from ``multiprocessing.sharedctypes`` (``RawArray``/``RawValue``): it is
anonymous, so nothing is left in ``/dev/shm`` even if a process dies, and it is freed when the
last process holding the buffer lets go of it. A buffer reaches children as an argument of
``Process(...)``, under ``fork`` and ``spawn`` alike (like ``multiprocessing.Lock``, it cannot be
sent through a queue).

Per-actor statistics are kept in each process and reach the parent when the child exits (or
calls ``flush_stats()``) as a small file in a private temporary folder, which ``close()`` removes.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import queue
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable
from multiprocessing import util as mp_util
from typing import Any

from pcmodel.buffers.backends import Backend, SharedState
from pcmodel.errors import ItemNotPicklable, ItemTooLarge, ShutDown
from pcmodel.instrument import Level, Recorder

__all__ = ["DEFAULT_ITEM_SIZE", "ProcessBackend", "ProcessQueue", "SharedRing"]

DEFAULT_ITEM_SIZE = 64 * 1024
"""Bytes per slot unless ``item_size`` says otherwise: room for a pickled item of that size."""


class _StateFields(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in SharedState.__slots__]


def process_actor_name() -> str:
    """``process`` for a process's main thread, ``process/thread`` for its other threads."""
    thread = threading.current_thread()
    process = multiprocessing.current_process().name
    return process if thread is threading.main_thread() else f"{process}/{thread.name}"


class SharedRing:
    """A FIFO of byte strings in shared memory: ``capacity`` slots of ``slot_size`` bytes.

    Not synchronised: the buffer algorithms call it with their lock held, and guarantee
    ``append`` only when a slot is free and ``popleft`` only when an item is there.
    """

    def __init__(self, context: Any, capacity: int, slot_size: int) -> None:
        self.capacity = capacity
        self.slot_size = slot_size
        self._meta = context.RawArray(ctypes.c_int64, 2)  # [index of head, number of items]
        self._lengths = context.RawArray(ctypes.c_int64, capacity)
        self._data = context.RawArray(ctypes.c_char, capacity * slot_size)
        self._view = memoryview(self._data).cast("B")

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_view"]  # a memoryview does not pickle; rebuilt on arrival
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._view = memoryview(self._data).cast("B")

    def __len__(self) -> int:
        return self._meta[1]

    def append(self, data: bytes) -> None:
        meta = self._meta
        head, count = meta[0], meta[1]
        if count >= self.capacity:
            raise RuntimeError("SharedRing overflow: the buffer algorithm broke its invariant")
        slot = (head + count) % self.capacity
        offset = slot * self.slot_size
        self._view[offset:offset + len(data)] = data
        self._lengths[slot] = len(data)
        meta[1] = count + 1

    def extend(self, items: Iterable[bytes]) -> None:
        for data in items:
            self.append(data)

    def popleft(self) -> bytes:
        meta = self._meta
        head = meta[0]
        if meta[1] <= 0:
            raise IndexError("popleft from an empty SharedRing")
        offset = head * self.slot_size
        data = bytes(self._view[offset:offset + self._lengths[head]])
        meta[0] = (head + 1) % self.capacity
        meta[1] -= 1
        return data

    def clear(self) -> None:
        self._meta[0] = 0
        self._meta[1] = 0


class _ProcessRecorder(Recorder):
    """A Recorder that starts empty in each new process and reports to the parent at exit."""

    def __init__(self, level: Level, clock: Callable[[], float], folder: str) -> None:
        super().__init__(level, clock, process_actor_name)
        self.folder = folder
        mp_util.register_after_fork(self, _ProcessRecorder._in_new_process)

    def __getstate__(self) -> dict:
        return {"level": self.level, "clock": self.clock, "folder": self.folder}

    def __setstate__(self, state: dict) -> None:  # arriving in a spawned child
        self.__init__(state["level"], state["clock"], state["folder"])
        # A spawned child runs no after-fork hooks and keeps the finalizers registered here.
        mp_util.Finalize(self, self.publish, exitpriority=10)

    def _in_new_process(self) -> None:
        """Drop what the parent recorded before the fork; report this process's data at exit."""
        started = self.started
        self.reset()
        self.started = started
        mp_util.Finalize(self, self.publish, exitpriority=10)

    def publish(self) -> None:
        """Write this process's export where the parent's ``stats()`` reads it."""
        path = os.path.join(self.folder, f"{os.getpid()}.pickle")
        try:
            with open(path + ".tmp", "wb") as file:
                pickle.dump(self.export(), file)
            os.replace(path + ".tmp", path)
        except FileNotFoundError:
            pass  # the owner closed the buffer already: nobody is left to read these numbers


class ProcessBackend(Backend):
    """Processes: ``multiprocessing`` primitives, a shared-memory ring, items as pickles."""

    name = "process"

    def __init__(self, context: Any = None, item_size: int | None = None) -> None:
        if item_size is None:
            item_size = DEFAULT_ITEM_SIZE
        if isinstance(item_size, bool) or not isinstance(item_size, int) or item_size < 1:
            raise ValueError(f"item_size must be a positive number of bytes, not {item_size!r}")
        if context is None:
            context = multiprocessing.get_context()
        if not hasattr(context, "get_start_method"):
            raise TypeError(f"context must be a multiprocessing context, not {context!r}; "
                            "use multiprocessing.get_context('spawn') or similar")
        self._context = context
        self.item_size = item_size
        self._owner = os.getpid()
        self._folder: str | None = None
        self._cleanup: weakref.finalize | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_context"] = self._context.get_start_method()
        state["_cleanup"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        state["_context"] = multiprocessing.get_context(state["_context"])
        self.__dict__.update(state)

    def lock(self) -> Any:
        return self._context.Lock()

    def condition(self, lock: Any) -> Any:
        return self._context.Condition(lock)

    def semaphore(self, value: int) -> Any:
        return self._context.Semaphore(value)

    def storage(self, maxsize: int) -> SharedRing:
        if maxsize <= 0:
            raise ValueError(
                "a process buffer lives in shared memory of fixed size and needs a bound: pass "
                "maxsize > 0 (for an unbounded buffer between processes use the 'queue' variant)"
            )
        return SharedRing(self._context, maxsize, self.item_size)

    def state(self) -> Any:
        return self._context.RawValue(_StateFields)

    def queue(self, maxsize: int) -> ProcessQueue:
        return ProcessQueue(self._context, maxsize)

    def encode(self, item: Any) -> bytes:
        """Pickle ``item`` in the caller, checking that it fits a slot."""
        try:
            data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise ItemNotPicklable(
                f"cannot send a {type(item).__name__} to another process: it cannot be pickled "
                f"({exc}). Send plain data instead (numbers, strings, tuples, dicts, or instances "
                "of classes defined at module level); the buffer was not changed"
            ) from exc
        if len(data) > self.item_size:
            raise ItemTooLarge(
                f"a {type(item).__name__} that pickles to {len(data)} bytes does not fit this "
                f"buffer's item_size={self.item_size}; create the buffer with "
                f"item_size={len(data)} or more, or send smaller items; the buffer was not changed"
            )
        return data

    decode = staticmethod(pickle.loads)

    def recorder(self, level: Level, clock: Callable[[], float]) -> Recorder:
        self._folder = tempfile.mkdtemp(prefix="pcmodel-stats-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._folder, True)
        return _ProcessRecorder(level, clock, self._folder)

    def exports(self, recorder: Recorder) -> list[dict]:
        exports = [recorder.export()]
        if self._folder is None:
            return exports
        me = f"{os.getpid()}.pickle"
        try:
            names = sorted(os.listdir(self._folder))
        except FileNotFoundError:
            return exports
        for name in names:
            if name.endswith(".pickle") and name != me:
                with open(os.path.join(self._folder, name), "rb") as file:
                    exports.append(pickle.load(file))
        return exports

    def flush(self, recorder: Recorder) -> None:
        if os.getpid() != self._owner:
            recorder.publish()

    def reset_exports(self) -> None:
        if self._folder is not None:
            for name in os.listdir(self._folder):
                os.unlink(os.path.join(self._folder, name))

    def close(self) -> None:
        if self._cleanup is not None and os.getpid() == self._owner:
            self._cleanup()


class _QueueFields(ctypes.Structure):
    _fields_ = [("items", ctypes.c_int64), ("unfinished", ctypes.c_int64),
                ("shutdown", ctypes.c_int64)]


class ProcessQueue:
    """``multiprocessing.Queue`` with ``task_done``/``join`` and Python 3.13's ``shutdown``.

    The queue carries the items (its feeder thread writes them to a pipe; ``get`` reads them).
    ``multiprocessing.Queue`` cannot be woken by a shutdown while a caller blocks on it, so the
    bound and the item count are two semaphores of our own, ``_free`` and ``_ready``: a getter
    first takes a ``_ready`` permit (one per item whose ``put`` has returned) and only then reads
    the pipe, where that item is sure to arrive. Shutdown wakes blocked callers by a relay of
    tokens on those semaphores, as the semaphore variant does.
    """

    def __init__(self, context: Any, maxsize: int) -> None:
        self.maxsize = maxsize
        self._pipe = context.Queue()
        self._free = context.Semaphore(maxsize) if maxsize > 0 else None
        self._ready = context.Semaphore(0)
        self._lock = context.Lock()
        self._all_tasks_done = context.Condition(self._lock)
        self._counts = context.RawValue(_QueueFields)

    @property
    def is_shutdown(self) -> bool:
        return bool(self._counts.shutdown)

    def qsize(self) -> int:
        return self._counts.items

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        counts = self._counts
        if counts.shutdown:
            raise ShutDown("put() on a buffer that was shut down")
        if self._free is not None and not self._free.acquire(block, timeout):
            raise queue.Full
        with self._lock:
            if counts.shutdown:
                if self._free is not None:
                    self._free.release()  # relay the wake-up to the next blocked putter
                raise ShutDown("put() on a buffer that was shut down")
            self._pipe.put(item)
            counts.items += 1
            counts.unfinished += 1
        self._ready.release()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
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
            item = self._pipe.get()  # its put() has returned: it is in the pipe or on its way
        if self._free is not None:
            self._free.release()
        return item

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
                    self._pipe.get()
                    counts.items -= 1
                    counts.unfinished = max(0, counts.unfinished - 1)
                self._all_tasks_done.notify_all()
        if not already:
            self._ready.release()
            if self._free is not None:
                self._free.release()

    def close(self) -> None:
        """Stop the feeder thread of this process (after it has flushed what it holds)."""
        self._pipe.close()
        self._pipe.join_thread()

