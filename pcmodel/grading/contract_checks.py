"""Graded checks of a thread buffer's contract with inputs chosen to break the usual shortcuts.

The other buffer checks watch put() and get() block and race; these ask whether the buffer keeps
its promise for *any* item and *any* number of buffers, and whether it waits for as long as it
takes:

- **Any item** (:func:`check_any_items`): ``None``, falsy values, equal-but-distinct objects, an
  object whose ``__eq__`` says yes to everything and which cannot be hashed, integers beyond 64
  bits, a lock (which cannot be pickled), a megabyte of bytes. Each must come out as the very
  object put in (``is``, not ``==``), so a ring that marks empty slots with ``None`` or a
  buffer that finds items by equality shows. The buffer must also let go of what it handed out.
- **Several buffers at once**, of different capacities, used in interleaved order: state kept in
  class attributes or module globals shows as items crossing from one buffer to the other.
- **Waiting as long as it takes** (:func:`check_waits_without_timeout`): under
  :mod:`pcmodel.sched`'s virtual clock a blocked get() (or put()) waits for an hour, longer than
  any timeout a student might hard-code, at no real cost; it must neither give up, nor wake up
  on a timer, and it must return at once when the item (or the room) arrives.
"""

from __future__ import annotations

import gc
import random
import threading
import time
import weakref
from collections import deque
from typing import Any

from pcmodel.grading.checks import fail_on, run_check
from pcmodel.grading.crew import Crew, Worker, patience
from pcmodel.grading.hints import hinted
from pcmodel.grading.isolation import describe_exception
from pcmodel.grading.probes import load_impl

__all__ = ["check_any_items", "check_waits_without_timeout"]

_STALL = 2.0
_HOUR = 3600.0  # virtual seconds a blocked call waits: longer than any hard-coded timeout


def _problem(expected: str, got: str, hint: str = "") -> dict[str, str]:
    return {"expected": expected, "got": got, "hint": hint}


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


def _show(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 40 else f"{text[:30]}... ({type(item).__name__})"


def _any_items(impl: str, steps: int, seed: int) -> dict[str, str] | None:
    module = load_impl(impl, "BoundedBuffer")
    source = module.__spec__.origin
    rng = random.Random(seed)
    capacities = (3, 5)
    buffers = [module.BoundedBuffer(c) for c in capacities]
    models: list[deque[Any]] = [deque() for _ in capacities]
    pool = odd_items()
    log: list[str] = []
    found: dict[str, Any] = {}

    def body(w: Worker) -> None:
        n = 0
        for _ in range(steps):
            w.finished()  # progress: the stall clock restarts at every operation
            b = rng.randrange(2)
            buf, model, capacity = buffers[b], models[b], capacities[b]
            name = "AB"[b]
            if model and (len(model) == capacity or rng.random() < 0.45):
                found["doing"] = f"{name}.get() with {len(model)} of {capacity} items inside"
                got = buf.get()
                want = model.popleft()
                log.append(f"{name}.get() -> {_show(got)}")
                if got is not want:
                    found["wrong"] = (name, want, got)
                    return
            else:
                item = pool[n % len(pool)]
                n += 1
                found["doing"] = f"{name}.put({_show(item)}) with {len(model)} of {capacity} " \
                    "items inside"
                buf.put(item)
                model.append(item)
                log.append(f"{name}.put({_show(item)})")
        found["done"] = True

    def run(w: Worker) -> None:
        try:
            body(w)
        except BaseException as exc:  # noqa: BLE001 - reported as a finding
            found["error"] = describe_exception(exc, source)

    crew = Crew(source)
    crew.start("main", run)
    stuck = crew.wait(_STALL * patience())
    setup = (f"two buffers A = BoundedBuffer({capacities[0]}) and B = BoundedBuffer("
             f"{capacities[1]}) used in turn, with items such as None, 0, False, '', "
             "equal-but-distinct lists, an object equal to everything, 2**70 and a lock")
    recent = "; ".join(log[-6:])
    if stuck:
        return _problem(
            f"put() to return while there is room and get() while there are items ({setup})",
            f"stuck in {found.get('doing')} after: {recent}",
            "each buffer must keep its own state: instance attributes set in __init__, not class "
            "attributes or module globals")
    if "error" in found:
        return _problem(f"no exception ({setup})",
                        f"{found['error']} during {found.get('doing')} after: {recent}")
    if "wrong" in found:
        name, want, got = found["wrong"]
        return _problem(
            f"{name}.get() to return the very object put first, {_show(want)} ({setup})",
            f"{_show(got)}{' (an equal but different object)' if got == want else ''} after: "
            f"{recent}",
            "store items as they are and hand them back in order; never test an item's value "
            "(None or 0 are items too), and keep each buffer's state in its own instance")
    return _lets_go(module, source)


def _lets_go(module: Any, source: str) -> dict[str, str] | None:
    """A buffer keeps no reference to an item it handed out (as queue.Queue keeps none)."""
    buf = module.BoundedBuffer(2)
    token = Token(1)
    watch = weakref.ref(token)
    try:
        buf.put(token)
        del token
        buf.put(Token(2))
        buf.get()
    except BaseException as exc:  # noqa: BLE001 - reported as a finding
        return _problem("put(), put(), get() on a BoundedBuffer(2) to run",
                        describe_exception(exc, source))
    gc.collect()
    if watch() is not None:
        return _problem(
            "the buffer to drop its reference to an item once get() returned it",
            "the item taken is still referenced by the buffer: a slot was read but not cleared, "
            "so a large item stays in memory for as long as the buffer lives",
            "clear the slot you read (slots[head] = None) or remove the item from the storage")
    return None


def _virtual_wait(impl: str, side: str) -> dict[str, str] | None:
    from pcmodel.sched import run_controlled

    module = load_impl(impl, "BoundedBuffer")
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

    schedule = run_controlled(program, strategy="dfs", allow_polling=True, max_steps=20_000,
                              bind=[module])
    call = "get() on an empty buffer" if side == "get" else "put() on a full buffer"
    release = "a put()" if side == "get" else "a get()"
    timed = [e for e in schedule.events if e.thread == "W" and (
        e.op in ("timed out on", "sleep") or e.detail.endswith("timed out"))]
    expected = (f"{call} to wait, without a timeout, until {release} {_HOUR:.0f} s (of the "
                "scheduler's virtual time) later, then return at once")
    if "returned_at" in seen and seen["returned_at"] < _HOUR:
        what = f"returned {_show(seen['got'])}" if side == "get" else "returned"
        return _problem(expected, f"it {what} after {seen['returned_at']:g} s, before {release}",
                        "do not give up after a timeout: wait until the state changes")
    if timed:
        first = timed[0]
        return _problem(
            expected,
            f"it woke up on a timer while nothing changed ({first.op} {first.obj} "
            f"{first.detail} at t={first.clock:g} s): it polls",
            "@no-poll")
    if schedule.failure_kind is not None:
        head = schedule.message.splitlines()[0] if schedule.message else ""
        return _problem(expected, f"{schedule.failure_kind.value}: {head}")
    if seen.get("returned_at") != _HOUR:
        return _problem(expected, f"it returned at t={seen.get('returned_at')} s, after "
                        f"{release} at t={seen.get('released_at')} s: it did not wake at once")
    if side == "get" and seen.get("got") is not marker:
        return _problem(f"{call} to return the item put", _show(seen.get("got")))
    if side == "put":
        got = [seen.get("first"), *seen.get("rest", [])]
        if [getattr(t, "n", t) for t in got] != [0, 1, 99]:
            return _problem("the items in the order put: Token(0), Token(1), Token(99)",
                            ", ".join(_show(t) for t in got))
    return None


# --- checks (run in the grader, one child process each) -----------------------------------------


def check_any_items(impl: str, steps: int = 160, seed: int = 12) -> None:
    """Two buffers of different capacities, used in turn, hand back the very objects put, in
    order, whatever they are (None, 0, objects equal to everything, huge ints, locks), and keep
    no reference to what they handed out."""
    fail_on(run_check(_any_items, impl, steps, seed))


def check_waits_without_timeout(impl: str, *, style: str = "condition") -> None:
    """A get() on an empty buffer and a put() on a full one wait an hour of virtual time without
    giving up or polling, and return as soon as they are released."""
    with hinted(style):
        fail_on(run_check(_virtual_wait, impl, "get"))
    with hinted(style):
        fail_on(run_check(_virtual_wait, impl, "put"))
