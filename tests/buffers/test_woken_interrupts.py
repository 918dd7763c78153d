"""A Ctrl-C in a waiter that was just woken leaves the buffer whole and loses no wake-up.

:mod:`tests.buffers.test_buffer_interrupts` interrupts operations that find what they need or
time out. Here the interrupted caller (the main thread, where Python raises
``KeyboardInterrupt``) sleeps first: a putter on a full buffer, a getter on an empty one. A
second waiter of the same kind then sleeps behind it, and another thread wakes the first with a
get or a put that may leave room (or items) for the second too. The tracer counts only the
instructions the main thread runs after that wake-up (:func:`~tests.buffers.interrupting.
interrupted_once`), and raises at the first, then the second, and so on until the operation
completes. After each run:

* the buffer's lock is free;
* the second waiter, if the buffer has room (or an item) for it, is woken and completes: a
  wake-up the interrupted waiter was given is passed on, never lost;
* the items are those expected: a put's item (a ``put_many``'s run) whole or not at all, what
  an interrupted get took lost to its caller, nothing duplicated, order kept;
* the count of unfinished tasks matches the items put; nobody is counted as waiting;
* no permit was lost or invented: a peer fills the drained buffer to ``maxsize`` and not one
  more, and empties it again.

Waiters sleep on primitives that say when they are about to block (so the main thread is
known to be asleep, and its instructions before the wake-up are not counted), process
primitives never busy-wait, and their slices are long (so a lost wake-up is not made up for by
a slice's end within the test's patience).

As in the other interrupt tests, only positions a real Ctrl-C reaches are held to this, but
one: the instant just after a call that hands the caller permits returns, before the caller
can record them (the semaphore variant's documented window, see :mod:`pcmodel.buffers.
semaphore`).
"""

from __future__ import annotations

import linecache
import os
import threading
import time

import pytest

from pcmodel.buffers import robust, robust_semaphore
from pcmodel.buffers.backends import RunSemaphore
from tests.buffers.interrupting import Stop, interrupted_once
from tests.buffers.test_buffer_interrupts import (
    MAXSIZE,
    drain,
    lock_problem,
    make,
    permits_problem,
    unfinished,
    within,
)
from tests.conftest import watch_bells

pytestmark = pytest.mark.timeout(300)

SOON = 2.0  # seconds a woken waiter may take before its wake-up counts as lost
LONG_SLICE = 5.0  # a process sleeper's slice here: longer than SOON (see the module)

# Functions that hand their caller permits: just after one returns, the caller cannot have
# recorded them yet (the documented window of the semaphore variant).
PERMIT_CALLS = {"acquire", "acquire_up_to", "acquire_waiting", "acquire_soon", "_wait",
                "_wait_up_to", "_acquire_slowly", "_take_share", "_try_one"}


# A semaphore's own code on the paths that do not wait (see test_buffer_interrupts): a permit
# given or taken there may be lost to a Ctrl-C, as the semaphore variant documents.
SEMAPHORE_CODE = {"run_semaphore.py": {"acquire", "acquire_up_to", "release"},
                  "robust_semaphore.py": {"acquire", "acquire_up_to", "release", "_take_share",
                                          "_try_one", "_owe", "_stock_let_go_if_held",
                                          "acquire_soon"}}


def within_limits(variant: str, stop: Stop) -> bool:
    """True if the buffers' documented limits allow a Ctrl-C where ``stop`` is to lose a
    permit or keep a lock a while: at a process lock's release's entry; in the semaphore
    variant, just after a call that hands permits returned, or in a semaphore's own code on a
    path that does not wait."""
    place, function, _ = stop.where.split(" ")
    name, line = place.split(":")
    if name == "robust.py" and function == "release" and (
            stop.entry or "deferred.pop()()" in linecache.getline(robust.__file__, int(line))):
        # A process lock left with its thread (taken back by its next acquire), or a wake-up
        # popped and not yet posted (its sleeper wakes a slice late): see robust.py.
        return True
    if variant != "semaphore":
        return False
    return stop.returned_from in PERMIT_CALLS or function in SEMAPHORE_CODE.get(name, ())


class Announcer:
    """Counts, per thread, the blocking waits that threads are about to enter."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._entered: dict[str, int] = {}

    def entering(self) -> None:
        with self._changed:
            name = threading.current_thread().name
            self._entered[name] = self._entered.get(name, 0) + 1
            self._changed.notify_all()

    def wait_for(self, name: str, timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._entered.get(name, 0) > 0, timeout):
                raise AssertionError(f"{name} never went to sleep")


class AnnouncingCondition(threading.Condition):
    """A ``threading.Condition`` whose ``wait()`` says it is about to block."""

    def __init__(self, lock, announcer: Announcer) -> None:
        super().__init__(lock)
        self._announcer = announcer

    def wait(self, timeout=None):
        self._announcer.entering()
        return super().wait(timeout)


class AnnouncingSemaphore:
    """A process semaphore whose blocking ``acquire`` says it is about to block."""

    def __init__(self, semaphore, announcer: Announcer) -> None:
        self._semaphore = semaphore
        self._announcer = announcer
        self.release = semaphore.release

    def acquire(self, block: bool = True, timeout=None) -> bool:
        if block:
            self._announcer.entering()
        return self._semaphore.acquire(block, timeout)


def announcing(variant: str, backend: str, prefill: int, announcer: Announcer):
    """A buffer (capacity ``MAXSIZE``, holding ``0 .. prefill - 1``) whose waiters announce
    their sleep and whose process primitives never busy-wait."""
    buf = make(variant, backend, prefill, spin=False)
    if variant == "condition":
        if backend == "thread":
            buf._not_full = AnnouncingCondition(buf._mutex, announcer)
            buf._not_empty = AnnouncingCondition(buf._mutex, announcer)
        else:
            for condition in (buf._not_full, buf._not_empty):
                condition._tokens = AnnouncingSemaphore(condition._tokens, announcer)
    else:
        for semaphore in (buf._empty_slots, buf._full_slots):
            if isinstance(semaphore, RunSemaphore):
                watch_bells(semaphore, before_sleep=announcer.entering)
            else:
                semaphore._bell = AnnouncingSemaphore(semaphore._bell, announcer)
    return buf


def thread_locks(buf) -> list:
    """The buffer's ``threading`` locks: its mutex and its semaphores' own (thread backend)."""
    if buf._backend.name != "thread":
        return []
    semaphores = [getattr(buf, name, None) for name in ("_empty_slots", "_full_slots")]
    return [buf._mutex] + [semaphore._lock for semaphore in semaphores
                           if isinstance(semaphore, RunSemaphore)]


def process_locks(buf) -> list:
    """The buffer's process locks: its mutex and its semaphores' stock locks."""
    if buf._backend.name != "process":
        return []
    semaphores = [getattr(buf, name, None) for name in ("_empty_slots", "_full_slots")]
    return [buf._mutex] + [semaphore._stock_lock for semaphore in semaphores
                           if semaphore is not None]


class Scene:
    """One run: the main thread's operation asleep, a second waiter asleep behind it, and a
    waker that wakes the first once both sleep."""

    def __init__(self, variant: str, backend: str, putting: bool, wake) -> None:
        self.announcer = Announcer()
        self.putting = putting
        self.buf = announcing(variant, backend, MAXSIZE if putting else 0, self.announcer)
        self.woken = threading.Event()  # set once both sleep, just before the wake-up
        self.second_got: list = []
        self.second_error: list = []
        self.peer_took: list = []  # what a peer took to let the second waiter go
        self.second = threading.Thread(target=self._second_waits, name="second", daemon=True)
        self.waker_error: list = []
        self.waker = threading.Thread(target=self._wake, args=(wake,), name="waker",
                                      daemon=True)

    def _second_waits(self) -> None:
        try:
            if self.putting:
                self.buf.put(20)
                self.second_got.append(20)
            else:
                self.second_got.append(self.buf.get())
        except BaseException as exc:  # noqa: BLE001 - reported by the check
            self.second_error.append(exc)

    def _wake(self, wake) -> None:
        try:
            self.announcer.wait_for(threading.main_thread().name)
            self.second.start()
            self.announcer.wait_for("second")
            self.woken.set()
            wake(self.buf)
        except BaseException as exc:  # noqa: BLE001 - reported by the check
            self.woken.set()
            self.waker_error.append(exc)

    def run(self, position: int, operation) -> tuple[Stop, object]:
        """Interrupt ``operation(buf)`` at ``position`` after its wake-up; (where, result)."""
        result = []
        self.waker.start()
        stop = interrupted_once(position, lambda: result.append(operation(self.buf)),
                                self.woken.is_set, real_only=True)
        self.waker.join(SOON)
        return stop, (result[0] if result else None)

    def release_second(self) -> None:
        """Let a second waiter still asleep go (the check is over), so that no thread leaks.
        A position no real Ctrl-C reaches may have left a thread lock with the main thread:
        it is let go first."""
        for lock in thread_locks(self.buf):
            if not within(lambda lock=lock: lock.acquire(True, 0.5) and not lock.release())[1]:
                lock.release()
        for lock in process_locks(self.buf):  # left with this thread: taken back, let go
            if lock.held_here():
                lock.acquire()
                lock.release()
        if self.second.is_alive() or not self.second._started.is_set():
            self.buf.shutdown(immediate=True)
        if self.second._started.is_set():
            self.second.join(SOON)


def second_problem(scene: Scene) -> str | None:
    """None once the second waiter has completed, or sleeps with nothing there for it (then
    a peer takes an item, or puts 99, to let it complete); else what is wrong."""
    buf = scene.buf
    nothing = MAXSIZE if scene.putting else 0  # the depth at which the second may sleep
    deadline = time.monotonic() + SOON
    pause = threading.Event()
    asleep = False
    while scene.second.is_alive():
        if buf.qsize() == nothing and sum(buf.waiting) == 1 and scene.second.is_alive():
            asleep = True
            break
        if time.monotonic() > deadline:
            return (f"the second waiter sleeps while there is "
                    f"{'room' if scene.putting else 'an item'} for it "
                    f"(qsize {buf.qsize()}, waiting {buf.waiting})")
        pause.wait(0.001)
    if asleep:
        made = within(buf.get_nowait if scene.putting else lambda: buf.put(99))
        if made[0] != "returned":
            return f"a peer could not let the second waiter go: {made}"
        if scene.putting:
            scene.peer_took.append(made[1])
        scene.second.join(SOON)
        if scene.second.is_alive():
            return "the second waiter was not woken by a peer's get or put"
    if scene.second_error:
        return f"the second waiter raised {scene.second_error[0]!r}"
    return None


def put_side_problem(scene: Scene, stop: Stop, batch: list, taken: int) -> str | None:
    """Why the buffer is not whole after the main thread's put (or ``put_many(batch)``) was
    interrupted (or completed) and the waker took ``taken`` items from the full buffer."""
    buf = scene.buf
    problem = second_problem(scene)
    if problem:
        return problem
    left = drain(buf)
    prior = list(range(MAXSIZE))
    seen = scene.peer_took + left
    if seen[:MAXSIZE - taken] != prior[taken:]:
        return f"left {left}: not the rest of {prior} first"
    rest = seen[MAXSIZE - taken:]
    mine = [item for item in rest if item != 20]
    if rest.count(20) != 1:
        return f"left {left}: the second waiter's item not once"
    if mine != batch[:len(mine)]:
        return f"left {left}: not a first part of {batch}"
    if stop.completed and mine != batch:
        return f"completed, yet left {left}"
    expected = MAXSIZE + len(mine) + 1
    if unfinished(buf) != expected:
        return f"unfinished tasks {unfinished(buf)}, expected {expected} (left {left})"
    for _ in range(expected):
        buf.task_done()
    if buf.waiting != (0, 0):
        return f"waiting counts left at {buf.waiting}"
    return permits_problem(buf)


def get_side_problem(scene: Scene, stop: Stop, result, put: list, most: int) -> str | None:
    """Why the buffer is not whole after the main thread's get (taking up to ``most`` items)
    was interrupted (or completed) once the waker put ``put`` into the empty buffer."""
    buf = scene.buf
    problem = second_problem(scene)
    if problem:
        return problem
    left = drain(buf)
    second = scene.second_got[0]
    got = [] if result is None else (result if isinstance(result, list) else [result])
    seen = got + [second] + left
    extra = [99] if 99 in seen else []
    if sorted(seen) != sorted(set(seen)) or not set(seen) <= set(put + extra):
        return f"returned {got}, second got {second}, left {left}: duplicates or strangers"
    if left != sorted(left):
        return f"left {left}: out of order"
    lost = [item for item in put if item not in seen]
    if stop.completed and (lost or not 1 <= len(got) <= most):
        return f"completed, yet returned {got}, lost {lost}"
    if len(lost) > most:
        return f"lost {lost}: more than the {most} an interrupted get may take"
    expected = len(put) + len(extra)
    if unfinished(buf) != expected:
        return f"unfinished tasks {unfinished(buf)}, expected {expected}"
    for _ in range(expected):
        buf.task_done()
    if buf.waiting != (0, 0):
        return f"waiting counts left at {buf.waiting}"
    return permits_problem(buf)


def run_woken_case(variant, backend, putting, operation, wake, check, least=3) -> None:
    """Interrupt ``operation`` at every position after its wake-up; every real position but
    the permit window must leave the buffer whole (see the module)."""
    position, broken, checked = 0, {}, 0
    while True:
        position += 1
        scene = Scene(variant, backend, putting, wake)
        try:
            stop, result = scene.run(position, operation)
            if scene.waker_error:
                raise AssertionError(f"the waker failed: {scene.waker_error[0]!r}")
            if stop.completed or not within_limits(variant, stop):
                checked += 1
                problem = lock_problem(scene.buf) or check(scene, stop, result)
                if problem:
                    broken[position] = f"{stop!r}: {problem}"
        finally:
            scene.release_second()
            scene.buf.close()
        if stop.completed:
            break
    assert position > least, position
    assert not broken, f"{len(broken)} of {checked} positions left it broken: {broken}"


#: The process cases sleep through long slices at many of their positions: about two minutes
#: each, too long for every run of the suite. They run when PCMODEL_LONG_INTERRUPTS is set (as
#: the long fault campaign runs with PCMODEL_LONG_CAMPAIGN); the thread cases always run.
LONG = bool(os.environ.get("PCMODEL_LONG_INTERRUPTS"))
CASES = [pytest.param(variant, backend, id=f"{variant}-{backend}",
                      marks=() if backend == "thread" or LONG else pytest.mark.skip(
                          reason="about two minutes a case: set PCMODEL_LONG_INTERRUPTS=1"))
         for variant in ("condition", "semaphore") for backend in ("thread", "process")]


@pytest.fixture(autouse=True)
def long_slices(monkeypatch):
    monkeypatch.setattr(robust, "SLICE", LONG_SLICE)
    monkeypatch.setattr(robust_semaphore, "SLICE", LONG_SLICE)


# -- putters: the buffer is full, the waker frees one slot or more ----------------------------


@pytest.mark.parametrize(("variant", "backend"), CASES)
@pytest.mark.parametrize("freed", [1, 2])
def test_a_woken_put_interrupted_stores_whole_and_passes_its_wake_up_on(variant, backend,
                                                                        freed):
    run_woken_case(variant, backend, True, lambda buf: buf.put(10),
                   lambda buf: buf.get() if freed == 1 else buf.get_many(freed),
                   lambda scene, stop, _: put_side_problem(scene, stop, [10], freed))


@pytest.mark.parametrize(("variant", "backend"), CASES)
@pytest.mark.parametrize(("batch", "freed"), [([10], 2), ([10, 11], 3)])
def test_a_woken_put_many_interrupted_stores_a_first_part_and_passes_its_wake_up_on(
        variant, backend, batch, freed):
    run_woken_case(variant, backend, True, lambda buf: buf.put_many(batch),
                   lambda buf: buf.get_many(freed),
                   lambda scene, stop, _: put_side_problem(scene, stop, batch, freed))


# -- getters: the buffer is empty, the waker puts one item or more ---------------------------


@pytest.mark.parametrize(("variant", "backend"), CASES)
@pytest.mark.parametrize("put", [[0], [0, 1]])
def test_a_woken_get_interrupted_takes_the_head_or_nothing_and_passes_its_wake_up_on(
        variant, backend, put):
    run_woken_case(variant, backend, False, lambda buf: buf.get(),
                   lambda buf: buf.put(0) if len(put) == 1 else buf.put_many(put),
                   lambda scene, stop, result: get_side_problem(scene, stop, result, put, 1))


@pytest.mark.parametrize(("variant", "backend"), CASES)
@pytest.mark.parametrize(("most", "put"), [(1, [0, 1]), (2, [0, 1, 2])])
def test_a_woken_get_many_interrupted_takes_a_first_part_and_passes_its_wake_up_on(
        variant, backend, most, put):
    run_woken_case(variant, backend, False, lambda buf: buf.get_many(most),
                   lambda buf: buf.put_many(put),
                   lambda scene, stop, result: get_side_problem(scene, stop, result, put, most))

