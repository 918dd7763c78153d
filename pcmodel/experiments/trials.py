"""One trial of ``pcmodel bench``: P producers and C consumers move items through one buffer.

Every actor (a thread, or a process) waits at a barrier, then reads its own clock when it starts
and when it ends; the trial's rate is items divided by the time from the first start to the last
end, so process start-up is not counted. A process actor also reads its resource usage over the
same span: how often it went to sleep (voluntary context switches: waiting for a lock, for
space, for items) and its CPU time, all its threads included (a ``multiprocessing.Queue``'s
feeder). Nothing is left running when a trial returns or raises.
"""

from __future__ import annotations

import threading
import time
from typing import Any

try:
    import resource
except ImportError:  # not a POSIX system: no usage figures
    resource = None  # type: ignore[assignment]

from pcmodel.child_signals import child_signals, children_ignore_ctrl_c
from pcmodel.experiments.contenders import LARGE_ITEM, ActorKind, Contender, close_contender

__all__ = ["JOIN_TIMEOUT", "run_trial"]

JOIN_TIMEOUT = 120.0  # seconds; a trial that takes longer is broken, not slow
#: The longest the main thread blocks at a time while actors run. A signal that arrives just
#: before a blocking wait begins does not cut it short (its handler runs when the wait ends):
#: waiting in slices bounds how late Ctrl-C is seen.
WAIT_SLICE = 0.05


def _join_by(actors: list, deadline: float) -> None:
    """Join threads or processes until ``deadline`` (``time.monotonic()``), in slices."""
    for actor in actors:
        while actor.is_alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            actor.join(min(WAIT_SLICE, remaining))


def _split(total: int, parts: int) -> list[int]:
    share, extra = divmod(total, parts)
    return [share + (1 if i < extra else 0) for i in range(parts)]


def _payloads(item_size: int, batch: int) -> list[bytes]:
    """Distinct items of ``item_size`` bytes: a batch's worth, or a few to cycle through."""
    count = batch if batch > 1 else (2 if item_size > LARGE_ITEM else 16)
    return [bytes([k % 251]) * item_size for k in range(count)]


def _produce(buf: Any, count: int, batch: int, lists: bool, payloads: list) -> None:
    if batch == 1:
        put = buf.put
        pool = len(payloads)
        for value in range(count):
            put(payloads[value % pool])
        return
    chunks = [payloads] * (count // batch)
    if count % batch:
        chunks.append(payloads[:count % batch])
    put = buf.put if lists else buf.put_many
    for chunk in chunks:
        put(chunk)


def _consume(buf: Any, count: int, batch: int, lists: bool) -> None:
    if batch == 1:
        get = buf.get
        for _ in range(count):
            get()
        return
    remaining = count
    if lists:
        get = buf.get
        while remaining > 0:
            remaining -= len(get())
        return
    get_many = buf.get_many
    while remaining > 0:
        remaining -= len(get_many(min(batch, remaining)))


def _actor(buf: Any, role: str, count: int, batch: int, lists: bool, item_size: int,
           barrier: Any, times: Any, slot: int, stop: Any = None) -> None:
    """Pass the barrier, move ``count`` items, write (start, end) into ``times``.

    A broken barrier means the trial was stopped before it started: the actor returns, quietly.
    Once ``stop`` (a thread trial's) is set, whatever ends the actor's moves (the buffer shut
    down under it) is a stop too, not an error.
    """
    payloads = _payloads(item_size, batch) if role == "producer" else []
    try:
        barrier.wait(JOIN_TIMEOUT)
    except threading.BrokenBarrierError:
        return
    started = time.perf_counter()
    try:
        if role == "producer":
            _produce(buf, count, batch, lists, payloads)
        else:
            _consume(buf, count, batch, lists)
    except BaseException:
        if stop is not None and stop.is_set():
            return
        raise
    times[2 * slot] = started
    times[2 * slot + 1] = time.perf_counter()


def _process_actor(*args: Any) -> None:
    """:func:`_actor` in a child process, which leaves Ctrl-C to its parent (the parent stops
    the trial and kills the children; an interrupted child would only print a traceback).
    The last argument is where it writes its (sleeps, CPU seconds) over the trial."""
    child_signals()
    *args, usage = args
    slot = args[-1]
    before = resource.getrusage(resource.RUSAGE_SELF) if resource is not None else None
    _actor(*args)
    buf, role = args[0], args[1]
    if role == "producer" and hasattr(buf, "join_thread"):
        # multiprocessing.Queue: its puts return at once and a feeder thread pickles and
        # writes the items; the producer's CPU time counts once the feeder has sent them all.
        buf.close()
        buf.join_thread()
    if before is not None:
        after = resource.getrusage(resource.RUSAGE_SELF)
        usage[2 * slot] = after.ru_nvcsw - before.ru_nvcsw
        usage[2 * slot + 1] = (after.ru_utime + after.ru_stime
                               - before.ru_utime - before.ru_stime)


def _shares(items: int, producers: int, consumers: int, batch: int, lists: bool
            ) -> tuple[list[int], list[int]]:
    """Items per producer and per consumer; with lists, every share is made of whole lists."""
    if lists:
        units = max(1, items // batch)
        return ([n * batch for n in _split(units, producers)],
                [n * batch for n in _split(units, consumers)])
    return _split(items, producers), _split(items, consumers)


def run_trial(contender: Contender, capacity: int, producers: int, consumers: int,
              items: int, context: Any = None, item_size: int = 8,
              usage: dict[str, float] | None = None) -> tuple[float, int]:
    """Measure once; return (items per second, items moved). Nothing is left running.

    For a process trial, ``usage`` (if given) receives ``sleeps_per_item`` (the actors'
    voluntary context switches) and ``cpu_us_per_item`` (their CPU time), over the measured
    span only. Raises RuntimeError if an actor did not finish within a generous timeout (a
    broken buffer).
    """
    per_p, per_c = _shares(items, producers, consumers, contender.batch, contender.lists)
    moved = sum(per_p)
    roles = [("producer", n) for n in per_p] + [("consumer", n) for n in per_c]
    if contender.backend is ActorKind.THREAD:
        times = _thread_trial(contender, capacity, roles, item_size)
    else:
        times, sleeps_cpu = _process_trial(contender, capacity, roles, context, item_size)
        if usage is not None and resource is not None and moved:
            usage["sleeps_per_item"] = sum(sleeps_cpu[0::2]) / moved
            usage["cpu_us_per_item"] = sum(sleeps_cpu[1::2]) / moved * 1e6
    starts, ends = times[0::2], times[1::2]
    elapsed = max(ends) - min(starts)
    return (moved / elapsed if elapsed > 0 else float("inf")), moved


class _StartGate:
    """A barrier for the actors of a thread trial that is released, or cancelled, for all.

    ``threading.Barrier.abort()`` can land while the barrier is releasing its parties: those
    that already left go on, those not yet awake raise ``BrokenBarrierError``, and consumers
    that went on wait for ever for producers that broke. Here the outcome is decided once,
    under the lock: either every actor passes (the last arrival opens the gate) or none does
    (:meth:`cancel`, or a timeout, closed it first). ``wait`` raises ``BrokenBarrierError``
    when closed, as a barrier's does.
    """

    def __init__(self, parties: int) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._parties = parties
        self._arrived = 0
        self.opened: bool | None = None  # None: undecided; then True (released) or False

    def wait(self, timeout: float) -> None:
        with self._cond:
            self._arrived += 1
            if self.opened is None:
                if self._arrived == self._parties:
                    self.opened = True
                    self._cond.notify_all()
                elif not self._cond.wait_for(lambda: self.opened is not None, timeout):
                    self.opened = False
                    self._cond.notify_all()
            if not self.opened:
                raise threading.BrokenBarrierError

    def cancel(self) -> bool:
        """Close the gate unless every actor has passed it; True if none passes."""
        with self._cond:
            if self.opened is None:
                self.opened = False
                self._cond.notify_all()
            return not self.opened


def _stop_actors(buf: Any, gate: _StartGate, stop: threading.Event) -> None:
    """Stop a thread trial's actors: those at the gate are turned back; those past it are woken
    by an immediate shutdown, where the buffer has one (the standard library's and the
    textbook's have none: their actors finish their share, which is bounded)."""
    stop.set()
    if gate.cancel():
        return
    shutdown = getattr(buf, "shutdown", None)
    if shutdown is not None:
        try:
            shutdown(immediate=True)
        except TypeError:  # a shutdown() without the immediate flag
            shutdown()


def _run_actor(finished: threading.Event, *args: Any) -> None:
    """:func:`_actor` in a thread of a thread trial; ``finished`` is set when it is done."""
    try:
        _actor(*args)
    finally:
        finished.set()


def _join_started(started: list[threading.Thread], finished: list[threading.Event],
                  cut_short: threading.Thread | None, timeout: float) -> None:
    """Wait for every actor thread that was started, by its ``finished`` event first: a
    ``join()`` that Ctrl-C interrupted marks a running thread as stopped (bpo-45274), and a
    later ``join()`` of it returns at once. ``cut_short`` is the thread whose ``start()`` the
    interrupt cut: it may be running, or may never run."""
    deadline = time.monotonic() + timeout
    for thread, done in zip(started, finished):
        done.wait(max(0.0, deadline - time.monotonic()))
        thread.join(max(0.0, deadline - time.monotonic()))
    if cut_short is None:
        return
    soon = min(deadline, time.monotonic() + 1.0)
    while True:
        try:
            cut_short.join(max(0.0, deadline - time.monotonic()))
            return
        except RuntimeError:  # not started (yet): it either says so soon, or never runs
            if time.monotonic() >= soon:
                return
            time.sleep(0.001)


def _thread_trial(contender: Contender, capacity: int, roles: list[tuple[str, int]],
                  item_size: int) -> list:
    buf = contender.make(capacity, None, item_size)
    gate = _StartGate(len(roles))
    stop = threading.Event()
    times = [0.0] * (2 * len(roles))
    finished = [threading.Event() for _ in roles]
    threads = [
        threading.Thread(target=_run_actor, name=f"bench-{role}-{slot}",
                         args=(finished[slot], buf, role, count, contender.batch,
                               contender.lists, item_size, gate, times, slot, stop))
        for slot, (role, count) in enumerate(roles)
    ]
    started: list[threading.Thread] = []
    starting: threading.Thread | None = None
    try:
        for thread in threads:
            starting = thread
            thread.start()
            started.append(thread)
            starting = None
        _join_by(threads, time.monotonic() + JOIN_TIMEOUT)
    except BaseException:
        # Interrupted (Ctrl-C): turn back the actors still at the gate, wake those past it.
        # Nothing is left running when the exception goes on.
        _stop_actors(buf, gate, stop)
        _join_started(started, finished, starting, JOIN_TIMEOUT)
        raise
    if any(thread.is_alive() for thread in threads):
        _stop_actors(buf, gate, stop)
        raise RuntimeError(f"{contender.name}: a thread trial did not finish in "
                           f"{JOIN_TIMEOUT}s; the buffer is broken (threads left blocked)")
    if not gate.opened:
        raise RuntimeError(f"{contender.name}: the actors of a thread trial did not all start "
                           f"within {JOIN_TIMEOUT}s")
    return times


def _process_trial(contender: Contender, capacity: int, roles: list[tuple[str, int]],
                   context: Any, item_size: int) -> tuple[list, list]:
    """(start, end) of each actor, and (sleeps, CPU seconds) of each."""
    buf = contender.make(capacity, context, item_size)
    barrier = context.Barrier(len(roles))
    times = context.RawArray("d", 2 * len(roles))
    usage = context.RawArray("d", 2 * len(roles))
    processes = [
        context.Process(target=_process_actor, name=f"bench-{role}-{slot}",
                        args=(buf, role, count, contender.batch, contender.lists, item_size,
                              barrier, times, slot, usage))
        for slot, (role, count) in enumerate(roles)
    ]
    try:
        with children_ignore_ctrl_c():
            for process in processes:
                process.start()
        _join_by(processes, time.monotonic() + JOIN_TIMEOUT)
        stuck = [p for p in processes if p.is_alive()]
        for process in stuck:
            process.kill()  # a trial's process leaves SIGTERM to us (pcmodel.child_signals)
            process.join(JOIN_TIMEOUT)
        if stuck or any(p.exitcode != 0 for p in processes):
            codes = [p.exitcode for p in processes]
            raise RuntimeError(f"{contender.name}: a process trial failed (exit codes {codes})")
        return list(times), list(usage)
    finally:
        for process in processes:
            if process.pid is not None and process.is_alive():
                process.kill()
                process.join(JOIN_TIMEOUT)
        close_contender(buf)
