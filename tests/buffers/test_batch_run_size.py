"""How many items of a ``put_many`` share one pickle between processes.

A run is pickled once, stored as one record and unpickled once; runs are cut at about
``CHUNK_BYTES`` so that a large batch does not become one huge pickle. A batch of 100 items of
1 KiB (the size ``pcmodel bench`` measures) is one run.
"""

from __future__ import annotations

import multiprocessing

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.buffers.arena import ARENA_FROM

FORK = multiprocessing.get_context("fork")
VARIANTS = ["condition", "semaphore"]


class Payload:
    """An item holding ``data`` that counts how often it is pickled (its ``__sizeof__`` does
    not see the bytes it holds, as with most objects)."""

    pickled = 0

    def __init__(self, number: int, data: bytes) -> None:
        self.number = number
        self.data = data

    def __reduce__(self):
        type(self).pickled += 1
        return (Payload, (self.number, self.data))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_batch_of_100_items_of_1_kib_is_one_run(variant):
    items = [bytes([n]) * 1024 for n in range(100)]
    with make_buffer(variant, 1024, "process", context=FORK) as buf:
        buf.put_many(items)
        assert buf._items.records == 1  # one record, one pickle
        assert buf.get_many(100) == items


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_item_of_a_batch_of_1_kib_is_pickled_once(variant):
    with make_buffer(variant, 1024, "process", context=FORK) as buf:
        Payload.pickled = 0
        buf.put_many([Payload(n, bytes([n]) * 1024) for n in range(100)])
        assert Payload.pickled == 100
        assert [item.number for item in buf.get_many(100)] == list(range(100))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_batch_of_larger_items_is_still_cut_into_runs_and_arrives_whole(variant):
    items = [bytes([n]) * 8192 for n in range(100)]  # 800 KiB: several runs
    with make_buffer(variant, 1024, "process", context=FORK) as buf:
        buf.put_many(items)
        assert buf._items.records > 1
        got = []
        while len(got) < len(items):
            got += buf.get_many(100)
        assert got == items


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("count", [2, 3])
def test_items_large_enough_for_the_arena_travel_alone_even_in_a_short_batch(variant, count):
    # A run of them would be copied into the ring under the lock; alone, each is copied into
    # the arena before the lock is taken.
    items = [bytes([n]) * (ARENA_FROM + 1000) for n in range(count)]
    with make_buffer(variant, 8, "process", context=FORK) as buf:
        buf.put_many(items)
        assert buf._items.arena.blocks == count
        assert buf.get_many(10) == items
        assert buf._items.arena.blocks == 0
