# ``pcmodel explore``: run a buffer implementation under the controlled scheduler from a terminal.
#
#   pcmodel explore path/to/student.py:BoundedBuffer --producers 1 --consumers 2 --capacity 1
#   pcmodel explore pcmodel:condition --strategy random --seed 7 --max-schedules 500
#   pcmodel explore student.py:BoundedBuffer --capacity 2 --lines --replay 1,1,1,0,2,2,2,3,3
#
# Without shape options it explores a "thorough" profile: the shapes that, between them, find
# every buffer bug of the exercises' zoo (1 producer x 2 consumers at capacity 1; then 2 x 1 at
# capacity 2 with a scheduling point at every line of the target's file). Giving --producers,
# --consumers, --capacity, --items, --lines or --all-lines explores that one shape instead.
# Prints a summary per shape (saying what was left unexplored when a budget ran out), and for a
# failure the trace table and the command that replays it. Exit status: 0 no failure, 1 a
# failure was found, 2 a mistake in the arguments (one line on stderr).

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import os
import signal
import sys
import threading
import traceback
from typing import Any

from pcmodel.errors import UsageError
from pcmodel.sched.arguments import MAX_ACTORS, MAX_ITEMS, MAX_PCT_DEPTH, MAX_TOTAL_ITEMS

__all__ = ["load_factory", "register"]


def load_factory(target: str) -> Any:
    """Resolve ``PATH.py:NAME``, ``MODULE:NAME`` or ``pcmodel:VARIANT`` to a buffer factory.

    Raises UsageError (a ValueError) with what was wrong and the accepted forms: a file that
    does not exist or does not compile (``file:line: message``), a module that cannot be
    imported, a name that is missing or is not a class (or other callable taking the capacity).
    """
    forms = "use PATH.py:NAME, MODULE:NAME or pcmodel:VARIANT (condition, semaphore, queue)"
    source, sep, name = target.rpartition(":")
    if not sep or not source or not name:
        raise UsageError(f"cannot read {target!r}: {forms}")
    if source == "pcmodel":
        from pcmodel.buffers import VARIANTS, make_buffer

        if name not in VARIANTS:
            raise UsageError(f"unknown pcmodel variant {name!r}: choose one of {VARIANTS}")
        return functools.partial(make_buffer, name)
    if source.endswith(".py"):
        module = _load_file(source, forms)
    else:
        try:
            module = importlib.import_module(source)
        except ModuleNotFoundError as exc:
            raise UsageError(f"no module named {exc.name!r} (importing {source!r}): {forms}") \
                from None
        except SyntaxError as exc:
            raise UsageError(_syntax_error(exc, source)) from None
        except (TypeError, ValueError) as exc:
            if source.startswith("."):  # a relative name: there is no package to be relative to
                raise UsageError(f"cannot import {source!r} (a relative module name): "
                                 f"{forms}") from None
            raise UsageError(_import_failed(source, exc)) from None
        except BaseException as exc:  # noqa: BLE001 - whatever the module does at import
            _reraise_real_interrupt(exc)
            raise UsageError(_import_failed(source, exc)) from None
    try:
        factory = getattr(module, name)
    except AttributeError:
        raise UsageError(f"{source} defines no {name!r}") from None
    except BaseException as exc:  # noqa: BLE001 - a module __getattr__ of the target's
        _reraise_real_interrupt(exc)
        raise UsageError(f"{source}: looking up {name!r} raised "
                         f"{type(exc).__name__}: {exc}"[:500]) from None
    if not callable(factory):
        kind = type(factory).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        raise UsageError(f"{source}:{name} is {article} {kind}, not a class: name the buffer "
                         "class (or a function taking the capacity)")
    return factory


def _syntax_error(exc: SyntaxError, source: str) -> str:
    where = exc.filename or source
    return f"{where}:{exc.lineno}: {type(exc).__name__}: {exc.msg}" if exc.lineno else \
        f"{where}: {type(exc).__name__}: {exc.msg}"


def _reraise_real_interrupt(exc: BaseException) -> None:
    """Re-raise ``exc`` when it is a real Ctrl-C or SIGTERM (the ``pcmodel`` command's
    handler noted one, or no handler of the command's is there to tell); a
    ``KeyboardInterrupt`` the target raised itself is the target's mistake."""
    from pcmodel.cli import signal_arrived

    if isinstance(exc, KeyboardInterrupt) and (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.default_int_handler)
            or signal_arrived()):
        raise exc


def _import_failed(source: str, exc: BaseException, where: str | None = None) -> str:
    where = where or source
    if isinstance(exc, SystemExit):
        return (f"{where}: importing it exited (SystemExit({exc.code!r})); a module to "
                "explore must not exit when imported")[:500]
    return f"{where}: importing it raised {type(exc).__name__}: {exc}"[:500]


def _load_file(source: str, forms: str) -> Any:
    """Import a student's file by path; its mistakes become one-line UsageErrors."""
    path = os.path.abspath(source)
    if os.path.isdir(path):
        raise UsageError(f"{source!r} is a folder, not a Python file: {forms}")
    if os.path.exists(path) and not os.path.isfile(path):  # a device, a FIFO: no source
        raise UsageError(f"{source!r} is not a regular file: {forms}")
    if not os.path.isfile(path):
        raise UsageError(f"no such file {source!r}: {forms}")
    module_name = "_pcmodel_explore_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise UsageError(_syntax_error(exc, source)) from None
    except ValueError as exc:
        # Older Pythons refuse null bytes in a source file with a ValueError.
        sys.modules.pop(module_name, None)
        if "null" in str(exc):
            raise UsageError(f"{source}: {exc}") from None
        raise UsageError(_import_failed(source, exc, _where(exc, path, source))) from None
    except BaseException as exc:  # noqa: BLE001 - whatever the student's file does at import
        sys.modules.pop(module_name, None)
        _reraise_real_interrupt(exc)
        # The line of the student's file where importing it failed. (os._exit() at import
        # cannot be caught: the process ends with the student's status.)
        raise UsageError(_import_failed(source, exc, _where(exc, path, source))) from None
    return module


def _where(exc: BaseException, path: str, source: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    return f"{source}:{frames[-1].lineno}" if frames else source


#: What ``--replay`` takes for a failure that needed no decision (the first schedule fails,
#: whatever the scheduler chooses): an empty list of decisions.
NO_DECISIONS = "none"


def parse_replay(text: str) -> list[int]:
    """``"0,1,1,0"`` as decisions (``"none"``: no decision); UsageError for anything else."""
    if text.strip() == NO_DECISIONS:
        return []
    parts = [part for part in text.replace(" ", "").split(",") if part]
    if not parts or not all(part.isdigit() for part in parts):
        raise UsageError(f"--replay takes the comma-separated decisions a failure printed "
                         f"(such as 0,1,1,0, or {NO_DECISIONS}); got {text!r}")
    return [int(part) for part in parts]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explore`` subcommand."""
    parser = subparsers.add_parser(
        "explore",
        help="find interleaving bugs in a bounded buffer with the controlled scheduler",
        description="Run producers and consumers around a buffer under a controlled scheduler "
        "and print the first failing schedule as a table.",
    )
    parser.add_argument("target", help="PATH.py:NAME, MODULE:NAME or pcmodel:VARIANT")
    parser.add_argument("--producers", type=int, help="producers (thorough profile: 1, then 2)")
    parser.add_argument("--consumers", type=int, help="consumers (thorough profile: 2, then 1)")
    parser.add_argument("--capacity", type=int, help="capacity (thorough profile: 1, then 2)")
    parser.add_argument("--items", type=int, help="items per producer (default 2)")
    parser.add_argument("--strategy", choices=("dfs", "random", "pct"), default="dfs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-schedules", type=int, default=3000,
                        help="schedules per shape explored at most (default 3000)")
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
    parser.add_argument("--replay", help="comma-separated decisions printed by a failure "
                        f"({NO_DECISIONS!r} for one that needed none)")
    parser.add_argument("--timeline", action="store_true", help="also print timeline intervals")
    parser.add_argument("--max-rows", type=int, default=None, help="show only the last rows")
    parser.set_defaults(func=run)


# The thorough profile: between them these shapes find every buffer bug of the exercises' zoo
# (tests/sched/test_exercise_zoo.py explores the same). The second schedules every line of the
# target's file, which is what makes a missing mutex reachable under the GIL.
THOROUGH = (
    {"producers": 1, "consumers": 2, "capacity": 1, "items": 2, "lines": None},
    {"producers": 2, "consumers": 1, "capacity": 2, "items": 2, "lines": "on"},
)
_SHAPE = ("producers", "consumers", "capacity", "items", "lines")


def _shapes(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The thorough profile, or the one shape the options describe."""
    if all(getattr(args, key) is None for key in _SHAPE):
        return [dict(shape) for shape in THOROUGH]
    first = THOROUGH[0]
    shape = {key: getattr(args, key) if getattr(args, key) is not None else first[key]
             for key in _SHAPE}
    return [shape]


def _describe(shape: dict[str, Any]) -> str:
    lines = {None: "", "on": ", every line", "all": ", every line in critical sections too"}
    return (f"{shape['producers']} producer(s) x {shape['consumers']} consumer(s), capacity "
            f"{shape['capacity']}, {shape['items']} item(s) each{lines[shape['lines']]}")


def _command(args: argparse.Namespace, shape: dict[str, Any], decisions: list[int]) -> str:
    parts = [
        "pcmodel explore",
        args.target,
        f"--producers {shape['producers']} --consumers {shape['consumers']}",
        f"--capacity {shape['capacity']} --items {shape['items']}",
    ]
    if shape["lines"]:
        parts.append("--lines" if shape["lines"] == "on" else "--all-lines")
    if args.spurious:
        parts.append(f"--spurious {args.spurious}")
    if args.notify_order != "any":
        parts.append(f"--notify-order {args.notify_order}")
    parts.append("--replay " + (",".join(str(d) for d in decisions) or NO_DECISIONS))
    return " ".join(parts)


#: The highest DFS preemption bound: the search keeps a queue per level of the bound (made at
#: once, so 10 million took 5 GB before the first schedule), and a bound above the preemptions
#: a schedule can make (about one per step) bounds nothing.
MAX_PREEMPTIONS = 1000
#: Scheduling steps allowed per item moved before a schedule counts as a livelock. A correct
#: buffer takes about 4 (one producer, one consumer) to 8 (four of each, contended); the
#: scheduler's own budget of 5,000 steps would call a long correct run a livelock.
STEPS_PER_ITEM = 25


def run(args: argparse.Namespace) -> int:
    """Execute ``pcmodel explore``; returns the exit status (UsageError for bad arguments).

    A target whose import started non-daemon threads that are still running when the
    exploration is over would keep the interpreter from exiting: then the output is flushed
    and the process ends at once with the status (or the one-line error or interruption)."""
    before = set(threading.enumerate())
    try:
        status = _run(args)
    except UsageError as exc:
        _exit_if_threads_left(before, f"pcmodel explore: error: {exc}", 2)
        raise
    except KeyboardInterrupt:
        _exit_if_threads_left(before, "pcmodel explore: interrupted", 130)
        raise
    _exit_if_threads_left(before, None, status)
    return status


def _exit_if_threads_left(before: set[threading.Thread], line: str | None, status: int) -> None:
    left = [t for t in threading.enumerate()
            if t not in before and not t.daemon and t.is_alive()]
    if not left:
        return
    if line is not None:
        print(line, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)  # the target's threads would keep the interpreter from exiting


def _run(args: argparse.Namespace) -> int:
    from pcmodel.sched.harness import explore
    from pcmodel.sched.model import NondeterminismError

    for option, least, most in (("producers", 1, MAX_ACTORS), ("consumers", 1, MAX_ACTORS),
                                ("items", 1, MAX_ITEMS), ("pct_depth", 1, MAX_PCT_DEPTH),
                                ("preemptions", 0, MAX_PREEMPTIONS)):
        value = getattr(args, option)
        if value is not None and not least <= value <= most:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} must be between {least} and {most}, not {value}")
    # Said with the option's name (the scheduler's own check names its parameter).
    for option, least in (("capacity", 1), ("max_schedules", 1), ("spurious", 0)):
        value = getattr(args, option)
        if value is not None and value < least:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} must be at least {least}, not {value}")
    if args.max_rows is not None and args.max_rows < 1:
        raise UsageError(f"--max-rows must be at least 1, not {args.max_rows}: it shows that "
                         "many of a failure's last steps")
    shown = {key: getattr(args, key) or THOROUGH[0][key] for key in ("producers", "items")}
    if shown["producers"] * shown["items"] > MAX_TOTAL_ITEMS:
        raise UsageError(f"--producers {shown['producers']} x --items {shown['items']} is more "
                         f"than {MAX_TOTAL_ITEMS} items per schedule: explore fewer (two or "
                         "three per producer find interleaving bugs)")
    factory = load_factory(args.target)
    decisions = parse_replay(args.replay) if args.replay is not None else None
    shapes = _shapes(args)
    if decisions is not None and len(shapes) > 1:
        raise UsageError("--replay replays one shape: give the --producers, --consumers, "
                         "--capacity and --items printed with it")
    unexplored = []
    for shape in shapes:
        try:
            result = explore(
                factory,
                producers=shape["producers"],
                consumers=shape["consumers"],
                capacity=shape["capacity"],
                items=shape["items"],
                strategy=args.strategy,
                seed=args.seed,
                max_schedules=args.max_schedules,
                preemption_bound=args.preemptions,
                pct_depth=args.pct_depth,
                max_steps=max(5_000, STEPS_PER_ITEM * shape["producers"] * shape["items"]),
                lines={None: False, "on": True, "all": "all"}[shape["lines"]],
                spurious_wakeups=args.spurious,
                notify_order=args.notify_order,
                decisions=decisions,
                replay_call=lambda ds, shape=shape: _command(args, shape, list(ds)),
            )
        except NondeterminismError as exc:
            raise UsageError(f"--replay does not fit this target and these options ({exc}); "
                             "replay what pcmodel explore printed, with the same options") \
                from None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        print(f"{_describe(shape)}: {result.summary()}")
        if result.failure is not None:
            failure = result.failure
            print(f"{failure.kind.value}: {failure.message}\n")
            print(failure.table(max_rows=args.max_rows))
            print(f"\nReplay it with: {failure.replay_call}")
            if args.timeline:
                for interval in failure.timeline():
                    print(f"{interval.actor}\t{interval.state}\t{interval.start}\t"
                          f"{interval.end}")
            return 1
        if not result.complete and decisions is None:
            unexplored.append(shape)
    if unexplored:
        what = "; ".join(_describe(shape) for shape in unexplored)
        how = ("raise --max-schedules" if args.strategy == "dfs" else
               "random and pct never cover every schedule: use --strategy dfs")
        print(f"partial: not every schedule was explored for {what} ({how} to explore more)")
    return 0
