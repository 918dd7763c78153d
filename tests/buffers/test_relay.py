"""The condition variant wakes one waiter per change and the woken one passes the wake-up on.

A batch notifies a single waiter; a woken getter that leaves items behind (or a woken putter that
leaves space) notifies the next, and a woken waiter that leaves by an exception passes on the
wake-up it may have taken. These tests block real waiters (threads, on both backends), reach the
moment through the buffer's own waiter counts, and fail by a timeout if a wake-up is lost.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.errors import ShutDown
from tests.conftest import Interrupted, interrupt_the_first_waiter, wait_until

FORK = multiprocessing.get_context("fork")
SOON = 10  # seconds: a lost wake-up makes the waiter time out and the test fail

pytestmark = pytest.mark.timeout(60)


def condition_buffer(backend, maxsize):
    if backend == "process":
        return make_buffer("condition", maxsize, "process", context=FORK)
    return make_buffer("condition", maxsize, "thread")


def run_all(targets):
    threads = [threading.Thread(target=target, name=f"waiter-{k}")
               for k, target in enumerate(targets)]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_one_put_many_reaches_every_blocked_getter_it_brings_an_item_for(backend):
    buf = condition_buffer(backend, 8)
    got = []
    getters = run_all([lambda: got.append(buf.get(timeout=SOON)) for _ in range(4)])
    wait_until(lambda: buf._state.waiting_get == 4)
    buf.put_many(["a", "b", "c", "d"])
    for thread in getters:
        thread.join(SOON + 5)
    assert sorted(got) == ["a", "b", "c", "d"]
    assert buf.qsize() == 0
    buf.close()


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_one_get_many_lets_every_blocked_putter_in(backend):
    buf = condition_buffer(backend, 4)
    buf.put_many([0, 0, 0, 0])
    putters = run_all([lambda k=k: buf.put(k, timeout=SOON) for k in range(1, 5)])
    wait_until(lambda: buf._state.waiting_put == 4)
    assert buf.get_many(4) == [0, 0, 0, 0]
    for thread in putters:
        thread.join(SOON + 5)
    assert sorted(buf.get_many(4)) == [1, 2, 3, 4]
    buf.close()


def test_a_batch_notifies_one_waiting_getter_not_one_per_item():
    buf = condition_buffer("thread", 1024)
    notified = []
    real_notify = buf._not_empty.notify
    buf._not_empty.notify = lambda n=1: (notified.append(n), real_notify(n))
    sizes = []
    getters = run_all([lambda: sizes.append(len(buf.get_many(100, timeout=SOON)))
                       for _ in range(3)])
    wait_until(lambda: buf._state.waiting_get == 3)
    buf.put_many(range(100))
    assert notified == [1]  # one wake-up for the batch: the first get_many takes all of it
    buf.put_many(range(100))
    buf.put_many(range(100))
    for thread in getters:
        thread.join(SOON + 5)
    assert sizes == [100, 100, 100]


@pytest.mark.parametrize("side", ["getter", "putter"])
def test_a_woken_waiter_that_raises_passes_its_wake_up_on(side):
    buf = condition_buffer("thread", 1)
    condition = buf._not_empty if side == "getter" else buf._not_full
    waiting = (lambda: buf._state.waiting_get) if side == "getter" else (
        lambda: buf._state.waiting_put)
    interrupt_the_first_waiter(condition)
    if side == "putter":
        buf.put("full")
    outcome = {}

    def first():
        try:
            buf.get() if side == "getter" else buf.put("first")
        except Interrupted:
            outcome["first"] = "interrupted"

    def second():  # waits with no timeout: only a wake-up can let it go on
        try:
            outcome["second"] = buf.get() if side == "getter" else buf.put("second")
        except ShutDown as exc:
            outcome["second"] = exc

    first_thread = threading.Thread(target=first, name="first")
    first_thread.start()
    wait_until(lambda: waiting() == 1)  # the first waits first, so it is the one notified
    second_thread = threading.Thread(target=second, name="second")
    second_thread.start()
    wait_until(lambda: waiting() == 2)
    if side == "getter":
        buf.put("item")
    else:
        assert buf.get() == "full"
    first_thread.join(SOON)
    second_thread.join(SOON)
    lost = second_thread.is_alive()
    stored = buf.get_nowait() if side == "putter" and not lost else None
    buf.shutdown(immediate=True)  # lets a second waiter that was never woken go
    second_thread.join(SOON)
    assert not lost, "the wake-up the first waiter took was lost with it"
    assert outcome["first"] == "interrupted"
    if side == "getter":
        assert outcome["second"] == "item"
    else:
        assert outcome["second"] is None and stored == "second"


@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("capacity", [1, 3])
def test_singles_and_batches_mixed_lose_no_wake_up(backend, capacity):
    # Every waiter here waits without a timeout on the process side's slices only: a lost
    # wake-up between threads would hang the test (and fail it by its timeout); items are
    # counted so that none is lost or doubled.
    buf = condition_buffer(backend, capacity)
    producers, consumers, per_producer = 3, 3, 3000
    total = producers * per_producer
    taken: list[list] = [[] for _ in range(consumers)]
    left = [total]
    guard = threading.Lock()

    def produce(tag):
        sent, size = 0, 1
        while sent < per_producer:
            count = min(size, per_producer - sent)
            if count == 1:
                buf.put((tag, sent))
            else:
                buf.put_many([(tag, sent + k) for k in range(count)])
            sent += count
            size = size % 5 + 1  # 1, 2, 3, 4, 5, 1, ...

    def consume(slot):
        size = slot + 1
        while True:
            with guard:
                if left[0] <= 0:
                    return
                want = min(size, left[0])
                left[0] -= want
            got = 0
            while got < want:
                batch = [buf.get()] if want - got == 1 else buf.get_many(want - got)
                taken[slot].extend(batch)
                got += len(batch)
            size = size % 4 + 1

    threads = run_all([lambda tag=tag: produce(tag) for tag in range(producers)]
                      + [lambda slot=slot: consume(slot) for slot in range(consumers)])
    for thread in threads:
        thread.join(40)
    assert not any(thread.is_alive() for thread in threads), "a waiter was never woken"
    everything = [item for part in taken for item in part]
    assert sorted(everything) == sorted((tag, k) for tag in range(producers)
                                        for k in range(per_producer))
    for part in taken:  # each producer's items reach each consumer in order
        for tag in range(producers):
            mine = [k for t, k in part if t == tag]
            assert mine == sorted(mine)
    buf.close()
