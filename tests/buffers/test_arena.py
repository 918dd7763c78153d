"""The arena beside a process buffer's ring: large items copied outside the lock."""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import random
import signal

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.buffers.arena import ARENA_FROM, WARM_SPAN, SharedArena
from pcmodel.buffers.robust import Health
from pcmodel.errors import BufferBroken, ItemNotUnpicklable, ShutDown

pytestmark = pytest.mark.timeout(60)

CONTEXTS = {m: multiprocessing.get_context(m) for m in ("fork", "spawn")}
LARGE = ARENA_FROM + 1000  # bytes of an item that goes to the arena


def arena_of(buf):
    return buf._backend._arena


def make_arena(size):
    context = CONTEXTS["fork"]
    return SharedArena(context, size, Health(context))


def test_blocks_are_given_back_only_behind_a_free_prefix():
    arena = make_arena(1000)
    first, second, third = (arena.store(bytes([n]) * 200) for n in (1, 2, 3))
    assert arena.blocks == 3
    second.free()  # out of order: the head cannot move past the first block yet
    assert arena.blocks == 3
    assert arena.store(b"x" * 400) is None  # 1000 - 3 * 216 bytes left
    first.free()  # now the first two go back together
    assert arena.blocks == 1
    fourth = arena.store(b"\x04" * 400)  # wraps to the start of the arena
    assert fourth is not None and fourth.offset == 0
    assert third.read(bytes) == b"\x03" * 200 and fourth.read(bytes) == b"\x04" * 400
    assert arena.blocks == 0


def test_an_empty_arena_starts_again_at_its_beginning():
    arena = make_arena(1000)
    block = arena.store(b"a" * 300)
    block.read(bytes)
    again = arena.store(b"b" * 900)  # would not fit after the first block
    assert again is not None and again.offset == 0
    assert arena.store(b"c" * 2000) is None  # larger than the arena
    again.free()
    again.free()  # once only
    assert arena.blocks == 0


def test_blocks_keep_to_the_arenas_warm_start_while_few_are_in_use():
    # A busy arena is seldom empty: without going back early its tail swept the whole arena
    # (8 MiB and more), every copy landing in memory out of cache.
    arena = make_arena(8 << 20)
    held = arena.store(b"\0" * (64 << 10))
    offsets = []
    for n in range(3 * WARM_SPAN // (64 << 10)):
        block = arena.store(bytes([n % 256]) * (64 << 10))
        held.free()  # one block in use at a time, as a consumer keeping up
        held = block
        offsets.append(block.offset)
    assert max(offsets) < WARM_SPAN + (64 << 10) + 64, max(offsets)
    assert offsets.count(0) >= 2  # back to the beginning, again and again
    held.free()
    assert arena.blocks == 0


def test_a_block_goes_on_at_the_tail_when_the_warm_start_has_no_room_for_it():
    arena = make_arena(8 << 20)
    first = arena.store(b"a" * (100 << 10))
    rest = [arena.store(b"b" * ((64 << 10) - 16)) for _ in range(31)]  # 64 KiB blocks
    first.free()  # in use: 31 blocks (under WARM_SPAN) from 100 KiB on, past WARM_SPAN
    big = arena.store(b"c" * (200 << 10))  # more than the 100 KiB free at the start
    assert big is not None and big.offset > WARM_SPAN
    for block in [*rest, big]:
        block.free()
    assert arena.blocks == 0


def test_a_block_dropped_by_its_owner_is_freed_by_its_next_use_of_the_arena():
    arena = make_arena(1000)
    arena.store(b"dropped at once" * 10)
    gc.collect()
    assert arena.blocks == 1  # not yet: dropping takes no lock
    arena.store(b"next").read(bytes)
    assert arena.blocks == 0
    block = arena.store(b"x" * 100)
    block.owned = False  # handed over: the new owner frees it, not this reference
    del block
    arena.store(b"next").read(bytes)
    assert arena.blocks == 2  # the handed-over block stays, and so the freed one behind it


@pytest.mark.timeout(10)
def test_a_block_collected_while_its_thread_holds_the_arena_lock_does_not_deadlock():
    arena = make_arena(1000)
    cycle = [arena.store(b"in a cycle")]
    cycle.append(cycle)  # freed only by the garbage collector, whenever it runs
    del cycle
    with arena._lock:  # as inside store(): the collector may run there
        gc.collect()
    arena.store(b"next").read(bytes)
    assert arena.blocks == 0


def keep_a_dropped_block_of_the_parent(arena, out):
    arena.store(b"x").read(bytes)  # this process's first use of the arena
    out.put(arena.blocks)


def test_a_forked_child_never_frees_its_parent_s_blocks():
    context = CONTEXTS["fork"]
    arena = make_arena(1000)
    arena.store(b"dropped by the parent")  # pending in the parent's list when it forks
    out = context.SimpleQueue()
    child = context.Process(target=keep_a_dropped_block_of_the_parent, args=(arena, out))
    child.start()
    assert out.get() == 2  # the child freed its own block, not the parent's ahead of it
    child.join(10)
    arena.store(b"next").read(bytes)
    assert arena.blocks == 0


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_large_items_travel_through_the_arena_and_free_it(variant):
    items = [bytes([n]) * LARGE for n in range(6)] + [b"small"]
    with make_buffer(variant, 8, "process", context=CONTEXTS["fork"]) as buf:
        for item in items[:3]:
            buf.put(item)
        buf.put_many(items[3:])
        assert arena_of(buf).blocks == 6
        assert [buf.get(), buf.get()] + buf.get_many(10) == items
        assert arena_of(buf).blocks == 0


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_put_that_fails_leaves_no_block_behind(variant):
    with make_buffer(variant, 1, "process", context=CONTEXTS["fork"]) as buf:
        buf.put(b"a" * LARGE)
        with pytest.raises(queue.Full):
            buf.put_nowait(b"b" * LARGE)
        with pytest.raises(queue.Full):
            buf.put(b"c" * LARGE, timeout=0.01)
        with pytest.raises(queue.Full):
            buf.put_many([b"d" * LARGE] * 2, block=False)
        gc.collect()
        # The failed puts' blocks are free; they come back with the stored item's.
        assert buf.get() == b"a" * LARGE
        assert arena_of(buf).blocks == 0


class Unwelcome:
    """Pickles, but cannot be unpickled."""

    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise RuntimeError("not here")


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_an_item_that_cannot_be_unpickled_still_frees_its_block(variant):
    with make_buffer(variant, 4, "process", context=CONTEXTS["fork"]) as buf:
        buf.put((Unwelcome(), b"x" * LARGE))
        with pytest.raises(ItemNotUnpicklable):
            buf.get()
        buf.put_many([b"y" * LARGE, (Unwelcome(), b"x" * LARGE), b"z" * LARGE])
        with pytest.raises(ItemNotUnpicklable) as info:
            buf.get_many(3)
        assert info.value.items == [b"y" * LARGE, b"z" * LARGE]
        assert arena_of(buf).blocks == 0


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_an_immediate_shutdown_frees_the_blocks_it_discards(variant):
    with make_buffer(variant, 4, "process", context=CONTEXTS["fork"]) as buf:
        buf.put_many([b"x" * LARGE] * 3)
        buf.shutdown(immediate=True)
        assert arena_of(buf).blocks == 0


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_full_arena_sends_large_items_through_the_ring(variant):
    """A block nobody frees (as a killed getter's) stops the arena's space from coming back;
    large items then go into the ring, in order, and nothing waits for the arena."""
    with make_buffer(variant, 8, "process", context=CONTEXTS["fork"],
                     ring_size=8 * LARGE) as buf:
        arena = arena_of(buf)
        stuck = arena.store(b"s" * LARGE)  # never read
        items = [bytes([n]) * LARGE for n in range(8)]
        for item in items:
            buf.put(item)
        assert arena.blocks < 1 + len(items)  # some did not fit the arena
        assert [buf.get() for _ in items] == items
        stuck.free()  # the getters freed theirs: everything comes back with this one
        assert arena.blocks == 0


def put_large(buf, producer, count):
    for n in range(count):
        buf.put((producer, n, bytes([n % 251]) * (LARGE + n * 37)))


@pytest.mark.parametrize("method", sorted(CONTEXTS))
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_processes_hand_large_items_over_in_order(variant, method):
    context = CONTEXTS[method]
    count = 60
    with make_buffer(variant, 4, "process", context=context,
                     ring_size=16 * LARGE) as buf:
        producers = [context.Process(target=put_large, args=(buf, p, count)) for p in range(3)]
        for process in producers:
            process.start()
        seen = {p: [] for p in range(3)}
        for _ in range(3 * count):
            producer, n, data = buf.get(timeout=30)
            assert data == bytes([n % 251]) * (LARGE + n * 37)
            seen[producer].append(n)
        for process in producers:
            process.join(30)
            assert process.exitcode == 0
        assert seen == {p: list(range(count)) for p in range(3)}
        assert arena_of(buf).blocks == 0


def hold_the_arena_lock(buf, holding, never):
    arena_of(buf)._lock.acquire()
    holding.set()
    never.wait()  # until killed


def keep_a_block_and_die(buf):
    block = arena_of(buf).store(b"k" * LARGE)
    assert block is not None
    os._exit(0)  # no clean-up, the block still owned: as if killed right there


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_death_holding_the_arena_lock_breaks_the_buffer(variant):
    context = CONTEXTS["fork"]
    with make_buffer(variant, 4, "process", context=context) as buf:
        holding, never = context.Event(), context.Event()
        holder = context.Process(target=hold_the_arena_lock, args=(buf, holding, never))
        holder.start()
        assert holding.wait(10)
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        with pytest.raises(BufferBroken, match="a process died holding this buffer"):
            buf.put(b"x" * LARGE)
        with pytest.raises(BufferBroken):
            buf.get(timeout=10)


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_death_owning_a_block_costs_its_space_only(variant):
    context = CONTEXTS["fork"]
    with make_buffer(variant, 4, "process", context=context, ring_size=8 * LARGE) as buf:
        child = context.Process(target=keep_a_block_and_die, args=(buf,))
        child.start()
        child.join(10)
        assert child.exitcode == 0 and arena_of(buf).blocks == 1
        items = [bytes([n]) * LARGE for n in range(12)]
        for item in items[:4]:
            buf.put(item)
        got = [buf.get() for _ in range(4)]
        buf.put_many(items[4:8])
        got += buf.get_many(4)
        for item in items[8:]:
            buf.put(item)
            got.append(buf.get())
        assert got == items
        assert arena_of(buf).blocks >= 1  # the dead process's block is never given back


MIXED_SIZES = [10, 1000, 40_000, 70_000, 300_000, 1 << 20]  # ring, arena, and (1 MiB) a file


def put_mixed(buf, producer, puts, counts):
    rnd = random.Random(producer)
    total = 0
    for i in range(puts):
        size = rnd.choice(MIXED_SIZES)
        if rnd.random() < 0.2:
            run = rnd.randint(1, 5)
            buf.put_many([(producer, i, j, bytes([(i + j) % 251]) * size) for j in range(run)])
            total += run
        else:
            buf.put((producer, i, 0, bytes([i % 251]) * size))
            total += 1
    counts[producer] = total


def get_mixed(buf, seed, out):
    rnd = random.Random(seed)
    seen = []
    try:
        while True:
            for producer, i, j, data in buf.get_many(3) if rnd.random() < 0.3 else [buf.get()]:
                if data != bytes([(i + j) % 251]) * len(data):
                    seen.append(("corrupt", producer, i, j))
                seen.append((producer, i, j))
    except ShutDown:  # shut down once every producer is done, and now empty
        out.put(seen)


@pytest.mark.parametrize("method", sorted(CONTEXTS))
@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_mixed_sizes_between_many_processes_lose_nothing(variant, method):
    """Four producers and four consumers, items through the ring, the arena and files, single
    and in batches: every item arrives once, intact, each producer's in order, and the arena
    is empty at the end."""
    context = CONTEXTS[method]
    with make_buffer(variant, 8, "process", context=context, ring_size=2 << 20) as buf:
        counts = context.RawArray("q", 4)
        out = context.SimpleQueue()
        producers = [context.Process(target=put_mixed, args=(buf, p, 60, counts))
                     for p in range(4)]
        consumers = [context.Process(target=get_mixed, args=(buf, c, out)) for c in range(4)]
        for process in producers + consumers:
            process.start()
        for process in producers:
            process.join(30)
            assert process.exitcode == 0
        buf.shutdown()  # the consumers take what is left, then stop
        results = [out.get() for _ in consumers]
        for process in consumers:
            process.join(30)
            assert process.exitcode == 0
        everything = [entry for seen in results for entry in seen]
        assert not [entry for entry in everything if entry[0] == "corrupt"]
        assert len(everything) == len(set(everything)) == sum(counts)
        for seen in results:
            for producer in range(4):
                mine = [(i, j) for (p, i, j) in seen if p == producer]
                assert mine == sorted(mine)
        assert arena_of(buf).blocks == 0
        assert os.path.isdir(buf._backend._folder)  # the 1 MiB items went through files
