"""What a batch of small items costs between processes: one pickle per run, few Python calls.

``put_many`` of small items is pickled once, as one list, and ``get_many`` unpickles that list
once; the calls around them are a short, fixed path. These tests pin that cost down in one
process, where it is exact (no scheduling, no waiting), and check that the short path keeps
every item in order wherever the ring wraps.
"""

from __future__ import annotations

import collections
import multiprocessing
import random

import pytest

from pcmodel.buffers import make_buffer
from tests.buffers.python_calls import python_calls

FORK = multiprocessing.get_context("fork")
VARIANTS = ["condition", "semaphore"]


class Counted:
    """An item that counts how often it is pickled."""

    pickled = 0

    def __init__(self, number: int) -> None:
        self.number = number

    def __reduce__(self):
        type(self).pickled += 1
        return (Counted, (self.number,))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_item_of_a_small_batch_is_pickled_once(variant):
    with make_buffer(variant, 64, "process", context=FORK) as buf:
        Counted.pickled = 0
        buf.put_many([Counted(n) for n in range(20)])
        assert Counted.pickled == 20
        assert [item.number for item in buf.get_many(20)] == list(range(20))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_batch_of_small_items_costs_few_python_calls(variant):
    # A put_many and a get_many of 100 small items, past their first use (which finds this
    # process's bookkeeping): the path is the same every time, so its length is exact.
    items = [bytes([n]) * 8 for n in range(100)]
    with make_buffer(variant, 1024, "process", context=FORK) as buf:
        for _ in range(3):
            buf.put_many(items)
            assert buf.get_many(100) == items
        calls = len(python_calls(lambda: buf.put_many(items)))
        calls += len(python_calls(lambda: buf.get_many(100)))
        assert calls <= 32, f"a put_many and a get_many of 100 items made {calls} Python calls"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_runs_and_single_items_come_out_in_order_wherever_the_ring_wraps(variant):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    expected: collections.deque = collections.deque()
    number = 0
    # The smallest ring for 16 items: runs and items wrap around its end again and again.
    with make_buffer(variant, 16, "process", context=FORK, ring_size=17 * 96) as buf:
        for _ in range(3000):
            room = 16 - len(expected)
            if room and rng.random() < 0.5:
                count = rng.randint(1, room)
                batch = [bytes([number % 251]) * rng.choice((1, 8, 40)) for _ in range(count)]
                number += 1
                if count == 1 and rng.random() < 0.5:
                    buf.put(batch[0])
                else:
                    buf.put_many(batch)
                expected.extend(batch)
            elif expected:
                wanted = rng.randint(1, 16)
                got = [buf.get()] if wanted == 1 else buf.get_many(wanted)
                assert 1 <= len(got) <= wanted, f"seed {seed}"
                assert got == [expected.popleft() for _ in got], f"seed {seed}"
        assert buf.qsize() == len(expected), f"seed {seed}"
