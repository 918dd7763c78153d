"""The ``queue`` variant on processes: each item pickled once, written by its caller when it fits,
and a producer that dies while writing breaks the buffer instead of hanging its getters."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import threading
from multiprocessing.reduction import ForkingPickler

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.errors import BufferBroken
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")
SOON = 30.0  # a spawned child imports pcmodel first: seconds on a busy machine


def largest_pipe() -> int:
    """The most bytes a pipe may grow to hold here (Linux), or 1 MiB (the usual default)."""
    try:
        with open("/proc/sys/fs/pipe-max-size", "rb") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 1 << 20


@pytest.mark.timeout(30)
def test_each_item_is_pickled_once_and_unpickled_once(monkeypatch):
    calls = {"dumps": 0, "loads": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    class CountingPickler(pickle.Pickler):
        def dump(self, obj):
            calls["dumps"] += 1
            return super().dump(obj)

    # Every way an item or its pickle could be serialised again on its way through the pipe.
    monkeypatch.setattr(pickle, "Pickler", CountingPickler)
    monkeypatch.setattr(pickle, "dumps", counting("dumps", pickle.dumps))
    monkeypatch.setattr(pickle, "loads", counting("loads", pickle.loads))
    monkeypatch.setattr(ForkingPickler, "dumps", counting("dumps", ForkingPickler.dumps))
    monkeypatch.setattr(ForkingPickler, "loads", counting("loads", ForkingPickler.loads))
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        items = [{"n": 1}, b"x" * 100_000, "three"]  # a large one is pickled in pieces
        for item in items:
            buf.put(item)
        assert [buf.get(timeout=SOON) for _ in items] == items
        assert calls == {"dumps": 3, "loads": 3}


@pytest.mark.timeout(30)
def test_a_small_item_is_written_by_its_caller_with_no_thread_to_wake():
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        before = {thread.ident for thread in threading.enumerate()}
        for n in range(3):
            buf.put(n)
            assert buf.get_nowait() == n
        started = [t.name for t in threading.enumerate() if t.ident not in before]
        assert started == [], f"put() started {started} to write a small item"


def put_in_order(buf, sizes):
    for index, size in enumerate(sizes):
        buf.put((index, b"x" * size))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_producer_s_items_keep_their_order_between_its_writes_and_its_feeder_s(method):
    """Small items written at once, large ones and those that find the pipe full left to the
    feeder thread: the getter still sees them in the order they were put."""
    ctx = multiprocessing.get_context(method)
    sizes = [10, 200_000, 10, 10, 5_000, 10] + [1_000] * 200 + [10, 70_000, 10]
    with make_buffer("queue", 0, "process", context=ctx) as buf:
        child = ctx.Process(target=put_in_order, args=(buf, sizes))
        child.start()
        got = [buf.get(timeout=SOON) for _ in sizes]
        child.join(SOON)
        assert child.exitcode == 0
        assert [(index, len(data)) for index, data in got] == list(enumerate(sizes))
        with pytest.raises(queue.Empty):
            buf.get_nowait()


def put_and_die(buf, item):
    buf.put(item)
    os.kill(os.getpid(), signal.SIGKILL)


def put_and_die_writing(buf, item):
    buf.put(item)
    pipe = buf._queue._pipe
    wait_until(lambda: pipe._reader.poll(0))  # its feeder has begun to write the item
    os.kill(os.getpid(), signal.SIGKILL)


def get_into(buf, results):
    try:
        results.put(("got", len(buf.get(timeout=SOON))))
    except BufferBroken as exc:
        results.put(("broken", str(exc)))


@pytest.mark.timeout(180)
def test_a_producer_killed_in_the_middle_of_writing_an_item_breaks_the_buffer():
    """Nobody reads while the producer's feeder writes an item larger than the pipe can grow
    to hold, so the pipe fills with part of it; the producer dies there. Its getter must not
    wait for the rest for ever."""
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        item = b"x" * (2 * largest_pipe())
        producer = FORK.Process(target=put_and_die_writing, args=(buf, item))
        producer.start()
        producer.join(SOON)
        assert producer.exitcode == -signal.SIGKILL
        results = FORK.SimpleQueue()
        getter = FORK.Process(target=get_into, args=(buf, results))
        getter.start()
        getter.join(3 * SOON)
        if getter.exitcode is None:  # still reading the half-written item
            getter.kill()
            getter.join(SOON)
            pytest.fail("a getter waited for ever for the rest of a dead producer's item")
        outcome, detail = results.get()
        assert outcome == "broken", detail
        assert "died holding the buffer's lock" in detail


@pytest.mark.timeout(180)
def test_a_producer_killed_with_an_item_in_its_feeder_breaks_the_buffer():
    """The pipe's write lock is busy, so the producer's put() leaves its item to the feeder
    thread and returns; the producer dies before the feeder could write it."""
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        write_lock = buf._queue._pipe._write_lock
        with write_lock:
            producer = FORK.Process(target=put_and_die, args=(buf, "lost"))
            producer.start()
            producer.join(SOON)
            assert producer.exitcode == -signal.SIGKILL
        with pytest.raises(BufferBroken, match="died before its feeder thread wrote 1 item"):
            buf.get(timeout=SOON)


def put_then_exit(buf, item):
    buf.put(item)  # left to the feeder thread, which writes it before the process exits


@pytest.mark.timeout(180)
def test_a_producer_that_exited_after_its_feeder_wrote_everything_breaks_nothing():
    """A getter waiting for a live producer's item checks the producers: one that exited
    normally, its feeder's items all written, owes nothing and is no reason to break."""
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        done = FORK.Process(target=put_then_exit, args=(buf, b"a" * 100_000))
        done.start()
        assert len(buf.get(timeout=SOON)) == 100_000
        done.join(SOON)
        assert done.exitcode == 0
        checks = []
        check_producers = buf._queue._check_producers
        buf._queue._check_producers = lambda: (checks.append(1), check_producers())
        got = []
        getter = threading.Thread(target=lambda: got.append(buf.get()))
        with buf._queue._pipe._write_lock:  # the next item waits in its producer's feeder
            alive = FORK.Process(target=put_then_exit, args=(buf, "late"))
            alive.start()
            getter.start()
            wait_until(lambda: len(checks) >= 2)  # the getter looked at the producers twice
        getter.join(SOON)
        alive.join(SOON)
        assert got == ["late"] and alive.exitcode == 0
