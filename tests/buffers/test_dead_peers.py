"""A process SIGKILLed at a bad moment leaves no survivor blocked for ever.

Each test kills a real child at a chosen point, reached through events (never a sleep): holding
the buffer's lock, holding a semaphore permit it had not passed on, sleeping in get()/join(), or
right after put() returned. Survivors then either go on (the death harmed nothing) or raise
BufferBroken within seconds; none waits for ever.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading

import pytest

from pcmodel.buffers import VARIANTS, make_buffer, robust
from pcmodel.buffers.robust import RobustLock
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from pcmodel.errors import BufferBroken, ItemNotUnpicklable
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")
SPAWN = multiprocessing.get_context("spawn")
SOON = 10  # seconds within which a survivor must notice; it notices in about 0.1 s


def the_lock(buf):
    return buf._queue._lock if buf.variant == "queue" else buf._mutex


def hold_lock_forever(buf, holding, never):
    the_lock(buf).acquire()
    holding.set()
    never.wait()  # until killed


def get_and_report(buf, out):
    try:
        out.put(("item", buf.get(timeout=SOON * 3)))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put((type(exc).__name__, str(exc)))


def kill(child):
    os.kill(child.pid, signal.SIGKILL)
    child.join(SOON)
    assert child.exitcode == -signal.SIGKILL


def buffer_locks(buf):
    """Every lock of ``buf`` a process can hold: its robust locks, its semaphores' stock locks
    and the debt table's."""
    holders = [buf, buf._queue] if buf.variant == "queue" else [buf]
    parts = [value for holder in holders for value in vars(holder).values()]
    locks = [part for part in parts if isinstance(part, RobustLock)]
    locks += [part._stock_lock for part in parts if isinstance(part, RobustSemaphore)]
    return [*locks, locks[0]._health._claim]


def all_free(locks):
    """True if nobody holds any of ``locks`` now (each is taken and given back at once)."""
    for lock in locks:
        if not lock._sem.acquire(False):
            return False
        lock._sem.release()
    return True


def kill_asleep(buf, child, asleep):
    """SIGKILL ``child`` at a moment when ``asleep()`` and it holds none of the buffer's locks.

    Checked while the child is stopped, so that it cannot take a lock between check and kill: a
    sleeper counts itself as waiting *before* it lets go of the lock, and re-takes its locks
    every robust.SLICE to look around. Killed holding one, it would rightly break the buffer.
    """
    locks = buffer_locks(buf)

    def stopped_holding_nothing():
        os.kill(child.pid, signal.SIGSTOP)
        os.waitpid(child.pid, os.WUNTRACED)
        if asleep() and all_free(locks):
            return True
        os.kill(child.pid, signal.SIGCONT)
        return False

    wait_until(stopped_holding_nothing, SOON)
    kill(child)


# Every variant under fork; spawn (seconds per case) once: the shared state is the same.
LOCK_CASES = [(v, "fork") for v in VARIANTS] + [("condition", "spawn")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("variant", "method"), LOCK_CASES)
def test_death_holding_the_lock_breaks_the_buffer_for_every_survivor(variant, method):
    ctx = FORK if method == "fork" else SPAWN
    with make_buffer(variant, 2, "process", context=ctx) as buf:
        out = ctx.SimpleQueue()
        waiter = ctx.Process(target=get_and_report, args=(buf, out))
        waiter.start()
        holding = ctx.Event()
        never = ctx.Event()  # kept alive here: a spawned child opens it by name
        holder = ctx.Process(target=hold_lock_forever, args=(buf, holding, never))
        holder.start()
        assert holding.wait(SOON * 3)
        kill(holder)
        with pytest.raises(BufferBroken, match="a process died holding this buffer"):
            buf.put("x", timeout=SOON)
        kind, message = out.get()
        assert kind == "BufferBroken", message
        waiter.join(SOON)
        with pytest.raises(BufferBroken):  # and it stays broken
            buf.get(timeout=SOON)


def take_the_lock_unrecorded(buf, holding, never):
    the_lock(buf)._sem.acquire()  # as if killed before its pid was written down
    holding.set()
    never.wait()  # until killed


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_death_before_the_lock_records_its_holder_breaks_the_buffer(variant, monkeypatch):
    monkeypatch.setattr(robust, "HOLDERLESS_S", 0.3)
    with make_buffer(variant, 2, "process", context=FORK) as buf:
        holding, never = FORK.Event(), FORK.Event()
        child = FORK.Process(target=take_the_lock_unrecorded, args=(buf, holding, never))
        child.start()
        assert holding.wait(SOON)
        kill(child)
        with pytest.raises(BufferBroken, match="held by no recorded process for 0.3 s"):
            buf.put("x")  # without the rule, for ever: nobody's pid to check


def hold_the_lock_until(buf, holding, done):
    with the_lock(buf):
        holding.set()
        done.wait(SOON * 3)


@pytest.mark.timeout(60)
def test_a_live_holder_keeps_the_lock_as_long_as_it_likes(monkeypatch):
    monkeypatch.setattr(robust, "HOLDERLESS_S", 0.3)
    with make_buffer("condition", 2, "process", context=FORK) as buf:
        holding, done = FORK.Event(), FORK.Event()
        child = FORK.Process(target=hold_the_lock_until, args=(buf, holding, done))
        child.start()
        assert holding.wait(SOON)
        health = the_lock(buf)._health
        slices = []
        check = health.check
        monkeypatch.setattr(health, "check", lambda: slices.append(1) or check())
        putter = threading.Thread(target=buf.put, args=("x",))
        putter.start()
        wait_until(lambda: len(slices) >= 10, SOON)  # a second, more than HOLDERLESS_S
        assert putter.is_alive() and not health.broken
        done.set()
        putter.join(SOON)
        assert not putter.is_alive() and buf.get(timeout=SOON) == "x"
        child.join(SOON)


def take_a_free_slot_and_die_there(buf, holding, never):
    buf._empty_slots.acquire()
    holding.set()
    never.wait()  # until killed


@pytest.mark.timeout(60)
def test_death_between_a_permit_and_the_mutex_breaks_the_semaphore_buffer():
    with make_buffer("semaphore", 1, "process", context=FORK) as buf:
        holding = FORK.Event()
        never = FORK.Event()
        child = FORK.Process(target=take_a_free_slot_and_die_there, args=(buf, holding, never))
        child.start()
        assert holding.wait(SOON)
        kill(child)
        with pytest.raises(BufferBroken, match="permit"):
            buf.put("x")  # the only slot died with the child: without the check, for ever


def get_forever(buf):
    buf.get()


def asleep_in_get(buf):
    if buf.variant == "queue":
        return buf._queue._ready._sleepers.get_value() == 1
    return buf.waiting[1] == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_death_while_waiting_in_get_harms_nobody(variant):
    with make_buffer(variant, 2, "process", context=FORK) as buf:
        sleeper = FORK.Process(target=get_forever, args=(buf,))
        sleeper.start()
        kill_asleep(buf, sleeper, lambda: asleep_in_get(buf))
        out = FORK.SimpleQueue()
        survivor = FORK.Process(target=get_and_report, args=(buf, out))
        survivor.start()
        buf.put("for the survivor")  # a notify may go to the dead sleeper: not lost for long
        assert out.get() == ("item", "for the survivor")
        survivor.join(SOON)
        buf.put_many([1, 2])
        assert buf.get_many(5) == [1, 2]


def join_forever(buf, joined):
    buf.join()
    joined.set()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_death_while_waiting_in_join_harms_nobody(variant):
    with make_buffer(variant, 2, "process", context=FORK) as buf:
        buf.put("task")
        dead = FORK.Process(target=join_forever, args=(buf, FORK.Event()))
        dead.start()
        done = buf._queue._all_tasks_done if variant == "queue" else buf._all_tasks_done
        kill_asleep(buf, dead, lambda: done._sleepers.value == 1)
        joined = FORK.Event()
        alive = FORK.Process(target=join_forever, args=(buf, joined))
        alive.start()
        assert buf.get() == "task"
        buf.task_done()  # notify_all reaches a dead sleeper: must not wait for its answer
        assert joined.wait(SOON)
        alive.join(SOON)


def put_and_die(buf, item):
    buf.put(item)
    os.kill(os.getpid(), signal.SIGKILL)  # right after put() returned


@pytest.mark.timeout(60)
def test_queue_variant_producer_killed_after_put_delivers_or_breaks_never_hangs():
    """put() returned: the item arrives, or (its feeder thread died with it) every getter is
    told the buffer is broken. Never a getter blocked for ever."""
    outcomes = set()
    for attempt in range(5):
        with make_buffer("queue", 4, "process", context=FORK) as buf:
            child = FORK.Process(target=put_and_die, args=(buf, attempt))
            child.start()
            child.join(SOON)
            assert child.exitcode == -signal.SIGKILL
            try:
                assert buf.get(timeout=SOON) == attempt
                outcomes.add("delivered")
            except BufferBroken as exc:
                assert "died before its feeder thread wrote 1 item" in str(exc)
                outcomes.add("broken")
    assert outcomes <= {"delivered", "broken"}


def _explode():
    raise RuntimeError("this item cannot be rebuilt here")


class Explodes:
    """Pickles fine; unpickling raises (as a class missing in the receiver does)."""

    def __reduce__(self):
        return (_explode, ())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_get_many_keeps_the_good_items_when_one_cannot_be_unpickled(variant):
    with make_buffer(variant, 8, "process", context=FORK) as buf:
        buf.put(1)
        buf.put(Explodes())
        buf.put(3)
        with pytest.raises(ItemNotUnpicklable, match="could not be unpickled") as info:
            buf.get_many(8)
        delivered = list(info.value.items)
        while not buf.empty():
            delivered.append(buf.get_nowait())
        assert delivered == [1, 3] and info.value.failed == 1
        buf.put(Explodes())
        with pytest.raises(ItemNotUnpicklable):
            buf.get()
        with pytest.raises(queue.Empty):
            buf.get_nowait()


def produce_forever(buf, started):
    started.set()
    for value in range(10**9):
        buf.put(value)


ROUNDS = int(os.environ.get("PCMODEL_FAULT_ROUNDS", "3"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", VARIANTS)
def test_producer_killed_at_any_moment_never_wedges_the_consumer(variant):
    """The producer dies wherever it happens to be (holding the lock, between permits, in the
    feeder...): the consumer gets an ordered prefix, then Empty (timeout honoured) or
    BufferBroken. Set PCMODEL_FAULT_ROUNDS for a longer campaign."""
    outcomes = []
    for round_ in range(ROUNDS):
        with make_buffer(variant, 4, "process", context=FORK) as buf:
            started = FORK.Event()
            child = FORK.Process(target=produce_forever, args=(buf, started))
            child.start()
            assert started.wait(SOON)
            got = [buf.get(timeout=SOON) for _ in range(20 + 7 * round_)]
            kill(child)
            try:
                while True:
                    got.append(buf.get(timeout=0.5))
            except queue.Empty:
                outcomes.append("drained")
            except BufferBroken:
                outcomes.append("broken")
            assert got == list(range(len(got)))
    assert len(outcomes) == ROUNDS
