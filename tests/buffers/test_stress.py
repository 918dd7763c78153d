"""Many producers and consumers: nothing lost, nothing duplicated, FIFO per producer, the
capacity never exceeded, on every variant and backend."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from pcmodel import ShutDown
from pcmodel.buffers import BACKENDS, VARIANTS, make_buffer

FORK = multiprocessing.get_context("fork")
CASES = [(v, b, c) for b in BACKENDS for v in VARIANTS for c in (1, 3, 64)]


def produce(buf, tag, count, batch):
    if batch:
        for start in range(0, count, batch):
            buf.put_many([(tag, i) for i in range(start, min(count, start + batch))])
    else:
        for i in range(count):
            buf.put((tag, i))


def consume(buf, out, batch):
    """Take until the buffer is shut down and drained; report what was seen, in order."""
    seen = []
    try:
        while True:
            if batch:
                seen.extend(buf.get_many(batch))
            else:
                seen.append(buf.get())
    except ShutDown:
        out.put(seen)


def check(received, producers, per_producer):
    flat = [item for seen in received for item in seen]
    expected = {(tag, i) for tag in range(producers) for i in range(per_producer)}
    assert len(flat) == len(expected), "items lost or duplicated"
    assert set(flat) == expected
    for seen in received:  # each consumer sees each producer's items in the order they were put
        for tag in range(producers):
            mine = [i for t, i in seen if t == tag]
            assert mine == sorted(mine), f"FIFO violated for producer {tag}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("batch", [0, 7], ids=["single", "batch7"])
@pytest.mark.parametrize(("variant", "backend", "capacity"), CASES,
                         ids=[f"{v}-{b}-cap{c}" for v, b, c in CASES])
def test_many_producers_many_consumers(variant, backend, capacity, batch):
    producers, consumers = 4, 3
    per_producer = 300 if backend == "process" else 1500
    options = {"context": FORK} if backend == "process" else {}
    buf = make_buffer(variant, capacity, backend, instrument="counters", **options)
    ctx = FORK if backend == "process" else None
    out = ctx.SimpleQueue() if ctx else _ListQueue()
    spawn = ctx.Process if ctx else threading.Thread
    try:
        workers = [spawn(target=produce, args=(buf, t, per_producer, batch))
                   for t in range(producers)]
        takers = [spawn(target=consume, args=(buf, out, batch)) for _ in range(consumers)]
        for w in workers + takers:
            w.start()
        for w in workers:
            w.join(50)
            assert not w.is_alive(), "a producer hung"
        buf.shutdown()
        received = [out.get() for _ in range(consumers)]
        for w in takers:
            w.join(50)
            assert not w.is_alive(), "a consumer hung"
        check(received, producers, per_producer)
        stats = buf.stats()
        assert stats.max_depth <= capacity
        assert stats.puts == stats.gets == producers * per_producer
    finally:
        buf.close()


class _ListQueue:
    """The SimpleQueue surface over a thread-safe list, for thread workers."""

    def __init__(self):
        self._items = []
        self._ready = threading.Semaphore(0)

    def put(self, item):
        self._items.append(item)
        self._ready.release()

    def get(self):
        assert self._ready.acquire(timeout=50), "a consumer never reported"
        return self._items.pop(0)
