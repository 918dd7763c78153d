"""``pcmodel bench``'s one-actor section: what a put plus a get costs when nobody else is around.

A grid trial measures the buffer *and* the scheduler: how often an actor sleeps, how long a
woken one waits for a processor. This section measures the code path alone. One actor does a
put then a get (or a batch of each), over and over, in short rounds interleaved across
contenders; interference can only add time to a round, so the fastest round is the cost of the
code (as ``timeit`` advises).

* Threads: one thread, wall-clock nanoseconds per item.
* Processes: one process, nanoseconds of that process's CPU time per item
  (``time.process_time_ns``), so the figure holds on a busy machine. The item crosses nothing:
  what is measured is pickling, the shared-memory bookkeeping and the synchronisation's own
  cost. ``multiprocessing.Queue`` is measured with its feeder thread in the same process (its CPU
  time counts, and so does the hand-over between the two threads, which across processes would
  overlap with the other side's work).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pcmodel.experiments.contenders import (
    COMPARISONS,
    CONTENDERS,
    ActorKind,
    Contender,
    available,
    close_contender,
)

__all__ = ["measure_uncontended", "uncontended_comparisons"]

_ITEM = b"12345678"  # 8 bytes: the grid's smallest items


def _step(contender: Contender, context: Any) -> tuple[Callable[[], None], int, Any]:
    """A function doing one put and one get (or one batch of each), the items it moves, and
    the buffer (to close afterwards)."""
    capacity = 1024 if contender.batch > 1 else 16
    buf = contender.make(capacity, context, len(_ITEM))
    if contender.batch == 1:
        put, get = buf.put, buf.get

        def step() -> None:
            put(_ITEM)
            get()

        return step, 1, buf
    # Distinct items, as trials._payloads makes them: pickle stores a repeated object once,
    # which would make a batch look cheaper than a batch of real items.
    chunk = [bytes([k % 251]) * len(_ITEM) for k in range(contender.batch)]
    size = contender.batch
    if contender.lists:
        put, get = buf.put, buf.get

        def list_step() -> None:
            put(chunk)
            get()

        return list_step, size, buf
    put_many, get_many = buf.put_many, buf.get_many

    def batch_step() -> None:
        put_many(chunk)
        get_many(size)

    return batch_step, size, buf


def _steps_per_round(step: Callable[[], None], clock: Callable[[], int],
                     seconds: float) -> int:
    """How many steps make a round of at least ``seconds`` on ``clock`` (as ``timeit``'s
    autorange does): doubling from 1, after a warm-up. A round must be long, or the clock's own
    cost (a system call for CPU time) would be counted as the step's."""
    for _ in range(20):
        step()
    number = 1
    while number < 1_000_000:
        started = clock()
        for _ in range(number):
            step()
        if clock() - started >= seconds * 1e9:
            break
        number *= 2
    return number


def measure_uncontended(rounds: int, backends: tuple[ActorKind, ...], context: Any,
                        seconds_per_round: float = 0.001) -> dict[str, dict[str, list[float]]]:
    """Nanoseconds per item (one put plus one get) of each contender of ``backends``, alone:
    ``{backend: {contender: [ns per item, one per round]}}``.

    Rounds are interleaved across contenders; each round runs a contender's step as many times
    as last at least ``seconds_per_round`` on the backend's clock (sized once, after a warm-up).
    """
    costs: dict[str, dict[str, list[float]]] = {}
    for backend in backends:
        clock = time.perf_counter_ns if backend is ActorKind.THREAD else time.process_time_ns
        ctx = None if backend is ActorKind.THREAD else context
        steps = {}
        buffers = []
        try:
            for contender in CONTENDERS:
                if contender.backend is not backend or not available(contender):
                    continue
                step, size, buf = _step(contender, ctx)
                buffers.append(buf)
                steps[contender.name] = (step, size, _steps_per_round(step, clock,
                                                                      seconds_per_round))
            per_backend: dict[str, list[float]] = {name: [] for name in steps}
            for _ in range(rounds):
                for name, (step, size, number) in steps.items():
                    started = clock()
                    for _ in range(number):
                        step()
                    per_backend[name].append((clock() - started) / (number * size))
        finally:
            for buf in buffers:
                close_contender(buf)
        costs[backend.value] = per_backend
    return costs


def uncontended_comparisons(costs: dict[str, dict[str, list[float]]],
                            compare: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """The grid's comparisons, made of the fastest rounds (rates are items per second)."""
    rows = []
    for backend, per_backend in costs.items():
        best = {name: 1e9 / min(rounds) for name, rounds in per_backend.items()}
        for comp in COMPARISONS[ActorKind(backend)]:
            if comp.contender in best and comp.baseline in best:
                rows.append({"backend": backend,
                             **compare(comp, [best[comp.contender]], [best[comp.baseline]])})
    return rows
