"""A Ctrl-C at any instruction of a buffer operation leaves the buffer whole for its peers.

Python raises ``KeyboardInterrupt`` between two bytecodes of the main thread, wherever it is, and
a notebook or a command that catches it goes on using the buffer. Each test runs one operation of
one variant on one backend under a tracer that raises it at the operation's first instruction,
then its second, and so on until the operation completes (:mod:`tests.buffers.interrupting`), and
after each run checks from another thread that the buffer is whole:

* its lock is free and nobody is counted as waiting;
* what a peer drains from it is what was there before, in order, changed only as the operation
  may change it: an interrupted put stored its item or did not, an interrupted put_many stored
  the first items of its batch, an interrupted get or get_many took the first items or did not
  (an item taken and not yet returned is lost to the caller, as with ``queue.Queue.get``), an
  interrupted immediate shutdown discarded the first items;
* ``qsize()`` says as much, and the count of unfinished tasks matches (each item stored and not
  marked done, a lost one included; each discarded one done), so ``join()`` returns when it
  should;
* no permit was lost or invented: afterwards a peer puts ``maxsize`` items without waiting and
  not one more, and takes them back, in order, and not one more;
* an interrupted shutdown, called again as one does after a Ctrl-C, wakes a blocked getter.

A real Ctrl-C lands only at a function's entry, after a call or at a backward jump
(:func:`~tests.buffers.interrupting.landings`): every such position must leave the buffer whole,
but where the buffers document a limit (inside a lock's or a semaphore's own code, and in the
instant a semaphore's acquire returns a permit to the semaphore variant). The tracer also stops
at positions no real Ctrl-C reaches (between two stores, say); those are not checked. Set
``PCMODEL_INTERRUPT_COUNTS`` to a file's path to have the counts appended to it.
"""

from __future__ import annotations

import itertools
import linecache
import multiprocessing
import os
import queue
import sys
import threading
import time
import types

import pytest

from pcmodel.buffers import (
    SemaphoreBuffer,
    condition,
    make_buffer,
    run_semaphore,
    semaphore,
    stdqueue,
)
from pcmodel.buffers.spinning import Spinner
from pcmodel.errors import ShutDown
from tests.buffers.interrupting import landings, positions

FORK = multiprocessing.get_context("fork")
MAXSIZE = 4
# Every bytecode position of a call is interrupted in turn: 6 s of a process case on a busy
# 2-core machine; the timeout only catches a hang.
pytestmark = pytest.mark.timeout(180)
SOON = 2.0  # seconds a peer's check may take before it counts as a hang
CASES = [(variant, backend) for variant in ("condition", "semaphore", "queue")
         for backend in ("thread", "process")
         if (variant, backend) != ("queue", "process")]  # see the end of the module
THREADS = [(variant, "thread") for variant in ("condition", "queue")]  # see the report below


def make(variant: str, backend: str, prefill: int, *, spin: bool = True):
    """A buffer holding items ``0 .. prefill - 1``, none marked done. Without ``spin``, its
    process primitives sleep at once instead of busy-waiting first (a waiting operation's
    instructions are then the algorithm's, not thousands of tries)."""
    options = {"context": FORK} if backend == "process" else {}
    buf = make_buffer(variant, MAXSIZE, backend, **options)
    for item in range(prefill):
        buf.put(item)
    if backend == "process" and not spin:
        for primitive in primitives(buf):
            if hasattr(primitive, "_spinner"):
                primitive._spinner = Spinner(0)
    return buf


def primitives(buf) -> list:
    holder = buf._queue if buf.variant == "queue" and hasattr(buf._queue, "_free") else buf
    names = ("_mutex", "_not_full", "_not_empty", "_all_tasks_done", "_empty_slots",
             "_full_slots", "_free", "_ready", "_lock")
    return [getattr(holder, name) for name in names if getattr(holder, name, None) is not None]


def unfinished(buf) -> int:
    if buf.variant != "queue":
        return buf._state.unfinished
    q = buf._queue
    return q._counts.unfinished if hasattr(q, "_counts") else q.unfinished_tasks


def within(call, seconds: float = SOON):
    """``call()``'s outcome in a peer thread: ("returned", value), ("raised", exception) or
    ("hung", None) if it has not returned within ``seconds``."""
    outcome = []

    def run():
        try:
            outcome.append(("returned", call()))
        except BaseException as exc:  # noqa: BLE001 - handed to the checking thread
            outcome.append(("raised", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else ("hung", None)


def lock_problem(buf) -> str | None:
    """Why a peer cannot take the buffer's lock now, or None. A process lock left with this
    thread (its documented limit) is taken back by this thread's next acquire first."""
    if buf.variant == "queue":
        q = buf._queue
        lock = getattr(q, "_lock", None) or q.mutex
    else:
        lock = buf._mutex
    held_here = getattr(lock, "held_here", None)
    if held_here is not None and held_here():
        lock.acquire()
        lock.release()

    def take():
        if not lock.acquire(True, 1.0):
            return False
        lock.release()
        return True
    kind, value = within(take)
    return None if kind == "returned" and value else f"lock not free ({kind} {value!r})"


def drain(buf) -> list:
    """Everything a peer can take now, in order, without waiting."""
    taken = []
    while True:
        try:
            taken.append(buf.get_nowait())
        except (queue.Empty, ShutDown):
            return taken


def permits_problem(buf) -> str | None:
    """Why a peer cannot fill the drained buffer and empty it again, or None."""
    def fill_and_empty():
        for item in range(MAXSIZE):
            try:
                buf.put_nowait(100 + item)
            except queue.Full:
                return f"a slot lost: only {item} of {MAXSIZE} puts found room"
        try:
            buf.put_nowait(-1)
            return "a slot invented: a put found room in a full buffer"
        except queue.Full:
            pass
        got = drain(buf)
        if got != [100 + item for item in range(MAXSIZE)]:
            return f"refilled, then took {got}"
        for _ in range(MAXSIZE):
            buf.task_done()
        return None
    kind, value = within(fill_and_empty)
    return value if kind == "returned" else f"refill {kind} {value!r}"


def whole(buf, prior: list, new: list, completed: bool, *, takes: bool = False,
          discards: bool = False, done: int = 0, outstanding: int = 0) -> str | None:
    """Why ``buf`` is not whole after an operation on a buffer holding ``prior`` (items put,
    none done) that may store a first part of ``new``, take a first part of ``prior``
    (``takes``), discard one (``discards``: an immediate shutdown) or mark ``done`` tasks done
    (when it completed; maybe when interrupted) of the ``outstanding`` ones taken before;
    None if it is."""
    problem = lock_problem(buf)
    if problem:
        return problem
    if buf.variant != "queue" and buf.waiting != (0, 0):
        return f"waiting counts left at {buf.waiting}"
    size = buf.qsize()
    outcome = within(lambda: drain(buf))
    if outcome[0] != "returned":
        return f"drain {outcome[0]} {outcome[1]!r}"
    left = outcome[1]
    if size != len(left):
        return f"qsize() said {size}, a peer took {left}"
    gone = 0
    while gone <= len(prior) and left[:len(prior) - gone] != prior[gone:]:
        gone += 1
    stored = left[len(prior) - gone:]
    if gone > len(prior) or stored != new[:len(stored)]:
        return f"left {left}: not a rest of {prior} then a start of {new}"
    if gone and not (takes or discards):
        return f"{gone} item(s) gone: left {left} of {prior}"
    if completed and (stored != new or (takes and not gone)
                      or (discards and gone != len(prior))):
        return f"completed, yet left {left}"
    tasks = outstanding + len(prior) + len(stored) - (gone if discards else 0)
    counted = unfinished(buf)
    if counted not in ({tasks - done} if completed else {tasks, tasks - done}):
        return f"unfinished tasks {counted}, expected {tasks} (less {done} done)"
    for _ in range(counted):
        buf.task_done()
    if buf.is_shutdown:
        return None
    return permits_problem(buf)


def broken_positions(setup, operation, check, checked) -> tuple[int, dict]:
    """Interrupt ``operation`` at every position, checking the buffer after those that
    ``checked(position)`` names; (positions, {position: what was wrong})."""
    broken = {}

    def each(buf, completed, position):
        try:
            problem = check(buf, completed) if completed or checked(position) else None
        finally:
            buf.close()
        if problem:
            broken[position] = problem

    count = positions(setup, operation, each)
    return count, broken


# Where the buffers' documented limits lie (see the modules of the semaphore and queue variants
# and of the primitives): inside a semaphore's or a lock's own code, in the instant a
# semaphore's acquire returns a permit to the algorithm, which cannot see it yet, and inside
# the standard library's queue (the queue variant on threads; queue.Queue itself from 3.13).
_PRIMITIVES = ("robust.py", "robust_semaphore.py", "spinning.py", "stdqueue.py")
# The thread semaphore's paths that do not sleep (its sleeping path leaves nothing behind).
_RUN_SEMAPHORE = ("acquire", "acquire_up_to", "release")
_PERMIT_CALLS = (".acquire(", "_acquire_more(", "_wait(", "_wait_up_to(")


def within_limits(where: str) -> bool:
    """True if a position (``file:line function opcode``) lies where a buffer's documented
    limits allow an interrupt to lose a permit or keep a primitive's lock."""
    place, function, _ = where.split(" ")
    name, line = place.split(":")
    if name in _PRIMITIVES or (name == "run_semaphore.py" and function in _RUN_SEMAPHORE):
        return True
    if name != "semaphore.py":
        return False
    # The line Python names for the instruction after a call may be a neighbour of the call's
    # own, in a condition written over several lines.
    path = sys.modules[SemaphoreBuffer.__module__].__file__
    source = "".join(linecache.getline(path, number)
                     for number in range(int(line) - 1, int(line) + 2))
    return any(call in source for call in _PERMIT_CALLS)


def run_case(setup, operation, check, least: int = 5) -> None:
    """Every position a real Ctrl-C reaches leaves the buffer whole, but where the buffers'
    documented limits say otherwise (see the module). Only those positions are checked: one
    that no real Ctrl-C reaches, or a limit's, may leave a lock held for ever, and the peers
    that check it blocked with it."""
    buf = setup()
    try:
        where = landings(lambda: operation(buf))
    finally:
        buf.close()
    checked = {p for p, (real, place) in enumerate(where, 1)
               if real and not within_limits(place)}
    count, broken = broken_positions(setup, operation, check, checked.__contains__)
    assert count >= least and count == len(where), (count, len(where))
    counts = os.environ.get("PCMODEL_INTERRUPT_COUNTS")
    if counts:
        with open(counts, "a") as file:
            file.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}: "
                       f"{count} positions, {sum(r for r, _ in where)} real, {len(checked)} "
                       f"checked (outside the limits), broken {len(broken)}\n")
    found = {p: f"{where[p - 1][1]}: {problem}" for p, problem in broken.items()}
    assert not found, f"{len(found)} of {len(checked)} positions left it broken: {found}"


# -- the operations -------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "backend"), CASES)
def test_an_interrupted_put_stores_its_item_whole_or_not_at_all(variant, backend):
    run_case(lambda: make(variant, backend, 2), lambda buf: buf.put(10),
             lambda buf, completed: whole(buf, [0, 1], [10], completed))


#: A timed wait's timeout, on the stepped clock below: two of its steps.
WAIT = 2 * 2**-11


@pytest.fixture(name="stepped_clock")
def stepped_clock_fixture(monkeypatch):
    """``time.monotonic`` for the buffers' modules in the main thread (the one interrupted),
    each reading ``WAIT / 2`` seconds after the last (exact binary fractions): a timed wait
    then checks its deadline, waits once and times out, the same instructions on every run.
    On the real clock a loaded machine (and the tracer) could let the deadline pass before the
    first check, and the run that counts the positions skipped the wait that a later run made.
    The peers' checks, in other threads, keep the real clock."""
    ticks = itertools.count()
    main = threading.main_thread()

    def monotonic() -> float:
        if threading.current_thread() is main:
            return next(ticks) * (WAIT / 2)
        return time.monotonic()

    clock = types.SimpleNamespace(monotonic=monotonic)
    for module in (condition, semaphore, run_semaphore, stdqueue):
        monkeypatch.setattr(module, "time", clock)


@pytest.mark.parametrize(("variant", "backend"), THREADS)  # a process wait: see the module
def test_an_interrupted_put_that_waits_and_times_out_changes_nothing(variant, backend,
                                                                     stepped_clock):
    run_case(lambda: make(variant, backend, MAXSIZE, spin=False),
             lambda buf: pytest.raises(queue.Full, buf.put, 10, timeout=WAIT),
             lambda buf, completed: whole(buf, list(range(MAXSIZE)), [], False))


@pytest.mark.parametrize(("variant", "backend"), CASES)
def test_an_interrupted_get_takes_the_head_or_nothing(variant, backend):
    run_case(lambda: make(variant, backend, 3), lambda buf: buf.get(),
             lambda buf, completed: whole(buf, [0, 1, 2], [], completed, takes=True))


@pytest.mark.parametrize(("variant", "backend"), THREADS)
def test_an_interrupted_get_that_waits_and_times_out_changes_nothing(variant, backend,
                                                                     stepped_clock):
    run_case(lambda: make(variant, backend, 0, spin=False),
             lambda buf: pytest.raises(queue.Empty, buf.get, timeout=WAIT),
             lambda buf, completed: whole(buf, [], [], False))


@pytest.mark.parametrize(("variant", "backend"), CASES)
def test_an_interrupted_put_many_stores_a_first_part_of_its_batch(variant, backend):
    run_case(lambda: make(variant, backend, 1), lambda buf: buf.put_many([10, 11, 12]),
             lambda buf, completed: whole(buf, [0], [10, 11, 12], completed))


@pytest.mark.parametrize(("variant", "backend"), CASES)
def test_an_interrupted_put_many_that_runs_out_of_room_stores_a_first_part(variant, backend):
    def put_many(buf):
        with pytest.raises(queue.Full):
            buf.put_many([10, 11, 12, 13], block=False)

    run_case(lambda: make(variant, backend, 2), put_many,
             lambda buf, completed: whole(buf, [0, 1], [10, 11] if completed else [10, 11, 12],
                                          completed))


@pytest.mark.parametrize(("variant", "backend"), CASES)
def test_an_interrupted_get_many_takes_a_first_part(variant, backend):
    run_case(lambda: make(variant, backend, 3), lambda buf: buf.get_many(2),
             lambda buf, completed: whole(buf, [0, 1, 2], [], completed, takes=True))


@pytest.mark.parametrize(("variant", "backend"), CASES)
def test_an_interrupted_task_done_marks_one_task_or_none(variant, backend):
    def setup():
        buf = make(variant, backend, 2)
        assert buf.get() == 0  # its task outstanding
        return buf

    run_case(setup, lambda buf: buf.task_done(),
             lambda buf, completed: whole(buf, [1], [], completed, done=1, outstanding=1))


@pytest.mark.parametrize(("variant", "backend"), CASES)
def test_an_interrupted_immediate_shutdown_discards_a_first_part(variant, backend):
    run_case(lambda: make(variant, backend, 3), lambda buf: buf.shutdown(immediate=True),
             lambda buf, completed: whole(buf, [0, 1, 2], [], completed, discards=True))


@pytest.mark.parametrize(("variant", "backend"), CASES)
def test_a_shutdown_called_again_after_an_interrupt_wakes_getters_at_once(variant, backend):
    def check(buf, completed):
        problem = lock_problem(buf)
        if problem:
            return problem
        again = within(buf.shutdown)  # again, as a caller does after a Ctrl-C
        if again[0] != "returned":
            return f"the second shutdown {again[0]} {again[1]!r}"

        def get():
            started = time.monotonic()
            try:
                buf.get(timeout=1.0)
                return "got an item"
            except ShutDown:
                # A getter that had to wait for the timeout was not woken by the shutdown.
                return None if time.monotonic() - started < 0.5 else "woken by its timeout"
            except queue.Empty:
                return "never woken"
        outcome = within(get)
        return None if outcome == ("returned", None) else f"a getter: {outcome}"

    run_case(lambda: make(variant, backend, 0), lambda buf: buf.shutdown(), check)
