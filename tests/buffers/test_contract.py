"""The queue.Queue contract, shutdown and batches, for every variant on every backend.

One suite, parametrised over implementations (as CPython's test_queue runs one mixin against
several queues). Blocking is proven with sync points: a helper actor signals an Event when it
returns, and the test waits until the buffer reports the actor blocked (``buf.waiting``) before it
acts; where the variant cannot report that, a bounded wait shows only that an actor did *not*
return early.
"""

from __future__ import annotations

import math
import multiprocessing
import queue
import threading

import pytest

from pcmodel import ShutDown
from pcmodel.buffers import BACKENDS, VARIANTS, BatchFull, make_buffer
from tests.conftest import wait_until

FORK = multiprocessing.get_context("fork")
SPAWN = multiprocessing.get_context("spawn")
NOT_YET = 0.05  # how long we watch for an actor that must stay blocked (can only fail falsely)
LONG = 20  # generous bound for something that must happen

CASES = [(v, b) for b in BACKENDS for v in VARIANTS]


def new_buffer(variant, backend, maxsize, **options):
    if backend == "process":
        options.setdefault("context", FORK)
    return make_buffer(variant, maxsize, backend, **options)


@pytest.fixture(params=CASES, ids=[f"{v}-{b}" for v, b in CASES])
def case(request):
    return request.param


@pytest.fixture
def make(case):
    variant, backend = case
    created = []

    def factory(maxsize, **options):
        buf = new_buffer(variant, backend, maxsize, **options)
        created.append(buf)
        return buf

    yield factory
    for buf in created:
        buf.close()


class Actor:
    """Run ``fn`` in a thread; remember its result or exception; ``done`` is set on return."""

    def __init__(self, fn, *args):
        self.done = threading.Event()
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True)
        self.thread.start()

    def _run(self, fn, *args):
        try:
            self.result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self.done.set()

    def finish(self):
        assert self.done.wait(LONG), "actor did not return"
        self.thread.join(LONG)
        return self


def wait_blocked(buf, putters=0, getters=0):
    """Wait until the buffer reports this many blocked actors (or briefly, if it cannot tell)."""
    if buf.variant == "queue":
        threading.Event().wait(NOT_YET)
        return
    wait_until(lambda: buf.waiting == (putters, getters), LONG)


# -- queue.Queue basics -------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_fifo_and_observers(make):
    buf = make(3)
    assert (buf.empty(), buf.full(), buf.qsize(), buf.maxsize) == (True, False, 0, 3)
    for item in ("a", "b", "c"):
        buf.put(item)
    assert (buf.empty(), buf.full(), buf.qsize()) == (False, True, 3)
    assert [buf.get(), buf.get_nowait(), buf.get(timeout=1)] == ["a", "b", "c"]
    assert buf.empty()


@pytest.mark.timeout(30)
def test_nowait_and_timeouts_raise_stdlib_exceptions(make):
    buf = make(1)
    with pytest.raises(queue.Empty):
        buf.get_nowait()
    with pytest.raises(queue.Empty):
        buf.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        buf.get(block=False)
    buf.put_nowait(1)
    with pytest.raises(queue.Full):
        buf.put_nowait(2)
    with pytest.raises(queue.Full):
        buf.put(2, timeout=0.01)
    with pytest.raises(queue.Full):
        buf.put(2, block=False)
    assert buf.qsize() == 1 and buf.get() == 1


@pytest.mark.timeout(30)
def test_negative_timeout_is_a_value_error(make):
    buf = make(2)
    with pytest.raises(ValueError, match="non-negative"):
        buf.put(1, timeout=-1)
    with pytest.raises(ValueError, match="non-negative"):
        buf.get(timeout=-0.5)
    assert buf.qsize() == 0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("timeout", [math.nan, math.inf, 1e300], ids=repr)
def test_a_timeout_no_wait_can_have_is_a_value_error(case, make, timeout):
    # NaN made a blocked call spin for ever (every comparison with it is false), and infinity
    # or a timeout past threading.TIMEOUT_MAX overflowed the lock's wait, as queue.Queue's do.
    # The queue variant on threads, uninstrumented, is queue.Queue itself, calls and all.
    buf = make(1, instrument="counters") if case == ("queue", "thread") else make(1)
    with pytest.raises(ValueError, match="non-negative number of seconds up to"):
        buf.get(timeout=timeout)
    with pytest.raises(ValueError, match="non-negative number of seconds up to"):
        buf.get_many(5, timeout=timeout)
    buf.put(0)
    with pytest.raises(ValueError, match="non-negative number of seconds up to"):
        buf.put(1, timeout=timeout)
    with pytest.raises(ValueError, match="non-negative number of seconds up to"):
        buf.put_many([1, 2], timeout=timeout)
    assert buf.get(timeout=10) == 0 and buf.qsize() == 0  # nothing was put


@pytest.mark.timeout(30)
def test_unbounded_thread_buffers_never_block(case):
    variant, backend = case
    if backend == "process" and variant != "queue":
        with pytest.raises(ValueError, match="needs a bound"):
            new_buffer(variant, backend, 0)
        return
    buf = new_buffer(variant, backend, 0)
    try:
        for i in range(500):
            buf.put_nowait(i)
        assert not buf.full() and buf.qsize() == 500
        assert [buf.get() for _ in range(500)] == list(range(500))
    finally:
        buf.close()


@pytest.mark.timeout(30)
def test_blocked_put_resumes_when_space_appears(make):
    buf = make(1)
    buf.put("first")
    putter = Actor(buf.put, "second")
    wait_blocked(buf, putters=1)
    assert not putter.done.is_set()
    assert buf.get() == "first"
    assert putter.finish().error is None
    assert buf.get() == "second"


@pytest.mark.timeout(30)
def test_blocked_get_resumes_when_an_item_arrives(make):
    buf = make(2)
    getter = Actor(buf.get)
    wait_blocked(buf, getters=1)
    assert not getter.done.is_set()
    buf.put("x")
    assert getter.finish().result == "x"


@pytest.mark.timeout(30)
def test_task_done_and_join(make):
    buf = make(4)
    with pytest.raises(ValueError, match="too many"):
        buf.task_done()
    buf.put(1)
    buf.put(2)
    joiner = Actor(buf.join)
    buf.get()
    buf.task_done()
    buf.get()
    assert not joiner.done.wait(NOT_YET)  # one item taken but not yet done
    buf.task_done()
    assert joiner.finish().error is None
    with pytest.raises(ValueError, match="too many"):
        buf.task_done()


# -- shutdown (Python 3.13 semantics) ------------------------------------------------------------

@pytest.mark.timeout(30)
def test_shutdown_wakes_every_blocked_putter(make):
    buf = make(1)
    buf.put(0)
    putters = [Actor(buf.put, i) for i in range(3)]
    wait_blocked(buf, putters=3)
    buf.shutdown()
    for actor in putters:
        assert isinstance(actor.finish().error, ShutDown)
    with pytest.raises(ShutDown):
        buf.put(9)
    with pytest.raises(ShutDown):
        buf.put_nowait(9)
    assert buf.get() == 0  # what was in stays available


@pytest.mark.timeout(30)
def test_shutdown_wakes_every_blocked_getter(make):
    buf = make(2)
    getters = [Actor(buf.get) for _ in range(3)]
    wait_blocked(buf, getters=3)
    buf.shutdown()
    for actor in getters:
        assert isinstance(actor.finish().error, ShutDown)
    with pytest.raises(ShutDown):
        buf.get()
    with pytest.raises(ShutDown):
        buf.get_nowait()
    assert buf.is_shutdown


@pytest.mark.timeout(30)
def test_get_drains_then_raises_after_shutdown(make):
    buf = make(3)
    for i in range(3):
        buf.put(i)
    buf.shutdown()
    assert [buf.get(), buf.get_nowait(), buf.get(timeout=1)] == [0, 1, 2]
    with pytest.raises(ShutDown):
        buf.get_nowait()
    with pytest.raises(ShutDown):
        buf.get(timeout=1)


@pytest.mark.timeout(30)
def test_immediate_shutdown_discards_and_counts_discarded_as_done(make):
    buf = make(4)
    for i in range(3):
        buf.put(i)
    assert buf.get() == 0  # taken, not yet done: join must still wait for it
    joiner = Actor(buf.join)
    buf.shutdown(immediate=True)
    assert buf.qsize() == 0
    with pytest.raises(ShutDown):
        buf.get_nowait()
    assert not joiner.done.wait(NOT_YET)
    buf.task_done()
    assert joiner.finish().error is None


@pytest.mark.timeout(30)
def test_immediate_shutdown_wakes_blocked_getters(make):
    buf = make(2)
    getters = [Actor(buf.get) for _ in range(2)]
    wait_blocked(buf, getters=2)
    buf.shutdown(immediate=True)
    for actor in getters:
        assert isinstance(actor.finish().error, ShutDown)


# -- batches ----------------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_put_many_get_many_keep_order(make):
    buf = make(10)
    buf.put_many(range(7))
    assert buf.qsize() == 7
    assert buf.get_many(3) == [0, 1, 2]
    assert buf.get_many(100) == [3, 4, 5, 6]
    with pytest.raises(queue.Empty):
        buf.get_many(5, timeout=0.01)
    with pytest.raises(queue.Empty):
        buf.get_many(5, block=False)


@pytest.mark.timeout(30)
def test_put_many_larger_than_capacity_flows_through_a_consumer(make):
    buf = make(3)
    received = []

    def consume():
        while len(received) < 50:
            received.extend(buf.get_many(4))

    consumer = Actor(consume)
    buf.put_many(range(50))
    consumer.finish()
    assert received == list(range(50))


@pytest.mark.timeout(30)
def test_put_many_timeout_reports_how_many_went_in(make):
    buf = make(3)
    buf.put(-1)
    with pytest.raises(BatchFull) as info:
        buf.put_many(range(5), timeout=0.01)
    assert isinstance(info.value, queue.Full)
    assert (info.value.items_put, info.value.total) == (2, 5)
    assert buf.get_many(10) == [-1, 0, 1]


@pytest.mark.timeout(30)
def test_get_many_waits_for_the_first_item(make):
    buf = make(5)
    getter = Actor(buf.get_many, 10)
    wait_blocked(buf, getters=1)
    buf.put_many(["a", "b"])
    assert getter.finish().result in (["a", "b"], ["a"])


@pytest.mark.timeout(30)
def test_batches_after_shutdown(make):
    buf = make(5)
    buf.put_many([1, 2])
    buf.shutdown()
    with pytest.raises(ShutDown):
        buf.put_many([3])
    assert buf.get_many(10) == [1, 2]
    with pytest.raises(ShutDown):
        buf.get_many(10)


@pytest.mark.timeout(30)
def test_bad_batch_arguments(make):
    buf = make(2)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_items"):
            buf.get_many(bad)
    with pytest.raises(ValueError, match="non-negative"):
        buf.put_many([1], timeout=-1)
    assert buf.qsize() == 0


# -- arguments --------------------------------------------------------------------------------

def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="unknown variant 'ring'; choose one of 'condition'"):
        make_buffer("ring", 4)
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        make_buffer("condition", 4, "gpu")
    with pytest.raises(TypeError, match="maxsize must be an int"):
        make_buffer("condition", 2.5)
    with pytest.raises(ValueError, match="instrument='loud'"):
        make_buffer("condition", 2, instrument="loud")
    with pytest.raises(TypeError, match="thread backend takes no options"):
        make_buffer("condition", 2, ring_size=1 << 20)
    with pytest.raises(ValueError, match="ring_size must be a positive"):
        make_buffer("condition", 2, "process", ring_size=0)
    with pytest.raises(ValueError, match=r"ring_size=100 is too small for maxsize=8.*>= 864"):
        make_buffer("condition", 8, "process", ring_size=100)
    with pytest.raises(TypeError, match="item_size= is gone.*ring_size="):
        make_buffer("semaphore", 2, "process", item_size=100)
    with pytest.raises(TypeError, match="multiprocessing context"):
        make_buffer("condition", 2, "process", context="fork")


@pytest.mark.timeout(30)
def test_repr_shows_live_state(make):
    buf = make(4)
    buf.put(1)
    text = repr(buf)
    assert "size=1/4" in text and buf.variant in type(buf).__name__.lower()
    buf.shutdown()
    assert "shutdown" in repr(buf)


@pytest.mark.timeout(30)
def test_repr_never_waits_for_the_lock(make):
    # A failure report or a debugger may call repr() in the thread that holds the lock (a
    # test stopped inside put or get): it answered by waiting for that lock, for ever.
    buf = make(4)
    mutex = getattr(buf, "_mutex", None)
    if mutex is None:
        pytest.skip("the queue variant has no lock of its own")
    buf.put(1)
    texts = []
    with mutex:
        reader = threading.Thread(target=lambda: texts.append(repr(buf)), daemon=True)
        reader.start()
        reader.join(timeout=10)
        texts.append(repr(buf))  # the holder itself
    assert len(texts) == 2 and all("size=1/4" in text for text in texts)


@pytest.mark.timeout(30)
def test_put_many_interrupted_by_shutdown_says_how_many_went_in(make):
    buf = make(2)
    putter = Actor(buf.put_many, range(5))
    wait_until(lambda: buf.qsize() == 2, LONG)
    wait_blocked(buf, putters=1)
    buf.shutdown()
    putter.finish()
    assert isinstance(putter.error, ShutDown)
    assert putter.error.items_put == 2 and putter.error.total == 5
    assert "stored 2 of 5 items" in str(putter.error)
    assert [buf.get(), buf.get()] == [0, 1]
