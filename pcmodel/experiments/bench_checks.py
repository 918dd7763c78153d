"""Checking a :class:`~pcmodel.experiments.bench.BenchConfig` built from Python.

``pcmodel bench`` checks its options as it reads them; a notebook or a test builds the
configuration directly, and a wrong field used to surface only after every trial had run (a
backend written ``"thread"`` instead of ``ActorKind.THREAD`` matched no contender, ``repeat=0``
left nothing to take a median of) or deep inside one (an item size of 0 divided by zero).
:func:`checked_fields` refuses each such field with a one-line ``TypeError`` or ``ValueError``
naming it, within the command line's limits, and returns the fields in the form the benchmark
uses: tuples, and backends as :class:`~pcmodel.experiments.contenders.ActorKind` (their names,
``"thread"`` and ``"process"``, are taken too).
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Iterable, Mapping
from numbers import Real
from typing import Any

from pcmodel.experiments.bench_report import MAX_ITEM_SIZE
from pcmodel.experiments.contenders import ActorKind

__all__ = ["checked_fields"]


def _int(name: str, value: Any, least: int, most: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < least or (most is not None and value > most):
        span = f"from {least} to {most}" if most is not None else f"at least {least}"
        raise ValueError(f"{name} must be {span}, not {value!r}")
    return value


def _tuple(name: str, value: Any) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a tuple of values, not {value!r}")
    values = tuple(value)
    if not values:
        raise ValueError(f"{name} is empty: give at least one value")
    return values


def _backend(value: Any) -> ActorKind:
    try:
        return ActorKind(value)
    except ValueError:
        names = ", ".join(repr(kind.value) for kind in ActorKind)
        raise ValueError(f"backends: unknown backend {value!r}; choose from {names}") from None


def checked_fields(config: Any, limits: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``config`` that need a normal form, checked; raises TypeError/ValueError
    naming the first wrong one. ``limits`` gives ``MAX_REPEAT``, ``MAX_TRIAL_SECONDS``,
    ``MAX_CAPACITY`` and ``MAX_ACTORS`` (the command line's)."""
    _int("repeat", config.repeat, 1, limits["MAX_REPEAT"])
    seconds = config.trial_seconds
    if isinstance(seconds, bool) or not isinstance(seconds, Real) or not (
        math.isfinite(seconds) and 0 <= seconds <= limits["MAX_TRIAL_SECONDS"]
    ):
        raise ValueError(f"trial_seconds must be a number from 0 to "
                         f"{limits['MAX_TRIAL_SECONDS']:g}, not {seconds!r}")
    _int("min_items", config.min_items, 1)
    _int("max_items", config.max_items, config.min_items)
    _int("uncontended_rounds", config.uncontended_rounds, 1)
    if not isinstance(config.quick, bool):
        raise TypeError(f"quick must be True or False, not {config.quick!r}")
    method = config.start_method
    if method is not None and method not in multiprocessing.get_all_start_methods():
        raise ValueError(f"start_method {method!r} is not available here; choose one of "
                         f"{', '.join(map(repr, multiprocessing.get_all_start_methods()))}")
    capacities = tuple(_int("capacities", c, 1, limits["MAX_CAPACITY"])
                       for c in _tuple("capacities", config.capacities))
    actors = []
    for pair in _tuple("actors", config.actors):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(
                tuple(pair)) != 2:
            raise TypeError(f"actors must hold (producers, consumers) pairs, not {pair!r}")
        actors.append(tuple(_int("actors", n, 1, limits["MAX_ACTORS"]) for n in pair))
    sizes = tuple(_int("item_sizes", s, 1, MAX_ITEM_SIZE)
                  for s in _tuple("item_sizes", config.item_sizes))
    # Each value is a column of points: given twice, it would be measured and printed twice.
    for name, values in (("capacities", capacities), ("actors", actors), ("item_sizes", sizes)):
        if len(set(values)) != len(values):
            raise ValueError(f"{name} names a value more than once: give each once")
    return {
        "capacities": capacities,
        "actors": tuple(actors),
        "backends": tuple(dict.fromkeys(_backend(b) for b in _tuple("backends",
                                                                     config.backends))),
        "item_sizes": sizes,
    }
