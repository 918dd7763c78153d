"""Checking the arguments of the scheduler's Python API before any schedule runs.

``explore``, ``explore_program``, ``run_controlled`` and the strategies take counts, seeds,
durations, flags and lists from notebooks and tests. Python would take many wrong ones silently
(``max_schedules=True`` runs one schedule, ``reduce="no"`` is true, ``trace="buffer.py"`` is
read letter by letter, ``max_steps=nan`` never ends a livelock) or fail deep inside a run. Each
check here raises a one-line ``TypeError`` (wrong kind of value) or ``ValueError`` (out of
range) naming the argument and what to pass, and returns the value in the form the run uses.
The limits are the command line's, so ``pcmodel explore`` and the Python API agree.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from types import ModuleType
from typing import Any

__all__ = [
    "MAX_ACTORS",
    "MAX_ITEMS",
    "MAX_PCT_DEPTH",
    "MAX_STEP_TIMEOUT",
    "MAX_TOTAL_ITEMS",
    "check_callables",
    "check_count",
    "check_decisions",
    "check_flag",
    "check_modules",
    "check_program",
    "check_seconds",
    "check_seed",
    "check_targets",
]

#: The most producers, or consumers, one explored shape may have: the controlled scheduler runs
#: every one as a thread and prints a column per thread; interleaving bugs need only a few.
MAX_ACTORS = 64
#: The most items per producer, and in all: interleaving bugs show with two or three, and every
#: schedule moves them all and keeps its trace (a hundred million took 9 GB before the first
#: schedule ended; 4,000 take seconds and about 160 MB).
MAX_ITEMS = 1000
MAX_TOTAL_ITEMS = 4000
#: The deepest PCT search: a bug of depth d needs d - 1 ordering constraints, and the known
#: buffer bugs have depth 1 to 3 (each level costs a priority change point per schedule).
MAX_PCT_DEPTH = 100
#: The longest ``step_timeout``: a thread that runs an hour without reaching a scheduling point
#: is stuck, and the watchdog's waits must stay below what a lock's timeout can take.
MAX_STEP_TIMEOUT = 3600.0


def check_count(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        most = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be at least {minimum}{most}, not {value!r}")
    return value


def check_seed(value: object) -> int:
    """A seed: any int (not a bool, a float or None)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"seed must be an int, not {value!r}")
    return value


def check_seconds(
    name: str, value: object, *, maximum: float = math.inf, none_ok: bool = False
) -> float | None:
    """A positive number of seconds, at most ``maximum`` (inf only if allowed); no nan."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        extra = " or None" if none_ok else ""
        raise TypeError(f"{name} must be a number of seconds{extra}, not {value!r}")
    seconds = float(value)
    if not 0 < seconds <= maximum:  # also refuses nan
        most = f" and at most {maximum:g}" if math.isfinite(maximum) else ""
        raise ValueError(f"{name} must be a positive number of seconds{most}, not {value!r}")
    return seconds


def check_flag(name: str, value: object) -> bool:
    """True or False, nothing that merely looks true (``"no"`` is true in Python)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def check_program(name: str, value: object) -> Callable[..., Any]:
    """A callable, refused here rather than reported as the program's own exception."""
    if not callable(value):
        raise TypeError(f"{name} must be a callable (a function, class or method), not {value!r}")
    return value


def _listed(name: str, value: object, what: str) -> tuple[Any, ...]:
    """``value`` as a tuple, when it is a list of things rather than one thing (a string
    would be read letter by letter, a dict key by key)."""
    if isinstance(value, Mapping):
        raise TypeError(f"{name} must be a list of {what}, not a {type(value).__name__}")
    if isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a list of {what}, not one {type(value).__name__}: "
                        f"write {name}=[{value!r}]")
    if isinstance(value, ModuleType) or callable(value):
        shown = getattr(value, "__name__", None) or type(value).__name__
        raise TypeError(f"{name} must be a list of {what}, not {shown} alone: "
                        f"write {name}=[{shown}]")
    if not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of {what}, not {value!r}")
    return tuple(value)


def check_targets(
    name: str, value: object, what: str = "files, modules, classes or functions"
) -> tuple[Any, ...]:
    """A list of ``what`` (one alone is refused, not split into letters)."""
    return _listed(name, value, what)


def check_modules(name: str, value: object) -> tuple[Any, ...]:
    """A list of modules (or the stand-ins of modules loaded from a path)."""
    from pcmodel.sched.targets import ModuleNamespace

    found = _listed(name, value, "modules")
    for module in found:
        if not isinstance(module, (ModuleType, ModuleNamespace)):
            raise TypeError(f"{name} must hold modules (import it and pass the module), "
                            f"not {module!r}")
    return found


def check_callables(name: str, value: object) -> tuple[Callable[..., Any], ...]:
    """A list of callables (invariants, checks)."""
    found = _listed(name, value, "functions")
    for item in found:
        if not callable(item):
            raise TypeError(f"{name} must hold functions, and {item!r} is not callable")
    return found


def check_decisions(value: object, *, none_entries: bool = False) -> tuple[Any, ...] | None:
    """None, or the ints of a recorded schedule (``Failure.decisions``), as a tuple; with
    ``none_entries`` an entry may be None (take the default choice there)."""
    if value is None:
        return None
    found = _listed("decisions", value, "ints (a failure's .decisions)")
    for item in found:
        if item is None and none_entries:
            continue
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(f"decisions must hold ints (a failure's .decisions), not {item!r}")
    return found
