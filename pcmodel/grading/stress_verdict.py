"""The verdict on one stress run of a thread buffer: exceptions, over capacity, lost or
duplicated items, threads stuck, items out of order.

:func:`stress_verdict` judges, in the grader, a record that
:meth:`~pcmodel.grading.thread_harness.ThreadBuffers.stress` or ``fill_up`` returned (what each
consumer got, the most items inside at one moment, who is stuck); it is called by the stress
scenario of :mod:`pcmodel.grading.buffer_checks`. Producer ``p`` put ``(p, base + k)`` for each
of its items, so the grader knows every item that may come out and in which order.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pcmodel.grading.checks import Problem, problem
from pcmodel.grading.thread_harness import describe_all, shown

__all__ = ["stress_verdict"]

_WAKE_HINT = "@wake"  # a hint key: see pcmodel.grading.hints




def stress_verdict(seen: dict[str, Any], producers: int, consumers: int, items: int,
                   capacity: int, base: int, how: str = "") -> Problem:
    """What is wrong with the run ``seen`` (a stress record) of ``producers`` x ``items``
    items, ``consumers`` consumers and ``capacity``, as a problem (expected / got / hint), or
    None. ``how`` says how the run was set up, for the report."""
    setup = (f"{_count(producers, 'producer')} x {_count(items, 'item')}, "
             f"{_count(consumers, 'consumer')}, capacity {capacity}")
    setup += f", {how}" if how else ""
    if seen["failed"]:
        return problem(f"no exception ({setup})", describe_all(seen["failed"]), "")
    if seen["most_inside"] > capacity:
        return problem(
            f"at most {capacity} items inside at any time ({setup})",
            f"{seen['most_inside']} items had been put and not yet taken at one moment",
            "recheck fullness in a while loop after every wake-up, under the lock",
        )
    if set(seen["consumed"]) != {f"consumer {c}" for c in range(consumers)}:
        raise ValueError("the consumers are not the ones started")
    consumed = [_key(item) for name in sorted(seen["consumed"]) for item in seen["consumed"][name]]
    counts = Counter(consumed)
    produced = {(p, base + k) for p in range(producers) for k in range(items)}
    strange = [x for x in counts if x not in produced]
    duplicated = [x for x, n in counts.items() if n > 1 and x in produced]
    if strange or duplicated:
        bits = []
        if strange:
            bits.append(f"items never put: {[_unkey(x) for x in strange[:5]]}")
        if duplicated:
            bits.append(f"items received twice: {duplicated[:5]}")
        return problem(
            f"each item put to be received exactly once ({setup})", "; ".join(bits),
            "protect every read and update of the storage and its indices with one mutex, "
            "and keep slot and index changes together inside it",
        )
    if seen["stuck"]:
        inside = seen["inside"]
        hint = ""  # only a lost wake-up has a known cause
        if seen["producers_done"] and inside > 0:
            why = f"{inside} items sit in the buffer while consumers wait: a wake-up was lost"
            hint = _WAKE_HINT
        elif seen["producers_done"]:
            why = "the consumers wait for items that were lost"
        else:
            why = "producers wait for space while consumers wait for items: deadlock"
        return problem(f"every thread to finish ({setup})",
                        f"{describe_all(seen['stuck'])}; {why}", hint)
    for name in sorted(seen["consumed"]):
        last: dict[int, int] = {}
        for item in seen["consumed"][name]:
            p, k = _key(item)
            if last.get(p, -1) > k:
                return problem(
                    f"each producer's items to come out in the order they were put ({setup})",
                    f"{name} got {(p, last[p])} before {(p, k)}",
                    "@fifo",
                )
            last[p] = k
    total = producers * items
    if len(consumed) != total:
        return problem(f"{total} items received", f"{len(consumed)}", "")
    return None


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _key(item: Any) -> Any:
    """A consumed item as a hashable key: ``(p, k)`` for a pair, else its text."""
    if (isinstance(item, list) and len(item) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in item)):
        return (item[0], item[1])
    return ("other", shown(item))


def _unkey(key: Any) -> Any:
    return key[1] if key[0] == "other" else key
