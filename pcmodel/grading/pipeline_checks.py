"""Graded checks for exercise 03: a producer/consumer pipeline that shuts down cleanly.

The student writes ``run_pipeline(sources, handle, consumers, capacity)``. Each workload calls it
in a watched thread inside the check's child process, feeds it instrumented sources and a
recording ``handle``, and afterwards looks at what was handled, what was raised, which threads are
still alive (and on which line of the student's file they are stuck, from
``sys._current_frames()``), and which ``queue.Queue`` objects the pipeline created. The student's
``queue`` module is swapped for one whose Queue records its maxsize and the largest size it reached.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import types
from collections import Counter
from collections.abc import Iterator
from typing import Any

from pcmodel.grading.buffer_checks import STALL
from pcmodel.grading.checks import fail_on, run_check
from pcmodel.grading.contract_checks import AlwaysEqual
from pcmodel.grading.crew import Crew, Worker, WorkerState, patience
from pcmodel.grading.probes import load_impl

__all__ = [
    "check_bounded",
    "check_edge_cases",
    "check_everything_once",
    "check_first_error",
    "check_handler_error",
    "check_order_single_consumer",
    "check_parallel_consumers",
    "check_source_error",
    "check_validation",
]


class _SourceFailed(RuntimeError):
    """Raised by a source on purpose, to see whether the pipeline reports it."""


class _HandleFailed(ValueError):
    """Raised by handle() on purpose, to see whether the pipeline reports it."""


def _problem(expected: str, got: str, hint: str) -> dict[str, str]:
    return {"expected": expected, "got": got, "hint": hint}


def _queue_proxy(record: list[Any]) -> types.ModuleType:
    class Queue(queue.Queue):
        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(maxsize)
            self.largest = 0
            record.append(self)

        def _put(self, item: Any) -> None:
            super()._put(item)
            self.largest = max(self.largest, self._qsize())

    proxy = types.ModuleType("queue", "queue, whose Queue records its size")
    proxy.__dict__.update({k: v for k, v in vars(queue).items() if not k.startswith("__")})
    proxy.Queue = Queue
    return proxy


class _Run:
    """One call of the student's run_pipeline, watched from a worker thread."""

    def __init__(self, impl: str, sources: list[list[Any]], consumers: int, capacity: int, *,
                 fail_source: tuple[int, int] | None = None, fail_items: tuple[Any, ...] = (),
                 slow_items: tuple[Any, ...] = (), barrier: int = 0,
                 hooks: dict[tuple[int, int], Any] | None = None, module: Any = None) -> None:
        # ``hooks[(source, n)](run)`` runs in the producer before it receives item n of that
        # source (it may wait, or raise to make the source fail). ``module`` reuses an already
        # loaded student module: the same function called twice in one process.
        module = module or load_impl(impl, "run_pipeline")
        self.module = module
        self.hooks = hooks or {}
        self.feeders: dict[int, threading.Thread] = {}
        self.failed_in: int | None = None  # thread whose handle() raised first
        self.handled_after_failure = threading.Event()
        self.source_file = module.__spec__.origin
        self.queues: list[Any] = []
        proxy = _queue_proxy(self.queues)
        for name, value in list(vars(module).items()):
            if value is queue:
                setattr(module, name, proxy)
            elif value is queue.Queue:
                setattr(module, name, proxy.Queue)
        self.crew = Crew(self.source_file)
        self.handled: list[Any] = []
        self.handler_threads: set[int] = set()
        self.lock = threading.Lock()
        self.fail_items = fail_items
        self.slow_items = slow_items
        self.barrier = threading.Barrier(barrier) if barrier else None
        self.raised: BaseException | None = None
        self.before = set(threading.enumerate())
        feeds = [self._feed(i, items, fail_source) for i, items in enumerate(sources)]

        def body(w: Worker) -> None:
            w.step(f"run_pipeline(<{len(sources)} sources>, handle, {consumers}, {capacity})")
            try:
                module.run_pipeline(feeds, self.handle, consumers, capacity)
            except BaseException as exc:  # noqa: BLE001 - what the pipeline raised is the finding
                self.raised = exc
            w.finished()

        self.runner = self.crew.start("run_pipeline", body)
        self.stuck = self.crew.wait(STALL * patience(), [self.runner])
        self.alive = [t for t in threading.enumerate()
                      if t not in self.before and t is not self.runner.thread and t.is_alive()]

    def _feed(self, index: int, items: list[Any], fail: tuple[int, int] | None) -> Iterator[Any]:
        self.feeders[index] = threading.current_thread()
        for n, item in enumerate(items):
            hook = self.hooks.get((index, n))
            if hook is not None:
                hook(self)
            if fail is not None and fail == (index, n):
                raise _SourceFailed(f"source {index} failed after {n} items")
            self.crew.tick()
            yield item

    def handle(self, item: Any) -> None:
        with self.lock:
            self.handled.append(item)
            self.handler_threads.add(threading.get_ident())
            if self.failed_in == threading.get_ident():
                # This consumer is back in handle() after its failure: it has recorded it.
                self.handled_after_failure.set()
        self.crew.tick()
        if self.barrier is not None:
            self.barrier.wait(STALL * patience())
        if any(item is x for x in self.slow_items):
            # A slow item keeps its consumer busy, so a pipeline that returns without joining
            # its consumers is seen doing so.
            threading.Event().wait(0.1)
        if any(item is x for x in self.fail_items):
            with self.lock:
                if self.failed_in is None:
                    self.failed_in = threading.get_ident()
            raise _HandleFailed(f"handle() failed on {item!r}")

    def where(self, thread: threading.Thread) -> str:
        """The line of the student's file the thread is executing, if any."""
        frame = sys._current_frames().get(thread.ident)
        while frame is not None:
            if frame.f_code.co_filename == self.source_file:
                return f"line {frame.f_lineno} of {os.path.basename(self.source_file)}"
            frame = frame.f_back
        return "outside your file"

    def hung(self) -> dict[str, str] | None:
        if not self.stuck:
            return None
        where = "; ".join(f"{t.name} at {self.where(t)}" for t in self.alive) or "no other thread"
        return _problem(
            "run_pipeline() to return once every item was handled",
            f"it did not return (it is at {self.where(self.runner.thread)}); "
            f"threads still running: {where}; {len(self.handled)} items handled",
            "send one end-of-stream marker per consumer after ALL producers finished, and join "
            "every thread; a consumer that stops early leaves producers blocked on a full queue",
        )

    def leftovers(self) -> dict[str, str] | None:
        if not self.alive:
            return None
        names = "; ".join(f"{t.name} at {self.where(t)}" for t in self.alive)
        return _problem(
            "every thread the pipeline started to have finished when run_pipeline() returns",
            f"still running: {names}",
            "join() every producer and consumer thread before returning (daemon threads are "
            "not a shutdown protocol)",
        )

    def failed(self) -> dict[str, str] | None:
        if self.runner.state is WorkerState.FAILED:
            return _problem("run_pipeline() to run", self.runner.describe(), "")
        return None


def odd_items() -> list[Any]:
    """Items a pipeline must pass on like any other (each a distinct object where possible)."""
    return [None, 0, False, "", [], [], AlwaysEqual(), 2**70, threading.Lock(), (), "END",
            "STOP"]


def _missing(expected: list[Any], handled: list[Any]) -> dict[str, str] | None:
    # By identity: items may be unhashable, equal to everything, or equal but distinct.
    counts = Counter(id(x) for x in handled)
    lost = [x for x in expected if counts[id(x)] == 0]
    strangers = {id(x) for x in expected}
    twice = [x for x in expected if counts[id(x)] > 1] + [
        x for x in handled if id(x) not in strangers][:1]
    if lost or twice:
        bits = []
        if lost:
            bits.append(f"{len(lost)} items never handled, e.g. {lost[:4]}")
        if twice:
            bits.append(f"items handled twice: {twice[:4]}")
        return _problem(
            f"each of the {len(expected)} items handled exactly once",
            "; ".join(bits),
            "",  # many causes lose or repeat items: the list above is what was seen
        )
    return None


def _sources(count: int, items: int, odd: bool = False) -> list[list[Any]]:
    """``count`` lists of ``items`` distinct items; with ``odd``, some are None, falsy, equal to
    everything or unhashable, which breaks a pipeline that tests items by value."""
    data: list[list[Any]] = [[(s, k) for k in range(items)] for s in range(count)]
    if odd:
        specials = odd_items()
        for n, item in enumerate(specials):
            source = data[n % count]
            source[(n * 7) % len(source)] = item
    return data


def _everything(impl: str, sources: int, items: int, consumers: int, capacity: int):
    data = _sources(sources, items, odd=True)
    run = _Run(impl, data, consumers, capacity)
    found = run.hung() or run.failed()
    if found is None and run.raised is not None:
        found = _problem("run_pipeline() to return normally", f"it raised {run.raised!r}", "")
    expected = [x for src in data for x in src]
    return found or _missing(expected, run.handled)


def _threads_finished(impl: str) -> dict[str, str] | None:
    data = _sources(2, 20)
    run = _Run(impl, data, 3, 4, slow_items=(data[0][-1], data[1][-1]))
    found = run.hung() or run.failed() or run.leftovers()
    if found is None and run.raised is not None:
        found = _problem("run_pipeline() to return normally", f"it raised {run.raised!r}", "")
    return found


def _bounded(impl: str, capacity: int) -> dict[str, str] | None:
    run = _Run(impl, _sources(4, 40), 2, capacity)
    found = run.hung() or run.failed()
    if found:
        return found
    if not run.queues:
        return _problem("the pipeline to create a queue.Queue(maxsize=capacity)",
                        "no queue.Queue was created", "connect producers and consumers with "
                        "queue.Queue(maxsize=capacity): import queue, then queue.Queue(...)")
    for q in run.queues:
        if q.maxsize <= 0 or q.maxsize > capacity or q.largest > capacity:
            return _problem(
                f"the queue to hold at most capacity={capacity} items",
                f"queue.Queue(maxsize={q.maxsize}) held up to {q.largest} items",
                "pass maxsize=capacity: an unbounded queue gives no backpressure",
            )
    return None


def _order(impl: str) -> dict[str, str] | None:
    data = _sources(1, 60)
    run = _Run(impl, data, 1, 3)
    found = run.hung() or run.failed()
    if found is None and run.handled != data[0]:
        first = next(i for i, (a, b) in enumerate(zip(run.handled, data[0])) if a != b) \
            if len(run.handled) == len(data[0]) else 0
        found = _problem("one source and one consumer to handle items in the source's order",
                         f"order differs at position {first}: {run.handled[first:first + 3]}",
                         "a FIFO queue between one producer and one consumer keeps the order")
    return found


def _source_error(impl: str) -> dict[str, str] | None:
    data = _sources(3, 12)
    run = _Run(impl, data, 2, 4, fail_source=(1, 5))
    found = run.hung() or run.failed()
    if found:
        return found
    if not isinstance(run.raised, _SourceFailed):
        return _problem(
            "run_pipeline() to raise the exception a source raised (after finishing the rest)",
            "it returned normally" if run.raised is None else f"it raised {run.raised!r}",
            "catch exceptions in each producer thread, remember the first, finish the "
            "shutdown, then re-raise it in the caller; exceptions in workers are never lost",
        )
    expected = data[0] + data[1][:5] + data[2]
    return _missing(expected, run.handled) or run.leftovers()


def _handler_error(impl: str) -> dict[str, str] | None:
    data = _sources(2, 15)
    # Failures in several items, so that a consumer that dies on its first failure leaves the
    # queue with nobody (or too few) to take from it.
    failing = (data[0][3], data[1][3], data[0][9], data[1][9])
    run = _Run(impl, data, 3, 1, fail_items=failing)
    found = run.hung() or run.failed()
    if found:
        return found
    if not isinstance(run.raised, _HandleFailed):
        return _problem(
            "run_pipeline() to raise the exception handle() raised",
            "it returned normally" if run.raised is None else f"it raised {run.raised!r}",
            "catch exceptions around handle() in each consumer, keep consuming, and re-raise "
            "the first one after every thread finished",
        )
    expected = [x for src in data for x in src]
    return _missing(expected, run.handled) or run.leftovers()


def _wait_for_feeder(source: int, failed: threading.Event) -> Any:
    """A hook: wait until ``source`` has failed and its producer has finished (so it recorded
    the error). Generous limits: they only matter for a pipeline that hangs anyway."""

    def hook(run: _Run) -> None:
        failed.wait(5 * STALL * patience())
        feeder = run.feeders.get(source)
        if feeder is not None and feeder is not threading.current_thread():
            feeder.join(5 * STALL * patience())

    return hook


def _raise(exc: BaseException, before: Any = None, signal: threading.Event | None = None) -> Any:
    def hook(run: _Run) -> None:
        if before is not None:
            before(run)
        if signal is not None:
            signal.set()
        raise exc

    return hook


def _first_error(impl: str) -> dict[str, str] | None:
    """Two failures, one certainly before the other: run_pipeline() raises the first."""
    hint = ("remember every exception in the order they happen (a list under a lock) and raise "
            "the first one, after the shutdown")
    # A source fails; a second source fails only once the first one's producer has finished.
    data = _sources(3, 8)
    first, second = _SourceFailed("source 0 failed first"), _SourceFailed("source 1 failed later")
    first_failed = threading.Event()
    hooks = {(0, 2): _raise(first, signal=first_failed),
             (1, 5): _raise(second, _wait_for_feeder(0, first_failed))}
    run = _Run(impl, data, 2, 4, hooks=hooks)
    found = run.hung() or run.failed()
    if found:
        return found
    if run.raised is not first:
        return _problem("run_pipeline() to raise the first exception, from source 0, when "
                        "source 1 fails later", "it returned normally" if run.raised is None
                        else f"it raised {run.raised!r}", hint)
    found = _missing(data[0][:2] + data[1][:5] + data[2], run.handled) or run.leftovers()
    if found:
        return found
    # The same function again, in the same process: nothing may be left from the first call.
    again = _sources(2, 10)
    run = _Run(impl, again, 3, 1, module=run.module)
    found = run.hung() or run.failed()
    if found is None and run.raised is not None:
        found = _problem(
            "a second call of run_pipeline() in the same process, where nothing fails, to "
            "return normally", f"it raised {run.raised!r}",
            "keep the errors, the queue and the threads of each call in local variables, not in "
            "module globals or class attributes that outlive the call")
    if found:
        return found
    found = _missing([x for src in again for x in src], run.handled)
    if found:
        found["got"] += " (in a second call of run_pipeline() in the same process)"
        return found
    # handle() fails; a source fails only after that consumer has gone on to its next item.
    data = _sources(2, 10)

    def after_handler_failed(run: _Run) -> None:
        run.handled_after_failure.wait(5 * STALL * patience())

    late = _SourceFailed("source 1 failed after handle() did")
    run = _Run(impl, data, 1, 3, fail_items=(data[0][0],),
               hooks={(1, 3): _raise(late, after_handler_failed)})
    found = run.hung() or run.failed()
    if found:
        return found
    if not isinstance(run.raised, _HandleFailed):
        return _problem("run_pipeline() to raise the first exception, from handle(), when a "
                        "source fails later", "it returned normally" if run.raised is None
                        else f"it raised {run.raised!r}", hint)
    return _missing(data[0] + data[1][:3], run.handled) or run.leftovers()


def _parallel(impl: str, consumers: int) -> dict[str, str] | None:
    data = [[("item", k) for k in range(consumers)]]
    run = _Run(impl, data, consumers, max(1, consumers - 1), barrier=consumers)
    found = run.hung() or run.failed()
    if found is None and run.raised is not None:
        found = _problem(
            f"{consumers} consumers to call handle() at the same time",
            f"run_pipeline() raised {run.raised!r}: handle() calls did not overlap",
            f"start {consumers} consumer threads, each calling handle() on the items it gets",
        )
    return found


def _edge_cases(impl: str) -> dict[str, str] | None:
    for sources, consumers, capacity in (([], 2, 1), ([[1, 2]], 5, 1), ([[], [7]], 1, 1)):
        run = _Run(impl, sources, consumers, capacity)
        found = run.hung() or run.failed()
        if found is None and run.raised is not None:
            found = _problem("run_pipeline() to return normally", f"it raised {run.raised!r}", "")
        found = found or _missing([x for s in sources for x in s], run.handled)
        if found:
            found["got"] += f" [sources={sources}, consumers={consumers}, capacity={capacity}]"
            return found
    return None


def _validation(impl: str) -> dict[str, str] | None:
    module = load_impl(impl, "run_pipeline")
    before = threading.active_count()
    for consumers, capacity in ((0, 2), (2, 0)):
        try:
            module.run_pipeline([[1]], lambda item: None, consumers, capacity)
        except ValueError:
            continue
        except Exception as exc:
            return _problem(f"consumers={consumers}, capacity={capacity} to raise ValueError",
                            f"it raised {exc!r}", "validate the arguments first")
        return _problem(f"consumers={consumers}, capacity={capacity} to raise ValueError",
                        "it returned", "validate the arguments before starting any thread")
    if threading.active_count() != before:
        return _problem("no thread started for invalid arguments",
                        f"{threading.active_count() - before} threads were started",
                        "validate before starting threads")
    return None


def check_everything_once(impl: str, sources: int = 4, items: int = 30, consumers: int = 3,
                          capacity: int = 2) -> None:
    """Every item of every source is handled exactly once and run_pipeline() returns."""
    fail_on(run_check(_everything, impl, sources, items, consumers, capacity))


def check_threads_finished(impl: str) -> None:
    """No thread started by the pipeline is still running when it returns."""
    fail_on(run_check(_threads_finished, impl))


def check_bounded(impl: str, capacity: int = 2) -> None:
    """The pipeline uses a queue.Queue bounded by ``capacity``."""
    fail_on(run_check(_bounded, impl, capacity))


def check_order_single_consumer(impl: str) -> None:
    """With one source and one consumer, items are handled in order."""
    fail_on(run_check(_order, impl))


def check_source_error(impl: str) -> None:
    """A failing source: the rest is handled, then its exception is raised by run_pipeline()."""
    fail_on(run_check(_source_error, impl))


def check_handler_error(impl: str) -> None:
    """A failing handle(): every item is still handled once, then the exception is raised."""
    fail_on(run_check(_handler_error, impl))


def check_first_error(impl: str) -> None:
    """Of two failures, run_pipeline() raises the first; a second call in the same process
    starts clean."""
    fail_on(run_check(_first_error, impl))


def check_parallel_consumers(impl: str, consumers: int = 3) -> None:
    """``consumers`` consumer threads call handle() at the same time."""
    fail_on(run_check(_parallel, impl, consumers))


def check_edge_cases(impl: str) -> None:
    """No sources, more consumers than items, an empty source: all finish."""
    fail_on(run_check(_edge_cases, impl))


def check_validation(impl: str) -> None:
    """consumers < 1 or capacity < 1 raise ValueError before any thread starts."""
    fail_on(run_check(_validation, impl))
