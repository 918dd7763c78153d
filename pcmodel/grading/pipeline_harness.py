"""The live harness of the pipeline checks: a watched call of ``run_pipeline``, as data.

:class:`Pipelines` calls the student's ``run_pipeline(sources, handle, consumers, capacity)`` in a
watched thread inside the check's child process, feeds it instrumented sources and a recording
``handle``, and reports what was handled (as indices into the items given, matched by identity),
what was raised, which threads are still alive (and on which line of the student's file, from
``sys._current_frames()``), and which ``queue.Queue`` objects the pipeline created (the student's
``queue`` module is swapped for one whose Queue records its maxsize and the largest size it
reached). The verdicts are made from that data by :mod:`pcmodel.grading.pipeline_checks`.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

from pcmodel.grading.contract_checks import AlwaysEqual
from pcmodel.grading.crew import Crew, Stillness, Worker, WorkerState, patience
from pcmodel.grading.probes import load_impl
from pcmodel.grading.replay import shape
from pcmodel.grading.thread_harness import BLOCK_WAIT, STALL

__all__ = ["OBSERVED", "Pipelines", "odd_items", "sources"]

OBSERVED = shape.record(
    handled=shape.list_of(shape.int), raised=shape.either(shape.none, shape.record(
        label=shape.str, repr=shape.str)),
    stuck=shape.bool, at=shape.str, alive=shape.list_of(shape.str), failed=shape.str,
    queues=shape.list_of(shape.list_of(shape.int)))


def odd_items() -> list[Any]:
    """Items a pipeline must pass on like any other (each a distinct object where possible)."""
    return [None, 0, False, "", [], [], AlwaysEqual(), 2**70, threading.Lock(), (), "END",
            "STOP"]


def sources(count: int, items: int, odd: bool = False) -> list[list[Any]]:
    """``count`` lists of ``items`` distinct items; with ``odd``, some are None, falsy, equal to
    everything or unhashable, which breaks a pipeline that tests items by value."""
    data: list[list[Any]] = [[(s, k) for k in range(items)] for s in range(count)]
    if odd:
        specials = odd_items()
        for n, item in enumerate(specials):
            source = data[n % count]
            source[(n * 7) % len(source)] = item
    return data


_OUTSIDE = "outside your file"  # where a thread is when no frame of the student's file runs


class _SourceFailed(RuntimeError):
    """Raised by a source on purpose, to see whether the pipeline reports it."""


class _HandleFailed(ValueError):
    """Raised by handle() on purpose, to see whether the pipeline reports it."""



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
                 held_items: tuple[Any, ...] = (), barrier: int = 0,
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
        self.sources_left = len(sources)  # sources not yet exhausted (or failed)
        self.sources_ended: set[int] = set()  # the indices of those exhausted (or failed)
        self.noted = threading.Event()  # run_pipeline() returned and self.alive was taken
        proxy = _queue_proxy(self.queues)
        for name, value in list(vars(module).items()):
            if value is queue:
                setattr(module, name, proxy)
            elif value is queue.Queue:
                setattr(module, name, proxy.Queue)
        self.crew = Crew(self.source_file, stillness=True)
        self.handled: list[Any] = []
        self.handler_threads: set[int] = set()
        self.lock = threading.Lock()
        self.fail_items = fail_items
        self.held_items = held_items
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
        self.noted.set()

    def _feed(self, index: int, items: list[Any], fail: tuple[int, int] | None) -> Iterator[Any]:
        self.feeders[index] = threading.current_thread()
        try:
            for n, item in enumerate(items):
                hook = self.hooks.get((index, n))
                if hook is not None:
                    hook(self)
                if fail is not None and fail == (index, n):
                    raise _SourceFailed(f"source {index} failed after {n} items")
                self.crew.tick()
                yield item
        finally:
            with self.lock:
                self.sources_left -= 1
                self.sources_ended.add(index)

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
        if any(item is x for x in self.held_items):
            # A held item keeps its consumer busy until the caller waits for the consumers, so
            # a pipeline that returns without waiting is seen doing so, in every run.
            _until_joined(self)
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
        return _OUTSIDE

    def observed(self, items: list[Any], planted: dict[str, BaseException]) -> dict[str, Any]:
        """What this run showed, as data: handled items as indices into ``items`` (by identity,
        -1 for an object that is none of them), what run_pipeline() raised (``planted``
        exceptions by name), whether it hung, where its threads are, the queues it made."""
        raised = None
        if self.raised is not None:
            label = next((k for k, v in planted.items() if v is self.raised), None)
            if label is None:
                label = ("source_failed" if isinstance(self.raised, _SourceFailed) else
                         "handle_failed" if isinstance(self.raised, _HandleFailed) else "other")
            raised = {"label": label, "repr": repr(self.raised)[:300]}
        return {
            "handled": [next((i for i, x in enumerate(items) if x is item), -1)
                        for item in self.handled],
            "raised": raised,
            "stuck": bool(self.stuck),
            "at": self.where(self.runner.thread),
            "alive": [f"{t.name} at {self.where(t)}" for t in self.alive],
            "failed": self.runner.describe() if self.runner.state is WorkerState.FAILED else "",
            "queues": [[q.maxsize, q.largest] for q in self.queues],
        }


def _wait_for_feeder(source: int, failed: threading.Event) -> Any:
    """A hook: wait until ``source`` has failed and its producer has finished (so it recorded
    the error): its thread ended, or left the student's code (a thread pool's worker lives on
    after its task), or, its source over, waits for other threads (producers that meet at a
    barrier, or wait for each other to end the stream, finish only together: waiting for the
    thread to end would hold them all for ever). Generous limits: they only matter for a
    pipeline that hangs anyway."""

    def hook(run: _Run) -> None:
        failed.wait(5 * STALL * patience())
        feeder = run.feeders.get(source)
        if feeder is None or feeder is threading.current_thread():
            return
        deadline = time.monotonic() + 5 * STALL * patience()
        while (feeder.is_alive() and run.where(feeder) != _OUTSIDE
               and not (source in run.sources_ended and _waits(feeder))
               and time.monotonic() < deadline):
            feeder.join(0.01)

    return hook


def _after_caller_waits(run: _Run) -> None:
    """A hook: hold the first item until the thread that called run_pipeline() sleeps outside
    ``Thread.start()`` (waiting for its producers, or for room in the queue), so that whatever
    run_pipeline() does before it waits, it does before any item exists, in every run. A correct
    pipeline works with a source this slow; a sleep wrongly taken for a wait only lets the item
    come sooner, and a caller that never sleeps (it runs the sources itself, or polls) gets the
    item after a bounded wait, during which the hold counts as progress: as long as a stall,
    it would otherwise race the stall timer, and a caller that polls would be taken for stuck
    in some gradings and not in others."""
    deadline = time.monotonic() + BLOCK_WAIT * patience()
    stillness = Stillness(0.1)
    while time.monotonic() < deadline:
        runner = getattr(run, "runner", None)  # set just after run_pipeline() started
        thread = runner.thread if runner is not None else None
        if thread is threading.current_thread():
            return
        if thread is None or thread.native_id is None or _starting_a_thread(thread):
            stillness = Stillness(0.1)
        elif stillness.still([f"/proc/self/task/{thread.native_id}/stat"], 0):
            return
        run.crew.tick()
        threading.Event().wait(0.01)  # a look at another thread's state, not a synchronisation


def _until_joined(run: _Run) -> None:
    """Hold a handle() call until the caller of run_pipeline() waits for its consumers: every
    source is exhausted (or failed) and the caller is blocked in a wait that is neither a
    put() on a queue nor the join() of a producer (:func:`_waits_for_consumers`); or until
    run_pipeline() has returned and the threads still running were noted. A pipeline that
    returns (or raises) without waiting for its consumers is then seen with this one still
    running, in every run, whatever the timing. A correct pipeline waits for its consumers
    (join(), ``Queue.join()``, futures, an event...) and so lets the item go on; one that waits
    in a way not recognised gets it after a bounded wait, during which the hold counts as
    progress, so that it is not taken for a deadlock. The caller itself is never held."""
    deadline = time.monotonic() + BLOCK_WAIT * patience()
    while time.monotonic() < deadline and not run.noted.is_set():
        runner = getattr(run, "runner", None)  # set just after run_pipeline() started
        thread = runner.thread if runner is not None else None
        if thread is threading.current_thread():
            return
        if thread is not None and run.sources_left == 0 and _waits_for_consumers(
                thread, list(run.feeders.values())):
            return
        run.crew.tick()
        run.noted.wait(0.01)  # a look at another thread's state, not a synchronisation


# Where a thread blocks waiting for others, in Python code that the frames show: conditions
# (and so events, semaphores, barriers, Queue.join(), futures) and Thread.join(). Whether the
# thread merely sleeps is no sign: one waiting for the GIL on a busy machine sleeps too.
_CONDITION_WAIT = threading.Condition.wait.__code__
_THREAD_JOIN = threading.Thread.join.__code__
_QUEUE_PUT = queue.Queue.put.__code__


def _waits_for_consumers(thread: threading.Thread, producers: list[threading.Thread]) -> bool:
    """Whether ``thread`` is blocked in a wait other than a put() on a queue (sending work or
    end markers) or the join() of one of ``producers``."""
    frame = sys._current_frames().get(thread.ident or -1)
    waiting = False
    while frame is not None:
        code = frame.f_code
        if code is _QUEUE_PUT:
            return False
        if code is _THREAD_JOIN:
            if any(frame.f_locals.get("self") is p for p in producers):
                return False
            waiting = True
        elif code is _CONDITION_WAIT:
            waiting = True
        frame = frame.f_back
    return waiting


def _waits(thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked waiting for another thread: in a condition's wait (so in an
    event, a semaphore, a barrier, a queue) or in ``Thread.join()``."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code is _CONDITION_WAIT or frame.f_code is _THREAD_JOIN:
            return True
        frame = frame.f_back
    return False


def _starting_a_thread(thread: threading.Thread) -> bool:
    """Whether ``thread`` is inside ``Thread.start()`` (which sleeps until the new thread runs)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code is threading.Thread.start.__code__:
            return True
        frame = frame.f_back
    return False


def _meet(sources: int, alone: BaseException) -> Any:
    """A hook for each of ``sources`` sources: its second item comes only once every source
    has given its first, as when each is read by its own producer thread; a source still
    waiting for the others after a bounded wait (the sources are read one after the other, by
    one thread) raises ``alone``. The wait counts as progress, so that it is not taken for a
    deadlock."""
    arrived = [0]
    met = threading.Condition()

    def hook(run: _Run) -> None:
        deadline = time.monotonic() + BLOCK_WAIT * patience()
        with met:
            arrived[0] += 1
            met.notify_all()
            while arrived[0] < sources:
                if time.monotonic() >= deadline:
                    raise alone
                run.crew.tick()
                met.wait(0.01)

    return hook


def _raise(exc: BaseException, before: Any = None, signal: threading.Event | None = None) -> Any:
    def hook(run: _Run) -> None:
        if before is not None:
            before(run)
        if signal is not None:
            signal.set()
        raise exc

    return hook


class Pipelines:
    """The live harness: one watched call of ``run_pipeline`` per :meth:`run`.

    ``data`` is ``["sources", count, items, odd]`` (see :func:`sources`) or ``["literal",
    lists]``; positions ``[source, n]`` name items. ``plan`` adds the failures a check needs:
    ``fail_source`` (the source fails before item n), ``fail_items`` / ``held_items`` (handle()
    raises on those items / holds them until the caller waits for its consumers:
    ``_until_joined``), ``barrier`` (that many handle() calls must meet), ``hooks``
    ("first_error": source 0 fails at 2, source 1 at 5 once source 0's producer finished;
    "source_then_handler": source 0 fails at 2, source 1 gives item 5 only once source 0's
    producer finished, for a ``fail_items`` entry to fail later; "late_source": source 1 fails
    at 3 once the consumer whose handle() failed moved on; "sources_meet": no source gives its
    second item before every source gave its first, see :func:`_meet`), ``again`` (call the
    module loaded by the previous run again), ``slow_start`` (every source gives its first item
    only once the caller of run_pipeline() waits).
    """

    SHAPES = {"run": OBSERVED, "validate": shape.record(
        outcomes=shape.list_of(shape.str), started=shape.int)}

    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.module: Any = None

    def run(self, data: list[Any], consumers: int, capacity: int,
            plan: dict[str, Any]) -> dict[str, Any]:
        made = sources(*data[1:]) if data[0] == "sources" else [list(s) for s in data[1]]
        items = [x for s in made for x in s]
        planted: dict[str, BaseException] = {}
        hooks: dict[tuple[int, int], Any] = {}
        if plan.get("hooks") == "first_error":
            first, second = (_SourceFailed("source 0 failed first"),
                             _SourceFailed("source 1 failed later"))
            first_failed = threading.Event()
            hooks = {(0, 2): _raise(first, signal=first_failed),
                     (1, 5): _raise(second, _wait_for_feeder(0, first_failed))}
            planted = {"first": first, "second": second}
        elif plan.get("hooks") == "source_then_handler":
            first = _SourceFailed("source 0 failed before handle() did")
            first_failed = threading.Event()
            hooks = {(0, 2): _raise(first, signal=first_failed),
                     (1, 5): _wait_for_feeder(0, first_failed)}
            planted = {"first": first}
        elif plan.get("hooks") == "late_source":
            def after_handler_failed(run: _Run) -> None:
                run.handled_after_failure.wait(5 * STALL * patience())

            late = _SourceFailed("source 1 failed after handle() did")
            hooks = {(1, 3): _raise(late, after_handler_failed)}
            planted = {"late": late}
        elif plan.get("hooks") == "sources_meet":
            alone = _SourceFailed("a source was read alone: the others gave no item meanwhile")
            meet = _meet(len(made), alone)
            hooks = {(index, 1): meet for index in range(len(made))}
            planted = {"alone": alone}
        if plan.get("slow_start"):
            for index in range(len(made)):
                hooks.setdefault((index, 0), _after_caller_waits)
        fail_source = plan.get("fail_source")
        run = _Run(self.impl, made, consumers, capacity,
                   fail_source=tuple(fail_source) if fail_source else None,
                   fail_items=tuple(made[s][n] for s, n in plan.get("fail_items", ())),
                   held_items=tuple(made[s][n] for s, n in plan.get("held_items", ())),
                   barrier=plan.get("barrier", 0), hooks=hooks,
                   module=self.module if plan.get("again") else None)
        self.module = run.module
        return run.observed(items, planted)

    def validate(self, cases: list[list[int]]) -> dict[str, Any]:
        """For each ``[consumers, capacity]``: ``"ValueError"``, ``"returned"`` or ``"raised
        <repr>"``; and how many threads were started meanwhile: every ``Thread.start()`` is
        counted, also of a thread that had already ended when the ValueError came (a producer
        of one item started before the check), and so is every thread still running after."""
        module = load_impl(self.impl, "run_pipeline")
        before = threading.active_count()
        starts = [0]
        start = threading.Thread.start

        def counted_start(thread: threading.Thread, *args: Any, **kwargs: Any) -> Any:
            starts[0] += 1
            return start(thread, *args, **kwargs)

        outcomes = []
        threading.Thread.start = counted_start  # type: ignore[method-assign]
        try:
            for consumers, capacity in cases:
                try:
                    module.run_pipeline([[1]], lambda item: None, consumers, capacity)
                except ValueError:
                    outcomes.append("ValueError")
                    continue
                except Exception as exc:  # noqa: BLE001 - reported as an observation
                    outcomes.append(f"raised {exc!r}"[:300])
                    break
                outcomes.append("returned")
                break
        finally:
            threading.Thread.start = start  # type: ignore[method-assign]
        return {"outcomes": outcomes,
                "started": max(starts[0], threading.active_count() - before)}
