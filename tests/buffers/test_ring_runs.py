"""How ``put_many`` runs leave the process ring: ``get_many`` takes whole runs and cuts one only
when the first alone holds more than it asked for, so each run is unpickled once."""

from __future__ import annotations

import multiprocessing
import os
import queue

import pytest

from pcmodel.buffers import make_buffer

FORK = multiprocessing.get_context("fork")
CONTEXTS = {m: multiprocessing.get_context(m) for m in ("fork", "spawn")}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_get_many_stops_at_the_end_of_a_run_instead_of_cutting_the_next(variant):
    with make_buffer(variant, 16, "process", context=FORK) as buf:
        buf.put_many(range(3))
        buf.put_many(range(10, 15))
        assert buf.get_many(5) == [0, 1, 2]
        assert (buf.qsize(), buf._items.records) == (5, 1)  # the second run is still whole
        # The semaphore variant gave back the permits of the items it left: they are there.
        assert buf.get_many(5, block=False) == [10, 11, 12, 13, 14]
        with pytest.raises(queue.Empty):
            buf.get_many(5, block=False)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_first_run_larger_than_asked_for_is_still_cut(variant):
    with make_buffer(variant, 16, "process", context=FORK) as buf:
        buf.put_many(range(10))
        buf.put(99)
        assert buf.get_many(4) == [0, 1, 2, 3]
        assert buf.get_many(4) == [4, 5, 6, 7]
        assert buf.get_many(4) == [8, 9, 99]  # the rest of a run, then a whole record
        assert buf.qsize() == 0


def take_in_batches(buf, count, batch, out):
    takes = []
    while sum(len(take) for take in takes) < count:
        takes.append(buf.get_many(batch))
    out.put(takes)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", sorted(CONTEXTS))
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_getters_out_of_step_with_the_runs_get_back_in_step(variant, method):
    """A short run puts getters of 10 out of step with runs of 10: cutting, each would take
    the rest of one run and the start of the next, every run unpickled twice."""
    ctx = CONTEXTS[method]
    with make_buffer(variant, 64, "process", context=ctx) as buf:
        buf.put_many(range(3))
        for start in range(100, 150, 10):
            buf.put_many(range(start, start + 10))
        out = ctx.SimpleQueue()
        taker = ctx.Process(target=take_in_batches, args=(buf, 3 + 50, 10, out))
        taker.start()
        takes = out.get()
        taker.join(30)
        assert taker.exitcode == 0
        assert takes == [[0, 1, 2]] + [list(range(start, start + 10))
                                       for start in range(100, 150, 10)]
        assert buf.qsize() == 0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_spilled_run_left_whole_is_taken_later_and_its_file_removed(variant):
    big = [bytes([n]) * 600 for n in range(3)]  # one run of ~1.8 KB: over a quarter ring
    with make_buffer(variant, 8, "process", context=FORK, ring_size=4096) as buf:
        buf.put(b"a")
        buf.put_many(big)
        folder = buf._backend._folder
        assert len(os.listdir(folder)) == 1  # the run went to a file
        assert buf.get_many(2) == [b"a"]
        assert buf.get_many(2) == big[:2]  # the first record: cut
        assert buf.get_many(2) == big[2:]
        assert buf.qsize() == 0
        assert os.listdir(folder) == []
