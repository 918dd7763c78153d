"""The process ring goes back to its start once the start has room for a full buffer: a buffer
that never empties cycles through about twice a full buffer's bytes (warm in the cache) instead
of walking every page of its ring, and items still come out whole and in order wherever records
wrap."""

from __future__ import annotations

import collections
import multiprocessing
import pickle
import random

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.buffers import ring as ring_module
from pcmodel.buffers.records import LIST, decode_piece
from pcmodel.buffers.ring import SharedRing
from pcmodel.buffers.spill import SpillFolder

FORK = multiprocessing.get_context("fork")
CONTEXTS = {m: multiprocessing.get_context(m) for m in ("fork", "spawn")}


def tail_of(ring: SharedRing) -> int:
    return ring._meta[ring_module._TAIL]  # where the next record would go


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_ring_that_never_empties_reuses_its_start(variant):
    run = [bytes([k]) * 1024 for k in range(10)]  # distinct items: a record of about 10 KiB
    with make_buffer(variant, 64, "process", context=FORK, ring_size=4 << 20) as buf:
        for _ in range(3):  # three runs stay in the buffer throughout
            buf.put_many(run)
        furthest = 0
        for _ in range(200):  # 2 MiB of records in all
            buf.put_many(run)
            assert buf.get_many(10) == run
            furthest = max(furthest, tail_of(buf._items))
        # A full buffer of such records (66 KiB), the ones in flight and the reserve: not 2 MiB.
        assert furthest < 256 << 10
        assert buf.qsize() == 30


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_going_back_early_never_sends_a_full_buffer_to_files(variant, monkeypatch):
    """The start is taken only with room for a full buffer of records like the last one: a
    buffer kept full of items of one size never finds the ring out of bytes."""

    def no_spill(self, data):
        raise AssertionError(f"a record of {len(data)} bytes went to a file")

    monkeypatch.setattr(SpillFolder, "write", no_spill)
    with make_buffer(variant, 64, "process", context=FORK, ring_size=512 << 10) as buf:
        for n in range(64):
            buf.put((n, bytes([n % 251]) * 1024))
        expected = 0
        for start in range(64, 3000, 3):
            for _ in range(3):  # single gets: the runs of three are cut
                assert buf.get()[0] == expected
                expected += 1
            buf.put_many([(n, bytes([n % 251]) * 1024) for n in range(start, start + 3)])


@pytest.mark.timeout(30)
def test_records_of_every_kind_come_out_in_order_wherever_they_wrap(tmp_path):
    """Runs, single items and spilled records (which take the reserve) in a small ring, taken
    one at a time and in runs, against a model of the same queue."""
    rng = random.Random(14)
    maxsize = 12
    ring = SharedRing(FORK, maxsize, 16 << 10, SpillFolder(str(tmp_path)))
    model: collections.deque = collections.deque()
    serial = 0
    for _ in range(3000):
        if len(ring) < maxsize and (not model or rng.random() < 0.5):
            count = rng.randint(1, maxsize - len(ring))
            items = [(serial + k, b"x" * rng.choice((1, 100, 3000, 9000))) for k in range(count)]
            serial += count
            if count == 1:
                ring.append(pickle.dumps(items[0]))
            else:
                ring.append(pickle.dumps(items), LIST, 0, count)
            model.extend(items)
            continue
        taken = ring.popmany(rng.randint(1, len(ring)))
        got = [item for piece in taken.pieces for item in decode_piece(piece)]
        assert got == [model.popleft() for _ in range(len(got))]
    assert len(ring) == len(model)


def put_runs(buf, runs, size):
    for start in range(0, runs * 10, 10):
        buf.put_many([(n, b"y" * size) for n in range(start, start + 10)])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", sorted(CONTEXTS))
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_lagging_getter_gets_every_item_in_order(variant, method):
    """The putter in another process keeps the buffer full; the getter takes one item, then
    runs, so records are cut and the ring wraps early again and again."""
    ctx = CONTEXTS[method]
    with make_buffer(variant, 40, "process", context=ctx, ring_size=256 << 10) as buf:
        putter = ctx.Process(target=put_runs, args=(buf, 300, 700))
        putter.start()
        got = [buf.get()]
        while len(got) < 3000:
            got.extend(buf.get_many(7 if len(got) % 2 else 10))
        putter.join(30)
        assert putter.exitcode == 0
        assert [n for n, _ in got] == list(range(3000))
        assert all(data == b"y" * 700 for _, data in got)
