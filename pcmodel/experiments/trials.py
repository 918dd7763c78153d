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
           barrier: Any, times: Any, slot: int) -> None:
    """Pass the barrier, move ``count`` items, write (start, end) into ``times``."""
    payloads = _payloads(item_size, batch) if role == "producer" else []
    barrier.wait(JOIN_TIMEOUT)
    started = time.perf_counter()
    if role == "producer":
        _produce(buf, count, batch, lists, payloads)
    else:
        _consume(buf, count, batch, lists)
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


def _thread_trial(contender: Contender, capacity: int, roles: list[tuple[str, int]],
                  item_size: int) -> list:
    buf = contender.make(capacity, None, item_size)
    barrier = threading.Barrier(len(roles))
    times = [0.0] * (2 * len(roles))
    threads = [
        threading.Thread(target=_actor, name=f"bench-{role}-{slot}",
                         args=(buf, role, count, contender.batch, contender.lists, item_size,
                               barrier, times, slot))
        for slot, (role, count) in enumerate(roles)
    ]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + JOIN_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    except BaseException:
        # Interrupted (Ctrl-C): free the actors still at the barrier; those past it finish
        # their share, which is small. Nothing is left running when the exception goes on.
        barrier.abort()
        for thread in threads:
            if thread.ident is not None:
                thread.join(JOIN_TIMEOUT)
        raise
    if any(thread.is_alive() for thread in threads):
        barrier.abort()
        raise RuntimeError(f"{contender.name}: a thread trial did not finish in "
                           f"{JOIN_TIMEOUT}s; the buffer is broken (threads left blocked)")
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
        deadline = time.monotonic() + JOIN_TIMEOUT
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        stuck = [p for p in processes if p.is_alive()]
        for process in stuck:
            process.terminate()
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
