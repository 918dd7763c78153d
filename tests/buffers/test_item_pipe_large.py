"""Large items through the ``queue`` variant's pipe: on Linux the pipe grows so that a 64 KiB
item crosses in one write and one read; a large item's payload is not copied to pickle it; and
items larger than any pipe still arrive whole and in order, wherever the pipe may not grow."""

from __future__ import annotations

import multiprocessing
import os
import select
import sys
import threading

import pytest

from pcmodel.buffers import item_pipe, make_buffer

try:
    import fcntl
except ImportError:
    fcntl = None  # type: ignore[assignment]
LINUX = sys.platform == "linux"

FORK = multiprocessing.get_context("fork")
SOON = 10.0
ITEM_64K = b"x" * (64 << 10)


def pipes_can_grow_to(size: int) -> bool:
    """True if this system lets this user make a pipe hold ``size`` bytes."""
    if not LINUX:
        return False
    read_end, write_end = os.pipe()
    try:
        return fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, size) >= size
    except OSError:
        return False
    finally:
        os.close(read_end)
        os.close(write_end)


growing = pytest.mark.skipif(not pipes_can_grow_to(512 << 10),
                             reason="pipes cannot grow to 512 KiB here")


@growing
@pytest.mark.timeout(30)
def test_a_64_KiB_item_that_finds_the_pipe_empty_is_written_by_its_caller():
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        before = {thread.ident for thread in threading.enumerate()}
        buf.put(ITEM_64K)
        started = [t.name for t in threading.enumerate() if t.ident not in before]
        assert started == [], f"put() started {started} to write a 64 KiB item"
        assert buf.get(timeout=SOON) == ITEM_64K


@growing
@pytest.mark.timeout(30)
def test_a_64_KiB_item_is_read_in_two_reads_its_length_then_itself(monkeypatch):
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        pipe = buf._queue._pipe
        buf.put(ITEM_64K)
        reads = []

        def counting(real):
            def read(fd, *args):
                if fd == pipe._read_fd:
                    reads.append(real.__name__)
                return real(fd, *args)
            return read

        monkeypatch.setattr(os, "read", counting(os.read))
        monkeypatch.setattr(os, "readv", counting(os.readv))
        assert buf.get(timeout=SOON) == ITEM_64K
        assert len(reads) == 2, f"one 64 KiB item took {len(reads)} reads: {reads}"


@pytest.mark.skipif(not LINUX, reason="pipe sizes are Linux's")
@pytest.mark.timeout(30)
def test_a_pipe_carrying_small_items_keeps_its_size():
    with make_buffer("queue", 0, "process", context=FORK) as buf:
        write_end = buf._queue._pipe._writer.fileno()
        size = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        for _ in range(2000):  # more than a default pipe holds: some go through the feeder
            buf.put(b"y" * 1000)
        assert [len(buf.get(timeout=SOON)) for _ in range(2000)] == [1000] * 2000
        assert fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) == size


def refusing_to_grow(fd, command, *args):
    """``fcntl.fcntl`` on a system that refuses to grow pipes (a user over quota)."""
    if command == fcntl.F_SETPIPE_SZ:
        raise PermissionError(1, "Operation not permitted")
    return fcntl.fcntl(fd, command, *args)


@pytest.mark.skipif(not LINUX, reason="pipe sizes are Linux's")
@pytest.mark.timeout(30)
def test_a_pipe_the_system_will_not_grow_still_carries_large_items(monkeypatch):
    monkeypatch.setattr(item_pipe, "fcntl", refusing_to_grow, raising=False)
    with make_buffer("queue", 0, "process", context=FORK) as buf:
        items = [ITEM_64K, b"z" * (1 << 20), "small", ITEM_64K]
        for item in items:
            buf.put(item)
        assert [buf.get(timeout=SOON) for _ in items] == items


@pytest.mark.timeout(30)
def test_a_large_item_s_bytes_are_not_copied_to_pickle_it():
    with make_buffer("queue", 4, "process", context=FORK) as buf:
        item = b"w" * (1 << 20)
        pickled = buf._queue.prepare(item)
        assert any(part is item for part in getattr(pickled, "parts", [])), \
            "the item's megabyte was copied into a new pickle"
        buf._queue.put_prepared(pickled)
        assert buf.get(timeout=SOON) == item


def put_all(buf, items):
    for item in items:
        buf.put(item)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_items_larger_than_any_pipe_arrive_whole_and_in_order(method):
    """A 3 MiB item, a list pickled in more pieces than one write takes, and small ones
    between: written by the producer's feeder in many writes, read whole by the getter."""
    ctx = multiprocessing.get_context(method)
    many_pieces = [str(n) * 300 for n in range(20_000)]  # about 6 MB in frames of 64 KiB
    items = [bytes(range(256)) * (3 << 12), "a", many_pieces, "b", ITEM_64K, "c"]
    with make_buffer("queue", 2, "process", context=ctx) as buf:
        child = ctx.Process(target=put_all, args=(buf, items))
        child.start()
        got = [buf.get(timeout=SOON) for _ in items]
        child.join(SOON)
        assert child.exitcode == 0
        assert got == items


def test_a_frame_s_rest_is_written_after_what_a_first_write_took():
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        room = select.poll()
        room.register(write_end, select.POLLOUT)
        frame = [b"abc", b"defgh", b"ij"]
        for written in range(11):  # none of it, up to all of it
            item_pipe._write_all(write_end, frame, room, written)
            try:
                rest = os.read(read_end, 100)
            except BlockingIOError:
                rest = b""
            assert rest == b"abcdefghij"[written:]
    finally:
        os.close(read_end)
        os.close(write_end)
