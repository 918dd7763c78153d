"""Counting semaphores and a mutex: Dijkstra's bounded buffer.

``_empty_slots`` counts free places and ``_full_slots`` counts items. A putter takes a free place
(waiting if there is none), stores its item under the mutex, and announces one more item; a
getter does the mirror image. The order matters: wait on the *counting* semaphore first and take
the mutex second. The other way round, a putter holding the mutex while it waits for space keeps
every getter out, and the buffer deadlocks (one of the bugs in the exercises' zoo).

Shutdown has no counterpart in the textbook, and semaphores cannot be "notified all". It works
as a relay: ``shutdown()`` releases each semaphore once; whoever wakes on that token finds the
buffer shut down (and, for a getter, empty), releases the semaphore again for the next waiter, and
raises ``ShutDown``. So every blocked actor wakes, one after another, and every later call finds
the token at once.

Invariants (between operations, before shutdown): ``_empty_slots + _full_slots == maxsize`` and
``_full_slots == len(_items)``; ``_items`` is only touched with ``_mutex`` held.

What a Ctrl-C does (Python raises ``KeyboardInterrupt`` between two steps of the main thread,
and a notebook may catch it and go on). Each operation keeps track of the permit it owes and
pays it in a ``finally``: a put gives back its free slot until its item is in, and announces the
item once it is; a get gives back the item's permit until it has taken the item, and frees the
slot once it has (the item is then lost to the caller, as with ``queue.Queue.get``; its task
stays unfinished for ``join()``). The storage changes all at once (see :mod:`pcmodel.buffers.
condition`), and so does a ``put_many`` run. The window left: the instant between a semaphore
handing this caller a permit and the call returning it to the algorithm (just after the
semaphore's call returns, where Python looks for signals), which the caller cannot see: that
permit is lost (a put's slot: the buffer holds one item fewer from then on; a get's: an item
stays that no getter is told of until the next put), as is one in a semaphore's own code on a
path that does not sleep (a release interrupted at its entry, say). Closing those would take
blocking signals around every acquire, a system call each. A waiter woken and interrupted on
its way back gives back the permits it took and is counted out; the semaphore hands them to
the next sleeper. A ``get_many`` that took fewer items than permits
(a run's end, shutdown tokens) hands the rest back in a second call, which a Ctrl-C after the
first may skip. An interrupted ``shutdown()`` called again relays its wake-ups again.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable
from typing import Any

from pcmodel.buffers.backends import Backend
from pcmodel.buffers.base import (
    BatchFull,
    Buffer,
    TaskAccounting,
    batch_shut_down,
    shut_down_error,
)
from pcmodel.buffers.timeouts import check_timeout
from pcmodel.instrument import WAITING_FOR_ITEMS, WAITING_FOR_SPACE, ActorState

__all__ = ["SemaphoreBuffer"]


class SemaphoreBuffer(TaskAccounting, Buffer):
    """Bounded FIFO buffer built from two counting semaphores and a mutex.

    ``put`` blocks while there is no free slot, ``get`` while there is no item (each up to
    ``timeout`` seconds, then ``queue.Full`` / ``queue.Empty``); ``ShutDown`` after
    ``shutdown()``. Items come out in the order they were stored.
    """

    variant = "semaphore"

    def _setup(self, backend: Backend, maxsize: int) -> None:
        self._items = backend.storage(maxsize)
        self._popmany = backend.popmany
        self._mutex = backend.lock()
        self._empty_slots = backend.semaphore(maxsize) if maxsize > 0 else None
        self._full_slots = backend.semaphore(0)
        self._all_tasks_done = backend.condition(self._mutex)
        self._release = backend.release
        self._acquire_more = backend.acquire_up_to
        self._acquire_soon = backend.acquire_soon if backend.busy_waits else None
        self._acquire_waiting = backend.acquire_waiting
        # Where the actors blocked on each semaphore are counted, for observers (``waiting``,
        # ``repr``). The thread backend's own semaphores count their sleepers themselves, and
        # ``waiting`` asks them: no lock here, two holds of the mutex fewer per wait, on the
        # way a waker takes to its own sleep at capacity 1 (see pcmodel.buffers.run_semaphore:
        # 26 us per item against 31). Else under a lock that every waiter on that semaphore
        # takes. A process semaphore offers its own, held for a few bytecodes; the buffer's
        # mutex would do, but between processes it is held while a batch is copied into or
        # out of shared memory, and a waiter would queue behind those copies twice per wait
        # only to be counted.
        self._semaphores_count_sleepers = backend.semaphores_count_sleepers
        if self._semaphores_count_sleepers:
            self._space_waiters_lock = self._item_waiters_lock = None
        else:
            self._space_waiters_lock = getattr(self._empty_slots, "waiters_lock", self._mutex)
            self._item_waiters_lock = getattr(self._full_slots, "waiters_lock", self._mutex)

    def _size(self) -> int:
        with self._mutex:
            return len(self._items)

    @property
    def waiting(self) -> tuple[int, int]:
        """``(putters, getters)`` blocked in this buffer now: for observers and tests."""
        if not self._semaphores_count_sleepers:
            return super().waiting
        space = self._empty_slots
        return (0 if space is None else space.sleeping), self._full_slots.sleeping

    # -- one item -------------------------------------------------------------------------

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put ``item`` at the tail, waiting for a free slot if there is none.

        Raises ``queue.Full`` if no slot came within ``timeout`` (or at once when
        ``block=False``), ``ShutDown`` if the buffer is or gets shut down.
        """
        if block and timeout is not None:  # None, the common case, costs no call
            check_timeout(block, timeout)
        if self._encode is not None:
            item = self._encode(item)
        state = self._state
        if state.shutdown:
            raise shut_down_error("put")
        empty_slots = self._empty_slots
        if (
            empty_slots is not None
            and not empty_slots.acquire(False)
            and (not block or not self._wait(empty_slots, WAITING_FOR_SPACE, timeout))
        ):
            raise queue.Full
        # The permit this put owes: the free slot it took, given back until its item is in;
        # then one more item, announced. Paid in ``finally``, so that an exception (a Ctrl-C's
        # KeyboardInterrupt, between any two steps) leaves the permits matching the items.
        owed = empty_slots
        try:
            with self._mutex:
                if state.shutdown:
                    raise shut_down_error("put")  # the slot relays the wake-up
                items = self._items
                depth = len(items)
                unfinished = state.unfinished + 1
                try:
                    items.append(item)
                    state.unfinished = unfinished
                    owed = self._full_slots
                except BaseException:
                    if len(items) > depth:  # it went in, then the exception came: count it
                        state.unfinished = unfinished
                        owed = self._full_slots
                    raise
                if self._on_put is not None and depth >= state.report_above:
                    self._on_put(state, 1, depth + 1)
        finally:
            if owed is not None:
                owed.release()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the item at the head, waiting for one if there is none.

        Raises ``queue.Empty`` if none came within ``timeout`` (or at once when ``block=False``),
        ``ShutDown`` once the buffer is shut down and empty.
        """
        if block and timeout is not None:  # None, the common case, costs no call
            check_timeout(block, timeout)
        full_slots = self._full_slots
        if not full_slots.acquire(False) and (
            not block or not self._wait(full_slots, WAITING_FOR_ITEMS, timeout)
        ):
            if self._state.shutdown and not self._size():
                raise shut_down_error("get")
            raise queue.Empty
        # The permit this get owes (see put): the item's, given back until it takes the item;
        # then the slot it freed. An item taken and then interrupted is lost to this caller, as
        # with queue.Queue.get (see the module).
        owed = full_slots
        try:
            with self._mutex:
                items = self._items
                depth = len(items)
                if not depth:
                    raise shut_down_error("get")  # a shutdown token, not an item: relayed
                try:
                    item = items.popleft()
                    owed = self._empty_slots
                except BaseException:
                    if len(items) < depth:  # taken, then the exception came
                        owed = self._empty_slots
                    raise
                if self._on_get is not None:
                    self._on_get(self._state, 1, depth - 1)
        finally:
            if owed is not None:
                owed.release()
        return item if self._decode is None else self._decode(item)

    # -- batches --------------------------------------------------------------------------

    def put_many(self, items: Iterable[Any], timeout: float | None = None, *,
                 block: bool = True) -> None:
        """Put every item of ``items``, in order, storing each run of free slots under one mutex
        hold.

        Items are encoded first, so a bad item raises before anything changes. Waits for a free
        slot whenever there is none (up to ``timeout`` for the whole batch); if time runs out it
        raises :class:`BatchFull` whose ``items_put`` says how many, from the start, went in; a
        ``ShutDown`` raised part-way carries the same ``items_put``.
        """
        if block and timeout is not None:  # None, the common case, costs no call
            check_timeout(block, timeout)
        batch = self._encode_all(items)
        deadline = None if timeout is None else time.monotonic() + timeout
        state = self._state
        done, total = 0, len(batch)
        empty_slots = self._empty_slots
        while done < total:
            if state.shutdown:
                raise batch_shut_down(done, total)
            granted = total - done
            if empty_slots is not None:
                # As many free slots as there are now, up to the rest of the batch; if none,
                # wait for one (then take what else is free).
                granted = (self._acquire_more(empty_slots, total - done)
                           or self._wait_up_to(empty_slots, total - done, block, deadline,
                                               WAITING_FOR_SPACE))
                if not granted:
                    raise BatchFull(done, total)
            owed = empty_slots  # the permits this run owes, as in put()
            try:
                with self._mutex:
                    if state.shutdown:
                        raise batch_shut_down(done, total)  # the slots relay the wake-up
                    items = self._items
                    depth = len(items)
                    unfinished = state.unfinished + granted
                    try:
                        # The run goes in whole or not at all (the storage's extend promises it).
                        items.extend(batch if granted == total else batch[done:done + granted])
                        state.unfinished = unfinished
                        owed = self._full_slots
                    except BaseException:
                        if len(items) > depth:  # it went in, then the exception came (see put)
                            state.unfinished = unfinished
                            owed = self._full_slots
                        raise
                    if self._on_put is not None and depth + granted > state.report_above:
                        self._on_put(state, granted, depth + granted)
            finally:
                if owed is not None:
                    self._release(owed, granted)
            done += granted

    def get_many(self, max_items: int, timeout: float | None = None, *,
                 block: bool = True) -> list:
        """Remove and return up to ``max_items`` items (at least one), in order.

        Waits only for the first item (up to ``timeout``; ``queue.Empty`` after it, or at once
        when ``block=False``); then takes whatever else is there (between processes, up to the
        end of a ``put_many`` run rather than into the next: see ``SharedRing.popmany``).
        ``ShutDown`` once shut down and empty.
        """
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ValueError(f"max_items must be a positive int, not {max_items!r}")
        if block and timeout is not None:  # None, the common case, costs no call
            check_timeout(block, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        full_slots = self._full_slots
        granted = (self._acquire_more(full_slots, max_items)
                   or self._wait_up_to(full_slots, max_items, block, deadline,
                                       WAITING_FOR_ITEMS))
        if not granted:
            if self._state.shutdown and not self._size():
                raise shut_down_error("get_many")
            raise queue.Empty
        count = 0  # items taken (those an exception makes this caller lose too: see get)
        try:
            with self._mutex:
                items = self._items
                depth = len(items)
                try:
                    taken = self._popmany(items, min(granted, depth))
                    count = len(taken)
                except BaseException:
                    count = depth - len(items)
                    raise
                if count and self._on_get is not None:
                    self._on_get(self._state, count, depth - count)
        finally:
            # Every permit taken is handed on, whatever stopped the call: a freed slot per item
            # taken, and the rest go back (items left, see popmany, or shutdown tokens).
            if count and self._empty_slots is not None:
                self._release(self._empty_slots, count)
            if count < granted:
                self._release(full_slots, granted - count)
        if not count:
            raise shut_down_error("get_many")
        return self._decode_all(taken)

    # -- shutdown -------------------------------------------------------------------------

    def shutdown(self, immediate: bool = False) -> None:
        """Shut down, as ``queue.Queue.shutdown`` does in Python 3.13.

        Afterwards every ``put`` raises ``ShutDown`` (blocked putters are woken, one after the
        other, to raise it); ``get`` returns what is left and then raises ``ShutDown``. With
        ``immediate=True`` what is left is discarded and counted as done for ``join()``.
        """
        state = self._state
        try:
            with self._mutex:
                state.shutdown = 1
                if immediate:
                    self._discard_all()
        finally:
            # One relay token per semaphore wakes every waiter, even if a Ctrl-C came while
            # discarding. Called again (as after a Ctrl-C that cut the relay short), it relays
            # again: once shut down, a token more is harmless (whoever takes it passes it on).
            if state.shutdown:
                self._full_slots.release()
                if self._empty_slots is not None:
                    self._empty_slots.release()

    # -- waiting --------------------------------------------------------------------------

    def _wait(self, semaphore: Any, waiting: ActorState, timeout: float | None,
              wanted: int = 1) -> int:
        """Block on ``semaphore`` (its fast, non-blocking try already failed) until a permit
        comes, then take up to ``wanted - 1`` more that are free; how many were taken, 0 on
        timeout. Left by an exception, it gives back the permits it took (and is counted out).

        The waiting count is kept only for observers (``waiting``, ``repr``, the scheduler).
        """
        state = self._state
        counting = (self._space_waiters_lock if waiting is WAITING_FOR_SPACE
                    else self._item_waiters_lock)
        started = self._clock() if self._rec is not None else None
        taken = 0  # the permits this wait took, given back if an exception follows
        counted = False  # a Ctrl-C may come before or after the count (see the module)
        try:
            # Between processes the permit often comes within microseconds, from a peer on
            # the other core: the backend busy-waits for it a little, so that this actor is
            # counted as waiting (two holds of a lock) only when it is about to sleep.
            if self._acquire_soon is not None and self._acquire_soon(semaphore):
                taken = 1
                if wanted > 1:
                    taken += self._acquire_more(semaphore, wanted - 1)
            elif counting is None:  # the semaphore counts this sleeper itself (see _setup)
                taken = self._acquire_waiting(semaphore, wanted, timeout)
            else:
                with counting:
                    if waiting is WAITING_FOR_SPACE:
                        state.waiting_put += 1
                    else:
                        state.waiting_get += 1
                    counted = True
                taken = self._acquire_waiting(semaphore, wanted, timeout)
                with counting:
                    if waiting is WAITING_FOR_SPACE:
                        state.waiting_put -= 1
                    else:
                        state.waiting_get -= 1
                    counted = False
            if started is not None:
                started, since = None, started
                self._wait_ended(waiting, since)
        except BaseException:
            # Leaving by an exception (a Ctrl-C between any two steps): counted out, and the
            # permits taken go back to the semaphore, which passes on their wake-up.
            if counted:
                with counting:
                    if waiting is WAITING_FOR_SPACE:
                        state.waiting_put -= 1
                    else:
                        state.waiting_get -= 1
            if taken:
                self._release(semaphore, taken)
            if started is not None:
                self._wait_ended(waiting, started)
            raise
        return taken

    def _wait_up_to(self, semaphore: Any, wanted: int, block: bool, deadline: float | None,
                    waiting: ActorState) -> int:
        """No permit was free: wait for one (as allowed), then take up to ``wanted - 1`` more
        that are free by then.

        Returns how many were taken: 0 means none came in time.
        """
        if not block:
            return 0
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self._wait(semaphore, waiting, timeout, wanted)
