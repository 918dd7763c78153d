"""The process backend: the same algorithms, with their state moved into shared memory.

Processes share no objects, so everything an algorithm touches is built for processes:

* primitives: the lock and condition of :mod:`pcmodel.buffers.robust` and the counting
  semaphore of :mod:`pcmodel.buffers.robust_semaphore`, built on ``multiprocessing``'s named
  semaphores; unlike ``multiprocessing.Lock`` and ``Condition`` they notice a peer that died
  holding part of the buffer, and then raise ``BufferBroken`` in every survivor instead of
  blocking for ever;
* storage: :class:`~pcmodel.buffers.ring.SharedRing`, variable-length records in a ring of
  shared memory. Items travel as pickles: a putter pickles *before* taking the lock (as
  ``multiprocessing.Queue`` does), so an unpicklable item raises in the caller and the buffer is
  untouched; a ``put_many`` run is pickled once, as one list; a getter unpickles after releasing
  the lock. A large pickle is copied into :class:`~pcmodel.buffers.arena.SharedArena`, beside
  the ring, before the lock is taken, and read from there after it is let go, so processes copy
  large items at the same time; an item of 128 KiB or more is pickled in pieces that share its
  large payloads, so its bytes are copied once. No item is too large: what does not fit the ring
  goes through a file of the buffer's private folder;
* scalar state: a ``ctypes`` structure in shared memory with the fields of ``SharedState``;
* the ``queue`` variant: :class:`~pcmodel.buffers.process_queue.ProcessQueue`,
  ``multiprocessing.Queue``'s design (a pipe and a feeder thread per process, each item pickled
  once) plus the accounting and shutdown it lacks.

Shared memory comes from ``multiprocessing.sharedctypes`` (``RawArray``/``RawValue``): it is
anonymous, so nothing is left in ``/dev/shm`` even if a process dies, and it is freed when the
last process holding the buffer lets go of it. Under ``spawn`` and ``forkserver`` the
semaphores have names in ``/dev/shm``, by which new processes open them: ``close()`` removes the
names (which makes the buffer unusable in the closing process, see ``Buffer.close``). A buffer
reaches children as an argument of ``Process(...)``, under ``fork`` and ``spawn`` alike (like
``multiprocessing.Lock``, it cannot be sent through a queue).

Per-actor statistics are kept in each process and reach the parent when the child exits (or
calls ``flush_stats()``) as a small file in the buffer's private folder, which ``close()`` (or
the creating process's exit) removes with everything in it.

What a dead peer does (a process SIGKILLed at any moment):

* **condition**: a process that dies holding the lock leaves the state unknowable: every
  survivor that then waits for the lock, for space or for items raises ``BufferBroken`` within
  about ``robust.SLICE`` seconds. One that dies while waiting (in ``get``, ``put`` or ``join``)
  harms nobody; one that dies just after letting go of the lock, before posting the wake-up it
  owes a sleeper, delays that sleeper by one or two slices.
* **semaphore**: the same for the mutex; and a process that dies between taking a permit and
  passing it on (a putter that took a free slot and had not yet stored its item, a getter that
  took an item's permit and had not yet freed its slot) makes the buffer broken too, since a slot
  or an item is lost for ever; so does one that dies holding a semaphore's stock lock (held for a
  few bytecodes while a run of permits is given or taken, or a waiter on it counted).
* **queue**: see :class:`~pcmodel.buffers.process_queue.ProcessQueue`.
* **the arena of large items** (condition and semaphore): a process that dies holding the
  arena's lock breaks the buffer, as for the buffer's lock; one that dies holding a block (after
  copying an item there and before storing its record, or after taking the record and before
  reading the block) costs that block's space for the buffer's lifetime: large items then
  travel through the ring once the arena has no room (see :mod:`pcmodel.buffers.arena`).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import shutil
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from multiprocessing import util as mp_util
from typing import Any

from pcmodel.buffers.arena import ARENA_FROM, Block, SharedArena
from pcmodel.buffers.backends import Backend, SharedState
from pcmodel.buffers.pickling import dumps_in_pieces, dumps_item, dumps_run, unpickling_error
from pcmodel.buffers.process_queue import ProcessQueue
from pcmodel.buffers.records import (
    CHUNK_BYTES,
    LIST,
    EncodedBatch,
    Taken,
    decode_piece,
    payload_for,
)
from pcmodel.buffers.ring import SharedRing, default_ring_size
from pcmodel.buffers.robust import (
    LOCK_SPIN,
    ROOMY_PERMIT_SPIN,
    ROOMY_WAIT_SPIN,
    SPIN,
    WAIT_SPIN,
    Health,
    RobustCondition,
    RobustLock,
)
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from pcmodel.buffers.spill import SpillFolder, ensure_folder, private_folder
from pcmodel.buffers.spinning import Spinner
from pcmodel.errors import SharedMemoryTooLarge
from pcmodel.instrument import Level, Recorder

__all__ = ["ProcessBackend"]

_dumps, _loads, _PROTOCOL = pickle.dumps, pickle.loads, pickle.HIGHEST_PROTOCOL
_sizeof = sys.getsizeof
# An item whose object is at least this large is pickled in pieces, its bytes copied once
# (measured for 1 MiB: 69 µs to pickle and copy into shared memory, against 648 µs through
# pickle.dumps; at 64 KiB the two are even, 4.9 and 4.8 µs, so smaller items keep pickle.dumps).
_PIECES_FROM = 128 << 10


# The most items a process buffer counts: its counts and permits are 64-bit shared integers
# (ctypes would wrap a larger bound round to a negative one without a word, and puts block).
_MAX_ITEMS = (1 << 63) - 1


class _StateFields(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in SharedState.__slots__]


class _NamingContext:
    """A multiprocessing context that keeps the semaphores it makes, so that ``close()`` can
    take their names out of ``/dev/shm``.

    Under ``spawn`` and ``forkserver`` a semaphore keeps a name there, by which a new process
    opens it, until it is garbage collected (or the resource tracker finds it at exit); under
    ``fork`` it has none. Everything else is the wrapped context's.
    """

    def __init__(self, context: Any) -> None:
        self._context = context
        self._semaphores: list = []

    def __getattr__(self, name: str) -> Any:
        if name == "_context":  # not set yet (a copy being built): not the context's to answer
            raise AttributeError(name)
        return getattr(self._context, name)

    def Lock(self) -> Any:  # noqa: N802 - the multiprocessing context's names
        return self._keep(self._context.Lock())

    def Semaphore(self, value: int = 1) -> Any:  # noqa: N802
        return self._keep(self._context.Semaphore(value))

    def _keep(self, semaphore: Any) -> Any:
        self._semaphores.append(semaphore)
        return semaphore

    def unlink(self) -> None:
        """Remove the names of the semaphores made so far. Processes that opened them keep
        them; no new process can open them any more."""
        semaphores, self._semaphores = self._semaphores, []
        for semaphore in semaphores:
            # The finalizer multiprocessing registered for the name: called now, it unlinks
            # the name and tells the resource tracker, once (the collection then does nothing).
            for ref in weakref.getweakrefs(semaphore):
                if isinstance(ref.__callback__, mp_util.Finalize):
                    try:
                        ref.__callback__()
                    except OSError:  # gone already: nothing to remove
                        pass


def process_actor_name() -> str:
    """``process`` for a process's main thread, ``process/thread`` for its other threads."""
    thread = threading.current_thread()
    process = multiprocessing.current_process().name
    return process if thread is threading.main_thread() else f"{process}/{thread.name}"


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
            ensure_folder(self.folder)
            with open(path + ".tmp", "wb") as file:
                pickle.dump(self.export(), file)
            os.replace(path + ".tmp", path)
        except FileNotFoundError:
            pass  # the owner closed the buffer already: nobody is left to read these numbers


class ProcessBackend(Backend):
    """Processes: robust primitives, a shared-memory ring of pickles and an arena for large
    ones, private files.

    ``ring_size`` is the ring's size in bytes (default :func:`~pcmodel.buffers.ring.
    default_ring_size`: 64 KiB per item of ``maxsize``, between 8 MiB and 64 MiB), and the
    arena of large items has as many; items whose pickle is larger than a quarter of it travel
    through a file instead. Shared memory costs only the pages written.
    """

    name = "process"
    # close() lets go of shared memory and files: the buffer is unusable afterwards (see Buffer).
    holds_resources = True
    # Every microsecond of a critical section is one that the processes on the other core spin
    # or sleep for: a wait's record (a clock read and a tally) comes after the release
    # (measured, capacity 1, 4x4: counters 0.5-0.75x of off when recorded under the lock,
    # 0.9-1.1x after).
    records_waits_unlocked = True

    def __init__(self, context: Any = None, ring_size: int | None = None,
                 item_size: Any = None) -> None:
        if item_size is not None:
            raise TypeError("item_size= is gone: process buffers take items of any size. "
                            "ring_size= sets the bytes of shared memory items travel through")
        if ring_size is not None and (isinstance(ring_size, bool)
                                      or not isinstance(ring_size, int) or ring_size < 1):
            raise ValueError(f"ring_size must be a positive number of bytes, not {ring_size!r}")
        if context is None:
            context = multiprocessing.get_context()
        if not hasattr(context, "get_start_method"):
            raise TypeError(f"context must be a multiprocessing context, not {context!r}; "
                            "use multiprocessing.get_context('spawn') or similar")
        self._context = _NamingContext(context)
        context = self._context
        self.ring_size = ring_size
        self._owner = os.getpid()
        # Spilled items and children's statistics go to a folder that exists only once
        # something is written there (creating and removing a folder per buffer is slow on a
        # busy disk); it goes with close(), or with this process's private folder at exit.
        self._folder = private_folder()
        self._cleanup: weakref.finalize | None = weakref.finalize(
            self, shutil.rmtree, self._folder, True)
        self._spill = SpillFolder(self._folder)
        self._spill_over = 0
        self._arena: SharedArena | None = None
        self._chunk_items = 1
        self._hand_overs = False  # capacity 1: see storage()
        self._health = Health(context)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_context"] = self._context.get_start_method()
        state["_cleanup"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        state["_context"] = multiprocessing.get_context(state["_context"])
        self.__dict__.update(state)

    @property
    def broken(self) -> bool:
        """True once a process died holding part of this buffer (see the module)."""
        return self._health.broken

    def lock(self) -> RobustLock:
        # Spin as long as the holders' copies have lately needed, never less than SPIN tries: a
        # miss does not take the spin below the short fixed one (which a holder that is not
        # running costs), so small items lose nothing. At capacity 1, see storage().
        spinner = (Spinner(WAIT_SPIN) if self._hand_overs
                   else Spinner(LOCK_SPIN, least=SPIN))
        return RobustLock(self._context, self._health, spinner)

    def condition(self, lock: Any) -> RobustCondition:
        return RobustCondition(self._context, lock, self._health,
                               WAIT_SPIN if self._hand_overs else ROOMY_WAIT_SPIN)

    def semaphore(self, value: int) -> RobustSemaphore:
        return RobustSemaphore(self._context, value, self._health,
                               WAIT_SPIN if self._hand_overs else ROOMY_PERMIT_SPIN)

    # The semaphore's own methods, called as ``backend.release(semaphore, n)``: the same call
    # without a forwarding frame, on a path every put_many and get_many takes twice.
    # acquire_soon busy-waits a little: the peer is often on the other core, µs away.
    release = staticmethod(RobustSemaphore.release)
    acquire_up_to = staticmethod(RobustSemaphore.acquire_up_to)
    acquire_soon = staticmethod(RobustSemaphore.acquire_soon)
    busy_waits = True

    def acquire_waiting(self, semaphore: RobustSemaphore, wanted: int,
                        timeout: float | None) -> int:
        # In one go: a sleeper woken by a run of permits takes its share before it passes the
        # wake-up on to the next sleeper (see RobustSemaphore).
        return semaphore.acquire_up_to(wanted, True, timeout)

    # Whole records at once: a put_many run stays one pickle. The ring's own method, called
    # as ``backend.popmany(ring, n)``, without a forwarding frame.
    popmany = staticmethod(SharedRing.popmany)

    def storage(self, maxsize: int) -> SharedRing:
        if maxsize <= 0:
            raise ValueError(
                "a process buffer lives in shared memory of fixed size and needs a bound: pass "
                "maxsize > 0 (for an unbounded buffer between processes use the 'queue' variant)"
            )
        _check_bound(maxsize)
        size = self.ring_size if self.ring_size is not None else default_ring_size(maxsize)
        try:
            self._arena = SharedArena(self._context, size, self._health)
            ring = SharedRing(self._context, maxsize, size, self._spill, self._arena)
        except (OverflowError, OSError, MemoryError) as exc:
            given = "" if self.ring_size is None else f" and ring_size={self.ring_size}"
            reason = ("out of memory" if isinstance(exc, MemoryError)
                      else (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc))
            raise SharedMemoryTooLarge(
                f"cannot have 2 x {size} bytes of shared memory (ring and arena) for "
                f"maxsize={maxsize}{given} ({reason}); pass a smaller maxsize or ring_size",
                reason) from None
        self.ring_size = size
        self._spill_over = size // 4
        # A run of put_many is pickled in lists of at most half the capacity, so that runs
        # stored as space frees up rarely cut a list in two.
        self._chunk_items = max(1, maxsize // 2)
        # At capacity 1 every item is a hand-over: a producer cannot put its next item until
        # the consumer, if it slept, has woken. Spinning longest for a wake-up or a permit pays
        # there (measured, 8 B and 1 KiB: 1x1 3.2x to 4.9x the items per second, 4x4 1.0x to
        # 3.3x), and so does a longer spin on the lock, which each side holds while it copies
        # the item (64 KiB: 1.3x to 1.9x). With room for more items only batches larger than
        # the room wait often, so the waits spin less (see ROOMY_WAIT_SPIN and
        # ROOMY_PERMIT_SPIN); and a lock spin that learns down to nothing lost (8 B, 4x4: 0.6x
        # to 1.0x), so there the lock's spin only learns how much longer than SPIN to try (see
        # lock()).
        self._hand_overs = maxsize == 1
        return ring

    def state(self) -> Any:
        return self._context.RawValue(_StateFields)

    def queue(self, maxsize: int) -> ProcessQueue:
        _check_bound(maxsize)
        return ProcessQueue(self._context, maxsize, self._health)

    def encode(self, item: Any) -> Any:
        """Pickle ``item`` in the caller: a large pickle goes into a block of the arena, one
        larger than a quarter ring into a file."""
        try:
            large = _sizeof(item) >= _PIECES_FROM
        except Exception:  # noqa: BLE001 - a broken __sizeof__: pickle it the usual way
            large = False
        if large:
            data = dumps_in_pieces(item)
        else:
            try:
                data = _dumps(item, _PROTOCOL)
            except Exception:
                data = dumps_item(item)  # raises ItemNotPicklable, naming the item's type
        length = len(data)
        if length < ARENA_FROM and length <= self._spill_over:
            return data  # payload_for's common case, decided here: no call per small put
        return payload_for(data, self._spill_over, self._spill, self._arena)

    def encode_batch(self, items: Iterable[Any]) -> EncodedBatch:
        """Pickle a ``put_many`` batch in the caller: one pickle per run of items."""
        # A list is pickled as it is (a subclass would come out as the subclass).
        run = items if type(items) is list else list(items)
        count = len(run)
        # The common case, decided here: a batch of small items is one run, one pickle, in
        # the ring. Its first item's size says whether it may be (the run's pickle, once made,
        # says whether it was: items that hold large objects go the general way after all).
        if 1 < count <= self._chunk_items:
            try:
                size = _sizeof(run[0])
                small = size < ARENA_FROM and size * count <= CHUNK_BYTES
            except Exception:  # noqa: BLE001 - a broken __sizeof__: the general way
                small = False
            if small:
                try:
                    data = _dumps(run, _PROTOCOL)
                except Exception:
                    data = dumps_run(run)  # raises ItemNotPicklable, naming the item
                # (Items for the arena, averaging ARENA_FROM bytes or more, travel alone.)
                if (len(data) <= CHUNK_BYTES and len(data) < count * ARENA_FROM
                        and len(data) <= self._spill_over):
                    return EncodedBatch([(data, LIST, 0, count)], count)
        return EncodedBatch.encode(run, self._chunk_items, self._spill_over, self._spill,
                                   dumps_run, self._arena)

    def decode(self, piece: Any) -> Any:
        """The item of a piece taken by ``popleft()``; ItemNotUnpicklable if it cannot be."""
        try:
            if type(piece) is bytes or type(piece) is memoryview:  # a plain item
                return _loads(piece)
            if type(piece) is Block:
                return piece.read(_loads)
            return decode_piece(piece)[0]
        except Exception as exc:
            raise unpickling_error(exc, [], 1, 1) from exc

    def decode_many(self, taken: Taken) -> list:
        """Every item of what ``popmany()`` took, in order.

        A piece that cannot be unpickled does not cost the others: they are decoded, and
        ItemNotUnpicklable carries them (``.items``) with the count of those lost (``.failed``).
        """
        pieces = taken.pieces
        if len(pieces) == 1 and type(pieces[0]) is tuple and pieces[0][0] == LIST:
            # The common case: one whole run, one pickle (see SharedRing.popmany).
            _kind, data, first, count = pieces[0]
            if type(data) is bytes:
                try:
                    run = _loads(data)
                except Exception as exc:
                    raise unpickling_error(exc, [], count, count) from exc
                return run if first == 0 and count == len(run) else run[first:first + count]
        items: list = []
        failed = 0
        first_error: Exception | None = None
        for piece in pieces:
            try:
                decoded = decode_piece(piece)
            except Exception as exc:  # noqa: BLE001 - reported below, with the good items
                failed += piece[3] if type(piece) is tuple else 1
                first_error = first_error or exc
                continue
            if items:
                items.extend(decoded)
            else:
                items = decoded  # a new list: the first record's, often the only one
        if first_error is not None:
            raise unpickling_error(first_error, items, failed, len(taken)) from first_error
        return items

    def recorder(self, level: Level, clock: Callable[[], float]) -> Recorder:
        return _ProcessRecorder(level, clock, self._folder)

    def exports(self, recorder: Recorder) -> list[dict]:
        exports = [recorder.export()]
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
        try:
            names = os.listdir(self._folder)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".pickle"):
                os.unlink(os.path.join(self._folder, name))

    def close(self) -> None:
        if self._cleanup is not None and os.getpid() == self._owner:
            self._cleanup()
            self._context.unlink()


def _check_bound(maxsize: int) -> None:
    if maxsize > _MAX_ITEMS:
        raise ValueError(f"maxsize={maxsize} is more than a process buffer can count: pass at "
                         f"most {_MAX_ITEMS} (2**63 - 1), or 0 for an unbounded 'queue' variant")
