"""Worker threads that drive a student's buffer inside a check's child process.

A :class:`Crew` starts daemon threads, records what each one is doing (``put((1, 4))``, ``get()``)
and counts completed operations. :meth:`Crew.wait` returns when every worker is done or when no
operation completed for ``stall`` seconds, and then names the workers that are stuck and where:
that is how a deadlock or a lost wake-up becomes a message instead of a hang. The threads are
daemons and the child process leaves with ``os._exit``, so stuck workers are simply abandoned.

Noise injection (as in IBM's ConTest, Edelstein et al. 2002): with ``noise`` set, every line of the
student's file executed by a worker may yield the GIL for a few microseconds, so the race between
two statements of an unprotected critical section is hit in a handful of runs instead of almost
never under CPython's switch interval.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

from pcmodel.grading.isolation import describe_exception, time_scale

__all__ = ["QUIET", "Crew", "Stillness", "Worker", "WorkerState", "noise_tracer", "patience",
           "processor_wait", "task_runs", "task_stat"]

_DELAYS = (0.0, 0.0, 0.00001, 0.00005, 0.0002)
# sys.settrace refuses with RuntimeError ("Cannot install a trace function while another trace
# function is being installed") when two threads install one at the same moment. That happens
# under the grading sandbox: its audit hook is Python code, run inside each installation, so
# the GIL may pass to another worker installing its own. Workers install and remove their
# tracers under this lock, one at a time.
_TRACER_INSTALL = threading.Lock()
_MOST_PATIENCE = 4.0  # how far a loaded machine may stretch a stall window
QUIET = 0.5  # seconds of complete stillness that prove a deadlock (see Stillness)
_LOOK = 0.05  # seconds between two looks for stillness


def patience() -> float:
    """Factor for the windows in which "no progress" means "stuck".

    ``PCMODEL_GRADE_TIME_SCALE`` times how oversubscribed the machine is right now (the
    one-minute load average per core, between 1 and 4): on a machine running twenty processes
    per core a correct thread may wait seconds for the processor, and that must not read as a
    deadlock. It only lengthens the wait before a stuck program is reported, never what passes.
    """
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except (AttributeError, OSError):  # no load average on this platform
        load = 1.0
    return time_scale() * min(_MOST_PATIENCE, max(1.0, load))


def processor_wait() -> dict[int, int]:
    """Nanoseconds each thread of this process has spent ready to run but without a processor.

    Linux's per-thread run-queue delay (``/proc/self/task/TID/schedstat``, second field); empty
    where the kernel does not report it. See :meth:`Crew.wait` for why a check needs it.
    """
    waits: dict[int, int] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return waits
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as stat:
                waits[int(tid)] = int(stat.read().split()[1])
        except (OSError, ValueError, IndexError):  # the thread ended meanwhile
            continue
    return waits


def _starved(before: dict[int, int], window: float) -> bool:
    """Whether this process's threads waited for a processor for a quarter of ``window`` or more
    since ``before`` (threads born since then count from zero)."""
    now = processor_wait()
    waited = sum(max(0, ns - before.get(tid, 0)) for tid, ns in now.items())
    return waited >= 0.25 * window * 1e9


def task_stat(path: str) -> tuple[str, int] | None:
    """(state letter, CPU ticks used) of a task from its ``/proc/.../stat``; None if gone."""
    try:
        with open(path) as stat:
            fields = stat.read().rpartition(")")[2].split()
        return fields[0], int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def task_runs(path: str) -> int:
    """How many times the task of ``/proc/.../stat`` ``path`` has been given a processor (the
    third field of the ``schedstat`` file next to it); -1 where the kernel does not say.

    Finer than CPU ticks: a thread that wakes up for a few microseconds every 5 ms (as one
    waiting for Python's GIL does) may use no tick for seconds, but it counts runs."""
    try:
        with open(path[: -len("stat")] + "schedstat") as stat:
            return int(stat.read().split()[2])
    except (OSError, IndexError, ValueError):
        return -1


class Stillness:
    """Tells a deadlock without waiting out a whole stall window.

    A program whose every watched thread or process is asleep in the kernel (state ``S``) at
    every look, has not been on a processor once (:func:`task_runs`; CPU ticks where the kernel
    does not count runs) and has made no progress for :data:`QUIET` seconds cannot move again
    by itself: a thread kept off the processor by a loaded machine is runnable (``R``), not
    asleep, and one woken by a release becomes runnable at once. A thread waiting for Python's
    GIL does sleep (state ``S``), for instance while the looking thread holds the GIL, but it
    wakes every switch interval (5 ms) to ask for it, so it is never still; counting CPU ticks
    alone missed that, and a correct worker that had not yet been given the GIL under heavy
    load was once called stuck. So this only shortens the wait for programs that are stuck;
    anything that still runs, or waits for a processor or the GIL, gets the full stall window
    as before. Where /proc does not exist, nothing is ever still. Not for programs that sleep
    on timers by design (a Kafka consumer's long poll): those are watched with the stall
    window only.
    """

    def __init__(self, quiet: float = QUIET) -> None:
        # ``quiet``: seconds of stillness needed, before PCMODEL_GRADE_TIME_SCALE. Shorter only
        # where a wrong "still" costs nothing but a shorter wait (see process_stepping).
        self.quiet = quiet
        self.since: float | None = None
        self.mark: tuple[int, ...] = ()

    def still(self, paths: list[str], progress: int) -> bool:
        """Whether every task of ``paths`` (``/proc/.../stat`` files) has been asleep, without
        running once, and ``progress`` has stayed the same, for the quiet time up to now."""
        now = time.monotonic()
        stats = [task_stat(path) for path in paths]
        if not paths or any(s is None or s[0] != "S" for s in stats):
            self.since = None
            return False
        mark = (progress, *(s[1] for s in stats if s is not None), *map(task_runs, paths))
        if self.since is None or mark != self.mark:
            self.since, self.mark = now, mark
            return False
        return now - self.since >= self.quiet * time_scale()


def _other_threads() -> list[str]:
    """``/proc`` stat paths of every thread of this process but the calling one."""
    me = str(threading.get_native_id())
    try:
        return [f"/proc/self/task/{tid}/stat" for tid in os.listdir("/proc/self/task")
                if tid != me]
    except OSError:
        return []


class WorkerState(Enum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def noise_tracer(filename: str, rng: random.Random, probability: float) -> Callable[..., Any]:
    """A ``sys.settrace`` function that sleeps briefly on some lines of ``filename``."""

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and rng.random() < probability:
            time.sleep(rng.choice(_DELAYS))
        return local

    def global_trace(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == filename else None

    return global_trace


class Worker:
    """One daemon thread of a crew: ``state``, ``doing`` (current operation), ``done`` count."""

    def __init__(self, crew: Crew, name: str, body: Callable[[Worker], None]) -> None:
        self.crew = crew
        self.name = name
        self.state = WorkerState.RUNNING
        self.doing = "starting"
        self.done = 0
        self.error = ""
        self.results: list[Any] = []
        self.blocked = False  # set by callers that saw this worker block in a primitive
        self._body = body
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        tracer = None
        if self.crew.noise_file is not None:
            seed = self.crew.rng.randrange(2**32)
            tracer = noise_tracer(self.crew.noise_file, random.Random(seed), self.crew.noise)
        try:
            if tracer is not None:
                with _TRACER_INSTALL:
                    sys.settrace(tracer)
            self._body(self)
            self.state = WorkerState.DONE
        except BaseException as exc:  # noqa: BLE001 - reported as a finding
            self.error = describe_exception(exc, self.crew.source)
            self.state = WorkerState.FAILED
        finally:
            if tracer is not None:
                with _TRACER_INSTALL:
                    sys.settrace(None)
            self.crew.tick(ended=True)

    def step(self, doing: str) -> None:
        """Record the operation about to start."""
        self.doing = doing

    def finished(self, result: Any = None, keep: bool = False) -> None:
        """Record one completed operation (and its result when ``keep``)."""
        self.done += 1
        if keep:
            self.results.append(result)
        self.doing = "between operations"
        self.crew.tick()

    def describe(self) -> str:
        if self.state is WorkerState.FAILED:
            return f"{self.name} raised {self.error}"
        if self.state is WorkerState.DONE:
            return f"{self.name} finished after {self.done} operations"
        return f"{self.name} stuck in {self.doing} after {self.done} operations"


class Crew:
    """Start workers, watch progress, and report who is stuck.

    ``source`` is the student's file (used to point at lines in tracebacks); with ``noise`` > 0,
    lines of that file are perturbed with the given probability.
    """

    def __init__(
        self,
        source: str | None,
        *,
        noise: float = 0.0,
        seed: int = 0,
        on_tick: Callable[[], None] | None = None,
        stillness: bool = False,
    ) -> None:
        self.source = source
        self.stillness = stillness
        self.on_tick = on_tick
        self.noise = noise
        self.noise_file = source if noise > 0 else None
        self.rng = random.Random(seed)
        self.workers: list[Worker] = []
        self.progress = 0
        self._cond = threading.Condition(threading.Lock())

    def tick(self, ended: bool = False) -> None:
        """Count one completed operation, or a worker ending (``ended``: that wakes watchers).

        An operation does not wake :meth:`wait`'s watcher, which looks at the count every
        ``_LOOK`` seconds instead: a wake-up per put() and get() would cost the workers a thread
        switch and the watcher a look at /proc each time, several times the work of the
        operation itself."""
        with self._cond:
            self.progress += 1
            if ended:
                self._cond.notify_all()
        if self.on_tick is not None:
            self.on_tick()

    def start(self, name: str, body: Callable[[Worker], None]) -> Worker:
        worker = Worker(self, name, body)
        self.workers.append(worker)
        worker.thread.start()
        return worker

    def wait(self, stall: float, workers: list[Worker] | None = None) -> list[Worker]:
        """Wait until ``workers`` (default: all) end; return those still running after a stall.

        A stall is ``stall`` seconds in which no operation of any worker completed while the
        workers were not kept off the processor. Deadlocked threads sleep and ask for no
        processor; a correct program on an oversubscribed machine may instead sit ready to run
        for seconds (the load average that :func:`patience` reads lags a sudden burst). So a
        window in which this process's threads waited for a processor for a quarter of it or
        more does not count, up to ``_MOST_PATIENCE`` such windows in a row; a program that
        spins (always ready to run) is still reported after them.
        """
        watched = self.workers if workers is None else workers

        def ended() -> bool:
            return all(w.state is not WorkerState.RUNNING for w in watched)

        with self._cond:
            excused = 0
            while not ended():
                seen = self.progress
                before = processor_wait()
                moved = self._window(seen, ended, stall)
                if moved is None:  # everyone is still: stuck for good
                    return [w for w in watched if w.state is WorkerState.RUNNING]
                if moved:
                    excused = 0
                elif excused < _MOST_PATIENCE and _starved(before, stall):
                    excused += 1
                else:
                    return [w for w in watched if w.state is WorkerState.RUNNING]
            return []

    def _window(self, seen: int, ended: Callable[[], bool], stall: float) -> bool | None:
        """Wait (holding ``_cond``) up to ``stall`` s for progress; True if it came (seen within
        ``_LOOK`` s), False if not, None if every other thread was still meanwhile (with
        ``stillness`` only)."""
        moved = lambda: self.progress != seen or ended()  # noqa: E731 - a predicate
        deadline = time.monotonic() + stall
        stillness = Stillness() if self.stillness else None
        while True:
            remaining = deadline - time.monotonic()
            if self._cond.wait_for(moved, max(0.0, min(remaining, _LOOK))):
                return True
            if remaining <= _LOOK:
                return False
            if stillness is None:
                continue
            progress = self.progress
            self._cond.release()  # workers must be able to tick while we look
            try:
                still = stillness.still(_other_threads(), progress)
            finally:
                self._cond.acquire()
            if still and not moved():
                return None

    def failures(self) -> list[Worker]:
        return [w for w in self.workers if w.state is WorkerState.FAILED]
