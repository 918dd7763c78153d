"""Misuse of the buffers' public surface gets one clear error: a closed process buffer, options
and sizes a process buffer cannot have, timeouts that are not numbers."""

from __future__ import annotations

import multiprocessing
import os
import queue

import pytest

from pcmodel.buffers import VARIANTS, make_buffer

FORK = multiprocessing.get_context("fork")
SPAWN = multiprocessing.get_context("spawn")
CLOSED = "on a closed buffer"

# Every call a closed process buffer refuses, with arguments that would otherwise succeed (or
# block: a full buffer's put, an empty one's get, join with unfinished items).
CALLS = {
    "put": lambda buf: buf.put("x"),
    "put_nowait": lambda buf: buf.put_nowait("x"),
    "put_many": lambda buf: buf.put_many(["x", "y"]),
    "get": lambda buf: buf.get(timeout=5),
    "get_nowait": lambda buf: buf.get_nowait(),
    "get_many": lambda buf: buf.get_many(2, timeout=5),
    "qsize": lambda buf: buf.qsize(),
    "empty": lambda buf: buf.empty(),
    "full": lambda buf: buf.full(),
    "task_done": lambda buf: buf.task_done(),
    "join": lambda buf: buf.join(),
    "shutdown": lambda buf: buf.shutdown(immediate=True),
    "stats": lambda buf: buf.stats(),
    "reset_stats": lambda buf: buf.reset_stats(),
    "flush_stats": lambda buf: buf.flush_stats(),
}


def closed_buffer(variant: str, context=FORK):
    buf = make_buffer(variant, 2, "process", context=context, instrument="counters")
    buf.put("held")  # join() would wait for it, get() would take it
    buf.close()
    return buf


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_closed_process_buffer_refuses_every_call_with_one_error(variant):
    buf = closed_buffer(variant)
    for name, call in CALLS.items():
        with pytest.raises(ValueError, match=rf"^{name}\(\) {CLOSED}"):
            call(buf)
    buf.close()  # still idempotent


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_the_repr_of_a_closed_process_buffer_says_closed(variant):
    buf = closed_buffer(variant)
    assert repr(buf) == f"<{type(buf).__name__} process closed>"


def put_and_report(buf, out) -> None:
    try:
        buf.put("x", timeout=5)
        out.put("stored")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, whatever it is
        out.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_forked_child_of_a_closed_buffer_gets_the_same_error(variant):
    buf = closed_buffer(variant)
    out = FORK.SimpleQueue()
    child = FORK.Process(target=put_and_report, args=(buf, out))
    child.start()
    try:
        assert out.get().startswith(f"ValueError: put() {CLOSED}")
    finally:
        child.join(10)
        out.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_closed_buffer_cannot_be_sent_to_a_spawned_child(variant):
    buf = closed_buffer(variant, SPAWN)
    child = SPAWN.Process(target=put_and_report, args=(buf, None))
    with pytest.raises(ValueError, match="cannot send a closed buffer to another process"):
        child.start()
    assert multiprocessing.active_children() == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_with_block_leaves_nothing_in_dev_shm_under_spawn(variant):
    """Under spawn a semaphore has a name in /dev/shm until it is collected: the end of the
    ``with`` block removes them, while the buffer object is still referenced."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm here")
    before = set(os.listdir("/dev/shm"))
    with make_buffer(variant, 2, "process", context=SPAWN) as buf:
        buf.put("x")
        assert set(os.listdir("/dev/shm")) - before  # named, for spawned children to open
    assert set(os.listdir("/dev/shm")) - before == set()
    assert repr(buf)  # still referenced: nothing was left to the garbage collector


def test_a_thread_buffer_stays_usable_after_close():
    buf = make_buffer("condition", 2)
    buf.close()
    buf.put("x")
    assert buf.get() == "x"


# (The queue variant has no ring: only a bound its counts cannot hold is too large for it.)
TOO_LARGE = [
    *(pytest.param(variant, 1 << 63, {}, "more than a process buffer can count",
                   id=f"{variant}-maxsize-2**63") for variant in VARIANTS),
    *(pytest.param(variant, 1 << 40, {}, "pass a smaller maxsize or ring_size",
                   id=f"{variant}-maxsize-2**40") for variant in ("condition", "semaphore")),
    *(pytest.param(variant, 4, {"ring_size": 1 << 70}, "pass a smaller maxsize or ring_size",
                   id=f"{variant}-ring_size-2**70") for variant in ("condition", "semaphore")),
]


@pytest.mark.parametrize(("variant", "maxsize", "options", "message"), TOO_LARGE)
def test_sizes_no_shared_memory_can_have_are_refused_at_creation(variant, maxsize, options,
                                                                 message):
    with pytest.raises(ValueError, match=message):
        make_buffer(variant, maxsize, "process", context=FORK, **options)


@pytest.mark.parametrize(("variant", "maxsize"), [("condition", 1 << 40), ("queue", 1 << 63)])
def test_a_buffer_refused_at_creation_leaves_nothing_in_dev_shm_under_spawn(variant, maxsize):
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm here")
    before = set(os.listdir("/dev/shm"))
    with pytest.raises(ValueError) as refused:
        make_buffer(variant, maxsize, "process", context=SPAWN)
    assert refused.value is not None  # the error, and the frames it holds, are still alive
    assert set(os.listdir("/dev/shm")) - before == set()


def test_an_unknown_process_option_is_named_with_the_ones_it_takes():
    with pytest.raises(TypeError, match=r"takes context= and ring_size=, got \['spin'\]"):
        make_buffer("condition", 2, "process", context=FORK, spin=3)


def test_a_clock_that_is_not_a_function_is_refused_at_creation():
    with pytest.raises(TypeError, match="clock must be a function"):
        make_buffer("condition", 2, instrument="counters", clock=5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("backend", "instrument"), [("process", "off"), ("thread", "counters")])
@pytest.mark.parametrize("timeout", ["1", [1]], ids=["str", "list"])
def test_a_timeout_that_is_not_a_number_says_so(backend, instrument, timeout):
    """The queue variant checks its timeouts with check_timeout (uninstrumented on threads it
    is queue.Queue itself, which is not ours to change)."""
    with make_buffer("queue", 1, backend, instrument=instrument) as buf:
        buf.put("x")
        for call in (lambda: buf.put("y", timeout=timeout),
                     lambda: buf.put_many(["y"], timeout=timeout)):
            with pytest.raises(TypeError, match="'timeout' must be a number of seconds"):
                call()
        assert buf.get_nowait() == "x"
        with pytest.raises(queue.Empty):
            buf.get_nowait()
        with pytest.raises(TypeError, match="'timeout' must be a number of seconds"):
            buf.get(timeout=timeout)


def test_a_thread_queue_get_many_refuses_a_nan_timeout():
    # get() is the library queue's own there, which would spin on NaN for ever.
    buf = make_buffer("queue", 4)
    with pytest.raises(ValueError, match="'timeout'"):
        buf.get_many(2, timeout=float("nan"))
