# ``pcmodel explore``: run a buffer implementation under the controlled scheduler from a terminal.
#
#   pcmodel explore path/to/student.py:BoundedBuffer --producers 1 --consumers 2 --capacity 1
#   pcmodel explore pcmodel:condition --strategy random --seed 7 --max-schedules 500
#   pcmodel explore student.py:BoundedBuffer --capacity 2 --lines --replay 1,1,1,0,2,2,2,3,3
#
# Prints the summary, and for a failure the trace table and the command that replays it. Exit
# status: 0 no failure (incomplete explorations say so), 1 a failure was found, 2 bad arguments.

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import os
import sys
from typing import Any

__all__ = ["load_factory", "register"]


def load_factory(target: str) -> Any:
    """Resolve ``PATH.py:NAME``, ``MODULE:NAME`` or ``pcmodel:VARIANT`` to a buffer factory.

    Raises ValueError with what was wrong and the accepted forms.
    """
    forms = "use PATH.py:NAME, MODULE:NAME or pcmodel:VARIANT (condition, semaphore, queue)"
    source, sep, name = target.rpartition(":")
    if not sep or not source or not name:
        raise ValueError(f"cannot read {target!r}: {forms}")
    if source == "pcmodel":
        from pcmodel.buffers import VARIANTS, make_buffer

        if name not in VARIANTS:
            raise ValueError(f"unknown pcmodel variant {name!r}: choose one of {VARIANTS}")
        return functools.partial(make_buffer, name)
    if source.endswith(".py"):
        path = os.path.abspath(source)
        if not os.path.exists(path):
            raise ValueError(f"no such file {source!r}: {forms}")
        module_name = "_pcmodel_explore_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(source)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ValueError(f"{source} defines no {name!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explore`` subcommand."""
    parser = subparsers.add_parser(
        "explore",
        help="find interleaving bugs in a bounded buffer with the controlled scheduler",
        description="Run producers and consumers around a buffer under a controlled scheduler "
        "and print the first failing schedule as a table.",
    )
    parser.add_argument("target", help="PATH.py:NAME, MODULE:NAME or pcmodel:VARIANT")
    parser.add_argument("--producers", type=int, default=1)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--capacity", type=int, default=1)
    parser.add_argument("--items", type=int, default=2, help="items per producer")
    parser.add_argument("--strategy", choices=("dfs", "random", "pct"), default="dfs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-schedules", type=int, default=2000)
    parser.add_argument("--preemptions", type=int, default=2, help="DFS preemption bound")
    parser.add_argument("--pct-depth", type=int, default=3)
    parser.add_argument(
        "--lines",
        action="store_const",
        const="on",
        help="also schedule before each line of the target's file run outside a critical section",
    )
    parser.add_argument(
        "--all-lines",
        dest="lines",
        action="store_const",
        const="all",
        help="also schedule before every line of the target's file, inside critical sections too",
    )
    parser.add_argument("--spurious", type=int, default=0, help="spurious wake-ups allowed")
    parser.add_argument("--notify-order", choices=("any", "fifo"), default="any")
    parser.add_argument("--replay", help="comma-separated decisions printed by a failure")
    parser.add_argument("--timeline", action="store_true", help="also print timeline intervals")
    parser.add_argument("--max-rows", type=int, default=None, help="show only the last rows")
    parser.set_defaults(func=run)


def _command(args: argparse.Namespace, decisions: list[int]) -> str:
    parts = [
        "pcmodel explore",
        args.target,
        f"--producers {args.producers} --consumers {args.consumers}",
        f"--capacity {args.capacity} --items {args.items}",
    ]
    if args.lines:
        parts.append("--lines" if args.lines == "on" else "--all-lines")
    if args.spurious:
        parts.append(f"--spurious {args.spurious}")
    if args.notify_order != "any":
        parts.append(f"--notify-order {args.notify_order}")
    parts.append("--replay " + ",".join(str(d) for d in decisions))
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Execute ``pcmodel explore``; returns the exit status."""
    from pcmodel.sched.harness import explore

    try:
        factory = load_factory(args.target)
        decisions = None
        if args.replay is not None:
            decisions = [int(part) for part in args.replay.replace(" ", "").split(",") if part]
    except ValueError as exc:
        print(f"pcmodel explore: {exc}", file=sys.stderr)
        return 2
    try:
        result = explore(
            factory,
            producers=args.producers,
            consumers=args.consumers,
            capacity=args.capacity,
            items=args.items,
            strategy=args.strategy,
            seed=args.seed,
            max_schedules=args.max_schedules,
            preemption_bound=args.preemptions,
            pct_depth=args.pct_depth,
            lines={None: False, "on": True, "all": "all"}[args.lines],
            spurious_wakeups=args.spurious,
            notify_order=args.notify_order,
            decisions=decisions,
            replay_call=lambda ds: _command(args, list(ds)),
        )
    except ValueError as exc:
        print(f"pcmodel explore: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    if result.failure is not None:
        failure = result.failure
        print(f"{failure.kind.value}: {failure.message}\n")
        print(failure.table(max_rows=args.max_rows))
        print(f"\nReplay it with: {failure.replay_call}")
        if args.timeline:
            for interval in failure.timeline():
                print(f"{interval.actor}\t{interval.state}\t{interval.start}\t{interval.end}")
        return 1
    return 0
