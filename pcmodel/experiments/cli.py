"""``pcmodel run``: run a producer-consumer workload and print who waited, for how long.

With no arguments it runs the demo of the README: every buffer variant on threads, two producers
and two consumers, capacity 4, a couple of thousand items with small random sleeps on both sides
(consumers a little slower), and prints one summary row per run. Every option narrows or changes
that experiment; ``--json`` keeps the full results (parameters, measurements, buffer statistics)
and ``--plot`` draws each run's chart with the optional matplotlib extra.

    pcmodel run
    pcmodel run --variant semaphore --backend process --capacity 1 --consume-work cpu:20000
"""

from __future__ import annotations

import argparse
import errno
import json
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pcmodel.buffers import BACKENDS, VARIANTS, make_buffer
from pcmodel.errors import SharedMemoryTooLarge, UsageError
from pcmodel.experiments.runner import (
    DEFAULT_TIMEOUT,
    ConservationError,
    RunResult,
    Work,
    WorkerError,
    run_workload,
)
from pcmodel.outputs import check_output, plot_formats, write_outputs

__all__ = ["format_table", "register", "run_command"]

DEMO_PRODUCE_WORK = "sleep:0.0004:exp"
DEMO_CONSUME_WORK = "sleep:0.0005:exp"
_DESCRIPTION = """\
Run producers and consumers through a bounded buffer; print throughput, the fraction of time each
role spent blocked, and the buffer's maximum depth. Without options: every variant on threads,
2 producers x 2 consumers, capacity 4, 2000 items, small random sleeps (consumers a bit slower).

examples:
  pcmodel run
  pcmodel run --variant semaphore --backend process --capacity 1 --consume-work cpu:20000
  pcmodel run --variant condition --json results/run.json --plot results/run.png
"""
PLOTS_MISSING = ('--plot draws with matplotlib, which is not installed: pip install matplotlib '
                 '(the "plots" extra)')


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows as aligned text columns (numbers right-aligned), with a header and a rule."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w)
                         for c, w, n in zip(row, widths, numeric)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _is_number(value: Any) -> bool:
    """Numbers, percentages and blanks are right-aligned."""
    if isinstance(value, str):
        return value == "-" or value.endswith(("%", "x"))
    return value is None or isinstance(value, (int, float))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.0%}"


def summary_table(results: Sequence[RunResult]) -> str:
    """The table ``pcmodel run`` prints: one row per run."""
    headers = ["variant", "backend", "capacity", "P x C", "items", "wall s", "items/s",
               "producers blocked", "consumers blocked", "max depth"]
    rows = [
        [r.variant, r.backend, r.capacity, f"{r.producers} x {r.consumers}", r.items,
         round(r.wall_time, 3), r.throughput, _percent(r.producer_blocked),
         _percent(r.consumer_blocked), r.max_depth]
        for r in results
    ]
    return format_table(rows, headers)


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand to the ``pcmodel`` command line."""
    parser = subparsers.add_parser(
        "run",
        help="run a producer-consumer workload and print throughput and blocking",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--variant", choices=[*VARIANTS, "all"], default="all",
                        help="buffer variant (default: all, one run each)")
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="thread",
                        help="threads or processes (default: thread)")
    parser.add_argument("--capacity", type=int, default=4,
                        help="buffer capacity (default: 4); <= 0 means unbounded, as in "
                             "queue.Queue, where the backend allows it")
    parser.add_argument("--producers", type=int, default=2, help="producers (default: 2)")
    parser.add_argument("--consumers", type=int, default=2, help="consumers (default: 2)")
    parser.add_argument("--items", type=int, default=2000, help="items moved (default: 2000)")
    parser.add_argument("--produce-work", default=DEMO_PRODUCE_WORK, metavar="WORK",
                        help="per-item producer work: sleep:SECONDS or cpu:ITERATIONS, optionally "
                             f"with :uniform or :exp; 'none' for none (default: "
                             f"{DEMO_PRODUCE_WORK})")
    parser.add_argument("--consume-work", default=DEMO_CONSUME_WORK, metavar="WORK",
                        help=f"per-item consumer work, same syntax (default: {DEMO_CONSUME_WORK})")
    parser.add_argument("--batch", type=int, default=1,
                        help="items per put_many/get_many (default: 1, plain put/get)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random work (default: 0)")
    parser.add_argument("--instrument", choices=["timeline", "counters", "off"],
                        default="timeline", help="what the buffer records (default: timeline)")
    parser.add_argument("--start-method", choices=multiprocessing.get_all_start_methods(),
                        help="multiprocessing start method (process backend; default: the "
                             "platform's)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"give up on a run after this many seconds (default: "
                             f"{DEFAULT_TIMEOUT:g})")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="write every run's full results as JSON")
    parser.add_argument("--plot", type=Path, metavar="PATH",
                        help="draw the runs' charts to PATH (PNG, SVG, PDF, ...; several runs "
                             "are stacked in one figure); needs pcmodel[plots]")
    parser.add_argument("--dpi", type=int, default=None,
                        help="resolution of a --plot bitmap (default: matplotlib's, 100)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: only on a terminal)")
    parser.set_defaults(func=run_command)


def _fail(message: str, status: int = 1) -> int:
    print(f"pcmodel run: error: {message}", file=sys.stderr)
    return status


#: The most pixels a ``--plot`` bitmap may have: Pillow refuses to open a larger image (its
#: ``DecompressionBombError``), and drawing one takes gigabytes of memory.
MAX_PIXELS = 178_956_970
#: The formats matplotlib draws as bitmaps (the others are vector formats, of any size).
BITMAPS = {"avif", "gif", "jpeg", "jpg", "png", "raw", "rgba", "tif", "tiff", "webp"}


def _check_chart_size(args: argparse.Namespace, runs: int) -> None:
    """Refuse, before the runs, a ``--plot`` bitmap larger than :data:`MAX_PIXELS` (the chart
    grows with the runs and the actors, the pixels with the square of ``--dpi``)."""
    if args.plot.suffix.lower().lstrip(".") not in BITMAPS:
        return
    import matplotlib

    from pcmodel.plots.runs import runs_chart_size

    dpi = args.dpi or matplotlib.rcParams["savefig.dpi"]
    if dpi == "figure":
        dpi = matplotlib.rcParams["figure.dpi"]
    actors = max(1, args.producers) + max(1, args.consumers)
    width, height = runs_chart_size(runs, actors)
    if width * height * dpi * dpi <= MAX_PIXELS:
        return
    most = int((MAX_PIXELS / (width * height)) ** 0.5)
    instead = f"use --dpi {most} or less, " if most >= 10 else "use "
    raise UsageError(f"--plot {args.plot}: {runs} run(s) of {actors} actors at {dpi:g} dpi make "
                     f"a bitmap of {width * dpi:,.0f} x {height * dpi:,.0f} pixels, more than "
                     f"image viewers open; {instead}fewer actors, or a .svg or .pdf chart")


#: The most producers, and the most consumers, one run may have. Each is a thread or a process
#: of its own; past a few thousand threads the start alone takes minutes (every actor waits on
#: one start signal, and waking them is a convoy on the GIL: 20,000 producers took 81 s for a
#: 6 s run), and the system refuses threads and processes long before 100,000.
MAX_ACTORS = 1000


def _check_arguments(args: argparse.Namespace, variants: list[str], backends: list[str]
                     ) -> tuple[Work | None, Work | None]:
    """Every mistake in ``args`` as a UsageError, before any run starts; the parsed works."""
    for option in ("producers", "consumers"):
        value = getattr(args, option)
        if not 1 <= value <= MAX_ACTORS:
            raise UsageError(f"--{option} must be between 1 and {MAX_ACTORS}, not {value}: each "
                             "is a thread or process of its own")
    # Said with the option's name (the run's own checks name its parameters).
    for option, least in (("items", 0), ("batch", 1)):
        value = getattr(args, option)
        if value < least:
            raise UsageError(f"--{option} must be at least {least}, not {value}")
    if not args.timeout > 0:  # nan too
        raise UsageError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    for option in ("produce_work", "consume_work"):
        if not getattr(args, option).strip():  # an unset shell variable, say: not "none"
            raise UsageError(f"--{option.replace('_', '-')}: the value is empty; give "
                             "sleep:SECONDS, cpu:ITERATIONS or none")
    try:
        produce_work = Work.parse(args.produce_work)
        consume_work = Work.parse(args.consume_work)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.start_method is not None and "process" not in backends:
        raise UsageError("--start-method is for the process backend: add --backend process")
    if args.dpi is not None and not 10 <= args.dpi <= 1200:
        raise UsageError(f"--dpi must be between 10 and 1200, got {args.dpi}")
    if args.json is not None:
        check_output(args.json, "--json", ["json"])
    if args.plot is not None:
        if args.instrument != "timeline":
            raise UsageError("--plot draws the timeline: use --instrument timeline (the default)")
        try:
            formats = plot_formats()
        except ImportError:
            raise UsageError(PLOTS_MISSING) from None
        check_output(args.plot, "--plot", formats)
        _check_chart_size(args, len(variants) * len(backends))
    # Each buffer once, empty: a capacity a backend cannot honour fails here, not after a run.
    for backend in backends:
        for variant in variants:
            options = {}
            if backend == "process" and args.start_method is not None:
                options["context"] = multiprocessing.get_context(args.start_method)
            try:
                make_buffer(variant, args.capacity, backend=backend, **options).close()
            except SharedMemoryTooLarge as exc:
                raise UsageError(f"--capacity {args.capacity} with {variant}/{backend}: the "
                                 f"buffer's memory cannot be made ({exc.reason}); use a smaller "
                                 "--capacity") from None
            except (ValueError, TypeError, OverflowError) as exc:
                raise UsageError(f"--capacity {args.capacity} with {variant}/{backend}: "
                                 f"{exc}") from None
            except (OSError, MemoryError) as exc:
                # A process buffer's shared memory grows with its capacity: past what the
                # system lends (a file too large for /dev/shm, no memory) it cannot be made.
                reason = _reason(exc) if isinstance(exc, OSError) else "out of memory"
                raise UsageError(f"--capacity {args.capacity} with {variant}/{backend}: the "
                                 f"buffer's memory cannot be made ({reason}); use a smaller "
                                 "--capacity") from None
    return produce_work, consume_work


#: What the system says when it has no room for another thread or process: too many open
#: files (a process actor's pipe), too many processes or threads, no memory for a stack.
_NO_ROOM = {errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.ENOMEM}


def _refused_to_start(exc: BaseException) -> bool:
    """Whether ``exc`` says that an actor could not be started for want of resources."""
    if isinstance(exc, OSError):
        return exc.errno in _NO_ROOM
    return isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)


def _reason(exc: BaseException) -> str:
    return (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)


def run_command(args: argparse.Namespace) -> int:
    """Run the workloads ``args`` describe, print the table, write JSON/plots; exit status.

    Raises UsageError for a mistake in ``args``, before any run starts.
    """
    variants = list(VARIANTS) if args.variant == "all" else [args.variant]
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    produce_work, consume_work = _check_arguments(args, variants, backends)
    if args.capacity <= 0:
        print(f"capacity {args.capacity}: unbounded (as queue.Queue, a capacity <= 0 means no "
              "bound), so producers never wait for space", file=sys.stderr)
    results: list[RunResult] = []
    for backend in backends:
        for variant in variants:
            try:
                results.append(run_workload(
                    variant=variant, backend=backend, capacity=args.capacity,
                    producers=args.producers, consumers=args.consumers, items=args.items,
                    produce_work=produce_work, consume_work=consume_work, seed=args.seed,
                    instrument=args.instrument,
                    context=args.start_method if backend == "process" else None,
                    progress=args.progress, batch=args.batch, timeout=args.timeout,
                ))
            except (ValueError, TypeError) as exc:
                raise UsageError(str(exc)) from None
            except (WorkerError, ConservationError, TimeoutError) as exc:
                return _fail(f"{variant}/{backend}: {exc}")
            except (RuntimeError, OSError) as exc:
                if not _refused_to_start(exc):
                    raise
                raise UsageError(
                    f"{variant}/{backend}: the system refused to start {args.producers} "
                    f"producer(s) and {args.consumers} consumer(s) ({_reason(exc)}); use fewer "
                    "(--producers, --consumers) or raise the limit (ulimit)") from None
    work = f"produce work {produce_work or 'none'}, consume work {consume_work or 'none'}"
    print(f"{len(results)} run(s), {work}, seed {args.seed}")
    print(summary_table(results))
    # Both files or neither: a chart that fails, or a Ctrl-C while drawing it, leaves no JSON.
    outputs: list[tuple[str, Path, Callable[[Path], object]]] = []
    if args.json is not None:
        text = json.dumps({"runs": [r.to_dict() for r in results]}, indent=1)
        outputs.append(("--json", args.json, lambda path: path.write_text(text)))
    if args.plot is not None:
        from pcmodel import plots

        figure = plots.plot_runs(results)
        outputs.append(("--plot", args.plot, lambda path: figure.savefig(path, dpi=args.dpi)))
    write_outputs(outputs)
    if args.json is not None:
        print(f"results written to {args.json}")
    if args.plot is not None:
        what = "chart" if len(results) == 1 else f"charts of the {len(results)} runs, stacked,"
        print(f"{what} written to {args.plot}")
    return 0
