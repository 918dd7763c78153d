"""Process primitives that notice a dead peer: a lock and a condition, and what they share.

``multiprocessing.Lock`` is a POSIX semaphore: when a process is SIGKILLed while holding it,
nobody ever releases it, and every other process blocks on it for ever, timeouts included.
``multiprocessing.Condition.notify()`` waits, holding the lock, for an acknowledgement from the
sleeper it woke; a sleeper that died never sends one. The primitives here keep the textbook
interface (``acquire``/``release``, ``wait``/``notify``) and add one thing: whoever blocks, blocks
in slices of :data:`SLICE` seconds, and between slices asks :class:`Health` whether a process died
in a way that leaves the buffer's state unknowable:

* it held a :class:`RobustLock` (its identity, pid and start time, is recorded in shared memory
  while it holds it), so the state the lock guards may be half-changed;
* it held permits of a counting semaphore (:mod:`pcmodel.buffers.robust_semaphore`, on the
  same :class:`Health`) that it had not yet passed on (each process's *debt*, permits acquired
  minus permits released, is kept in a shared table): a putter killed between taking a free
  slot and storing its item has lost that slot for ever.

Then the buffer is marked broken and every survivor raises :class:`BufferBroken` instead of
waiting. A process that dies *while sleeping* (in ``wait()`` or ``acquire()``) holds nothing and
harms nobody: :class:`RobustCondition` never waits for an acknowledgement, and a wake-up sent to a
dead sleeper is made up for by the slices (every wait returns at least every :data:`SLICE`
seconds, a spurious wake-up that the ``while`` loop around ``wait()`` absorbs).

Once broken, a buffer stays broken: every later acquisition of its lock raises too.

A wake-up is posted only once the waker holds no lock: ``RobustCondition.notify()`` counts
sleepers out, and the lock's ``release()`` posts their tokens after it has let go of the lock, so
the woken sleeper finds the lock free instead of going back to sleep on it (each hand-over would
otherwise cost two sleeps: a lock convoy). The counting semaphore counts its sleepers with no
lock at all. A process that finds the lock held first tries again :data:`SPIN` times (about
10 µs) before it sleeps: the lock is held for a few microseconds at a time, by a process that is
usually running on the other core. A buffer's lock spins longer, up to :data:`LOCK_SPIN` times,
while such long spins pay off: its holders copy items, and a large item's copy takes longer
than ten microseconds. A process that waits for a wake-up or a permit, a peer's whole ``put`` or
``get``, first tries again up to :data:`ROOMY_WAIT_SPIN` times (about 100 µs) for a wake-up and
:data:`ROOMY_PERMIT_SPIN` times (about 30 µs) for a permit, as long as such spins have lately paid
off (:mod:`pcmodel.buffers.spinning`). In a buffer of capacity 1, where every item is a
hand-over, it tries up to :data:`WAIT_SPIN` times (about 300 µs) for either, and for the lock.

A process that dies in the instant between taking a :class:`RobustLock` and recording itself,
or between clearing its record and letting go (a few bytecodes each), leaves a lock held with no
holder recorded. A blocked acquirer that finds it so, slice after slice, for
:data:`HOLDERLESS_S` seconds, marks the buffer broken: a live holder passes those instants in
microseconds.

A holder is recorded by its identity, not its bare pid (:mod:`pcmodel.buffers.identity`): Linux
gives a reaped process's pid to a later one, going round every pid in under a minute on a busy
machine, and a dead holder whose pid was given on before anyone looked would seem alive for as
long as that stranger lives. A process with the holder's pid that started at another time is not
the holder: the holder is dead.

Limits: where there is no ``/proc`` (not Linux) a record is the bare pid, and a death seen only
after its pid was given on goes unnoticed; so does a death in the instant between taking a
permit and recording it, a few bytecodes wide; a holder *stopped* (SIGSTOP, a debugger) in
one of a lock's unrecorded instants for :data:`HOLDERLESS_S` is taken for dead. A condition's
sleeper holds nothing while it sleeps, but it counts itself as waiting before it lets go of the
lock, and it re-takes the lock for a few bytecodes after every slice: a death in those instants is a
death holding a lock, and breaks the buffer. A process that dies in the instant between letting go
of the lock and posting the wake-ups its ``notify()`` promised (or between counting a semaphore's
sleeper out and ringing its bell) leaves the state whole, so the buffer is not broken, but those
sleepers get no token: they wake at the end of their slice, as for a wake-up sent to a dead sleeper;
one that then finds every sleeper counted out waits one more slice for the token on its way (a
condition's sleeper holding the lock), so the wake-up comes up to 2 × :data:`SLICE` late. A waker
merely stopped for longer than a slice in that instant posts a token nobody is owed: one later
sleeper wakes for nothing, which its ``while`` loop absorbs. A process that called ``shutdown()``
has released more permits than it took, so its debt is negative and its death is harmless.

A process that *survives* an exception in the middle (Ctrl-C's KeyboardInterrupt, between any
two bytecodes, caught by a notebook or a command that goes on) leaves no lock behind and owes
no sleeper a wake-up (but in one instant of ``release``): ``acquire`` and ``release`` let go of
the lock if this thread still holds it (:meth:`RobustLock.held_here`), ``release`` posts the
wake-ups promised, ``notify`` changes nothing, ``wait`` raises holding the lock. A ``release``
interrupted at its entry leaves the lock with its thread, which takes it back on its next
``acquire``.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from pcmodel.buffers.identity import current_identity, pid_of, process_alive
from pcmodel.buffers.spinning import Spinner
from pcmodel.errors import BufferBroken

__all__ = ["HOLDERLESS_S", "LOCK_SPIN", "PARTICIPANTS", "ROOMY_PERMIT_SPIN", "ROOMY_WAIT_SPIN",
           "SLICE", "SPIN", "WAIT_SPIN", "Health", "RobustCondition", "RobustLock"]

SLICE = 0.1
"""Seconds a blocked process sleeps at most before it checks that its peers are alive."""

HOLDERLESS_S = 1.0
"""Seconds a :class:`RobustLock` may be found held with no holder recorded, at the end of every
slice a blocked acquirer waited, before the buffer is marked broken: its holder died between
taking the lock and recording itself, or between clearing its record and letting go. A live
holder is in those instants for microseconds; finding it there at the end of each of ten slices
in a row would take a process left unscheduled for a second."""

SPIN = 100
"""Times a :class:`RobustLock` acquirer that finds the lock held tries again (about 10 µs in all)
before it sleeps: a holder running on another core lets go within microseconds, and a sleep
costs the acquirer a context switch and the releaser a wake-up system call. A lock still held
after that usually has a holder that is not running: spinning longer only burns the processor
it needs (measured, 4 producers and 4 consumers on 2 cores: 300 tries 0.6-1.0x of 100)."""

LOCK_SPIN = 1000
"""Most times a buffer's lock is tried again (about 100 µs in all) before its acquirer sleeps,
where spins that long have lately paid off (never fewer than :data:`SPIN`; see
``ProcessBackend.lock``). A buffer's lock is held while the item is copied into or out of the
ring: 64 KiB take about 5 to 10 µs, 1 MiB over 100 µs, and a holder on the other core is then
still running when a 100-try spin gives up (measured, capacity 16, 64 KiB items: 1.2 to 1.5x the
items per second, and a tenth of the context switches, with no loss at 8 B and 1 KiB)."""

WAIT_SPIN = 3000
"""Most times a process tries again (about 300 µs in all) for a condition's wake-up, a
semaphore's permit or (at capacity 1) the lock before it sleeps, where the buffer asks for it
(capacity 1, see ``ProcessBackend.storage``): these wait for a peer's whole ``put`` or ``get``,
its copy of the item included, not just for a short critical section. The longest spin must
outlast a wake-up: once both sides have learnt to sleep, only a spin longer than a sleeping peer
takes to wake catches it running again (tens of microseconds on a virtual machine, and hundreds
when its processors have been idle), and with a shorter one a pause of the producer (pickling a
batch, say) left both sides sleeping for every item. Measured on two cores, capacity 1, trials
interleaved: 1,000 tries against 300 moved 2.3 to 9.4 times the items per second (8 B and 1 KiB,
single items and batches of 100, 1x1 and 4x4) and 1.1 to 3 times at 64 KiB; 3,000 against 1,000
moved batches 1.1 to 1.6 times as fast again, and single items 0.8 to 1.3 times (the one slower
point 64 KiB, 1x1); with 8 producers and 8 consumers, 3,000 against 300: 2.4 to 4 times."""

ROOMY_WAIT_SPIN = 1000
"""Most times a process tries again (about 100 µs in all) for a condition's wake-up before it
sleeps, in a buffer with room for more than one item. Single items rarely wait there, but a batch
larger than the room free is a chain of hand-overs: ``put_many`` waits for each run of space
that ``get_many`` frees, and ``get_many`` for each run stored. Two sides that sleep through
those waits each wake a sleeping peer, and the batch moves at the pace of wake-ups. Measured on
two cores, trials interleaved, against no spin (medians of six to eight rounds): batches of 100
at capacity 16, 1x1, 1 KiB items, 1.96 times the items per second, where 300 tries gained
nothing (0.8 to 0.9 times); single items at capacity 1024, 1x1, 8 B, 1.04 times, and 4
producers and 4 consumers of single 64 KiB items at capacity 16, 0.94 times. 3,000 tries, as at
capacity 1, moved those at 0.82 to 1.01 times: with more processes than cores, a long spin takes
the processor from a peer that is ready to run."""

ROOMY_PERMIT_SPIN = 300
"""Most times a process tries again (about 30 µs in all) for a semaphore's permit before it
sleeps, in a buffer with room for more than one item: the semaphore variant's counterpart of
:data:`ROOMY_WAIT_SPIN`. Measured as there, against no spin: batches of 100 at capacity 16, 1x1,
1 KiB items, 3.5 times the items per second; single items at capacity 1024, 1x1, 8 B, 1.04
times; 4 producers and 4 consumers of single 64 KiB items at capacity 16, 0.90 times in one set
of rounds and 1.0 to 1.2 times in another. 1,000 tries moved the batches a little faster again
but those 64 KiB items at 0.88 times no spin, and 300 tries moved them 1.0 to 1.3 times as fast
as 1,000."""

PARTICIPANTS = 64  # processes whose semaphore debts are tracked at once (dead ones are reused)
_BROKEN, _CLAIM_OWNER = 0, 1  # indexes in Health._flags

# This process's identity (pid and start time, see pcmodel.buffers.identity) as a module
# global, kept true across forks: it is stored on every acquire, where a call would cost more.
_me = current_identity()


def _refresh_identity() -> None:
    global _me
    _me = current_identity()  # identity's own hook, registered first, has made the new one


os.register_at_fork(after_in_child=_refresh_identity)


class Health:
    """Shared record of who holds what, for one buffer: lock owners and semaphore debts.

    ``check()`` raises :class:`BufferBroken` if the buffer was marked broken or if a dead process
    holds a lock or owes permits (and then marks it broken for everyone).
    """

    def __init__(self, context: Any) -> None:
        self._flags = context.RawArray(ctypes.c_int64, 2)
        self._reason = context.RawArray(ctypes.c_char, 240)  # why it broke, for every survivor
        # Triples (identity, debt, owed): a process's permits acquired minus released, on every
        # semaphore; and items it handed over that nobody has received yet (the queue variant).
        self.table = context.RawArray(ctypes.c_int64, 3 * PARTICIPANTS)
        self._owners: list[Any] = []  # one shared cell per RobustLock: the holder's identity or 0
        self._claim = RobustLock(context, self)
        self._slot = -1
        self._slot_of = 0  # the identity of the process that found _slot (a fork's child did not)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_slot"], state["_slot_of"] = -1, 0
        return state

    @property
    def broken(self) -> bool:
        return bool(self._flags[_BROKEN])

    def check(self) -> None:
        """Raise BufferBroken if a process died holding part of this buffer (see the module)."""
        if self._flags[_BROKEN]:
            raise self._error()
        # Each record is read again after its process was found dead: it may have let go and
        # exited in between, and a dead process can no longer change what it left.
        for cell in self._owners:
            holder = cell.value
            if holder and not process_alive(holder) and cell.value == holder:
                self.mark_broken(f"process {pid_of(holder)} died holding the buffer's lock")
        table = self.table
        for slot in range(PARTICIPANTS):
            debtor, debt = table[3 * slot], table[3 * slot + 1]
            if (debtor and debt > 0 and not process_alive(debtor)
                    and table[3 * slot] == debtor and table[3 * slot + 1] > 0):
                self.mark_broken(f"process {pid_of(debtor)} died between taking {debt} permit(s) "
                                  "of the buffer's semaphores and passing them on")

    def mark_broken(self, reason: str) -> None:
        """Mark the buffer broken for every process and raise BufferBroken saying ``reason``."""
        self._reason.value = reason.encode()[:239]
        self._flags[_BROKEN] = 1
        raise self._error()

    def _error(self) -> BufferBroken:
        reason = self._reason.value.decode(errors="replace")
        return BufferBroken(f"a process died holding this buffer; it is unusable ({reason}). "
                            "Create a new buffer; items in this one cannot be trusted")

    def debt_slot(self) -> int:
        """This process's debt cell in ``table`` (claimed on first use; its owed-items cell is
        the next one, its identity the one before); -1 if the table is full."""
        if self._slot_of == _me:
            return self._slot
        table = self.table
        slot = -1
        with self._claim:
            free = -1
            for index in range(PARTICIPANTS):
                whose = table[3 * index]
                if whose == _me:
                    slot = 3 * index + 1
                    break
                if free < 0 and (whose == 0 or (table[3 * index + 1] <= 0
                                                and table[3 * index + 2] <= 0
                                                and not process_alive(whose))):
                    free = index  # unused, or left by a process that exited owing nothing
            else:
                if free >= 0:
                    table[3 * free:3 * free + 3] = [_me, 0, 0]
                    slot = 3 * free + 1
        self._slot, self._slot_of = slot, _me
        return slot


class RobustLock:
    """A non-reentrant process lock that records its holder's identity, so a death is found.

    ``acquire(block=True, timeout=None)`` as ``multiprocessing.Lock``, except that it raises
    :class:`BufferBroken` instead of waiting for ever on a lock whose holder died.
    """

    def __init__(self, context: Any, health: Health, spinner: Spinner | None = None) -> None:
        self._sem = context.Lock()
        # How to spin when the lock is held: by default a fixed SPIN tries.
        self._spinner = spinner if spinner is not None else Spinner(SPIN, learns=False)
        self._owner = context.RawValue(ctypes.c_int64, 0)
        self._health = health
        self._flags = health._flags
        health._owners.append(self._owner)
        # Wake-ups a condition's notify() left for release() to post: the lock holder's, as
        # only the holder notifies and release() takes them before it lets go of the lock.
        self._deferred: list = []
        self._bind()

    def _bind(self) -> None:
        # The uncontended path is a few bytecodes around one C call: bound once, not looked up
        # per call (a ``with`` block runs ``acquire``/``release`` themselves, no wrapper frames).
        self._try_acquire = self._sem.acquire
        self._sem_release = self._sem.release
        self._is_mine = self._sem._semlock._is_mine  # this thread holds it (see held_here)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for bound in ("_try_acquire", "_sem_release", "_is_mine"):
            del state[bound]  # bound C methods: made on arrival
        state["_deferred"] = []  # the sender's pending wake-ups are the sender's to post
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind()

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take the lock (as ``multiprocessing.Lock``); BufferBroken once a holder died.

        An exception raised in the middle (Ctrl-C's KeyboardInterrupt comes between any two
        bytecodes) leaves the lock as it found it: free, if this call had taken it already.
        """
        try:
            if self._flags[_BROKEN]:  # once broken, nobody goes on, even through a free lock
                raise self._health._error()
            if self._try_acquire(False):
                self._owner.value = _me
                return True
            if not block:
                return False
            return self._acquire_slowly(timeout)
        except BaseException:
            # The caller will not release a lock whose acquire raised: let go of it here if
            # it was taken before the interruption. (A try costs nothing until it catches.)
            self._let_go_if_held()
            raise

    def held_here(self) -> bool:
        """True if this thread holds the lock: the semaphore's own count, updated in the C
        call that takes or releases it (multiprocessing's Condition asks it the same way)."""
        return self._is_mine()

    def _let_go_if_held(self) -> None:
        """After an interruption: release the lock if this thread still holds it."""
        if self._is_mine():
            self._owner.value = 0
            self._sem_release()

    def _acquire_slowly(self, timeout: float | None) -> bool:
        """Wait for the lock in slices, checking between them that no peer died holding it
        (after some quick tries: the holder may be about to let go)."""
        if self._is_mine():
            # This thread holds it already, and a non-reentrant lock's holder never asks
            # again: a Ctrl-C hit the release() that let it go at its first instruction, or the
            # acquire() that took it at its last, and the caller went on believing it free.
            self._owner.value = _me
            return True
        try_acquire = self._try_acquire
        if self._spinner.spin(try_acquire):
            self._owner.value = _me
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        holderless_since = None
        while True:
            wait = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
            if wait <= 0:
                return False
            if try_acquire(True, wait):
                self._owner.value = _me
                return True
            self._health.check()
            if self._owner.value:
                holderless_since = None
            elif try_acquire(False):  # it was let go just now: no holder to record
                self._owner.value = _me
                return True
            elif holderless_since is None:
                holderless_since = time.monotonic()
            elif time.monotonic() - holderless_since >= HOLDERLESS_S:
                self._health.mark_broken(
                    f"the lock was held by no recorded process for {HOLDERLESS_S:g} s: a process "
                    "died taking it or letting it go")

    def release(self, *_exc_info: object) -> None:
        """Release the lock (RuntimeError if this process does not hold it). Also the ``with``
        block's exit, hence the ignored arguments. Interrupted anywhere, it still lets go."""
        try:
            owner = self._owner
            if owner.value != _me:
                # Not ours: a re-acquire that raised BufferBroken (in a condition's wait) leaves
                # the dead holder's lock held, and the ``with`` block around it must not free it.
                if self._flags[_BROKEN]:
                    return
                raise RuntimeError("release of a process buffer lock this process does not hold")
            owner.value = 0
            deferred = self._deferred
            if not deferred:
                self._sem_release()
                return
            # Post the wake-ups a notify() left only now that the lock is free: a sleeper woken
            # while we still held it would go back to sleep on the lock (two sleeps per
            # hand-over, a convoy); woken now, it finds the lock free.
            self._sem_release()
            while deferred:
                deferred.pop()()
        except BaseException:
            self._let_go_if_held()  # the caller believes the lock let go: make it so
            deferred = self._deferred  # and post the wake-ups it promised (one popped and
            while deferred:            # not yet posted is lost: its sleeper wakes a slice late)
                deferred.pop()()
            raise

    __enter__ = acquire
    __exit__ = release


class RobustCondition:
    """A condition variable on a :class:`RobustLock` that never waits for a sleeper's answer.

    Sleepers count themselves (under the lock) and sleep on a semaphore; ``notify(n)`` counts
    out ``min(n, sleepers)`` of them and returns at once; the lock's ``release()`` then posts
    that many tokens, once the lock is free, so a woken sleeper does not at once go back to
    sleep on the lock its notifier still holds (what ``signal()`` of Java's
    ``AbstractQueuedSynchronizer`` does by moving the waiter to the lock's queue).
    ``wait()`` may return early (at least every :data:`SLICE` seconds, after checking that no
    peer died): callers wait in a ``while`` loop. ``spin``: most tries for a wake-up before
    sleeping (none by default; a buffer asks for :data:`ROOMY_WAIT_SPIN`, or :data:`WAIT_SPIN` at
    capacity 1).
    """

    def __init__(self, context: Any, lock: RobustLock, health: Health, spin: int = 0) -> None:
        self._lock = lock
        self._tokens = context.Semaphore(0)
        self._sleepers = context.RawValue(ctypes.c_int64, 0)
        self._health = health
        self._spinner = Spinner(spin)  # most tries for a wake-up before sleeping

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, sleep until notified (or ``timeout``, or a slice), re-take the lock.

        Returns False if no notification came. Must be called with the lock held; returns or
        raises holding it, a Ctrl-C anywhere included (see ``_come_back``).
        """
        lock, sleepers = self._lock, self._sleepers
        counted = sleepers.value  # only the lock's holder changes it: this one, until release
        woken = taking = taken = False  # taken: the take returned and its answer was kept
        kept: list = []  # whether the lock was still held when the sleep ended (see _come_back)
        try:
            try:
                sleepers.value = counted + 1
                lock.release()
                take, wait = self._tokens.acquire, SLICE if timeout is None else min(SLICE, timeout)
                taking = True
                woken = self._spinner.spin(take) or take(True, wait)
                taken = True
                if not woken:
                    self._health.check()
            finally:  # unsure of the token if interrupted while taking it
                self._come_back(counted, woken, kept, taking and not taken)
        except KeyboardInterrupt:  # also one on the way back: finish it (again), then raise
            self._come_back(counted, woken, kept, taking and not taken)
            raise
        return woken

    def _come_back(self, counted: int, woken: bool, kept: list, unsure: bool) -> None:
        """wait()'s last steps, safe to run again after a Ctrl-C cut them short: take the lock
        back and count out a sleeper that got no token (or undo the count nobody saw, if the
        lock was never let go). ``unsure``: it may have taken a token unknowingly: it posts one.

        Tokens are anonymous: every token posted must find a sleeper. While some are still
        counted in, one that got no token counts itself out. If none is, a notifier counted
        every sleeper out, so a token is on its way (posted once it let go of the lock): take
        it, or it would wake the next sleeper for nothing and leave one counted that is gone.
        A notifier that died before posting never sends it: after a slice it is taken as sent.
        """
        lock, sleepers = self._lock, self._sleepers
        if not kept:
            kept.append(lock._is_mine())  # held_here(), without its frame
        if kept[0]:  # interrupted before letting go: nobody saw the count
            sleepers.value = counted
        elif not lock._is_mine():
            lock.acquire()
            if not woken and not self._tokens.acquire(False):
                if sleepers.value > 0:
                    sleepers.value -= 1
                else:
                    self._tokens.acquire(True, SLICE)
            if unsure:  # a token too many wakes a sleeper for nothing: never one too few
                self._tokens.release()

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` sleepers, once the lock is released. Must be called with the lock
        held; never blocks. Interrupted, it changes nothing."""
        sleepers = self._sleepers
        counted = sleepers.value
        count = min(n, counted)
        if count > 0:
            deferred = self._lock._deferred
            promised = len(deferred)
            try:
                deferred.extend([self._tokens.release] * count)
                sleepers.value = counted - count
            except BaseException:  # a Ctrl-C between the two: neither, as if never called
                del deferred[promised:]
                sleepers.value = counted
                raise

    def notify_all(self) -> None:
        """Wake every sleeper. Must be called with the lock held; never blocks."""
        self.notify(self._sleepers.value)
