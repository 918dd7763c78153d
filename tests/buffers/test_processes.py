"""What only the process backend has: pickling in the caller, fixed-size slots, start methods,
statistics that come back from children, and clean-up."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from pcmodel.buffers import VARIANTS, make_buffer
from pcmodel.errors import ItemNotPicklable, ItemTooLarge

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


@pytest.mark.parametrize("variant", VARIANTS)
def test_oversized_item_raises_and_names_the_option(variant):
    with make_buffer(variant, 2, "process", context=CONTEXTS["fork"], item_size=100) as buf:
        with pytest.raises(ItemTooLarge, match=r"item_size=100.*create the buffer with"):
            buf.put(b"x" * 200)
        assert buf.qsize() == 0
        buf.put(b"y" * 50)
        assert buf.get() == b"y" * 50


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

    buf = make_buffer(variant, 2, "process", context=CONTEXTS["fork"], instrument="counters")
    folder = buf._backend._folder
    assert os.path.isdir(folder)
    buf.close()
    buf.close()
    assert not os.path.exists(folder)
