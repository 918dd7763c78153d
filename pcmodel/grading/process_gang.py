"""The producer and consumer processes of exercise 04's checks, and the watcher of a gang of them.

What runs in each process (:func:`producer_main`, :func:`consumer_main`,
:func:`waiting_consumer_main`) takes the student's buffer as a ``Process`` argument, does its
operations (perturbed by noise when asked, as :mod:`pcmodel.grading.crew` does for threads) and
reports through a pipe and a small shared meter: operations done, items inside at most,
processes started. :class:`Gang` starts such processes around one buffer and collects their
reports, giving up on those that stop making progress. Used by
:mod:`pcmodel.grading.process_harness`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import random
import sys
import time
from collections import Counter
from typing import Any

from pcmodel.grading.crew import Stillness, noise_tracer
from pcmodel.grading.isolation import describe_exception, time_scale

__all__ = ["MOST_INSIDE", "START_LIMIT", "Gang", "consumer_main", "producer_main",
           "waiting_consumer_main"]

# Meter slots in a shared array: puts done, gets started, most items inside, operations done,
# processes started (the stall clock runs only once all have started: spawning can be slow).
_PUTS, _GETS_STARTED, MOST_INSIDE, _OPS, _STARTED = range(5)
START_LIMIT = 60.0  # seconds for every process to start, before PCMODEL_GRADE_TIME_SCALE



def _trace(noise_file: str | None, seed: int) -> None:
    if noise_file is not None:
        sys.settrace(noise_tracer(noise_file, random.Random(seed), 0.3))


def _count(meter: Any, lock: Any, slot: int) -> None:
    with lock:
        meter[slot] += 1
        meter[_OPS] += 1
        meter[MOST_INSIDE] = max(meter[MOST_INSIDE], meter[_PUTS] - meter[_GETS_STARTED])


def producer_main(buf: Any, meter: Any, lock: Any, conn: Any, items: list[int],
                  noise_file: str | None, seed: int) -> None:
    """Put ``items`` into ``buf``; send ("done", None) or ("error", text) on ``conn``."""
    with lock:
        meter[_STARTED] += 1
    _trace(noise_file, seed)
    try:
        for item in items:
            buf.put(item)
            _count(meter, lock, _PUTS)
        message = ("done", None)
    except BaseException as exc:  # noqa: BLE001 - reported to the watcher
        message = ("error", describe_exception(exc, noise_file))
    sys.settrace(None)
    conn.send(message)


def consumer_main(buf: Any, meter: Any, lock: Any, conn: Any, count: int,
                  noise_file: str | None, seed: int) -> None:
    """Get ``count`` items from ``buf``; send ("done", items) or ("error", text) on ``conn``."""
    with lock:
        meter[_STARTED] += 1
    _trace(noise_file, seed)
    got: list[int] = []
    try:
        for _ in range(count):
            with lock:
                meter[_GETS_STARTED] += 1
            got.append(buf.get())
            _count(meter, lock, _OPS)
        message: tuple[str, Any] = ("done", got)
    except BaseException as exc:  # noqa: BLE001 - reported to the watcher
        message = ("error", f"{describe_exception(exc, noise_file)} after {len(got)} items")
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


# --- watching the processes (in the check's own child process) ----------------------------------


class Gang:
    """Producer and consumer processes around one buffer, watched for progress."""

    def __init__(self, ctx: Any, buf: Any) -> None:
        self.ctx = ctx
        self.buf = buf
        self.meter = ctx.Array("q", 5, lock=False)
        self.lock = ctx.Lock()
        self.procs: list[tuple[str, Any, Any]] = []
        self.reports: dict[str, tuple[str, Any]] = {}

    def start(self, name: str, target: Any, *args: Any) -> None:
        reader, writer = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=target, name=name,
                                args=(self.buf, self.meter, self.lock, writer, *args))
        proc.daemon = True
        proc.start()
        writer.close()
        self.procs.append((name, proc, reader))

    def wait(self, stall: float) -> list[str]:
        """Collect reports until all processes end; return the names of those stuck."""
        last, since = -1, time.monotonic()
        start_by = since + START_LIMIT * time_scale()
        stillness = Stillness()
        while True:
            pending = {reader: name for name, _, reader in self.procs if name not in self.reports}
            if not pending:
                break
            for reader in multiprocessing.connection.wait(list(pending), timeout=0.05):
                try:
                    self.reports[pending[reader]] = reader.recv()
                except EOFError:
                    self.reports[pending[reader]] = ("error", "the process died without a report")
            ops = self.meter[_OPS]
            if self.meter[_STARTED] < len(self.procs) and time.monotonic() < start_by:
                since = time.monotonic()  # still starting: not a stall yet
            elif stillness.still([f"/proc/{proc.pid}/stat" for name, proc, _ in self.procs
                                  if name not in self.reports], ops):
                break  # every process still waiting sleeps and nothing moves: a deadlock
            elif ops != last:
                last, since = ops, time.monotonic()
            elif time.monotonic() - since > stall:
                break
        for name, proc, _ in self.procs:
            if name in self.reports:
                proc.join(1.0)  # it reported and is leaving
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        return [name for name, _, _ in self.procs if name not in self.reports]

    def pids(self) -> list[int]:
        return [proc.pid for _, proc, _ in self.procs if proc.pid is not None]
