"""The actors of a workload run: the producer and consumer loops, and the crews that run them.

Each actor gets an :class:`ActorPlan` (picklable, so it reaches a process unchanged), says it is
ready, waits for the start signal, moves its items and ends with a :class:`Report`: how many items
it moved, two checksums of their numbers, when it started and ended, and the exception that
stopped it, if any. An actor never raises; its errors travel in the report so the runner can
re-raise them in the caller.

A crew starts the actors as threads (:class:`ThreadCrew`) or processes (:class:`ProcessCrew`),
collects their reports and makes sure none is left running. Process actors report through a
pipe each, and a process that dies without reporting is noticed through its sentinel.

Prior art: ``concurrent.futures`` (a worker's exception is delivered to whoever waits on it) and
``multiprocessing.connection.wait`` over pipes and process sentinels, as ``concurrent.futures``'
process pool uses to notice dead workers.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import pickle
import queue
import random
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pcmodel.buffers import Buffer
from pcmodel.child_signals import child_signals, children_ignore_ctrl_c
from pcmodel.errors import ShutDown
from pcmodel.experiments.results import Role
from pcmodel.experiments.work import Work

__all__ = ["JOIN_GRACE", "ActorPlan", "ProcessCrew", "Report", "ThreadCrew", "plan_actors"]

JOIN_GRACE = 10.0  # seconds an actor gets to finish after the buffer was shut down


@dataclass(frozen=True)
class ActorPlan:
    """What one actor is to do; picklable, so it reaches process actors unchanged."""

    role: Role
    index: int
    name: str
    first: int  # producers: the item numbers first .. first + count - 1
    count: int
    work: Work | None
    seed: int
    batch: int
    start_timeout: float


@dataclass
class Report:
    """What an actor tells the runner when it ends (sent through a pipe by process actors)."""

    name: str
    role: Role
    items: int = 0
    total: int = 0  # sum of the item numbers moved
    total_sq: int = 0  # sum of their squares: with the count and the sum, catches swaps
    started: float = 0.0
    ended: float = 0.0
    stopped: bool = False  # ended by an immediate shutdown (the run was being aborted)
    error: BaseException | None = None


def plan_actors(producers: int, consumers: int, items: int, produce_work: Work | None,
                consume_work: Work | None, seed: int, batch: int, start_timeout: float
                ) -> list[ActorPlan]:
    """Producers first (each a contiguous share of the item numbers), then consumers."""
    plans = []
    first = 0
    share, extra = divmod(items, producers)
    for index in range(producers):
        count = share + (1 if index < extra else 0)
        plans.append(ActorPlan(Role.PRODUCER, index, f"producer-{index}", first, count,
                               produce_work, seed, batch, start_timeout))
        first += count
    for index in range(consumers):
        plans.append(ActorPlan(Role.CONSUMER, index, f"consumer-{index}", 0, 0, consume_work,
                               seed, batch, start_timeout))
    return plans


# -- the actors --------------------------------------------------------------------------------


def _act(plan: ActorPlan, buf: Buffer, ready: Any, start: Any, progress: Any) -> Report:
    """Run one actor to its end and say what it did; never raises (errors go in the report).

    The actor says it is ready, then waits for the start signal, so that slow starts (a spawned
    process importing modules) are not counted in the run's wall time.
    """
    report = Report(plan.name, plan.role)
    try:
        ready.release()
        if not start.wait(plan.start_timeout):
            raise TimeoutError(f"{plan.name} got no start signal within {plan.start_timeout}s")
        rng = random.Random(f"{plan.seed}:{plan.role.value}:{plan.index}")
        report.started = time.perf_counter()
        if plan.role is Role.PRODUCER:
            _produce(plan, buf, rng, report)
        else:
            _consume(plan, buf, rng, report, progress)
    except ShutDown:
        report.stopped = True
    except BaseException as exc:  # every failure goes back to the caller, none is lost
        report.error = exc
    report.ended = time.perf_counter()
    return report


def _produce(plan: ActorPlan, buf: Buffer, rng: random.Random, report: Report) -> None:
    work = plan.work
    end = plan.first + plan.count
    if plan.batch == 1:
        put = buf.put
        for value in range(plan.first, end):
            if work is not None:
                work.perform(rng)
            put(value)
            # Counted only once the buffer accepted it.
            report.items += 1
            report.total += value
            report.total_sq += value * value
        return
    for low in range(plan.first, end, plan.batch):
        values = range(low, min(low + plan.batch, end))
        if work is not None:
            for _ in values:
                work.perform(rng)
        buf.put_many(values)
        report.items += len(values)
        report.total += sum(values)
        report.total_sq += sum(v * v for v in values)


def _consume(plan: ActorPlan, buf: Buffer, rng: random.Random, report: Report,
             progress: Any) -> None:
    work = plan.work
    batch = plan.batch
    slot = plan.index
    while True:
        try:
            values = [buf.get()] if batch == 1 else buf.get_many(batch)
        except ShutDown:
            return  # shut down and drained: the normal end of a consumer
        for value in values:
            if work is not None:
                work.perform(rng)
            report.items += 1
            report.total += value
            report.total_sq += value * value
        if progress is not None:
            progress[slot] = report.items


def _thread_main(plan: ActorPlan, buf: Buffer, ready: Any, start: Any, progress: Any,
                 reports: queue.SimpleQueue) -> None:
    reports.put(_act(plan, buf, ready, start, progress))


def _process_main(plan: ActorPlan, buf: Buffer, ready: Any, start: Any, progress: Any,
                  connection: multiprocessing.connection.Connection) -> None:
    child_signals()
    report = _act(plan, buf, ready, start, progress)
    if report.error is not None:
        try:
            pickle.dumps(report.error)
        except Exception:
            text = "".join(traceback.format_exception(report.error))
            report.error = RuntimeError(f"{type(report.error).__name__} (not picklable):\n{text}")
    try:
        connection.send(report)
    finally:
        connection.close()


# -- crews: start actors, collect their reports, make sure they are gone -----------------------


class ThreadCrew:
    """Actors as threads of this process."""

    def __init__(self, plans: Sequence[ActorPlan], buf: Buffer, progress: list[int]) -> None:
        self.ready = threading.Semaphore(0)
        self.start_signal = threading.Event()
        self._reports: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=_thread_main, name=plan.name,
                             args=(plan, buf, self.ready, self.start_signal, progress,
                                   self._reports))
            for plan in plans
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def poll(self, timeout: float) -> list[Report]:
        """Reports that arrived, waiting up to ``timeout`` for the first one."""
        try:
            got = [self._reports.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                got.append(self._reports.get_nowait())
            except queue.Empty:
                return got

    def stop(self, grace: float) -> list[str]:
        """Join every actor (within ``grace`` seconds in all); return the names still running."""
        deadline = time.monotonic() + grace
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]


class ProcessCrew:
    """Actors as processes; each reports through its own pipe, and a death is noticed too."""

    def __init__(self, plans: Sequence[ActorPlan], buf: Buffer, progress: Any,
                 context: Any) -> None:
        self.ready = context.Semaphore(0)
        self.start_signal = context.Event()
        self._pending: dict[Any, tuple[Any, Any]] = {}  # reader -> (process, plan)
        self._processes = []
        for plan in plans:
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_process_main, name=plan.name,
                                      args=(plan, buf, self.ready, self.start_signal, progress,
                                            writer))
            self._processes.append((process, writer))
            self._pending[reader] = (process, plan)

    def start(self) -> None:
        with children_ignore_ctrl_c():
            for process, writer in self._processes:
                process.start()
                writer.close()  # the child holds its own end; ours would hide the child's death

    def poll(self, timeout: float) -> list[Report]:
        if not self._pending:
            return []
        sentinels = {process.sentinel: reader for reader, (process, _) in self._pending.items()
                     if process.pid is not None}
        ready = multiprocessing.connection.wait([*self._pending, *sentinels], timeout)
        got: list[Report] = []
        for obj in ready:
            reader = sentinels.get(obj, obj)
            if reader not in self._pending:
                continue  # both the pipe and the sentinel were ready: already handled
            process, plan = self._pending[reader]
            if reader is obj or reader.poll():
                try:
                    got.append(reader.recv())
                except EOFError:
                    got.append(self._died(process, plan))
            else:
                got.append(self._died(process, plan))
            del self._pending[reader]
            reader.close()
        return got

    @staticmethod
    def _died(process: Any, plan: ActorPlan) -> Report:
        process.join(JOIN_GRACE)
        error = RuntimeError(f"{plan.name} (pid {process.pid}) exited with code "
                             f"{process.exitcode} before reporting what it did")
        return Report(plan.name, plan.role, error=error)

    def stop(self, grace: float) -> list[str]:
        deadline = time.monotonic() + grace
        for process, _ in self._processes:
            if process.pid is not None:
                process.join(max(0.0, deadline - time.monotonic()))
        stragglers = []
        for process, _ in self._processes:
            if process.pid is not None and process.is_alive():
                stragglers.append(process.name)
                # kill(), not terminate(): an actor leaves SIGTERM to its living parent
                # (pcmodel.child_signals), so that it never dies inside a shared lock.
                process.kill()
                process.join(JOIN_GRACE)
        for reader in self._pending:
            reader.close()
        self._pending.clear()
        for process, _ in self._processes:
            if process.pid is not None and not process.is_alive():
                process.close()
        return stragglers
