"""What only the process backend has: pickling in the caller, items of any size, start methods,
statistics that come back from children, and clean-up. (Dead peers: test_dead_peers.py.)"""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from pcmodel.buffers import VARIANTS, make_buffer
from pcmodel.errors import ItemNotPicklable
from tests.conftest import wait_until

CONTEXTS = {m: multiprocessing.get_context(m) for m in ("fork", "spawn")}


def producer(buf, count):
    for i in range(count):
        buf.put({"n": i, "payload": "x" * (i % 50)})


def consumer(buf, count, results):
    results.put([buf.get()["n"] for _ in range(count)])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", sorted(CONTEXTS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_children_share_a_buffer_under_each_start_method(variant, method):
    ctx = CONTEXTS[method]
    buf = make_buffer(variant, 2, "process", context=ctx, instrument="timeline")
    results = ctx.SimpleQueue()
    children = [ctx.Process(target=producer, args=(buf, 200), name="producer"),
                ctx.Process(target=consumer, args=(buf, 200, results), name="consumer")]
    try:
        for child in children:
            child.start()
        assert results.get() == list(range(200))
        for child in children:
            child.join(30)
            assert child.exitcode == 0
        stats = buf.stats()
        by_actor = {a.actor: a for a in stats.actors}
        assert by_actor["producer"].puts == 200 and by_actor["consumer"].gets == 200
        assert stats.puts == stats.gets == 200 and stats.max_depth <= 2
    finally:
        buf.close()


class Unpicklable:
    def __reduce__(self):
        raise TypeError("this object refuses to be pickled")


@pytest.mark.parametrize("variant", VARIANTS)
def test_unpicklable_item_raises_in_the_caller_and_changes_nothing(variant):
    with make_buffer(variant, 2, "process", context=CONTEXTS["fork"]) as buf:
        buf.put("kept")
        with pytest.raises(ItemNotPicklable, match="cannot be pickled") as info:
            buf.put(Unpicklable())
        assert isinstance(info.value, TypeError)
        with pytest.raises(ItemNotPicklable):
            buf.put(lambda: None)
        with pytest.raises(ItemNotPicklable):
            buf.put_many(["a", threading.Lock(), "b"])
        assert buf.qsize() == 1
        buf.put("next")
        assert [buf.get(), buf.get()] == ["kept", "next"]


def echo_sizes(buf, sizes, out):
    out.put([len(buf.get()) for _ in sizes])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", sorted(CONTEXTS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_items_of_any_size_pass_in_order(variant, method):
    """No size cap: items larger than the ring (through files), ones that wrap the ring, and
    runs of put_many, all arrive in order, and no file is left behind."""
    import os

    ctx = CONTEXTS[method]
    sizes = [10, 3000, 1 << 20, 5, 40_000, 2 << 20, 7000, 1]
    with make_buffer(variant, 4, "process", context=ctx, ring_size=64 * 1024) as buf:
        out = ctx.SimpleQueue()
        child = ctx.Process(target=echo_sizes, args=(buf, sizes, out))
        child.start()
        for size in sizes:
            buf.put(b"x" * size)
        assert out.get() == sizes
        child.join(30)
        assert child.exitcode == 0
        buf.put_many([b"y" * size for size in sizes[:4]])
        assert [len(item) for item in buf.get_many(10)] == sizes[:4]
        folder = buf._backend._folder
        left = os.listdir(folder) if os.path.isdir(folder) else []
        assert [name for name in left if not name.endswith(".pickle")] == []


class BrokenSizeof:
    def __sizeof__(self):
        raise RuntimeError("no size")

    def __eq__(self, other):
        return type(other) is BrokenSizeof


class HugeUnpicklable(Unpicklable):
    def __sizeof__(self):
        return 1 << 30


LARGE_ITEMS = [b"\x01" * (1 << 20), bytearray(b"\x02" * 300_000), "é" * 200_000,
               memoryview(b"\x03" * 200_000).tobytes(), ("head", b"\x04" * 500_000)]


@pytest.mark.parametrize("item", LARGE_ITEMS + [BrokenSizeof(), [b"small"] * 3],
                         ids=lambda item: type(item).__name__)
def test_a_large_item_pickled_in_pieces_is_the_same_pickle(item):
    import pickle

    from pcmodel.buffers.pickling import dumps_in_pieces

    try:
        expected = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001
        pytest.skip("not picklable")
    pieces = dumps_in_pieces(item)
    assert b"".join(pieces.parts) == expected and len(pieces) == len(expected)


@pytest.mark.parametrize("ring_size", [None, 256 * 1024], ids=["inline", "spilled"])
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_large_items_arrive_whole_and_as_they_were_when_put(variant, ring_size):
    """Large items are pickled in pieces straight into the ring (or a file when larger than a
    quarter of it); what arrives is what was put, even if the caller changes it afterwards."""
    items = [bytearray(item) if type(item) is bytearray else item for item in LARGE_ITEMS]
    with make_buffer(variant, 8, "process", context=CONTEXTS["fork"],
                     ring_size=ring_size) as buf:
        for item in items:
            buf.put(item)
        items[1][0] = 0xFF  # changed after put: the buffer holds its own copy
        buf.put(BrokenSizeof())
        with pytest.raises(ItemNotPicklable, match="cannot be pickled"):
            buf.put(HugeUnpicklable())
        assert buf.qsize() == len(items) + 1
        got = [buf.get() for _ in range(len(items) + 1)]
    assert got == LARGE_ITEMS + [BrokenSizeof()]


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_ring_out_of_bytes_spills_and_counts_items_not_bytes(variant):
    """maxsize counts items: a ring too small for them all still takes maxsize items."""
    big = [bytes([i]) * 30_000 for i in range(8)]
    with make_buffer(variant, 8, "process", context=CONTEXTS["fork"],
                     ring_size=128 * 1024) as buf:
        for item in big[:4]:
            buf.put(item)
        buf.put_many(big[4:])
        assert buf.full() and buf.qsize() == 8
        assert [buf.get() for _ in range(3)] + buf.get_many(8) == big


def blocked_getter(buf, cpu_out):
    import queue
    import time

    started = time.process_time()
    try:
        buf.get(timeout=0.3)
    except queue.Empty:
        pass
    cpu_out.put(time.process_time() - started)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_blocked_process_uses_no_cpu(variant):
    ctx = CONTEXTS["fork"]
    with make_buffer(variant, 1, "process", context=ctx) as buf:
        out = ctx.SimpleQueue()
        child = ctx.Process(target=blocked_getter, args=(buf, out))
        child.start()
        cpu = out.get()
        child.join(10)
        assert cpu < 0.1, f"a getter blocked for 0.3 s used {cpu:.3f} s of CPU: busy waiting"


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_close_is_idempotent_and_removes_the_stats_folder(variant, tmp_path):
    import os

    buf = make_buffer(variant, 2, "process", context=CONTEXTS["fork"], instrument="counters",
                      ring_size=4096)
    folder = buf._backend._folder
    assert not os.path.exists(folder)  # made only when something goes there
    buf.put(b"x" * 2000)  # more than a quarter of the ring: through a file
    assert os.path.isdir(folder)
    buf.close()
    buf.close()
    assert not os.path.exists(folder)



@pytest.mark.timeout(30)
def test_a_queue_getter_waiting_for_the_pipe_keeps_nobody_out():
    """A getter promised an item still in its producer's feeder thread waits for the pipe
    without the queue's lock: putters go on meanwhile, and both items arrive, in order."""
    buf = make_buffer("queue", 4, "process", context=CONTEXTS["fork"])
    queue = buf._queue
    writer_lock = queue._pipe._write_lock  # every write to the pipe is made under this lock
    got = []
    getter = threading.Thread(target=lambda: got.extend([buf.get(), buf.get()]))
    try:
        with writer_lock:  # the feeder holds the item: put() has returned, the pipe is empty
            buf.put("first")
            getter.start()
            wait_until(lambda: queue.qsize() == 0)  # the getter took its permit: it waits
            assert queue._lock.acquire(True, 5.0), "the waiting getter holds the queue's lock"
            queue._lock.release()
            buf.put("second", timeout=5.0)
        getter.join(10)
        assert not getter.is_alive()
        assert got == ["first", "second"]
    finally:
        buf.close()
