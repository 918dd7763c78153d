"""Graded checks for exercise 04 that stop a process before each line of put() or get() in
turn, while another process calls the buffer: the races that free-running processes hit only in
some gradings, made certain (see :mod:`pcmodel.grading.process_stepping`, which steps them).

* two put()s at once: both items come out, whatever the line the first was stopped at (a
  buffer without a mutex fails in every grading);
* a get() from a full buffer while another process puts: the items come out in the order put
  (a get() that frees its slot before reading it fails);
* a put() into an empty buffer while another process calls get(): the get() returns the item
  put (a put() that signals its item before writing the slot fails);
* two get()s at once from a buffer holding two items: each returns one of them (a get() without
  the mutex fails);
* in the two put()s, a get() made once the second put() returned, while the first is still
  stopped, returns an item put (a put() that writes its slot after letting the mutex go fails).

Each scenario runs in the check's child on the student's code
(:class:`~pcmodel.grading.process_harness.ProcessBuffers`) and is judged here, in the grader,
on what the child saw (:func:`pcmodel.grading.replay.judge`).
"""

from __future__ import annotations

import secrets
from functools import partial
from typing import Any

from pcmodel.grading.checks import CheckFailed, Problem, fail_on, problem
from pcmodel.grading.process_harness import ProcessBuffers
from pcmodel.grading.process_stepping import MOST_ROUNDS
from pcmodel.grading.replay import judge
from pcmodel.grading.thread_harness import shown

__all__ = ["check_stepped_gets", "check_stepped_put_get", "check_stepped_puts", "item_base",
           "judged", "stepped_gets_once", "stepped_put_get_once", "stepped_puts_once",
           "stepped_two_gets_once"]


def item_base() -> int:
    """A number to offset a scenario's items by, drawn anew for each grading, so that a file
    cannot know the items it will be given."""
    return (1 + secrets.randbelow(100)) * 10_000_000


def judged(scenario: Any, impl: str, *args: Any) -> None:
    """Run ``scenario`` of the harness on ``impl`` and raise CheckFailed for what it found."""
    fail_on(judge(scenario, partial(ProcessBuffers, impl), *args))


def _exception_in(ends: tuple[list[Any] | None, ...], setup: str, where: str,
                  call: str = "") -> Problem:
    """The problem "no exception" if one of a stepped round's calls raised: the first of
    ``ends`` (each call's ``[outcome, detail]``, None for a call not made) that is
    ``["error", text]``, told as ``call`` + text + ``where`` (if any); None when no call
    raised."""
    for end in ends:
        if end is not None and end[0] == "error":
            told = f"{call}{end[1]} {where}" if where else f"{call}{end[1]}"
            return problem(f"no exception ({setup})", told, "")
    return None


def _round_opening(entry: dict[str, Any], items: list[int], chosen: list[int], setup: str,
                   where: str, stopped: str, raised: str = "") -> Problem:
    """What every stepped round must show before its scenario's own checks, in this order:

    * ``items`` (the round's) are ``chosen``, the grader's; else ValueError (observations the
      grader did not ask for);
    * the controller's puts that fill the buffer first, in the rounds that make them, returned;
    * no call of the round raised: the first that did (the stopped call A held, B while A was
      held, then how A and B ended) is told with ``raised`` before its text and ``where``
      after it;
    * A, the call stopped before one of its lines (``stopped``, e.g. "put() into an empty
      buffer"), was held there or finished before reaching it.

    Returns the first problem found, or None: the round's calls all went on without raising,
    and A's outcome (``entry["a_held"]``) is ``["held", line]`` or ``["done", result]``."""
    if items != chosen:
        raise ValueError("items the grader did not choose")
    if not entry.get("filled", True):
        return problem("2 puts into an empty buffer of capacity 2 to return", "put() blocked", "")
    held = entry["a_held"]
    outcome = held[0]  # A's call was made: observations without it do not fit (TypeError)
    found = _exception_in((held, entry["b_while"], entry["a_end"], entry["b_end"]), setup,
                          where, raised)
    if found is not None:
        return found
    if outcome not in ("held", "done"):
        return problem(f"{stopped} to return ({setup})", "it did not return", "")
    return None



# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------


def _stepped(h: Any, method: str, base: int) -> Problem:
    """Two put()s at once, the first stopped before each line of put() in turn: both items
    must come out, whatever the line (see :mod:`pcmodel.grading.process_stepping`)."""
    seen = h.stepped(method, base)
    setup = f"2 producer processes ({method}) putting at once into a buffer of capacity 2"
    if not seen["started"]:
        return problem(f"the producer processes to start ({setup})",
                        "they did not start", "")
    for n, entry in enumerate(seen["rounds"]):
        items, held = entry["items"], entry["a_held"]
        where = (f"while the first put() was stopped before line {held[1]} of your file"
                 if held[0] == "held" else "")
        opening = _round_opening(entry, items, [base + 2 * n + 1, base + 2 * n + 2], setup,
                                 where, "put() into an empty buffer", "put() raised ")
        if opening is not None:
            return opening
        if held[0] == "done":
            if entry["got"] != items[:1]:
                return problem(f"get() to return {items[0]}, the one item put ({setup})",
                                f"{repr(entry['got'])}", "")
            return None  # every line of put() was a stopping point once
        if entry["a_end"][0] != "done" or entry["b_end"][0] != "done":
            return problem(f"both put()s to finish once the first went on ({setup})",
                            f"one of them never returned {where}", "")
        got = entry["got"]
        if sorted(x for x in got if isinstance(x, int)) != items or len(got) != 2:
            return problem(
                f"two get()s to return the two items put, {items[0]} and {items[1]} ({setup})",
                f"they returned {repr(got)} {where}, and the second put() ran meanwhile",
                "protect the slots and both indices with one lock from ctx, shared by "
                "every process")
    if len(seen["rounds"]) < MOST_ROUNDS:
        raise ValueError("the rounds ended without a reason")
    return None


def _stepped_gets(h: Any, method: str, base: int) -> Problem:
    """A get() from a full buffer stopped before each line of get() in turn while another
    process puts a third item: the three items must come out in the order put, whatever the
    line (see :mod:`pcmodel.grading.process_stepping`)."""
    seen = h.stepped_gets(method, base)
    setup = (f"a consumer process ({method}) taking from a full buffer of capacity 2 while a "
             "producer process puts a third item")
    if not seen["started"]:
        return problem(f"the consumer and producer processes to start ({setup})",
                        "they did not start", "")
    for n, entry in enumerate(seen["rounds"]):
        items, held = entry["items"], entry["a_held"]
        # A get() that raised on its way to the line it was to stop at was never stopped.
        where = (f"while the get() was stopped before line {held[1]} of your file"
                 if held is not None and held[0] == "held" else "in the get() on a full buffer")
        opening = _round_opening(entry, items, [base + 3 * n + k for k in (1, 2, 3)], setup,
                                 where, "get() on a full buffer")
        if opening is not None:
            return opening
        if held[0] == "done":
            got = [held[1], *entry["got"]]
            if got != items[:2]:
                return problem(f"get() to return {items[0]}, then {items[1]} ({setup})",
                                ", ".join(shown(x) for x in got), "")
            return None  # every line of get() was a stopping point once
        if entry["a_end"][0] != "done":
            return problem(f"the stopped get() to return once it went on ({setup})",
                            f"it never returned {where}", "")
        if entry["b_end"][0] != "done":
            return problem(f"the put() to return once the get() freed a slot ({setup})",
                            f"it never returned {where}", "")
        got = [entry["a_end"][1], *entry["got"]]
        if got != items:
            return problem(
                f"the stopped get() to return {items[0]}, the oldest, and the next two "
                f"{items[1]} and {items[2]} ({setup})",
                f"they returned {', '.join(shown(x) for x in got)} {where}, and the put() ran "
                "meanwhile",
                # Known cause only when the third item took the oldest one's place.
                "a get() may give its slot back (release the free-slots semaphore) only after "
                "it has read the item and moved the index, under the mutex"
                if items[0] not in got and items[2] in got[:2] else "")
    if len(seen["rounds"]) < MOST_ROUNDS:
        raise ValueError("the rounds ended without a reason")
    return None


def _stepped_two_gets(h: Any, method: str, base: int) -> Problem:
    """Two get()s at once from a buffer holding two items, the first stopped before each line
    of get() in turn: each must return one of the two items, whatever the line (see
    :mod:`pcmodel.grading.process_stepping`)."""
    seen = h.stepped_two_gets(method, base)
    setup = (f"2 consumer processes ({method}) taking at once from a buffer of capacity 2 that "
             "holds 2 items")
    if not seen["started"]:
        return problem(f"the consumer processes to start ({setup})", "they did not start", "")
    for n, entry in enumerate(seen["rounds"]):
        items, held = entry["items"], entry["a_held"]
        where = (f"while the first get() was stopped before line {held[1]} of your file"
                 if held is not None and held[0] == "held" else "in a get() from a full buffer")
        opening = _round_opening(entry, items, [base + 2 * n + 1, base + 2 * n + 2], setup,
                                 where, "get() from a full buffer", "get() raised ")
        if opening is not None:
            return opening
        if held[0] == "done":
            got = [held[1], *entry["got"]]
            if got != items:
                return problem(f"get() to return {items[0]}, then {items[1]} ({setup})",
                                ", ".join(shown(x) for x in got), "")
            return None  # every line of get() was a stopping point once
        if entry["a_end"][0] != "done" or entry["b_end"][0] != "done":
            return problem(f"both get()s to finish once the first went on ({setup})",
                            f"one of them never returned {where}", "")
        got = [entry["a_end"][1], entry["b_end"][1]]
        if sorted(x for x in got if isinstance(x, int)) != items or len(got) != 2:
            return problem(
                f"the two get()s to return the two items, {items[0]} and {items[1]}, one "
                f"each ({setup})",
                f"they returned {', '.join(shown(x) for x in got)} {where}, and the second "
                "get() ran meanwhile",
                "read the slot and move the index under one lock from ctx, shared by every "
                "process, in get() as in put()")
    if len(seen["rounds"]) < MOST_ROUNDS:
        raise ValueError("the rounds ended without a reason")
    return None


def _stepped_put_get(h: Any, method: str, base: int) -> Problem:
    """A put() into an empty buffer stopped before each line of put() in turn while another
    process calls get(): the get() must return the item put, whatever the line (see
    :mod:`pcmodel.grading.process_stepping`)."""
    seen = h.stepped_put_get(method, base)
    setup = (f"a producer process ({method}) putting into an empty buffer of capacity 2 while "
             "a consumer process calls get()")
    if not seen["started"]:
        return problem(f"the producer and consumer processes to start ({setup})",
                        "they did not start", "")
    for n, entry in enumerate(seen["rounds"]):
        item, held = entry["item"], entry["a_held"]
        where = (f"while the put() was stopped before line {held[1]} of your file"
                 if held[0] == "held" else "after the put() returned" if held[0] == "done"
                 else "in the put() into an empty buffer")
        opening = _round_opening(entry, [item], [base + n + 1], setup, where,
                                 "put() into an empty buffer")
        if opening is not None:
            return opening
        if entry["a_end"][0] != "done":
            return problem(f"the stopped put() to return once it went on ({setup})",
                            f"it never returned {where}", "")
        got = entry["b_end"]
        if got[0] != "done":
            return problem(f"get() to return once the put() finished ({setup})",
                            f"it never returned {where}", "")
        if got[1] != item:
            early = entry["b_while"] is not None and entry["b_while"][0] == "done"
            return problem(
                f"get() to return {item}, the item put ({setup})",
                f"it returned {shown(got[1])} {where}" + (
                    ", before the put() had finished" if early else ""),
                # Known cause only when the get() went through while the put() was stopped.
                "a put() may signal its item (release the items semaphore) only after it has "
                "written the slot and moved the index, under the mutex" if early else "")
        if held[0] == "done":
            return None  # every line of put() was a stopping point once
    if len(seen["rounds"]) < MOST_ROUNDS:
        raise ValueError("the rounds ended without a reason")
    return None


# --- checks (run in the grader, one child process each) -----------------------------------------


def check_stepped_puts(impl: str, method: str = "spawn") -> None:
    """Two put()s at once, the first stopped before each line of put() in turn while the second
    runs: both items come out, whatever the line (see :mod:`pcmodel.grading.process_stepping`).
    A buffer without a mutex fails this in every grading."""
    judged(_stepped, impl, method, item_base())


# The verdicts of the stepped get()s and of the stepped put() against a get(), per scenario and
# file graded in this process. A scenario's outcome is fixed by the file, so every check of a
# grading that needs it (the transfer checks, the busy-waiting check, and each of their
# --grade-repeat rounds) shares one run of it instead of paying about a second each time.
_STEPPED: dict[tuple[Any, str], Problem | CheckFailed] = {}


def _verdict_once(scenario: Any, impl: str) -> Problem:
    key = (scenario, impl)
    if key not in _STEPPED:
        try:
            _STEPPED[key] = judge(scenario, partial(ProcessBuffers, impl), "fork",
                                  item_base())
        except CheckFailed as failed:
            _STEPPED[key] = failed
    outcome = _STEPPED[key]
    if isinstance(outcome, CheckFailed):
        raise outcome
    return outcome


def stepped_gets_once(impl: str) -> None:
    """The stepped get() scenario on ``impl`` (see :func:`check_stepped_gets`), run once per
    file in this process and its verdict shared by the checks that need it; raises
    CheckFailed."""
    fail_on(_verdict_once(_stepped_gets, impl))


def stepped_puts_once(impl: str) -> None:
    """The two stepped put()s on ``impl`` (see :func:`check_stepped_puts`), under fork, run once
    per file in this process; raises CheckFailed."""
    fail_on(_verdict_once(_stepped, impl))


def stepped_two_gets_once(impl: str) -> None:
    """The two stepped get()s on ``impl`` (see :func:`_stepped_two_gets`), under fork, run once
    per file in this process; raises CheckFailed."""
    fail_on(_verdict_once(_stepped_two_gets, impl))


def stepped_put_get_once(impl: str) -> None:
    """The stepped put() against a get() on ``impl`` (see :func:`check_stepped_put_get`), run
    once per file in this process; raises CheckFailed."""
    fail_on(_verdict_once(_stepped_put_get, impl))


def check_stepped_gets(impl: str, method: str = "fork") -> None:
    """A get() from a full buffer stopped before each line of get() in turn while another
    process puts: the items come out in the order put, whatever the line (see
    :mod:`pcmodel.grading.process_stepping`). A get() that frees its slot before reading it
    fails this in every grading."""
    judged(_stepped_gets, impl, method, item_base())


def check_stepped_put_get(impl: str, method: str = "fork") -> None:
    """A put() into an empty buffer stopped before each line of put() in turn while another
    process calls get(): the get() returns the item put, whatever the line (see
    :mod:`pcmodel.grading.process_stepping`). A put() that signals its item before writing the
    slot fails this in every grading."""
    judged(_stepped_put_get, impl, method, item_base())
