"""The ``queue`` variant on processes, stopped half-way by an exception (Ctrl-C's
KeyboardInterrupt, a dead peer): its counts, permits and pipe frames still match afterwards.

Each interrupt is raised deterministically, by a stand-in for the step it interrupts.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading

import pytest

from pcmodel.buffers import item_pipe, make_buffer
from pcmodel.errors import BufferBroken, ShutDown
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")
SOON = 10.0
BIG = b"x" * 100_000  # a frame larger than PIPE_BUF: read and written in pieces when need be


def debt(buf) -> int:
    """This process's permits taken minus given on the buffer's semaphores (a process that
    exits owing some breaks the buffer for everyone)."""
    health = buf._queue._health
    return health.table[health.debt_slot()]


def raising_once(real, exc=KeyboardInterrupt):
    """``real``, but its first call raises ``exc`` instead (the interrupt lands before it)."""
    calls = []

    def call(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise exc
        return real(*args, **kwargs)
    return call


class LockInterruptedOnce:
    """The queue's lock, but the first ``with`` raises KeyboardInterrupt before taking it: a
    Ctrl-C while the caller waits for the lock."""

    def __init__(self, lock):
        self.lock, self.armed = lock, True

    def __enter__(self):
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return self.lock.__enter__()

    def __exit__(self, *exc_info):
        return self.lock.__exit__(*exc_info)


def within(seconds, call):
    """``call()``'s result, or a failure if it has not returned within ``seconds``."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(_catching(call)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{call} did not return within {seconds} s")
    kind, value = outcome[0]
    if kind == "raised":
        raise value
    return value


def _catching(call):
    try:
        return "returned", call()
    except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
        return "raised", exc


@pytest.mark.timeout(60)
@pytest.mark.parametrize("maxsize", [1, 0])
def test_a_put_interrupted_before_its_item_is_sent_takes_back_its_count_and_slot(maxsize):
    with make_buffer("queue", maxsize, "process", context=FORK) as buf:
        pipe = buf._queue._pipe
        pipe.send = raising_once(pipe.send)
        with pytest.raises(KeyboardInterrupt):
            buf.put("interrupted")
        assert buf.qsize() == 0
        assert debt(buf) == 0
        buf.put_nowait("next")  # its slot was given back
        assert buf.get(timeout=SOON) == "next"
        buf.task_done()
        assert buf._queue._counts.unfinished == 0  # join() does not wait for the lost put
        with pytest.raises(queue.Empty):
            buf.get_nowait()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("maxsize", [1, 0])
def test_a_put_interrupted_waiting_for_the_queue_s_lock_gives_back_its_slot(maxsize):
    with make_buffer("queue", maxsize, "process", context=FORK) as buf:
        buf._queue._lock = LockInterruptedOnce(buf._queue._lock)
        with pytest.raises(KeyboardInterrupt):
            buf.put("interrupted")
        assert buf.qsize() == 0 and debt(buf) == 0
        buf.put_nowait("next")
        assert buf.get(timeout=SOON) == "next"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("maxsize", [1, 0])
def test_a_get_interrupted_waiting_for_the_queue_s_lock_leaves_the_item(maxsize):
    with make_buffer("queue", maxsize, "process", context=FORK) as buf:
        buf.put("kept")
        buf._queue._lock = LockInterruptedOnce(buf._queue._lock)
        with pytest.raises(KeyboardInterrupt):
            buf.get(timeout=SOON)
        assert buf.qsize() == 1 and debt(buf) == 0
        assert buf.get(timeout=SOON) == "kept"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("maxsize", [1, 0])
def test_a_get_interrupted_waiting_for_its_item_to_arrive_leaves_it(maxsize):
    """The item's frame has not reached the pipe when the getter looks (its producer's feeder
    still holds it); Ctrl-C comes while the getter waits for it."""
    with make_buffer("queue", maxsize, "process", context=FORK) as buf:
        buf.put("kept")
        pipe = buf._queue._pipe
        recv_nowait = pipe.recv_nowait

        def not_there_yet():
            pipe.recv_nowait = recv_nowait  # the next look finds it
            return None

        pipe.recv_nowait = not_there_yet
        pipe.wait_readable = raising_once(pipe.wait_readable)
        with pytest.raises(KeyboardInterrupt):
            buf.get(timeout=SOON)
        assert buf.qsize() == 1 and debt(buf) == 0
        assert buf.get(timeout=SOON) == "kept"
        buf.put_nowait("next")  # the slot is there
        assert buf.get(timeout=SOON) == "next"


class PollerInterruptedOnce:
    """A poller whose first ``poll`` raises KeyboardInterrupt: Ctrl-C while a frame's rest is
    awaited."""

    def __init__(self, poller):
        self.poller, self.armed = poller, True

    def poll(self, ms):
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return self.poller.poll(ms)


@pytest.mark.timeout(60)
def test_a_get_interrupted_in_the_middle_of_a_large_item_reads_it_whole(monkeypatch):
    """The first read finds half of the frame, the rest is not there yet, and Ctrl-C comes
    while the getter waits for it. Stopped there, the getter would leave the rest in the pipe
    for the next getter to take as a length."""
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        buf.put(BIG)
        pipe = buf._queue._pipe
        pipe._poller = PollerInterruptedOnce(pipe._poller)
        real_readv = os.readv
        reads = []

        def readv_in_halves(fd, buffers):
            reads.append(1)
            if len(reads) == 1:
                view = buffers[0]
                return real_readv(fd, [view[:len(view) // 2]])
            if len(reads) == 2:
                raise BlockingIOError  # the rest is still on its way
            return real_readv(fd, buffers)

        monkeypatch.setattr(item_pipe.os, "readv", readv_in_halves)
        with pytest.raises(KeyboardInterrupt):
            buf.get(timeout=SOON)
        monkeypatch.undo()
        assert buf.qsize() == 0 and debt(buf) == 0  # the item was taken (and is lost)
        buf.put("after")
        assert within(SOON, lambda: buf.get(timeout=SOON)) == "after"
        assert [buf.put_nowait(n) for n in range(4)] == [None] * 4  # every slot is free
        assert len(reads) >= 3  # the getter read on after the interrupt


@pytest.mark.timeout(60)
def test_a_put_interrupted_in_the_middle_of_writing_a_large_item_delivers_it(monkeypatch):
    """The pipe takes part of the frame; Ctrl-C comes while the putter waits for room for the
    rest. The frame is finished and the item delivered, then the interrupt goes on."""
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        buf.put("first")  # the pipe's fields are made for this process
        pipe = buf._queue._pipe
        pipe._room = PollerInterruptedOnce(pipe._room)
        real_writev = os.writev
        writes = []

        def writev_header_then_no_room(fd, buffers):
            if fd != pipe._write_fd:
                return real_writev(fd, buffers)
            writes.append(1)
            if len(writes) == 1:
                return real_writev(fd, [buffers[0]])  # the pipe took the length only
            if len(writes) == 2:
                raise BlockingIOError  # no room for the rest yet
            return real_writev(fd, buffers)

        monkeypatch.setattr(item_pipe.os, "writev", writev_header_then_no_room)
        assert buf.get(timeout=SOON) == "first"
        with pytest.raises(KeyboardInterrupt):
            buf.put(BIG)
        monkeypatch.undo()
        assert buf.qsize() == 1 and debt(buf) == 0
        assert within(SOON, lambda: buf.get(timeout=SOON)) == BIG
        buf.put("after")
        assert within(SOON, lambda: buf.get(timeout=SOON)) == "after"
        assert len(writes) >= 3  # the putter wrote on after the interrupt


@pytest.mark.timeout(60)
def test_an_interrupted_immediate_shutdown_still_wakes_blocked_putters():
    with make_buffer("queue", 1, "process", context=FORK) as buf:
        buf.put("kept")
        outcome = []

        def blocked_put():
            try:
                buf.put("blocked", timeout=SOON)
                outcome.append("put")
            except (queue.Full, ShutDown) as exc:
                outcome.append(type(exc).__name__)

        putter = threading.Thread(target=blocked_put)
        putter.start()
        sleepers = buf._queue._free._sleepers
        wait_until(lambda: sleepers.get_value() >= 1)  # the putter sleeps for a slot
        buf._queue._read_waiting = raising_once(buf._queue._read_waiting)
        with pytest.raises(KeyboardInterrupt):
            buf.shutdown(immediate=True)
        putter.join(SOON)
        assert outcome == ["ShutDown"]
        assert buf.qsize() == 1 and buf.get(timeout=SOON) == "kept"  # not discarded after all
        with pytest.raises(ShutDown):
            buf.get(timeout=SOON)


def count_then_die(buf):
    buf._queue._pipe.send = lambda data, owed: os._exit(3)  # dies after counting its item
    buf.put("never sent")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("maxsize", [1, 0])
def test_a_producer_killed_after_counting_its_item_breaks_the_buffer(maxsize):
    """Its item is counted but will never come: the getter must not wait for it in vain (nor,
    after a shutdown, for ever)."""
    with make_buffer("queue", maxsize, "process", context=FORK) as buf:
        producer = FORK.Process(target=count_then_die, args=(buf,))
        producer.start()
        producer.join(SOON)
        assert producer.exitcode == 3
        with pytest.raises(BufferBroken, match="permit"):
            buf.get(timeout=SOON)


def start_interrupted_then_put_and_exit(buf, item, putting):
    """A Ctrl-C lands in the feeder thread's start (which waits for the thread to run); the
    process then puts an item larger than the pipe and exits."""
    real_start = threading.Thread.start

    def start_then_interrupted(thread):
        real_start(thread)
        threading.Thread.start = real_start
        raise KeyboardInterrupt

    threading.Thread.start = start_then_interrupted
    pipe = buf._queue._pipe
    with pipe._write_lock:  # the put leaves the item to the feeder, whose start is interrupted
        try:
            buf.put("interrupted")
        except KeyboardInterrupt:
            pass
    buf.put(item)  # the feeder writes what the pipe takes and waits for room for the rest
    putting.set()


@pytest.mark.timeout(60)
def test_a_feeder_whose_start_was_interrupted_still_writes_its_items_before_exit():
    """At exit a process waits for its feeder to write what it holds (as multiprocessing.Queue's
    does); one whose start was interrupted was left out, and killed at exit half-way through an
    item, which broke the buffer."""
    item = b"y" * (4 << 20)  # more than a pipe holds
    with make_buffer("queue", 0, "process", context=FORK) as buf:
        putting = FORK.Event()
        producer = FORK.Process(target=start_interrupted_then_put_and_exit,
                                args=(buf, item, putting))
        producer.start()
        assert putting.wait(SOON)
        # A producer that does not wait for its feeder exits now; one that waits cannot exit
        # before its item is read.
        producer.join(3)
        assert buf.qsize() == 1
        assert within(SOON, lambda: buf.get(timeout=SOON)) == item
        producer.join(SOON)
        assert producer.exitcode == 0
