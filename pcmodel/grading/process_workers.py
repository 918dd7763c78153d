"""What runs in each process of exercise 04's checks: producers, consumers, stepped callers.

These functions are the targets of the processes that :mod:`pcmodel.grading.process_gang` and
:mod:`pcmodel.grading.process_stepping` start around the student's buffer. A process started
with the *spawn* method is a fresh interpreter: it imports the module of its target before it
runs it, and the check starts seven of them in every grading. So this module imports nothing of
pcmodel when it loads. What a process needs of the grader only when something goes wrong
(describing an exception), when noise is on (the noise tracer) or when it reports an item got
(making it plain data) is imported at that moment; a forked process has it loaded already.

Each process reports through a pipe; producers and consumers also count what they do in a small
shared meter (the slots below), which :class:`~pcmodel.grading.process_gang.Gang` watches.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from typing import Any

__all__ = ["GETS_STARTED", "MOST_INSIDE", "OPS", "PUTS", "STARTED", "consumer_main",
           "producer_main", "stepped_caller_main", "waiting_consumer_main"]

# Meter slots in a shared array: puts done, gets started, most items inside, operations done,
# processes started (the stall clock runs only once all have started: spawning can be slow).
PUTS, GETS_STARTED, MOST_INSIDE, OPS, STARTED = range(5)


def _describe(exc: BaseException, source: str | None) -> str:
    """The grader's one-line description of ``exc`` (imported on the first error only)."""
    from pcmodel.grading.isolation import describe_exception

    return describe_exception(exc, source)


def _plain(value: Any) -> Any:
    """``value`` as JSON data, as the grader's harnesses make it (imported on the first get)."""
    from pcmodel.grading.thread_harness import plain

    return plain(value)


def _trace(noise_file: str | None, seed: int) -> None:
    if noise_file is not None:
        from pcmodel.grading.crew import noise_tracer

        sys.settrace(noise_tracer(noise_file, random.Random(seed), 0.3))


def _count(meter: Any, lock: Any, slot: int) -> None:
    with lock:
        meter[slot] += 1
        meter[OPS] += 1
        meter[MOST_INSIDE] = max(meter[MOST_INSIDE], meter[PUTS] - meter[GETS_STARTED])


def producer_main(buf: Any, meter: Any, lock: Any, conn: Any, items: list[int],
                  noise_file: str | None, seed: int) -> None:
    """Put ``items`` into ``buf``; send ("done", None) or ("error", text) on ``conn``."""
    with lock:
        meter[STARTED] += 1
    _trace(noise_file, seed)
    try:
        for item in items:
            buf.put(item)
            _count(meter, lock, PUTS)
        message = ("done", None)
    except BaseException as exc:  # noqa: BLE001 - reported to the watcher
        message = ("error", _describe(exc, noise_file))
    sys.settrace(None)
    conn.send(message)


def consumer_main(buf: Any, meter: Any, lock: Any, conn: Any, count: int,
                  noise_file: str | None, seed: int) -> None:
    """Get ``count`` items from ``buf``; send ("done", items) or ("error", text) on ``conn``."""
    with lock:
        meter[STARTED] += 1
    _trace(noise_file, seed)
    got: list[int] = []
    try:
        for _ in range(count):
            with lock:
                meter[GETS_STARTED] += 1
            got.append(buf.get())
            _count(meter, lock, OPS)
        message: tuple[str, Any] = ("done", got)
    except BaseException as exc:  # noqa: BLE001 - reported to the watcher
        message = ("error", f"{_describe(exc, noise_file)} after {len(got)} items")
    sys.settrace(None)
    conn.send(message)


def waiting_consumer_main(buf: Any, conn: Any, source: str) -> None:
    """Get one item, measuring this process's CPU time and repeated lines of ``source``."""
    lines: Counter[tuple[int, int]] = Counter()

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            lines[(id(frame.f_code), frame.f_lineno)] += 1
        return local

    def global_trace(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == source else None

    conn.send(("started", None))
    wall, cpu = time.monotonic(), time.process_time()
    sys.settrace(global_trace)
    try:
        item = buf.get()
    finally:
        sys.settrace(None)
    conn.send(("done", (item, time.monotonic() - wall, time.process_time() - cpu,
                        max(lines.values(), default=0))))


def stepped_caller_main(buf: Any, conn: Any, source: str) -> None:
    """Make each call received on ``conn`` (``("put", item)`` or ``("get", None)``, until
    None); before each line of ``source`` send ``("line", lineno)`` and wait for leave to go
    on; after each call send ``("done", what get() returned or None)`` or ``("error", text)``.
    Used by :mod:`pcmodel.grading.process_stepping`, whose controller answers."""

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            conn.send(("line", frame.f_lineno))
            conn.recv()
        return local

    def global_trace(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == source else None

    conn.send(("ready", None))
    while True:
        call = conn.recv()
        if call is None:
            return
        op, item = call
        sys.settrace(global_trace)
        try:
            result = buf.put(item) if op == "put" else _plain(buf.get())
            message: tuple[str, Any] = ("done", None if op == "put" else result)
        except BaseException as exc:  # noqa: BLE001 - reported to the controller
            message = ("error", _describe(exc, source))
        finally:
            sys.settrace(None)
        conn.send(message)
