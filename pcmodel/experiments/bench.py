"""``pcmodel bench``: items per second of every buffer, as ratios to the standard library.

Each *contender* (a buffer variant on a backend, a batch size, an instrumentation level, or a
baseline) moves items from P producer threads/processes to C consumers through one buffer; its
rate is items moved per second, from the moment every actor passed a start barrier to the moment
the last one finished (each actor reads its own clock, so process start-up is not counted; see
:mod:`pcmodel.experiments.trials`).

The baselines are measured in the same run, in the same repetition, right before or after each
contender, and the reported ratio is the median over repetitions of ``contender / baseline``:
pairing cancels most of the drift of a shared, noisy machine. The baselines are
``queue.Queue`` and ``queue.SimpleQueue`` (unbounded, lock-free in C: the upper bound for threads);
``multiprocessing.Queue`` and ``multiprocessing.SimpleQueue`` (each also carrying lists of 100
items, the fair match for batches) and ``faster-fifo`` (a C++ shared-memory queue, optional extra
``bench``: skipped with a note when it is not installed), plus two yardsticks written here
(:mod:`pcmodel.experiments.yardsticks`). Contenders and comparisons are listed in
:mod:`pcmodel.experiments.contenders`; the tables in :mod:`pcmodel.experiments.bench_report`.

Grid: capacities 1, 16 and 1024; 1x1 and 4x4 producers x consumers; threads and processes;
item sizes (``--item-sizes``, default 8 bytes; the full grid is 8 B, 1 KiB, 64 KiB and 1 MiB).
Items are distinct ``bytes`` objects of that size (distinct, so a list of them pickles each
one). Both backends run at every size asked for: a process pickles and copies each item, so its
rate falls as items grow, while a thread hands over a reference, so its rate should not move;
the table shows both, side by side (each extra size costs the thread grid up to as long again
as the first: about 30 s at ``--repeat 5``). Items larger than 64 KiB are measured single, at
capacities up to 16 only: a thousand of them in flight would be a gigabyte.

A second section (:mod:`pcmodel.experiments.uncontended`) times each contender's put+get with
one actor and nobody else around: a thread's wall-clock time, a process's CPU time. That is the
cost of the code path itself, which scheduling noise can only slow down, never speed up (so, as
``timeit`` advises, the fastest round counts). Results go to JSON (``results/bench.json`` by
default); a process trial's measurement also carries ``sleeps_per_item`` (the actors'
voluntary context switches per item moved: how often a hand-over put someone to sleep) and
``cpu_us_per_item``, medians over the repetitions. Prior art: ``pyperf``'s interleaved, repeated
runs reported as medians; ``timeit``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pcmodel.errors import UsageError
from pcmodel.experiments.bench_checks import checked_fields
from pcmodel.experiments.bench_report import (
    comparison_table,
    parse_size,
    size_label,
    targets_summary,
    uncontended_table,
)
from pcmodel.experiments.contenders import (
    COMPARISONS,
    CONTENDERS,
    ActorKind,
    Comparison,
    Contender,
    available,
    measured_at,
)
from pcmodel.experiments.trials import run_trial
from pcmodel.experiments.uncontended import measure_uncontended, uncontended_comparisons
from pcmodel.experiments.yardsticks import BareConditionBuffer, TextbookSemaphoreBuffer
from pcmodel.outputs import check_output, write_outputs

__all__ = [
    "ACTORS",
    "CAPACITIES",
    "COMPARISONS",
    "CONTENDERS",
    "ITEM_SIZES",
    "MAX_ACTORS",
    "MAX_CAPACITY",
    "ActorKind",
    "BareConditionBuffer",
    "BenchConfig",
    "Comparison",
    "Contender",
    "TextbookSemaphoreBuffer",
    "available",
    "comparison_table",
    "main",
    "measured_at",
    "parse_actors",
    "parse_capacity",
    "parse_size",
    "register",
    "run_benchmarks",
    "run_trial",
    "targets_summary",
    "uncontended_table",
]

CAPACITIES: tuple[int, ...] = (1, 16, 1024)
ACTORS: tuple[tuple[int, int], ...] = ((1, 1), (4, 4))
ITEM_SIZES: tuple[int, ...] = (8, 1024, 64 * 1024, 1024 * 1024)
DEFAULT_JSON = Path("results") / "bench.json"
#: The most --repeat and --trial-seconds take: a run of every point at those lasts about a day.
MAX_REPEAT = 1000
MAX_TRIAL_SECONDS = 60.0
#: The most --capacities and --actors take: a process buffer's shared memory grows with the
#: capacity (4096 items of 64 KiB: 270 MB), and eight actors already share two cores.
MAX_CAPACITY = 4096
MAX_ACTORS = 16


# -- the whole benchmark -------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    """What to run: ``repeat`` interleaved repetitions; each trial sized to last about
    ``trial_seconds`` (measured in a warm-up trial), between ``min_items`` and ``max_items``.
    ``quick`` runs one small trial per point, for smoke tests."""

    repeat: int = 5
    trial_seconds: float = 0.1
    min_items: int = 500
    max_items: int = 2_000_000
    capacities: tuple[int, ...] = CAPACITIES
    actors: tuple[tuple[int, int], ...] = ACTORS
    backends: tuple[ActorKind, ...] = (ActorKind.THREAD, ActorKind.PROCESS)
    item_sizes: tuple[int, ...] = (8,)
    uncontended_rounds: int = 101
    quick: bool = False
    start_method: str | None = None

    def __post_init__(self) -> None:
        """Refuse a wrong field now (TypeError/ValueError naming it), not after the trials."""
        limits = {"MAX_REPEAT": MAX_REPEAT, "MAX_TRIAL_SECONDS": MAX_TRIAL_SECONDS,
                  "MAX_CAPACITY": MAX_CAPACITY, "MAX_ACTORS": MAX_ACTORS}
        for name, value in checked_fields(self, limits).items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    @classmethod
    def quick_config(cls, **overrides: Any) -> BenchConfig:
        """Small, fixed trials: every point of the grid, seconds in all, numbers meaningless."""
        values: dict[str, Any] = {"repeat": 1, "trial_seconds": 0.0, "min_items": 200,
                                  "max_items": 200, "uncontended_rounds": 3, "quick": True}
        values.update(overrides)
        return cls(**values)


@dataclass
class _Point:
    backend: ActorKind
    capacity: int
    producers: int
    consumers: int
    item_size: int
    contenders: list[Contender] = field(default_factory=list)
    items: dict[str, int] = field(default_factory=dict)
    rates: dict[str, list[float]] = field(default_factory=dict)
    usage: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # process trials


def run_benchmarks(config: BenchConfig | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run the grid; return JSON-ready results: ``meta``, ``measurements``, ``comparisons``.

    ``on_progress(done, total)`` is called after each trial. Raises RuntimeError if a trial
    hangs or an actor fails.
    """
    config = config or BenchConfig()
    context = multiprocessing.get_context(config.start_method)
    # Every backend at every size: that threads copy nothing is what a thread's flat rate
    # across the sizes shows, beside a process's falling one.
    points = [
        _Point(backend, capacity, p, c, size)
        for backend in config.backends
        for size in config.item_sizes
        for capacity in config.capacities
        for p, c in config.actors
        if any(measured_at(k, capacity, size) for k in CONTENDERS if k.backend is backend)
    ]
    skipped = sorted({f"{c.name}: {c.requires} is not installed (pip install {c.requires}, "
                      "the 'bench' extra)" for c in CONTENDERS if not available(c)})
    for point in points:
        point.contenders = [c for c in CONTENDERS if c.backend is point.backend and available(c)
                            and measured_at(c, point.capacity, point.item_size)]
    calibrate = not config.quick
    total = sum(len(p.contenders) for p in points) * (config.repeat + calibrate)
    done = 0

    def step_done() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    def trial(point: _Point, contender: Contender, items: int, counted: bool = True) -> float:
        ctx = context if point.backend is ActorKind.PROCESS else None
        usage: dict[str, float] = {}
        rate, moved = run_trial(contender, point.capacity, point.producers, point.consumers,
                                items, ctx, point.item_size, usage)
        if usage:
            point.usage.setdefault(contender.name, []).append(usage)
        if counted:
            step_done()
        return rate

    for point in points:  # size each trial from warm-up trials (which are not counted)
        # Large items: fewer of them (64 MiB's worth at least), not 500 MiB of 1 MiB items.
        least = max(20, min(config.min_items, (64 << 20) // point.item_size))
        for contender in point.contenders:
            items = least
            if calibrate:
                rate = _calibrated_rate(lambda n, point=point, contender=contender: trial(
                    point, contender, n, counted=False), least, config)
                step_done()  # the warm-ups, as one step of the progress
                items = int(min(config.max_items, max(least, rate * config.trial_seconds)))
            point.items[contender.name] = items
            point.rates[contender.name] = []
            point.usage.pop(contender.name, None)  # the warm-up's: not counted
    for repetition in range(config.repeat):
        for point in points:
            order = point.contenders
            if repetition % 2:  # alternate the order so no contender always goes first
                order = order[::-1]
            for contender in order:
                point.rates[contender.name].append(
                    trial(point, contender, point.items[contender.name]))
    uncontended = measure_uncontended(config.uncontended_rounds, config.backends, context)
    return _results(config, context, points, uncontended, skipped)


def _calibrated_rate(trial: Callable[[int], float], least: int, config: BenchConfig) -> float:
    """The rate of warm-up trials grown until one lasts a quarter of ``trial_seconds`` (or
    moves ``max_items``), as ``timeit``'s autorange does.

    A trial's start costs the same whatever its length (the actors' first calls, processes'
    first touches of memory after a fork): a trial of a few batches measures mostly that, and
    a point's contenders would then be given trials of unequal lengths, each biased by how
    much of its own start it amortised (at 4x4, batches of 100: 15,000 items where 1.3
    million last the time asked, and a ratio of 0.73 where long trials give 1.02).
    """
    items = least
    while True:
        rate = trial(items)
        if items >= config.max_items or items >= rate * config.trial_seconds / 4:
            return rate
        # Aim at half the time asked, at least doubling: two or three trials at most.
        items = int(min(config.max_items, max(2 * items, rate * config.trial_seconds / 2)))


def _compare(comp: Comparison, mine: list[float], theirs: list[float]) -> dict[str, Any]:
    """A comparison of two paired series of rates: the median of the per-pair ratios."""
    ratios = [a / b for a, b in zip(mine, theirs)]
    ratio = statistics.median(ratios)
    return {
        "comparison": comp.label, "contender": comp.contender, "baseline": comp.baseline,
        "contender_rate": statistics.median(mine), "baseline_rate": statistics.median(theirs),
        "ratio": ratio, "ratios": ratios, "target": comp.target,
        "met": None if comp.target is None else ratio >= comp.target,
    }


def _results(config: BenchConfig, context: Any, points: list[_Point],
             uncontended: dict[str, dict[str, list[float]]], skipped: list[str]
             ) -> dict[str, Any]:
    measurements = []
    comparisons = []
    for point in points:
        where = {"backend": point.backend.value, "capacity": point.capacity,
                 "producers": point.producers, "consumers": point.consumers,
                 "item_size": point.item_size}
        for name, rates in point.rates.items():
            measured = {**where, "contender": name, "items": point.items[name],
                        "rates": rates, "median": statistics.median(rates)}
            # Where a process trial's time goes: sleeps (hand-overs) and CPU per item moved.
            for key in ("sleeps_per_item", "cpu_us_per_item"):
                values = [u[key] for u in point.usage.get(name, [])]
                if values:
                    measured[key] = statistics.median(values)
            measurements.append(measured)
        for comp in COMPARISONS[point.backend]:
            if comp.contender not in point.rates or comp.baseline not in point.rates:
                continue  # not measured at this point, or a peer that is not installed
            comparisons.append({**where, **_compare(comp, point.rates[comp.contender],
                                                    point.rates[comp.baseline])})
    uncontended_section = {
        "ns_per_item": {backend: {name: {"median": statistics.median(costs), "best": min(costs),
                                         "rounds": costs}
                                  for name, costs in per_backend.items()}
                        for backend, per_backend in uncontended.items()},
        "comparisons": uncontended_comparisons(uncontended, _compare),
    }
    return {
        "meta": {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "start_method": context.get_start_method(),
            "config": {**asdict(config), "backends": [b.value for b in config.backends]},
            "skipped": skipped,
        },
        "measurements": measurements,
        "comparisons": comparisons,
        "uncontended": uncontended_section,
    }


# -- command line --------------------------------------------------------------------------------


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="tiny trials, one repetition: checks that everything runs (CI)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="interleaved repetitions per point (default: 5; 1 with --quick)")
    parser.add_argument("--trial-seconds", type=float, default=None,
                        help="approximate length of one trial (default: 0.1)")
    parser.add_argument("--backend", choices=["thread", "process", "all"], default="all",
                        help="which backends to measure (default: all)")
    parser.add_argument("--item-sizes", default="8", metavar="SIZES",
                        help="comma-separated item sizes, e.g. 8,1K,64K,1M (default: 8); "
                             "threads and processes are each measured at every size (a thread "
                             "passes a reference, so its rate should not change with the size; "
                             "a process copies the item)")
    parser.add_argument("--capacities", default=None, metavar="CAPACITIES",
                        help="comma-separated buffer capacities in items, from 1 to "
                             f"{MAX_CAPACITY} (default: "
                             f"{','.join(map(str, CAPACITIES))})")
    parser.add_argument("--actors", default=None, metavar="PxC",
                        help="comma-separated producers x consumers, e.g. 1x1,4x4 (default: "
                             f"{','.join(f'{p}x{c}' for p, c in ACTORS)}; 1 to {MAX_ACTORS} "
                             "each)")
    parser.add_argument("--start-method", choices=multiprocessing.get_all_start_methods(),
                        help="multiprocessing start method (default: the platform's)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help=f"where to write the results (default: {DEFAULT_JSON})")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: only on a terminal)")


def parse_capacity(text: str) -> int:
    """``"16"`` -> 16: a buffer capacity in items, from 1 to :data:`MAX_CAPACITY`;
    ValueError saying what to write instead if not such a number."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_CAPACITY:
        raise ValueError(f"{text!r} is not a capacity; write a number of items from 1 to "
                         f"{MAX_CAPACITY}")
    return int(text)


def parse_actors(text: str) -> tuple[int, int]:
    """``"4x4"`` -> (4, 4): producers and consumers, each from 1 to :data:`MAX_ACTORS`;
    ValueError saying what to write instead if not such a pair."""
    producers, times, consumers = text.strip().lower().partition("x")
    numbers = (producers, consumers)
    if not times or not all(n.isascii() and n.isdigit() and 1 <= int(n) <= MAX_ACTORS
                            for n in numbers):
        raise ValueError(f"{text.strip()!r} is not producers x consumers; write them as 1x1 "
                         f"or 4x4, each from 1 to {MAX_ACTORS}")
    return int(producers), int(consumers)


def _parse_list(option: str, text: str, parse: Callable[[str], Any],
                label: Callable[[Any], str], noun: str) -> tuple[Any, ...]:
    """The comma-separated values of ``option``, each parsed; ``UsageError`` naming the
    option for a value ``parse`` refuses, or for values given more than once."""
    try:
        values = tuple(parse(part) for part in text.split(","))
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    twice = sorted({value for value in values if values.count(value) > 1})
    if twice:
        raise UsageError(f"{option} names {', '.join(map(label, twice))} more than once; "
                         f"give each {noun} once")
    return values


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand to the ``pcmodel`` command line."""
    parser = subparsers.add_parser(
        "bench", help="measure buffer throughput against queue.Queue and multiprocessing.Queue",
        description="Measure items/second of every buffer variant and backend against the "
                    "standard library's queues, in the same run; print ratios, write JSON.")
    _add_arguments(parser)
    parser.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    """Run the benchmark ``args`` describe; print the table; write the JSON. Exit status."""
    from pcmodel.experiments.progress import ProgressBar

    overrides: dict[str, Any] = {"start_method": args.start_method}
    if args.backend != "all":
        overrides["backends"] = (ActorKind(args.backend),)
    if args.repeat is not None:
        if not 1 <= args.repeat <= MAX_REPEAT:
            raise UsageError(f"--repeat must be from 1 to {MAX_REPEAT}, not {args.repeat}")
        overrides["repeat"] = args.repeat
    # Each value is a column of points: given twice, it would be measured and printed twice.
    overrides["item_sizes"] = _parse_list("--item-sizes", args.item_sizes, parse_size,
                                          size_label, "size")
    if args.capacities is not None:
        overrides["capacities"] = _parse_list("--capacities", args.capacities, parse_capacity,
                                              str, "capacity")
    if args.actors is not None:
        overrides["actors"] = _parse_list("--actors", args.actors, parse_actors,
                                          lambda pc: f"{pc[0]}x{pc[1]}", "pair")
    if args.trial_seconds is not None:
        if not 0 < args.trial_seconds <= MAX_TRIAL_SECONDS:
            raise UsageError(f"--trial-seconds must be above 0 and at most "
                             f"{MAX_TRIAL_SECONDS:.0f}, not {args.trial_seconds}")
        overrides["trial_seconds"] = args.trial_seconds
    check_output(args.json, "--json", ["json"])
    config = (BenchConfig.quick_config(**overrides) if args.quick
              else BenchConfig(**overrides))
    bar = ProgressBar(1, "bench", enabled=args.progress)

    def on_progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)

    try:
        results = run_benchmarks(config, on_progress)
    finally:
        bar.close()
    print(comparison_table(results))
    print()
    if results["uncontended"]["comparisons"]:
        print(uncontended_table(results))
        print()
    for line in targets_summary(results):
        print(line)
    for note in results["meta"]["skipped"]:
        print(f"skipped {note}")
    if config.quick:
        print("(--quick: trials too small for the ratios to mean anything)")
    text = json.dumps(results, indent=1)
    write_outputs([("--json", args.json, lambda path: path.write_text(text))])
    print(f"results written to {args.json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pcmodel.experiments.bench``: the same as ``pcmodel bench``."""
    parser = argparse.ArgumentParser(prog="pcmodel bench", description=__doc__.split("\n")[0])
    _add_arguments(parser)
    try:
        return bench_command(parser.parse_args(argv))
    except UsageError as exc:
        print(f"pcmodel bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
