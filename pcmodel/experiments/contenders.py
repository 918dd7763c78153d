"""What ``pcmodel bench`` measures: the contenders (buffers and peers) and the comparisons.

Peers: ``queue.Queue`` and ``queue.SimpleQueue`` (unbounded, lock-free in C: the upper bound for
threads); ``multiprocessing.Queue`` and ``multiprocessing.SimpleQueue`` (each also carrying lists
of 100 items, the fair match for batches) and ``faster-fifo`` (a C++ shared-memory queue, the
optional extra ``bench``; bounded here by item count, at least one batch, with room in bytes for
that many items of the trial's size; the process buffers get their default ring, or that room when
it is larger), plus the yardsticks of :mod:`pcmodel.experiments.yardsticks`.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pcmodel.buffers import make_buffer
from pcmodel.buffers.ring import default_ring_size
from pcmodel.experiments.yardsticks import BareConditionBuffer, TextbookSemaphoreBuffer
from pcmodel.stop_signals import stop_signals_deferred

__all__ = ["BATCH", "COMPARISONS", "CONTENDERS", "ActorKind", "Comparison", "Contender",
           "available", "close_contender", "measured_at"]

BATCH = 100
LARGE_ITEM = 64 * 1024  # above this: single items, capacities up to LARGE_CAPACITY only
LARGE_CAPACITY = 16


class ActorKind(Enum):
    """Where a contender's actors run: threads of this process, or processes."""

    THREAD = "thread"
    PROCESS = "process"


@dataclass(frozen=True)
class Contender:
    """One thing to measure: how to build it, how its actors move items, on which backend.

    ``make(capacity, context, item_size)`` returns the buffer; ``batch`` > 1 moves items with
    ``put_many``/``get_many`` (or, with ``lists``, as one list of ``batch`` items per put/get).
    ``requires`` names a module that must be importable (an optional peer).
    """

    name: str
    backend: ActorKind
    make: Callable[[int, Any, int], Any]
    batch: int = 1
    lists: bool = False
    requires: str | None = None


@dataclass(frozen=True)
class Comparison:
    """``contender`` against ``baseline``: the target ratio (None: reported, no target)."""

    label: str
    contender: str
    baseline: str
    target: float | None


def _room(capacity: int, item_size: int) -> int:
    """Bytes for ``capacity`` items of ``item_size`` (with their pickles' overhead)."""
    return capacity * (item_size + 256) + (1 << 16)


def _make_variant(variant: str, instrument: str = "off") -> Callable[[int, Any, int], Any]:
    def make(capacity: int, context: Any, item_size: int) -> Any:
        if context is None:
            return make_buffer(variant, capacity, instrument=instrument)
        # The default ring, or room for a full buffer of the trial's items when that is more
        # (plus one item: a record never wraps, so the ring's end may go unused): the bytes
        # faster-fifo is given. With less, items that find the ring full go through files.
        ring_size = max(default_ring_size(capacity), _room(capacity, item_size) + item_size)
        return make_buffer(variant, capacity, "process", instrument=instrument, context=context,
                           ring_size=None if variant == "queue" else ring_size)

    make.__name__ = f"make_{variant}_{instrument}"
    return make


def _make_queue(capacity: int, context: Any, item_size: int) -> Any:
    return queue.Queue(capacity)


def _make_simple_queue(capacity: int, context: Any, item_size: int) -> Any:
    return queue.SimpleQueue()


def _make_mp_queue(capacity: int, context: Any, item_size: int) -> Any:
    return context.Queue(capacity)


class _SimpleQueuePeer:
    """``multiprocessing.SimpleQueue`` (unbounded: no capacity) with the put/get signature."""

    def __init__(self, context: Any) -> None:
        self._queue = context.SimpleQueue()
        self.put = self._queue.put
        self.get = self._queue.get

    def close(self) -> None:
        self._queue.close()


def _make_mp_simple_queue(capacity: int, context: Any, item_size: int) -> Any:
    return _SimpleQueuePeer(context)


class _FasterFifoPeer:
    """``faster_fifo.Queue`` bounded to ``capacity`` items (at least one batch: its
    ``put_many`` stores a batch whole or waits), with room for that many in bytes."""

    _FOREVER = 3600.0  # faster-fifo waits 10 s by default; a trial must never time out

    def __init__(self, capacity: int, item_size: int, batch: int) -> None:
        import faster_fifo

        room = _room(max(capacity, batch), item_size)
        self._queue = faster_fifo.Queue(max_size_bytes=room, maxsize=max(capacity, batch))

    # faster-fifo can give up (queue.Full / queue.Empty) long before its timeout when the
    # machine is loaded (seen with 64 KiB items, 4x4 on 2 cores): such a wait is tried again.

    def put(self, item: Any) -> None:
        while True:
            try:
                return self._queue.put(item, True, self._FOREVER)
            except queue.Full:
                continue

    def get(self) -> Any:
        while True:
            try:
                return self._queue.get(True, self._FOREVER)
            except queue.Empty:
                continue

    def put_many(self, items: list) -> None:
        while True:
            try:
                return self._queue.put_many(items, True, self._FOREVER)
            except queue.Full:
                continue

    def get_many(self, max_items: int) -> list:
        while True:
            try:
                return self._queue.get_many(True, self._FOREVER, max_messages_to_get=max_items)
            except queue.Empty:
                continue

    def close(self) -> None:
        self._queue.close()


def _make_faster_fifo(capacity: int, context: Any, item_size: int) -> Any:
    return _FasterFifoPeer(capacity, item_size, 1)


def _make_faster_fifo_batches(capacity: int, context: Any, item_size: int) -> Any:
    return _FasterFifoPeer(capacity, item_size, BATCH)


def _make_textbook(capacity: int, context: Any, item_size: int) -> Any:
    return TextbookSemaphoreBuffer(capacity)


def _make_bare(capacity: int, context: Any, item_size: int) -> Any:
    return BareConditionBuffer(capacity)


_T, _P = ActorKind.THREAD, ActorKind.PROCESS
_MP_QUEUE_LISTS = "multiprocessing.Queue lists of 100"
_MP_SIMPLE_LISTS = "multiprocessing.SimpleQueue lists of 100"
CONTENDERS: tuple[Contender, ...] = (
    Contender("queue.Queue", _T, _make_queue),
    Contender("queue.SimpleQueue", _T, _make_simple_queue),
    Contender("textbook semaphore", _T, _make_textbook),
    Contender("bare condition", _T, _make_bare),
    Contender("condition", _T, _make_variant("condition")),
    Contender("condition counters", _T, _make_variant("condition", "counters")),
    Contender("semaphore", _T, _make_variant("semaphore")),
    Contender("queue", _T, _make_variant("queue")),
    Contender("condition x100", _T, _make_variant("condition"), BATCH),
    Contender("semaphore x100", _T, _make_variant("semaphore"), BATCH),
    Contender("queue x100", _T, _make_variant("queue"), BATCH),
    Contender("multiprocessing.Queue", _P, _make_mp_queue),
    Contender(_MP_QUEUE_LISTS, _P, _make_mp_queue, BATCH, lists=True),
    Contender("multiprocessing.SimpleQueue", _P, _make_mp_simple_queue),
    Contender(_MP_SIMPLE_LISTS, _P, _make_mp_simple_queue, BATCH, lists=True),
    Contender("faster-fifo", _P, _make_faster_fifo, requires="faster_fifo"),
    Contender("faster-fifo x100", _P, _make_faster_fifo_batches, BATCH, requires="faster_fifo"),
    Contender("condition", _P, _make_variant("condition")),
    Contender("condition counters", _P, _make_variant("condition", "counters")),
    Contender("semaphore", _P, _make_variant("semaphore")),
    Contender("queue", _P, _make_variant("queue")),
    Contender("condition x100", _P, _make_variant("condition"), BATCH),
    Contender("semaphore x100", _P, _make_variant("semaphore"), BATCH),
)

COMPARISONS: dict[ActorKind, tuple[Comparison, ...]] = {
    _T: (
        Comparison("condition vs queue.Queue", "condition", "queue.Queue", 1.0),
        Comparison("semaphore vs queue.Queue", "semaphore", "queue.Queue", None),
        Comparison("queue vs queue.Queue", "queue", "queue.Queue", None),
        Comparison("condition vs queue.SimpleQueue", "condition", "queue.SimpleQueue", None),
        Comparison("semaphore vs textbook semaphore", "semaphore", "textbook semaphore", 0.9),
        Comparison("condition x100 vs queue.Queue", "condition x100", "queue.Queue", 10.0),
        Comparison("semaphore x100 vs queue.Queue", "semaphore x100", "queue.Queue", 10.0),
        Comparison("queue x100 vs queue.Queue", "queue x100", "queue.Queue", None),
        Comparison("instrument off vs bare condition", "condition", "bare condition", 0.95),
        Comparison("instrument counters vs bare condition", "condition counters",
                   "bare condition", 0.85),
    ),
    _P: (
        Comparison("condition vs faster-fifo", "condition", "faster-fifo", 1.0),
        Comparison("semaphore vs faster-fifo", "semaphore", "faster-fifo", 1.0),
        Comparison("condition vs mp.Queue", "condition", "multiprocessing.Queue", 1.0),
        Comparison("semaphore vs mp.Queue", "semaphore", "multiprocessing.Queue", 1.0),
        Comparison("queue vs mp.Queue", "queue", "multiprocessing.Queue", 1.0),
        Comparison("condition vs mp.SimpleQueue", "condition", "multiprocessing.SimpleQueue",
                   None),
        Comparison("counters vs off, condition", "condition counters", "condition", 0.85),
        Comparison("condition x100 vs mp.Queue lists of 100", "condition x100",
                   _MP_QUEUE_LISTS, 1.0),
        Comparison("semaphore x100 vs mp.Queue lists of 100", "semaphore x100",
                   _MP_QUEUE_LISTS, 1.0),
        Comparison("condition x100 vs mp.SimpleQueue lists of 100", "condition x100",
                   _MP_SIMPLE_LISTS, None),
        Comparison("condition x100 vs faster-fifo x100", "condition x100", "faster-fifo x100",
                   None),
    ),
}


def available(contender: Contender) -> bool:
    """True if the contender's optional peer is installed (always, for the others)."""
    if contender.requires is None:
        return True
    try:
        __import__(contender.requires)
    except ImportError:
        return False
    return True


def measured_at(contender: Contender, capacity: int, item_size: int) -> bool:
    """Whether the grid measures ``contender`` at this capacity and item size (large items:
    single, at small capacities only)."""
    if item_size > LARGE_ITEM:
        return contender.batch == 1 and capacity <= LARGE_CAPACITY
    return True


def close_contender(buf: Any) -> None:
    """Release what a contender's buffer holds (a multiprocessing.Queue's feeder thread, a
    process buffer's shared memory); nothing for the thread ones. A Ctrl-C meanwhile waits
    until it is done (a clean-up cut half-way fails with another error, or leaks)."""
    with stop_signals_deferred():
        if hasattr(buf, "join_thread"):  # multiprocessing.Queue: stop its feeder thread
            buf.close()
            buf.join_thread()
        elif hasattr(buf, "close"):
            buf.close()
