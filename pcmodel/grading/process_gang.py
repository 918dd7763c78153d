"""The producer and consumer processes of exercise 04's checks, and the watcher of a gang of them.

What runs in each process (:func:`producer_main`, :func:`consumer_main`,
:func:`waiting_consumer_main`, defined in :mod:`pcmodel.grading.process_workers`, which a spawned
process imports without the rest of the grader) takes the student's buffer as a ``Process``
argument, does its operations (perturbed by noise when asked, as :mod:`pcmodel.grading.crew`
does for threads) and reports through a pipe and a small shared meter: operations done, items
inside at most, processes started. :class:`Gang` starts such processes around one buffer and
collects their reports, giving up on those that stop making progress. Used by
:mod:`pcmodel.grading.process_harness`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import time
from typing import Any

from pcmodel.grading.crew import Stillness
from pcmodel.grading.isolation import time_scale
from pcmodel.grading.process_workers import OPS, STARTED

__all__ = ["START_LIMIT", "Gang"]

START_LIMIT = 60.0  # seconds for every process to start, before PCMODEL_GRADE_TIME_SCALE


class Gang:
    """Producer and consumer processes around one buffer, watched for progress (in the check's
    own child process)."""

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
            ops = self.meter[OPS]
            if self.meter[STARTED] < len(self.procs) and time.monotonic() < start_by:
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
