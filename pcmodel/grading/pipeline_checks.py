"""Graded checks for exercise 03: a producer/consumer pipeline that shuts down cleanly.

The student writes ``run_pipeline(sources, handle, consumers, capacity)``. Each check is a
scenario of calls through the live harness :class:`~pcmodel.grading.pipeline_harness.Pipelines`
(run in the check's child process on the student's code), replayed in the grader on what the
child observed (:func:`pcmodel.grading.replay.judge`): which items were handled (by identity,
as positions in the grader's list), what was raised (the exceptions the grader planted, by
name), which threads were left running and where, the queues made. The verdicts are the
grader's.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from pcmodel.grading.checks import Problem, fail_on, problem
from pcmodel.grading.pipeline_harness import Pipelines, odd_items, sources
from pcmodel.grading.replay import judge

__all__ = [
    "check_bounded",
    "check_edge_cases",
    "check_everything_once",
    "check_first_error",
    "check_handler_error",
    "check_order_single_consumer",
    "check_parallel_consumers",
    "check_source_error",
    "check_validation",
    "odd_items",
]




def _items(data: list[Any]) -> list[Any]:
    made = sources(*data[1:]) if data[0] == "sources" else [list(s) for s in data[1]]
    return [x for s in made for x in s]


def _flat(data: list[Any], positions: list[tuple[int, int]] | None = None) -> list[int]:
    """Indices into :func:`_items` of the items at ``positions`` (default: all)."""
    made = sources(*data[1:]) if data[0] == "sources" else [list(s) for s in data[1]]
    starts = [sum(len(s) for s in made[:i]) for i in range(len(made))]
    if positions is None:
        return list(range(sum(len(s) for s in made)))
    return [starts[s] + n for s, n in positions]


def _all_of(count: int, items: int, which: dict[int, range] | None = None) -> list[int]:
    """Indices of the items of ``sources(count, items)``, optionally only ``which[s]``."""
    return [s * items + n for s in range(count)
            for n in (which or {}).get(s, range(items))]


def _hung(seen: dict[str, Any]) -> Problem:
    if not seen["stuck"]:
        return None
    where = "; ".join(seen["alive"]) or "no other thread"
    return problem(
        "run_pipeline() to return once every item was handled",
        f"it did not return (it is at {seen['at']}); threads still running: {where}; "
        f"{len(seen['handled'])} items handled",
        "send one end-of-stream marker per consumer after ALL producers finished, and join "
        "every thread; a consumer that stops early leaves producers blocked on a full queue",
    )


def _leftovers(seen: dict[str, Any]) -> Problem:
    if not seen["alive"]:
        return None
    return problem(
        "every thread the pipeline started to have finished when run_pipeline() returns",
        f"still running: {'; '.join(seen['alive'])}",
        "join() every producer and consumer thread before returning (daemon threads are "
        "not a shutdown protocol)",
    )


def _failed(seen: dict[str, Any]) -> Problem:
    if seen["failed"]:
        return problem("run_pipeline() to run", seen["failed"], "")
    return None


def _trouble(seen: dict[str, Any]) -> Problem:
    return _hung(seen) or _failed(seen)


def _raised(seen: dict[str, Any]) -> str:
    if seen["raised"] is None:
        return "it returned normally"
    return f"it raised {seen['raised']['repr']}"


def _returned(seen: dict[str, Any]) -> Problem:
    if seen["raised"] is not None:
        return problem("run_pipeline() to return normally", _raised(seen), "")
    return None


def _missing(expected: list[int], seen: dict[str, Any], data: list[Any]) -> Problem:
    items = _items(data)
    handled = seen["handled"]
    if any(not -1 <= i < len(items) for i in handled):
        raise ValueError("an item index out of range")
    counts = Counter(handled)
    lost = [items[i] for i in expected if counts[i] == 0]
    wanted = set(expected)
    twice = [items[i] for i in expected if counts[i] > 1]
    stranger = [i for i in handled if i not in wanted][:1]
    twice += ["<an object that is none of the items>" if i == -1 else items[i]
              for i in stranger]
    if lost or twice:
        bits = []
        if lost:
            bits.append(f"{len(lost)} items never handled, e.g. {lost[:4]}")
        if twice:
            bits.append(f"items handled twice: {twice[:4]}")
        return problem(
            f"each of the {len(expected)} items handled exactly once",
            "; ".join(bits),
            "",  # many causes lose or repeat items: the list above is what was seen
        )
    return None


# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------


def _everything(h: Any, count: int, items: int, consumers: int, capacity: int) -> Problem:
    data = ["sources", count, items, True]
    seen = h.run(data, consumers, capacity, {"slow_start": True})  # see _source_error
    return _trouble(seen) or _returned(seen) or _missing(_flat(data), seen, data)


def _threads_finished(h: Any) -> Problem:
    data = ["sources", 2, 20, False]
    # Slow sources (see _source_error): end markers sent before the producers finished come
    # before every item, so such a pipeline shows it here in every run, not only in some.
    seen = h.run(data, 3, 4, {"held_items": [[0, 19], [1, 19]], "slow_start": True})
    return _trouble(seen) or _leftovers(seen) or _returned(seen)


def _bounded(h: Any, capacity: int) -> Problem:
    seen = h.run(["sources", 4, 40, False], 2, capacity, {"slow_start": True})  # _source_error
    found = _trouble(seen)
    if found:
        return found
    if not seen["queues"]:
        return problem("the pipeline to create a queue.Queue(maxsize=capacity)",
                        "no queue.Queue was created", "connect producers and consumers with "
                        "queue.Queue(maxsize=capacity): import queue, then queue.Queue(...)")
    for maxsize, largest in seen["queues"]:
        if maxsize <= 0 or maxsize > capacity or largest > capacity:
            return problem(
                f"the queue to hold at most capacity={capacity} items",
                f"queue.Queue(maxsize={maxsize}) held up to {largest} items",
                "pass maxsize=capacity: an unbounded queue gives no backpressure",
            )
    return None


def _order(h: Any) -> Problem:
    data = ["sources", 1, 60, False]
    # The last item held (see _threads_finished): a pipeline that returns before its consumer
    # finished fails here in every run, not only when the timing cuts the order short. Slow
    # sources (see _source_error): on a loaded machine, a caller kept off the processor until
    # the 60 items had gone through sent its end marker after them, and passed.
    seen = h.run(data, 1, 3, {"held_items": [[0, 59]], "slow_start": True})
    found = _trouble(seen) or _leftovers(seen)
    want = _flat(data)
    if found is None and seen["handled"] != want:
        handled = seen["handled"]
        first = next(i for i, (a, b) in enumerate(zip(handled, want)) if a != b) \
            if len(handled) == len(want) else 0
        items = _items(data)
        shown = [items[i] if 0 <= i < len(items) else "<another object>"
                 for i in handled[first:first + 3]]
        found = problem("one source and one consumer to handle items in the source's order",
                         f"order differs at position {first}: {shown}",
                         "a FIFO queue between one producer and one consumer keeps the order")
    return found


def _source_error(h: Any) -> Problem:
    data = ["sources", 3, 12, False]
    # Slow sources: whatever the pipeline does before waiting for its producers, it does
    # before any item exists, in every run (end markers sent too early always come first).
    # A held item: a pipeline that raises before its consumers finished is seen doing so.
    seen = h.run(data, 2, 4, {"fail_source": [1, 5], "slow_start": True,
                              "held_items": [[2, 11]]})
    found = _trouble(seen)
    if found:
        return found
    if seen["raised"] is None or seen["raised"]["label"] != "source_failed":
        return problem(
            "run_pipeline() to raise the exception a source raised (after finishing the rest)",
            _raised(seen),
            "catch exceptions in each producer thread, remember the first, finish the "
            "shutdown, then re-raise it in the caller; exceptions in workers are never lost",
        )
    expected = _all_of(3, 12, {1: range(5)})
    return _leftovers(seen) or _missing(expected, seen, data)


def _handler_error(h: Any) -> Problem:
    data = ["sources", 2, 15, False]
    # Failures in several items, so that a consumer that dies on its first failure leaves the
    # queue with nobody (or too few) to take from it.
    seen = h.run(data, 3, 1, {"fail_items": [[0, 3], [1, 3], [0, 9], [1, 9]],
                              "held_items": [[0, 14]]})
    found = _trouble(seen)
    if found:
        return found
    if seen["raised"] is None or seen["raised"]["label"] != "handle_failed":
        return problem(
            "run_pipeline() to raise the exception handle() raised",
            _raised(seen),
            "catch exceptions around handle() in each consumer, keep consuming, and re-raise "
            "the first one after every thread finished",
        )
    return _leftovers(seen) or _missing(_flat(data), seen, data)


def _first_error(h: Any) -> Problem:
    """Two failures, one certainly before the other: run_pipeline() raises the first."""
    hint = ("remember every exception in the order they happen (a list under a lock) and raise "
            "the first one, after the shutdown")
    # A source fails; a second source fails only once the first one's producer has finished.
    data = ["sources", 3, 8, False]
    seen = h.run(data, 2, 4, {"hooks": "first_error", "held_items": [[2, 7]]})
    found = _trouble(seen)
    if found:
        return found
    if seen["raised"] is None or seen["raised"]["label"] != "first":
        return problem("run_pipeline() to raise the first exception, from source 0, when "
                        "source 1 fails later", _raised(seen), hint)
    expected = _all_of(3, 8, {0: range(2), 1: range(5)})
    found = _leftovers(seen) or _missing(expected, seen, data)
    if found:
        return found
    # The same function again, in the same process: nothing may be left from the first call.
    again = ["sources", 2, 10, False]
    seen = h.run(again, 3, 1, {"again": True})
    found = _trouble(seen)
    if found is None and seen["raised"] is not None:
        found = problem(
            "a second call of run_pipeline() in the same process, where nothing fails, to "
            "return normally", _raised(seen),
            "keep the errors, the queue and the threads of each call in local variables, not in "
            "module globals or class attributes that outlive the call")
    if found:
        return found
    found = _missing(_flat(again), seen, again)
    if found:
        found["got"] += " (in a second call of run_pipeline() in the same process)"
        return found
    # A source fails; handle() fails later, on an item given only once that producer finished.
    data = ["sources", 2, 8, False]
    seen = h.run(data, 2, 4, {"hooks": "source_then_handler", "fail_items": [[1, 5]]})
    found = _trouble(seen)
    if found:
        return found
    if seen["raised"] is None or seen["raised"]["label"] != "first":
        return problem("run_pipeline() to raise the first exception, from source 0, when "
                        "handle() fails later", _raised(seen), hint)
    found = _leftovers(seen) or _missing(_all_of(2, 8, {0: range(2)}), seen, data)
    if found:
        return found
    # handle() fails; a source fails only after that consumer has gone on to its next item.
    data = ["sources", 2, 10, False]
    seen = h.run(data, 1, 3, {"fail_items": [[0, 0]], "hooks": "late_source"})
    found = _trouble(seen)
    if found:
        return found
    if seen["raised"] is None or seen["raised"]["label"] != "handle_failed":
        return problem("run_pipeline() to raise the first exception, from handle(), when a "
                        "source fails later", _raised(seen), hint)
    expected = _all_of(2, 10, {1: range(3)})
    return _leftovers(seen) or _missing(expected, seen, data)


def _parallel(h: Any, consumers: int) -> Problem:
    return _parallel_consumers(h, consumers) or _parallel_producers(h, 2)


def _parallel_producers(h: Any, count: int) -> Problem:
    # Every source gives its second item only once all gave their first: read by one producer
    # thread each, they all get there; read one after the other (by the caller, or by one
    # thread), the first source waits for the others in vain.
    data = ["literal", [[["source", s, k] for k in range(3)] for s in range(count)]]
    seen = h.run(data, 2, 2, {"hooks": "sources_meet"})
    if seen["raised"] is not None and seen["raised"]["label"] == "alone":
        return problem(
            f"{count} sources to be read at the same time, each by its own producer thread",
            "a source waited for its next item while no other source was being read: the "
            "sources were read one after the other",
            "start one producer thread per source; a slow or endless source must not hold "
            "up the others")
    return _trouble(seen) or _returned(seen) or _missing(_flat(data), seen, data)


def _parallel_consumers(h: Any, consumers: int) -> Problem:
    data = ["literal", [[["item", k] for k in range(consumers)]]]
    # The source is slow to start, so that a pipeline that sends its end markers before the
    # producers finished sends them before the first item in every run, not only in some.
    seen = h.run(data, consumers, max(1, consumers - 1), {"barrier": consumers,
                                                          "slow_start": True})
    found = _trouble(seen)
    if found is None and seen["raised"] is not None:
        found = problem(
            f"{consumers} consumers to call handle() at the same time",
            f"run_pipeline() raised {seen['raised']['repr']}: handle() calls did not overlap",
            f"start {consumers} consumer threads, each calling handle() on the items it gets",
        )
    return found


def _edge_cases(h: Any) -> Problem:
    for lists, consumers, capacity in (([], 2, 1), ([[1, 2]], 5, 1), ([[], [7]], 1, 1)):
        data = ["literal", lists]
        seen = h.run(data, consumers, capacity, {"slow_start": True})  # see _source_error
        found = _trouble(seen) or _returned(seen) or _missing(_flat(data), seen, data)
        if found:
            found["got"] += f" [sources={lists}, consumers={consumers}, capacity={capacity}]"
            return found
    return None


def _validation(h: Any) -> Problem:
    # Negative values too: a check for zero alone (`== 0`, `not consumers`) lets -1 through,
    # and queue.Queue(maxsize=-1) is unbounded.
    cases = [[0, 2], [2, 0], [-1, 2], [2, -3]]
    seen = h.validate(cases)
    outcomes = seen["outcomes"]
    if not 1 <= len(outcomes) <= len(cases):
        raise ValueError("not one outcome per case")
    for (consumers, capacity), outcome in zip(cases, outcomes):
        if outcome == "ValueError":
            continue
        if outcome == "returned":
            return problem(f"consumers={consumers}, capacity={capacity} to raise ValueError",
                            "it returned", "validate the arguments before starting any thread")
        return problem(f"consumers={consumers}, capacity={capacity} to raise ValueError",
                        f"it {outcome}", "validate the arguments first")
    if len(outcomes) != len(cases):
        raise ValueError("the cases ended early without a reason")
    if seen["started"] != 0:
        return problem("no thread started for invalid arguments",
                        f"{seen['started']} threads were started",
                        "validate before starting threads")
    return None


# --- checks (run in the grader, one child process each) -----------------------------------------


def _check(scenario: Any, impl: str, *args: Any) -> None:
    fail_on(judge(scenario, partial(Pipelines, impl), *args))


def check_everything_once(impl: str, sources: int = 4, items: int = 30, consumers: int = 3,
                          capacity: int = 2) -> None:
    """Every item of every source is handled exactly once and run_pipeline() returns."""
    _check(_everything, impl, sources, items, consumers, capacity)


def check_threads_finished(impl: str) -> None:
    """No thread started by the pipeline is still running when it returns."""
    _check(_threads_finished, impl)


def check_bounded(impl: str, capacity: int = 2) -> None:
    """The pipeline uses a queue.Queue bounded by ``capacity``."""
    _check(_bounded, impl, capacity)


def check_order_single_consumer(impl: str) -> None:
    """With one source and one consumer, items are handled in order."""
    _check(_order, impl)


def check_source_error(impl: str) -> None:
    """A failing source: the rest is handled, then its exception is raised by run_pipeline()."""
    _check(_source_error, impl)


def check_handler_error(impl: str) -> None:
    """A failing handle(): every item is still handled once, then the exception is raised."""
    _check(_handler_error, impl)


def check_first_error(impl: str) -> None:
    """Of two failures, run_pipeline() raises the first; a second call in the same process
    starts clean."""
    _check(_first_error, impl)


def check_parallel_consumers(impl: str, consumers: int = 3) -> None:
    """``consumers`` consumer threads call handle() at the same time, and two sources are
    read at the same time, each by its own producer thread."""
    _check(_parallel, impl, consumers)


def check_edge_cases(impl: str) -> None:
    """No sources, more consumers than items, an empty source: all finish."""
    _check(_edge_cases, impl)


def check_validation(impl: str) -> None:
    """consumers < 1 or capacity < 1 raise ValueError before any thread starts."""
    _check(_validation, impl)
