"""The monitor: one lock, two condition variables, a ``while`` loop around every ``wait()``.

This is the bounded buffer of Hoare's and Brinch Hansen's monitors as Python writes it (compare
CPython's ``Lib/queue.py``). The locking protocol:

* ``_mutex`` guards ``_items`` and ``_state``; nothing reads or writes them without it.
* ``_not_full`` is waited on by putters until there is space, ``_not_empty`` by getters until
  there is an item, ``_all_tasks_done`` by ``join()`` until every item is done. All three share
  ``_mutex``, so the predicate is re-checked under the same lock that changes it.
* Every ``wait()`` sits in a ``while predicate`` loop: a woken waiter may find the slot taken
  again by a thread that barged in, or be woken by ``shutdown()``.
* A putter notifies ``_not_empty`` only if some getter waits (and vice versa): the count of
  waiters is kept under the lock, so no wake-up is lost, and the common uncontended case skips a
  ``notify()`` that would find nobody.
* Only a change that can end a wait wakes a waiter, and only one, a batch too: a put into an
  *empty* buffer notifies one getter, a get from a *full* one one putter. A woken waiter passes
  the wake-up on: a getter that was woken and leaves items behind while others wait notifies the
  next (and a woken putter that leaves space). No wake-up is lost: while there are items and a
  getter sleeps, a getter woken for them is on its way to the lock, and passes the wake-up on if
  it leaves some. Java's ``LinkedBlockingQueue`` does the same (``signalNotEmpty`` only when the
  queue was empty, then "cascading" signals from ``take``). A waiter that leaves by an exception
  (an interrupt) passes on the wake-up it may have taken.
  Why not one notify per change: under the GIL a woken thread cannot run before its waker
  blocks, so a burst of puts woke one sleeper per put, some to find that the first woken had
  taken everything, each a context switch; and while the woken one was on its way it was still
  counted as waiting, so puts and gets called ``notify()`` for nobody (threads, capacity 1024,
  4x4, batches of 100: 2.1 such calls per batch, against 0.05 this way). Waking one sleeper per
  item of a batch was worse still.
* With instrumentation on, a wait's record (a clock read and the actor's tally) needs no lock.
  Between processes it is made once the call has let go of the lock: at capacity 1 with
  several producers and consumers nearly every call waits, and every microsecond spent holding
  the lock is one that all the others wait for. Between threads it is made at once, under the
  lock, where under the GIL it delays nobody (``Backend.records_waits_unlocked``).

Invariants (with the lock held): ``0 <= len(_items) <= maxsize`` for a bounded buffer;
``_state.unfinished >= 0``; once ``_state.shutdown`` is set it stays set and no item is added.

What a Ctrl-C does. Python raises ``KeyboardInterrupt`` between two steps of the main thread,
wherever it is, and a notebook or a command that catches it may go on using the buffer while
other threads or processes do. The buffer stays whole: the lock is let go (``with``), the
storage changes all at once or not at all (``SharedRing`` publishes each change with one
store; a ``deque``'s methods are single steps), and the few steps after a change that belong
with it are finished before the exception goes on (``try``/``except BaseException``, which costs
nothing until it catches). So an interrupted ``put`` stored its item, counted for ``join()`` and
with a sleeping getter woken, or did not store it; ``put_many`` stored the first runs of its
batch (how many, the caller cannot tell, as with ``put``); ``shutdown(immediate=True)`` discards
the items and counts them done together. An item that ``get`` (or ``get_many``) took and was
interrupted before returning is lost to the caller, as with ``queue.Queue.get``: it counts as
taken, its task stays unfinished (``join()`` waits for a ``task_done()`` for it), and its slot
is free. Left open: what the ``threading`` module's own code does when interrupted (a
``Condition.notify`` cut short wakes nobody; the next change wakes a sleeper).
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
from pcmodel.errors import BufferBroken, ShutDown
from pcmodel.instrument import WAITING_FOR_ITEMS, WAITING_FOR_SPACE

__all__ = ["ConditionBuffer"]


class ConditionBuffer(TaskAccounting, Buffer):
    """Bounded FIFO buffer built as a monitor (``Lock`` + two ``Condition`` variables).

    ``put`` blocks while the buffer is full, ``get`` while it is empty (each up to ``timeout``
    seconds, then ``queue.Full`` / ``queue.Empty``); ``ShutDown`` after ``shutdown()``.
    Items come out in the order they went in.
    """

    variant = "condition"

    def _setup(self, backend: Backend, maxsize: int) -> None:
        self._items = backend.storage(maxsize)
        self._popmany = backend.popmany
        self._mutex = backend.lock()
        self._not_full = backend.condition(self._mutex)
        self._not_empty = backend.condition(self._mutex)
        self._all_tasks_done = backend.condition(self._mutex)
        self._records_waits_unlocked = backend.records_waits_unlocked

    def _size(self) -> int:
        with self._mutex:
            return len(self._items)

    # -- one item -------------------------------------------------------------------------

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put ``item`` at the tail, waiting for space if the buffer is full.

        Raises ``queue.Full`` if no space came within ``timeout`` (or at once when
        ``block=False``), ``ShutDown`` if the buffer is or gets shut down while waiting.
        """
        if block and timeout is not None:  # None, the common case, costs no call
            check_timeout(block, timeout)
        if self._encode is not None:
            item = self._encode(item)
        waited_since = None
        with self._mutex:
            state = self._state
            if state.shutdown:
                raise shut_down_error("put")
            items = self._items
            depth = len(items)
            woken = 0 < self.maxsize <= depth  # full: this call waits to be woken
            if woken:
                if not block:
                    raise queue.Full
                try:
                    waited_since = self._wait_for_space(timeout)
                    depth = len(items)
                except BaseException as exc:  # from the wait, or a Ctrl-C just after it
                    self._pass_on_space(exc)
                    raise
            unfinished = state.unfinished + 1
            try:
                items.append(item)
                state.unfinished = unfinished
                if state.waiting_get and depth == 0:
                    self._not_empty.notify()  # the first item: a getter may sleep (see the module)
                if woken and state.waiting_put and depth + 1 < self.maxsize:
                    self._not_full.notify()  # pass the wake-up on: there is space left
            except BaseException:  # a Ctrl-C (KeyboardInterrupt) between any two steps
                self._finish_interrupted_put(depth, unfinished, woken)
                raise
            if self._on_put is not None and depth + 1 > state.report_above:
                self._on_put(state, 1, depth + 1)
        if waited_since is not None:  # recorded with the lock let go (see the module)
            self._wait_ended(WAITING_FOR_SPACE, waited_since)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the item at the head, waiting for one if the buffer is empty.

        Raises ``queue.Empty`` if none came within ``timeout`` (or at once when ``block=False``),
        ``ShutDown`` once the buffer is shut down and empty.
        """
        if block and timeout is not None:  # None, the common case, costs no call
            check_timeout(block, timeout)
        waited_since = None
        with self._mutex:
            items = self._items
            woken = not items  # empty: this call waits to be woken
            if woken:
                if self._state.shutdown:
                    raise shut_down_error("get")
                if not block:
                    raise queue.Empty
                try:
                    waited_since = self._wait_for_items(timeout)
                except BaseException as exc:  # from the wait, or a Ctrl-C just after it
                    self._pass_on_items(exc)
                    raise
            try:
                item = items.popleft()
                if self._state.waiting_put and len(items) == self.maxsize - 1:
                    self._not_full.notify()  # the first free slot: a putter may sleep
                if woken and items and self._state.waiting_get:
                    self._not_empty.notify()  # pass the wake-up on: there are items left
            except BaseException:  # a Ctrl-C: the item may be taken already (see the module)
                self._wake_after_interrupted_get(woken)
                raise
            if self._on_get is not None:
                self._on_get(self._state, 1, len(items))
        if waited_since is not None:
            self._wait_ended(WAITING_FOR_ITEMS, waited_since)
        return item if self._decode is None else self._decode(item)

    # -- batches --------------------------------------------------------------------------

    def put_many(self, items: Iterable[Any], timeout: float | None = None, *,
                 block: bool = True) -> None:
        """Put every item of ``items``, in order, holding the lock once per run of free space.

        All items are encoded first, so an item that cannot be stored raises before anything
        changes. While the buffer is full the call waits (up to ``timeout`` for the whole batch);
        if time runs out it raises :class:`BatchFull` whose ``items_put`` says how many of the
        batch, from its start, are in the buffer; a ``ShutDown`` raised part-way carries the same
        ``items_put``. Another putter's items never interleave within a run stored under one lock
        hold, but may between runs.
        """
        if block and timeout is not None:  # None, the common case, costs no call
            check_timeout(block, timeout)
        batch = self._encode_all(items)
        deadline = None if timeout is None else time.monotonic() + timeout
        done, total = 0, len(batch)
        state = self._state
        buffered = self._items
        while done < total:
            # One lock hold per run: let go between runs, so that a getter waiting for the
            # lock takes what was stored at once instead of sleeping until this call waits.
            with self._mutex:
                if state.shutdown:
                    raise batch_shut_down(done, total)
                depth = len(buffered)
                woken = 0 < self.maxsize <= depth  # full: this run waits to be woken
                if woken:
                    if not block:
                        raise BatchFull(done, total)
                    try:
                        waited_since = self._wait_for_space(
                            None if deadline is None else max(0.0, deadline - time.monotonic()))
                        if waited_since is not None:  # a batch waits rarely: recorded at once
                            self._wait_ended(WAITING_FOR_SPACE, waited_since)
                        depth = len(buffered)
                    except BaseException as exc:  # from the wait, or a Ctrl-C just after it
                        self._pass_on_space(exc)
                        if isinstance(exc, queue.Full):
                            raise BatchFull(done, total) from None
                        if isinstance(exc, ShutDown):
                            raise batch_shut_down(done, total) from None
                        raise
                free = total - done if self.maxsize <= 0 else self.maxsize - depth
                # No call from the wake-up to the ``try`` below, so no instant for a Ctrl-C
                # between the two handlers that pass the wake-up on.
                stored = free if free < total - done else total - done
                unfinished = state.unfinished + stored
                try:
                    # The run goes in whole or not at all (the storage's extend promises it).
                    buffered.extend(batch if stored == total else batch[done:done + stored])
                    state.unfinished = unfinished
                    if state.waiting_get and depth == 0:  # it was empty: a getter may sleep
                        self._not_empty.notify()  # one: the getter woken passes it on
                    if woken and state.waiting_put and depth + stored < self.maxsize:
                        self._not_full.notify()  # pass the wake-up on: there is space left
                except BaseException:  # a Ctrl-C: once the run is in, finish it
                    self._finish_interrupted_put(depth, unfinished, woken)
                    raise
                done += stored
                depth += stored
                if self._on_put is not None and depth > state.report_above:
                    self._on_put(state, stored, depth)

    def get_many(self, max_items: int, timeout: float | None = None, *,
                 block: bool = True) -> list:
        """Remove and return up to ``max_items`` items (at least one), in order.

        Waits only for the first item (up to ``timeout``; ``queue.Empty`` after it, or at once
        when ``block=False``); then takes whatever else is there, under the same lock hold
        (between processes, up to the end of a ``put_many`` run rather than into the next:
        see ``SharedRing.popmany``). ``ShutDown`` once the buffer is shut down and empty.
        """
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ValueError(f"max_items must be a positive int, not {max_items!r}")
        if block and timeout is not None:  # None, the common case, costs no call
            check_timeout(block, timeout)
        waited_since = None
        with self._mutex:
            items = self._items
            woken = not items  # empty: this call waits to be woken
            if woken:
                if self._state.shutdown:
                    raise shut_down_error("get_many")
                if not block:
                    raise queue.Empty
                try:
                    waited_since = self._wait_for_items(timeout)
                except BaseException as exc:  # from the wait, or a Ctrl-C just after it
                    self._pass_on_items(exc)
                    raise
            try:
                was_full = len(items) == self.maxsize
                taken = self._popmany(items, min(max_items, len(items)))
                if was_full and self._state.waiting_put:
                    self._not_full.notify()  # one: the putter woken passes it on
                if woken and items and self._state.waiting_get:
                    self._not_empty.notify()  # pass the wake-up on: there are items left
            except BaseException:  # a Ctrl-C: what was taken is lost, the wake-ups are not
                self._wake_after_interrupted_get(woken)
                raise
            if self._on_get is not None:
                self._on_get(self._state, len(taken), len(items))
        if waited_since is not None:
            self._wait_ended(WAITING_FOR_ITEMS, waited_since)
        return self._decode_all(taken)

    # -- shutdown -------------------------------------------------------------------------

    def shutdown(self, immediate: bool = False) -> None:
        """Shut down, as ``queue.Queue.shutdown`` does in Python 3.13.

        Afterwards every ``put`` raises ``ShutDown`` (blocked putters are woken to raise it);
        ``get`` returns what is left and then raises ``ShutDown``. With ``immediate=True`` what is
        left is discarded and counted as done for ``join()``, and blocked getters raise at once.
        """
        with self._mutex:
            state = self._state
            state.shutdown = 1
            try:
                if immediate:
                    self._discard_all()
            finally:  # even if interrupted while discarding: every blocked caller must wake
                self._not_empty.notify_all()
                self._not_full.notify_all()

    # -- interrupted (called with the lock held) ------------------------------------------

    def _finish_interrupted_put(self, depth: int, unfinished: int, woken: bool) -> None:
        """Finish a put (or a ``put_many`` run) that an exception interrupted, if its items are
        in: a buffer deeper than ``depth`` holds them. They are counted for ``join()``
        (``unfinished``), and whoever may wait for them is woken, as is the next putter when
        this one was woken itself (a waiter woken for nothing goes back to sleep)."""
        if len(self._items) > depth:
            self._state.unfinished = unfinished
            self._not_empty.notify()
            if woken:
                self._not_full.notify()
        elif woken:
            self._pass_on_space(None)

    def _wake_after_interrupted_get(self, woken: bool) -> None:
        """Wake whoever may wait after a get (or ``get_many``) that an exception interrupted:
        a putter for the slot it may have freed, and, when this getter was woken itself, the
        next getter for the items left. What it took is lost to its caller, as with
        ``queue.Queue.get``."""
        self._not_full.notify()
        if woken:
            self._not_empty.notify()

    def _pass_on_space(self, exc: BaseException | None) -> None:
        """A putter that was (or may have been) woken leaves, by ``exc``, without storing:
        wake the next sleeping putter if there is space for it (a wake-up this one took is
        not lost). Not once the buffer is broken: nobody may go on then."""
        if (not isinstance(exc, BufferBroken) and self._state.waiting_put
                and len(self._items) < self.maxsize):
            self._not_full.notify()

    def _pass_on_items(self, exc: BaseException) -> None:
        """A getter that was (or may have been) woken leaves, by ``exc``, without taking: wake
        the next sleeping getter if there is an item for it (see ``_pass_on_space``)."""
        if not isinstance(exc, BufferBroken) and self._state.waiting_get and self._items:
            self._not_empty.notify()

    # -- waiting (called with the lock held) ----------------------------------------------

    def _wait_for_space(self, timeout: float | None) -> float | None:
        """Wait until the buffer has space; raise Full on timeout, ShutDown on shutdown.

        With instrumentation on, the wait is recorded here, except where the backend records
        waits once the lock is let go: then this returns when the wait began, for the caller to
        record it after its ``with`` block (a wait that raises is always recorded here). Else
        returns None.
        """
        state = self._state
        started = self._clock() if self._rec is not None else None
        deadline = None if timeout is None else time.monotonic() + timeout
        state.waiting_put += 1
        try:
            while len(self._items) >= self.maxsize:
                if deadline is None:
                    self._not_full.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise queue.Full
                    self._not_full.wait(remaining)
                if state.shutdown:
                    raise shut_down_error("put")
        except BaseException:  # the caller passes on a wake-up this waiter may have had
            if started is not None:
                self._wait_ended(WAITING_FOR_SPACE, started)
            raise
        finally:
            state.waiting_put -= 1
        if started is not None and not self._records_waits_unlocked:
            self._wait_ended(WAITING_FOR_SPACE, started)
            return None
        return started

    def _wait_for_items(self, timeout: float | None) -> float | None:
        """Wait until the buffer has an item; raise Empty on timeout, ShutDown on shutdown.

        Returns when the wait began, or None, as ``_wait_for_space`` does.
        """
        state = self._state
        started = self._clock() if self._rec is not None else None
        deadline = None if timeout is None else time.monotonic() + timeout
        state.waiting_get += 1
        try:
            while not self._items:
                if state.shutdown:
                    raise shut_down_error("get")
                if deadline is None:
                    self._not_empty.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise queue.Empty
                    self._not_empty.wait(remaining)
        except BaseException:  # the caller passes on a wake-up this waiter may have had
            if started is not None:
                self._wait_ended(WAITING_FOR_ITEMS, started)
            raise
        finally:
            state.waiting_get -= 1
        if started is not None and not self._records_waits_unlocked:
            self._wait_ended(WAITING_FOR_ITEMS, started)
            return None
        return started
