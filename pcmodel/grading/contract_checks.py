"""Graded checks of a thread buffer's contract with inputs chosen to break the usual shortcuts.

The other buffer checks watch put() and get() block and race; these ask whether the buffer keeps
its promise for *any* item and *any* number of buffers, and whether it waits for as long as it
takes:

- **Any item** (:func:`check_any_items`): ``None``, falsy values, equal-but-distinct objects, an
  object whose ``__eq__`` says yes to everything and which cannot be hashed, integers beyond 64
  bits, a lock (which cannot be pickled), a megabyte of bytes, and one object put twice while
  the first copy is still inside. Each must come out as the very object put in (``is``, not
  ``==``), so a ring that marks empty slots with ``None``, a buffer that finds items by equality
  or one that skips an object it already holds shows. The buffer must also let go of what it
  handed out.
- **Several buffers at once**, of different capacities, used in interleaved order: state kept in
  class attributes or module globals shows as items crossing from one buffer to the other.
- **Waiting as long as it takes** (:func:`check_waits_without_timeout`): under
  :mod:`pcmodel.sched`'s virtual clock a blocked get() (or put()) waits for an hour, longer than
  any timeout a student might hard-code, at no real cost; it must neither give up, nor wake up
  on a timer, and it must return at once when the item (or the room) arrives.

Each check is a scenario over the live harness :class:`OddItems` (run in a child on the
student's code) replayed in the grader on what the child observed
(:func:`pcmodel.grading.replay.judge`): the child reports which object came out (its position
in the grader's list of items, compared by identity there), the grader decides.
"""

from __future__ import annotations

import gc
import random
import threading
import time
import weakref
from collections import deque
from functools import partial
from typing import Any

from pcmodel.grading.checks import Problem, fail_on, problem
from pcmodel.grading.crew import Crew, Worker, patience
from pcmodel.grading.hints import hinted
from pcmodel.grading.isolation import describe_exception
from pcmodel.grading.probes import (
    load_impl,
)
from pcmodel.grading.replay import judge, shape

__all__ = ["OddItems", "check_any_items", "check_waits_without_timeout", "odd_items"]

_STALL = 2.0
_HOUR = 3600.0  # virtual seconds a blocked call waits: longer than any hard-coded timeout
_CAPACITIES = (3, 5)




class AlwaysEqual:
    """Equal to everything and unhashable: finding items by ``==`` or in a set breaks."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "<object equal to everything>"


class Token:
    """A plain object that can be watched with a weak reference."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Token({self.n})"


def odd_items() -> list[Any]:
    """Items that break the usual shortcuts, each a distinct object where Python allows."""
    return [None, 0, False, "", [], [], AlwaysEqual(), 2**70, -(2**65), 10**30 + 1,
            threading.Lock(), bytes(1_000_000), (), 0.0, float("nan"), Token(-1)]


_SHOWN = None  # the items as the report shows them, computed once


def _show(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 40 else f"{text[:30]}... ({type(item).__name__})"


def _show_index(index: int) -> str:
    global _SHOWN
    if _SHOWN is None:
        _SHOWN = [_show(item) for item in odd_items()]
    return _SHOWN[index]


def item_ops(steps: int, seed: int) -> list[tuple[int, str, int]]:
    """The seeded interleaved use of two buffers: ``(buffer, "put", item index)`` or
    ``(buffer, "get", index of the item expected)``, items indexing :func:`odd_items` (cycled),
    never a put on a full buffer or a get on an empty one. Every fourth put into a buffer that
    is not empty puts again the very object put into it last, still inside: a queue may hold
    one object twice, and a buffer that skips an item it already holds loses it."""
    rng = random.Random(seed)
    models: list[deque[int]] = [deque() for _ in _CAPACITIES]
    pool = len(odd_items())
    ops: list[tuple[int, str, int]] = []
    n = puts = 0
    for _ in range(steps):
        b = rng.randrange(2)
        model, capacity = models[b], _CAPACITIES[b]
        if model and (len(model) == capacity or rng.random() < 0.45):
            ops.append((b, "get", model.popleft()))
            continue
        puts += 1
        if model and puts % 4 == 0:
            index = model[-1]
        else:
            index, n = n % pool, n + 1
        ops.append((b, "put", index))
        model.append(index)
    return ops


class OddItems:
    """The live harness: the student's buffers fed the odd items, observed as data."""

    SHAPES = {
        "use_in_turn": shape.record(got=shape.list_of(shape.record(
            index=shape.int, equal=shape.bool, shown=shape.str)),
            done=shape.int, stuck=shape.bool, error=shape.str),
        "lets_go": shape.record(error=shape.str, kept=shape.bool),
        "virtual_wait": shape.dict_of(shape.any),
    }

    def __init__(self, impl: str) -> None:
        self.module = load_impl(impl, "BoundedBuffer")
        self.source = self.module.__spec__.origin

    def use_in_turn(self, steps: int, seed: int) -> dict[str, Any]:
        """Run :func:`item_ops` on two fresh buffers in one worker; for each get, which item
        came out: its index in the items (by identity, -1 for none), whether it equals the
        expected one, and how it looks. Stops after the first get of an unexpected object."""
        buffers = [self.module.BoundedBuffer(c) for c in _CAPACITIES]
        pool = odd_items()
        got: list[dict[str, Any]] = []
        found: dict[str, Any] = {"error": "", "done": 0}

        def body(w: Worker) -> None:
            for b, op, index in item_ops(steps, seed):
                w.finished()  # progress: the stall clock restarts at every operation
                if op == "put":
                    buffers[b].put(pool[index])
                    found["done"] += 1
                    continue
                item = buffers[b].get()
                which = next((i for i, x in enumerate(pool) if x is item), -1)
                try:
                    equal = bool(item == pool[index])
                except Exception:  # noqa: BLE001 - an object whose == fails is not equal
                    equal = False
                got.append({"index": which, "equal": equal, "shown": _show(item)})
                found["done"] += 1
                if which != index:
                    return

        def run(w: Worker) -> None:
            try:
                body(w)
            except BaseException as exc:  # noqa: BLE001 - reported as an observation
                found["error"] = describe_exception(exc, self.source)

        crew = Crew(self.source, stillness=True)
        crew.start("main", run)
        stuck = bool(crew.wait(_STALL * patience()))
        return {"got": got, "done": found["done"], "stuck": stuck, "error": found["error"]}

    def lets_go(self) -> dict[str, Any]:
        """put(), put(), get() on a BoundedBuffer(2): is the item taken still referenced?"""
        buf = self.module.BoundedBuffer(2)
        token = Token(1)
        watch = weakref.ref(token)
        try:
            buf.put(token)
            del token
            buf.put(Token(2))
            buf.get()
        except BaseException as exc:  # noqa: BLE001 - reported as an observation
            return {"error": describe_exception(exc, self.source), "kept": False}
        gc.collect()
        return {"error": "", "kept": watch() is not None}

    def virtual_wait(self, side: str) -> dict[str, Any]:
        """Under the scheduler's virtual clock: a waiter blocks (get on empty / put on full), an
        hour passes, the main thread releases it. When each happened, what came out, the
        waiter's first timed wait, and how the run ended."""
        from pcmodel.sched import run_controlled

        module = self.module
        capacity = 2
        seen: dict[str, Any] = {}
        marker = Token(99)

        def waiter(buf: Any) -> None:
            if side == "get":
                seen["got"] = buf.get()
            else:
                buf.put(marker)
            seen["returned_at"] = time.monotonic()

        def program() -> None:
            buf = module.BoundedBuffer(capacity)
            if side == "put":
                for n in range(capacity):
                    buf.put(Token(n))
            other = threading.Thread(target=waiter, args=(buf,), name="W")
            other.start()
            time.sleep(_HOUR)  # virtual: no real time passes
            seen["released_at"] = time.monotonic()
            if side == "get":
                buf.put(marker)
            else:
                seen["first"] = buf.get()
            other.join()
            if side == "put":
                seen["rest"] = [buf.get() for _ in range(capacity)]

        schedule = run_controlled(program, strategy="dfs", allow_polling=True,
                                  max_steps=20_000, bind=[module])
        timed = [e for e in schedule.events if e.thread == "W" and (
            e.op in ("timed out on", "sleep") or e.detail.endswith("timed out"))]
        report: dict[str, Any] = {
            "returned_at": seen.get("returned_at"), "released_at": seen.get("released_at"),
            "timed": (f"{timed[0].op} {timed[0].obj} {timed[0].detail} at "
                      f"t={timed[0].clock:g} s") if timed else None,
            "failure": (f"{schedule.failure_kind.value}: "
                        + (schedule.message.splitlines()[0] if schedule.message else ""))
            if schedule.failure_kind is not None else None,
        }
        if side == "get":
            report["got_marker"] = seen.get("got") is marker
            report["got"] = _show(seen.get("got"))
        else:
            got = [seen.get("first"), *seen.get("rest", [])]
            report["order"] = [t.n if isinstance(t, Token) else -1 for t in got]
            report["got"] = ", ".join(_show(t) for t in got)
        return report


# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------


def _any_items(h: Any, steps: int, seed: int) -> Problem:
    seen = h.use_in_turn(steps, seed)
    ops = item_ops(steps, seed)
    setup = (f"two buffers A = BoundedBuffer({_CAPACITIES[0]}) and B = BoundedBuffer("
             f"{_CAPACITIES[1]}) used in turn, with items such as None, 0, False, '', "
             "equal-but-distinct lists, an object equal to everything, 2**70, a lock, and one "
             "object put twice")
    done = seen["done"]
    if not 0 <= done <= len(ops):
        raise ValueError("more operations than the sequence has")
    log: list[str] = []
    gets = iter(seen["got"])
    wrong = None
    inside = [0, 0]
    for b, op, index in ops[:done]:
        name = "AB"[b]
        if op == "put":
            inside[b] += 1
            log.append(f"{name}.put({_show_index(index)})")
            continue
        inside[b] -= 1
        got = next(gets)  # StopIteration: fewer gets observed than done (Malformed)
        log.append(f"{name}.get() -> {got['shown']}")
        if got["index"] != index:
            wrong = (name, index, got)
    if next(gets, None) is not None:
        raise ValueError("more gets observed than operations done")
    doing = ""
    if done < len(ops):
        b, op, index = ops[done]
        what = f"put({_show_index(index)})" if op == "put" else "get()"
        doing = f"{'AB'[b]}.{what} with {inside[b]} of {_CAPACITIES[b]} items inside"
    recent = "; ".join(log[-6:])
    if seen["stuck"]:
        return problem(
            f"put() to return while there is room and get() while there are items ({setup})",
            f"stuck in {doing} after: {recent}",
            "each buffer must keep its own state: instance attributes set in __init__, not class "
            "attributes or module globals")
    if seen["error"]:
        return problem(f"no exception ({setup})",
                        f"{seen['error']} during {doing} after: {recent}")
    if wrong is not None:
        name, index, got = wrong
        return problem(
            f"{name}.get() to return the very object put first, {_show_index(index)} ({setup})",
            f"{got['shown']}{' (an equal but different object)' if got['equal'] else ''} after: "
            f"{recent}",
            "store items as they are and hand them back in order; never test an item's value "
            "(None or 0 are items too), and keep each buffer's state in its own instance")
    if done != len(ops):
        raise ValueError("the sequence ended early without a reason")
    kept = h.lets_go()
    if kept["error"]:
        return problem("put(), put(), get() on a BoundedBuffer(2) to run", kept["error"])
    if kept["kept"]:
        return problem(
            "the buffer to drop its reference to an item once get() returned it",
            "the item taken is still referenced by the buffer: a slot was read but not cleared, "
            "so a large item stays in memory for as long as the buffer lives",
            "clear the slot you read (slots[head] = None) or remove the item from the storage")
    return None


def _virtual_wait(h: Any, side: str) -> Problem:
    seen = h.virtual_wait(side)
    call = "get() on an empty buffer" if side == "get" else "put() on a full buffer"
    release = "a put()" if side == "get" else "a get()"
    expected = (f"{call} to wait, without a timeout, until {release} {_HOUR:.0f} s (of the "
                "scheduler's virtual time) later, then return at once")
    returned_at = seen["returned_at"]
    if returned_at is not None and returned_at < _HOUR:
        what = f"returned {seen['got']}" if side == "get" else "returned"
        return problem(expected, f"it {what} after {returned_at:g} s, before {release}",
                        "do not give up after a timeout: wait until the state changes")
    if seen["timed"] is not None:
        return problem(
            expected,
            f"it woke up on a timer while nothing changed ({seen['timed']}): it polls",
            "@no-poll")
    if seen["failure"] is not None:
        return problem(expected, str(seen["failure"]))
    if returned_at != _HOUR:
        return problem(expected, f"it returned at t={returned_at} s, after "
                        f"{release} at t={seen['released_at']} s: it did not wake at once")
    if side == "get" and seen["got_marker"] is not True:
        return problem(f"{call} to return the item put", str(seen["got"]))
    if side == "put" and seen["order"] != [0, 1, 99]:
        return problem("the items in the order put: Token(0), Token(1), Token(99)",
                        str(seen["got"]))
    return None


# --- checks (run in the grader, one child process each) -----------------------------------------


def check_any_items(impl: str, steps: int = 160, seed: int = 12) -> None:
    """Two buffers of different capacities, used in turn, hand back the very objects put, in
    order, whatever they are (None, 0, objects equal to everything, huge ints, locks, one
    object put twice), and keep no reference to what they handed out."""
    fail_on(judge(_any_items, partial(OddItems, impl), steps, seed))


def check_waits_without_timeout(impl: str, *, style: str = "condition") -> None:
    """A get() on an empty buffer and a put() on a full one wait an hour of virtual time without
    giving up or polling, and return as soon as they are released."""
    with hinted(style):
        fail_on(judge(_virtual_wait, partial(OddItems, impl), "get"))
    with hinted(style):
        fail_on(judge(_virtual_wait, partial(OddItems, impl), "put"))
