"""A counting semaphore between processes that notices a dead holder and gives permits in runs.

Its interface is ``multiprocessing.Semaphore``'s (``acquire(block, timeout)``, ``release()``),
plus ``release(n)`` and ``acquire_up_to(n)`` for batches. Three things set it apart:

* **Debts.** Each process's permits acquired minus released are kept in :class:`~pcmodel.
  buffers.robust.Health`'s shared table, so a process that dies owing permits (a putter killed
  between taking a free slot and storing its item) is found, and the buffer marked broken,
  instead of its slot being lost for ever.
* **A bell for sleepers.** Blocked acquirers do not sleep on the permits but on a *bell* (a
  second semaphore), counting themselves in on a third one used as an atomic counter (a post
  counts a sleeper in, a non-blocking take counts one out). A POSIX semaphore makes a system
  call on every post while anyone sleeps on it, so a run of n releases would cost n calls; with
  the bell it costs one ring, and no lock is taken to count sleepers. A releaser counts
  a sleeper out after adding its permits and a sleeper looks for a permit after counting itself
  in, both atomic operations, so one of them always sees the other. A release rings one
  sleeper, a run too: the sleeper woken takes its share (``acquire_up_to(n, block=True)``
  takes up to n) and, if it leaves permits in the stock, counts out and rings the next, which
  does the same (the condition variant relays its wake-ups so, as Java's
  ``LinkedBlockingQueue`` does). Ringing one sleeper per permit woke, for a run of 100 that the
  first woken ``get_many`` took whole, every other sleeper for nothing: a context switch each
  (measured, 4 producers and 4 consumers at capacity 1024, batches of 100 of 8 B: 3.3 to 4
  times the sleeps per item of the condition variant, and 1.4 times its CPU time per item;
  relayed, about as many sleeps as it). A ring lost to a sleeper that died (before it passed
  the ring on), or to a releaser that died between counting a sleeper out and ringing, is made
  up for by the :data:`~pcmodel.buffers.robust.SLICE` every sleeper wakes after. A sleeper
  that leaves by an exception (a Ctrl-C) gives back the permits it took and rings once more,
  so a ring it took or owed is not lost (one too many wakes a sleeper for nothing).
* **Permits in two places.** A POSIX semaphore gives and takes one permit per call, without a
  system call while nobody sleeps (about 30 ns): ideal for one item at a time, but a batch of
  100 items paid 100 takes and 100 gives on each side. So permits given many at once (the
  initial value, ``release(n)`` with n > 1) go into a *stock*, a shared count guarded by a
  :class:`~pcmodel.buffers.robust.RobustLock`, and ``acquire_up_to(n)`` takes from the stock
  first: a run of permits moves in one hold of that lock. Single releases still post the POSIX
  semaphore, and a single acquire tries it first; only when it is empty does it look at the
  stock (one unguarded read, then the lock if there is something to take). The semaphore's value
  is the sum of the two.

``spin``: most tries for a permit in :meth:`RobustSemaphore.acquire_soon` (none by default; a
buffer asks for :data:`~pcmodel.buffers.robust.ROOMY_PERMIT_SPIN`, or
:data:`~pcmodel.buffers.robust.WAIT_SPIN` at capacity 1).
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from pcmodel.buffers.identity import current_identity
from pcmodel.buffers.robust import SLICE, Health, RobustLock
from pcmodel.buffers.spinning import Spinner

__all__ = ["RobustSemaphore"]

# This process's identity (pid and start time: see pcmodel.buffers.identity) as a module global,
# kept true across forks: a permit's debt is booked on every acquire and release, where a
# function call (``current_identity()``) would cost as much as the POSIX semaphore operation.
_me = current_identity()


def _refresh_identity() -> None:
    global _me
    _me = current_identity()  # identity's own hook, registered first, has made the new one


os.register_at_fork(after_in_child=_refresh_identity)


class RobustSemaphore:
    """A counting semaphore whose holders' debts are tracked, so a dead holder is detectable.

    ``acquire(block=True, timeout=None)`` and ``release()`` as ``multiprocessing.Semaphore``;
    a blocked ``acquire`` raises :class:`~pcmodel.errors.BufferBroken` once a peer died owing
    permits. ``release(n)`` gives n permits and ``acquire_up_to(n)`` takes up to n without
    waiting (or, with ``block=True``, after waiting for the first), each in a few operations
    whatever n is (see the module). Permits are not handed out in any particular order among
    waiters.
    """

    def __init__(self, context: Any, value: int, health: Health, spin: int = 0) -> None:
        self._sem = context.Semaphore(0)  # permits given one at a time
        self._stock = context.RawValue(ctypes.c_int64, value)  # permits given in runs
        self._stock_lock = RobustLock(context, health)
        self._bell = context.Semaphore(0)
        self._sleepers = context.Semaphore(0)  # a counter: its value is the sleepers counted in
        self._health = health
        self._table = health.table
        self._spinner = Spinner(spin)  # most tries for a permit in acquire_soon()
        self._bind()

    def _bind(self) -> None:
        self._try_acquire = self._sem.acquire  # bound once: see RobustLock._bind
        self._sem_release = self._sem.release
        self._count_out = self._sleepers.acquire
        # The stock's lock is taken inline while it is free, as RobustLock.acquire and release
        # would take it (the holder's identity recorded while held), without their two calls: a run
        # of permits moves on every put_many and get_many, each side of the buffer, and the
        # calls cost more than the lock itself. When it is held, its acquire() waits. (A free
        # stock lock is taken even once the buffer is broken: the buffer's mutex, which every
        # batch takes next, raises BufferBroken then.)
        stock_lock = self._stock_lock
        self._stock_try = stock_lock._sem.acquire
        self._stock_let_go = stock_lock._sem.release
        self._stock_holder = stock_lock._owner
        # After an interrupt, let go only if it was taken: a Ctrl-C may land before or after
        # the take, and the semaphore's own count says which (see RobustLock.held_here).
        self._stock_mine = stock_lock._sem._semlock._is_mine

    @property
    def waiters_lock(self) -> RobustLock:
        """The lock under which a buffer counts the actors waiting on this semaphore, for
        observers: the stock's, held for a few bytecodes by whoever gives or takes a run of its
        permits, never while anything is copied (a death holding it breaks the buffer)."""
        return self._stock_lock

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for bound in ("_try_acquire", "_sem_release", "_count_out", "_stock_try",
                      "_stock_let_go", "_stock_holder", "_stock_mine"):
            del state[bound]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind()

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take one permit, waiting up to ``timeout`` (for ever if None) when ``block``.

        Returns False if none came. Raises BufferBroken if a peer died owing permits.
        """
        # One permit alone is the common case: the POSIX semaphore's, then the stock's (see
        # _try_one), written out here, as every single put and get comes here.
        if (not self._try_acquire(False)
                and not (self._stock.value > 0 and self._take_share(1))
                and (not block or not self._acquire_slowly(timeout, 1))):
            return False
        health = self._health  # this process's debt cell, as Health.debt_slot() finds it
        slot = health._slot if health._slot_of == _me else health.debt_slot()
        if slot >= 0:
            self._table[slot] += 1
        return True

    def acquire_soon(self) -> bool:
        """Take a permit that is free now or within microseconds (busy-waiting, see
        :class:`~pcmodel.buffers.spinning.Spinner`); False if none came. Never sleeps."""
        if not self._spinner.spin(self._try_one):
            return False
        self._owe(1)
        return True

    def acquire_up_to(self, n: int, block: bool = False, timeout: float | None = None) -> int:
        """Take up to ``n`` permits that are free, from the stock first; return how many were
        taken. With ``block``, if none is free, wait up to ``timeout`` (for ever if None) for
        one and then take up to ``n - 1`` more (0: none came). Raises BufferBroken as
        ``acquire``."""
        taken = self._take_share(n)
        if not taken and block:
            taken = self._acquire_slowly(timeout, n)
        if taken:
            health = self._health  # this process's debt cell, as in _owe (a call saved)
            slot = health._slot if health._slot_of == _me else health.debt_slot()
            if slot >= 0:
                self._table[slot] += taken
        return taken

    def release(self, n: int = 1) -> None:
        """Give back ``n`` permits and wake a sleeper, if any, who passes the wake-up on
        while permits are left (up to ``n`` sleepers wake); never blocks for long (the stock's
        lock is held for a few bytecodes)."""
        health = self._health
        slot = health._slot if health._slot_of == _me else health.debt_slot()
        if slot >= 0:
            self._table[slot] -= n
        if n == 1:
            self._sem_release()
        elif n < 1:
            return  # nothing given: ring nobody
        else:  # a run: added to the stock in one hold of its lock (see _bind)
            try:
                if self._stock_try(False):
                    self._stock_holder.value = _me
                else:
                    self._stock_lock.acquire()
                self._stock.value += n
            except BaseException:  # a Ctrl-C: let go if it was taken (a try costs nothing)
                self._stock_let_go_if_held()
                raise
            self._stock_holder.value = 0
            self._stock_let_go()
        if self._count_out(False):
            self._bell.release()  # one sleeper; it passes the ring on if it leaves permits

    def owe(self, n: int) -> None:
        """Count ``n`` permits as held by this process without acquiring them: for a buffer
        whose algorithm takes from this semaphore what it gives back on another it lacks."""
        self._owe(n)

    # -- the parts ----------------------------------------------------------------------------

    def _try_one(self, _block: bool = False) -> bool:
        """Take one permit if there is one, from either place; never waits (a Spinner's try)."""
        # The stock's unguarded look (see _take_share) made here: a spin's try mostly finds
        # both places empty, and then costs no call of ours.
        return (self._try_acquire(False)
                or (self._stock.value > 0 and self._take_share(1) == 1))

    def _take_share(self, wanted: int) -> int:
        """Take up to ``wanted`` permits, from the stock first (a run in one hold of its lock),
        then single ones; how many were taken. Never waits (but for the stock's lock, held by
        a peer for a few bytecodes)."""
        stock = self._stock
        taken = 0
        # A look without the lock: an empty stock, by far the common case for single items,
        # costs one read. A run added just after this look is found by the releaser's ring or
        # by the caller's next try (a sleeper counts itself in before it looks again).
        if stock.value > 0:
            try:
                if self._stock_try(False):  # the stock's lock (see _bind)
                    self._stock_holder.value = _me
                else:
                    self._stock_lock.acquire()  # held: wait as any RobustLock does, in slices
                have = stock.value
                taken = wanted if wanted < have else have
                stock.value = have - taken
            except BaseException:  # a Ctrl-C: let go if it was taken (a try costs nothing)
                self._stock_let_go_if_held()
                raise
            self._stock_holder.value = 0
            self._stock_let_go()
        try_acquire = self._try_acquire
        while taken < wanted and try_acquire(False):
            taken += 1
        return taken

    def _stock_let_go_if_held(self) -> None:
        """Let go of the stock's lock if this thread holds it (after a Ctrl-C)."""
        if self._stock_mine():
            self._stock_holder.value = 0
            self._stock_let_go()

    def _acquire_slowly(self, timeout: float | None, wanted: int) -> int:
        """Sleep on the bell until a permit is free, then take up to ``wanted`` that are and pass
        the ring on; how many were taken (0: ``timeout`` ran out). Checks between slices that
        no peer died owing permits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        sleepers, bell = self._sleepers, self._bell
        taken = 0
        try:
            while True:
                wait = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
                if wait <= 0:
                    return 0
                sleepers.release()  # count ourselves in
                # Permits given before we counted ourselves in rang no bell: look once more.
                got = self._take_share(wanted)
                rung = not got and bell.acquire(True, wait)
                if not rung and not bell.acquire(False) and not self._count_out(False):
                    # A releaser counted every sleeper out, us among them, and is about to
                    # ring: take that ring, or it would wake a later sleeper for nothing. A
                    # releaser that died before ringing never does: the slice is the wake-up.
                    bell.acquire(True, SLICE)
                taken = got or self._take_share(wanted)
                if taken:
                    # A run rang one sleeper: whoever wakes passes the ring on while the run
                    # lasts (a run taken whole by the first woken batch wakes nobody else).
                    if self._stock.value > 0 and self._count_out(False):
                        bell.release()
                    return taken
                if not rung:
                    self._health.check()
        except BaseException:
            # Leaving by an exception (a Ctrl-C between any two steps), maybe with a ring taken
            # or one owed to a sleeper counted out: permits taken go back, and a ring goes on
            # (one too many wakes a sleeper for nothing, which sleeps again; none too few).
            if taken:
                self._owe(taken)
                self.release(taken)
            bell.release()
            raise

    def _owe(self, n: int) -> None:
        health = self._health  # this process's debt cell, as Health.debt_slot() finds it
        slot = health._slot if health._slot_of == _me else health.debt_slot()
        if slot >= 0:
            self._table[slot] += n
