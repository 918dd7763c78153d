"""Graded checks for exercise 04: a bounded buffer shared between processes.

Each check is a scenario over the live harness
:class:`~pcmodel.grading.process_harness.ProcessBuffers` (run in the check's child process,
which starts the producer and consumer processes around the student's buffer), replayed in the
grader on the observations the child returned (:func:`pcmodel.grading.replay.judge`): what each
process received, who was stuck, the most items inside at one moment. The verdicts are the
grader's.

Shared memory left behind is the grader's own observation: the child reports which /dev/shm
files the buffer mapped, and once the check's processes are all dead the grader looks in
/dev/shm itself for what is still there (and removes it, so grading leaves nothing). Which files
the buffer mapped is the child's word; whether they are still there is not.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from functools import partial
from typing import Any

from pcmodel.grading.checks import CheckFailed, fail_on
from pcmodel.grading.process_harness import ProcessBuffers, edge_ops, shm_left, transfer_item
from pcmodel.grading.process_stepping import MOST_ROUNDS
from pcmodel.grading.replay import judge

__all__ = [
    "check_blocking",
    "check_interface",
    "check_no_busy_waiting",
    "check_sequence",
    "check_spawn",
    "check_stepped_gets",
    "check_stepped_put_get",
    "check_stepped_puts",
    "check_transfer",
]

Problem = dict[str, str] | None


def _problem(expected: str, got: str, hint: str) -> dict[str, str]:
    return {"expected": expected, "got": got, "hint": hint}


def _shown(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("object"), str):
        return value["object"]
    return repr(value)


def _exception_in(ends: tuple[list[Any] | None, ...], setup: str, where: str,
                  call: str = "") -> Problem:
    """The problem "no exception" if one of a stepped round's calls raised: the first of
    ``ends`` (each call's ``[outcome, detail]``, None for a call not made) that is
    ``["error", text]``, told as ``call`` + text + ``where``; None when no call raised."""
    for end in ends:
        if end is not None and end[0] == "error":
            return _problem(f"no exception ({setup})", f"{call}{end[1]} {where}", "")
    return None


# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------


def _interface(h: Any) -> Problem:
    capacity = h.capacity_of(3)
    if capacity != 3 or isinstance(capacity, bool):
        shown = "missing" if capacity == {"missing": True} else _shown(capacity)
        return _problem("BoundedBuffer(3, ctx).capacity == 3", f"capacity is {shown}",
                        "store the constructor argument as self.capacity")
    for bad in (0, -1):
        outcome = h.construct(bad)
        if outcome == "ValueError":
            continue
        if outcome.startswith("raised "):
            return _problem(f"BoundedBuffer({bad}, ctx) to raise ValueError",
                            outcome[len("raised "):], "validate capacity first")
        return _problem(f"BoundedBuffer({bad}, ctx) to raise ValueError", "it returned a buffer",
                        "validate capacity first: ValueError when capacity < 1")
    return None


def _sequence(h: Any, capacity: int, steps: int, seed: int) -> Problem:
    """A seeded non-blocking put/get sequence over two buffers of different capacities in one
    process, with 64-bit edge values, compared with a FIFO model of each."""
    capacities = (capacity, capacity + 2)
    seen = h.sequence(list(capacities), steps, seed)
    ops = edge_ops(capacities, steps, seed)
    done = seen["done"]
    if not 0 <= done <= len(ops):
        raise ValueError("more operations than the sequence has")
    setup = (f"two buffers A = BoundedBuffer({capacities[0]}, ctx) and B = BoundedBuffer("
             f"{capacities[1]}, ctx) used in turn, with items such as 0, -1, 2**63 - 1, -2**63")
    log: list[str] = []
    got = iter(seen["got"])
    inside = [0, 0]
    wrong = None
    for b, op, item in ops[:done]:
        name = "AB"[b]
        if op == "put":
            inside[b] += 1
            log.append(f"{name}.put({item})")
            continue
        inside[b] -= 1
        value = next(got)
        log.append(f"{name}.get()->{_shown(value)}")
        if value != item or isinstance(value, bool):
            wrong = (name, item, value)
    if next(got, None) is not None:
        raise ValueError("more gets observed than operations done")
    doing = None
    if done < len(ops):
        b, op, item = ops[done]
        what = f"put({item})" if op == "put" else "get()"
        doing = f"{'AB'[b]}.{what} with {inside[b]} of {capacities[b]} items inside"
    if seen["stuck"]:
        return _problem(f"put() to return while there is room, get() while there are items "
                        f"({setup})", f"stuck in {doing} after: {', '.join(log[-8:])}",
                        "each buffer keeps its own state, created in __init__ from ctx")
    if seen["error"]:
        return _problem(f"no exception ({setup})", f"{seen['error']} during {doing}")
    if wrong is not None:
        name, want, value = wrong
        return _problem(f"{name}.get() to return {want}, the oldest item ({setup})",
                        f"{_shown(value)} after: {', '.join(log[-8:])}",
                        "store items in a shared array of 64-bit integers ('q') and never "
                        "treat a value (0, -1) as an empty slot")
    if done != len(ops):
        raise ValueError("the sequence ended early without a reason")
    return None


def _transfer(h: Any, method: str, producers: int, consumers: int, items: int, capacity: int,
              noise: bool, seed: int, base: int) -> Problem:
    seen = h.transfer(method, producers, consumers, items, capacity, noise, seed, base)
    setup = (f"{producers} producer and {consumers} consumer processes ({method}), "
             f"{items} items each, capacity {capacity}")
    # Looked at by the grader once every process of the check is dead; in the child the
    # buffer's finalizers may still be running, and only the grader's look counts.
    left = shm_left(seen["shm"]) if h.in_grader else []
    if left:
        return _problem(
            f"nothing left in /dev/shm once the buffer is gone ({setup})",
            f"{len(left)} entries the buffer created are still there: {', '.join(left[:4])}",
            "create shared state only through ctx (ctx.Array, ctx.Value, ctx.Semaphore, "
            "ctx.Lock), which cleans up after itself; unlink any SharedMemory you create")
    names = {f"consumer {c}" for c in range(consumers)} | {f"producer {p}"
                                                           for p in range(producers)}
    reports = seen["reports"]
    stuck = seen["stuck"]
    if not set(reports) <= names or set(stuck) != names - set(reports):
        raise ValueError("reports from processes that were not started")
    for report in reports.values():
        if len(report) != 2 or report[0] not in ("done", "error"):
            raise ValueError("a process report that is neither done nor error")
    errors = [f"{name} raised {data}" for name, (kind, data) in sorted(reports.items())
              if kind == "error"]
    if errors:
        return _problem(f"no exception ({setup})", "; ".join(errors),
                        "create every lock, semaphore and the storage from ctx, in __init__ "
                        "(ctx.Lock(), ctx.Semaphore(n), ctx.Array('q', capacity), ctx.Value('i'))")
    if stuck:
        return _problem(
            f"every process to finish ({setup})", f"stuck: {', '.join(sorted(stuck))}",
            "state in plain attributes (a list, an int) is copied into each process, not "
            "shared: keep slots and indices in ctx.Array / ctx.Value and the primitives from ctx",
        )
    level = seen["most_inside"]
    if level > capacity:
        return _problem(f"at most {capacity} items inside ({setup})",
                        f"{level} items had been put and not yet taken at one moment",
                        "wait for a free slot before writing")
    got = {name: data for name, (kind, data) in reports.items() if name.startswith("consumer")}
    counts = Counter(x for data in got.values() for x in data)
    wanted = {transfer_item(base, p, k) for p in range(producers) for k in range(items)}
    strange = [x for x in counts if x not in wanted]
    twice = [x for x, n in counts.items() if n > 1 and x in wanted]
    if strange or twice:
        bits = ([f"values never put: {strange[:4]}"] if strange else []) + (
            [f"items received twice: {twice[:4]}"] if twice else [])
        return _problem(f"each item received exactly once ({setup})", "; ".join(bits),
                        "protect the slots and both indices with one lock from ctx, shared by "
                        "every process")
    for name, data in sorted(got.items()):
        last: dict[int, int] = defaultdict(lambda: -1)
        for x in data:
            p, k = divmod(x - 1 - base, 1_000_000)
            if last[p] > k:
                return _problem(f"each producer's items in the order put ({setup})",
                                f"{name} got item {k} of producer {p} after item {last[p]}",
                                "take the oldest item: head and tail indices modulo capacity")
            last[p] = k
    if sum(counts.values()) != len(wanted):
        raise ValueError("every process finished, yet not every item was received")
    return None


def _stepped(h: Any, method: str, base: int) -> Problem:
    """Two put()s at once, the first stopped before each line of put() in turn: both items
    must come out, whatever the line (see :mod:`pcmodel.grading.process_stepping`)."""
    seen = h.stepped(method, base)
    setup = f"2 producer processes ({method}) putting at once into a buffer of capacity 2"
    if not seen["started"]:
        return _problem(f"the producer processes to start ({setup})",
                        "they did not start", "")
    for n, entry in enumerate(seen["rounds"]):
        items, held = entry["items"], entry["a_held"]
        if items != [base + 2 * n + 1, base + 2 * n + 2]:
            raise ValueError("items the grader did not choose")
        if held[0] == "done":
            if entry["got"] != items[:1]:
                return _problem(f"get() to return {items[0]}, the one item put ({setup})",
                                f"{_shown(entry['got'])}", "")
            return None  # every line of put() was a stopping point once
        where = f"while the first put() was stopped before line {held[1]} of your file"
        if held[0] == "error" or (entry["a_end"] and entry["a_end"][0] == "error"):
            error = held[1] if held[0] == "error" else entry["a_end"][1]
            return _problem(f"no exception ({setup})", f"put() raised {error}", "")
        if held[0] != "held":
            return _problem(f"put() into an empty buffer to return ({setup})",
                            "it did not return", "")
        raised = _exception_in((entry["b_while"], entry["a_end"], entry["b_end"]), setup,
                               where, "put() raised ")
        if raised is not None:
            return raised
        if entry["a_end"][0] != "done" or entry["b_end"][0] != "done":
            return _problem(f"both put()s to finish once the first went on ({setup})",
                            f"one of them never returned {where}", "")
        got = entry["got"]
        if sorted(x for x in got if isinstance(x, int)) != items or len(got) != 2:
            return _problem(
                f"two get()s to return the two items put, {items[0]} and {items[1]} ({setup})",
                f"they returned {_shown(got)} {where}, and the second put() ran meanwhile",
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
        return _problem(f"the consumer and producer processes to start ({setup})",
                        "they did not start", "")
    for n, entry in enumerate(seen["rounds"]):
        items = entry["items"]
        if items != [base + 3 * n + k for k in (1, 2, 3)]:
            raise ValueError("items the grader did not choose")
        if not entry["filled"]:
            return _problem("2 puts into an empty buffer of capacity 2 to return",
                            "put() blocked", "")
        held = entry["a_held"]
        if held[0] == "done":
            got = [held[1], *entry["got"]]
            if got != items[:2]:
                return _problem(f"get() to return {items[0]}, then {items[1]} ({setup})",
                                ", ".join(_shown(x) for x in got), "")
            return None  # every line of get() was a stopping point once
        # A get() that raised on its way to the line it was to stop at was never stopped.
        where = (f"while the get() was stopped before line {held[1]} of your file"
                 if held[0] == "held" else "in the get() on a full buffer")
        raised = _exception_in((held, entry["b_while"], entry["a_end"], entry["b_end"]), setup,
                               where)
        if raised is not None:
            return raised
        if held[0] != "held":
            return _problem(f"get() on a full buffer to return ({setup})",
                            "it did not return", "")
        if entry["a_end"][0] != "done":
            return _problem(f"the stopped get() to return once it went on ({setup})",
                            f"it never returned {where}", "")
        if entry["b_end"][0] != "done":
            return _problem(f"the put() to return once the get() freed a slot ({setup})",
                            f"it never returned {where}", "")
        got = [entry["a_end"][1], *entry["got"]]
        if got != items:
            return _problem(
                f"the stopped get() to return {items[0]}, the oldest, and the next two "
                f"{items[1]} and {items[2]} ({setup})",
                f"they returned {', '.join(_shown(x) for x in got)} {where}, and the put() ran "
                "meanwhile",
                # Known cause only when the third item took the oldest one's place.
                "a get() may give its slot back (release the free-slots semaphore) only after "
                "it has read the item and moved the index, under the mutex"
                if items[0] not in got and items[2] in got[:2] else "")
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
        return _problem(f"the producer and consumer processes to start ({setup})",
                        "they did not start", "")
    for n, entry in enumerate(seen["rounds"]):
        item, held = entry["item"], entry["a_held"]
        if item != base + n + 1:
            raise ValueError("an item the grader did not choose")
        where = (f"while the put() was stopped before line {held[1]} of your file"
                 if held[0] == "held" else "after the put() returned" if held[0] == "done"
                 else "in the put() into an empty buffer")
        raised = _exception_in((held, entry["b_while"], entry["a_end"], entry["b_end"]), setup,
                               where)
        if raised is not None:
            return raised
        if held[0] not in ("held", "done"):
            return _problem(f"put() into an empty buffer to return ({setup})",
                            "it did not return", "")
        if entry["a_end"][0] != "done":
            return _problem(f"the stopped put() to return once it went on ({setup})",
                            f"it never returned {where}", "")
        got = entry["b_end"]
        if got[0] != "done":
            return _problem(f"get() to return once the put() finished ({setup})",
                            f"it never returned {where}", "")
        if got[1] != item:
            early = entry["b_while"] is not None and entry["b_while"][0] == "done"
            return _problem(
                f"get() to return {item}, the item put ({setup})",
                f"it returned {_shown(got[1])} {where}" + (
                    ", before the put() had finished" if early else ""),
                # Known cause only when the get() went through while the put() was stopped.
                "a put() may signal its item (release the items semaphore) only after it has "
                "written the slot and moved the index, under the mutex" if early else "")
        if held[0] == "done":
            return None  # every line of put() was a stopping point once
    if len(seen["rounds"]) < MOST_ROUNDS:
        raise ValueError("the rounds ended without a reason")
    return None


def _blocking(h: Any, capacity: int, window: float) -> Problem:
    """A put() in another process waits on a full buffer, and is released by a get()."""
    seen = h.blocking(capacity, window)
    if not seen["filled"]:
        return _problem(f"{capacity} puts into an empty buffer of capacity {capacity} to return",
                        "put() blocked", "wait only while every slot is taken")
    if seen["early"] is not None:
        kind, text = seen["early"]
        if kind == "error":
            return _problem("put() on a full buffer to wait", f"it raised {text}", "")
        return _problem(f"put() in another process to wait while {capacity} of {capacity} "
                        "slots are taken", "it returned at once: the buffer overflowed",
                        "acquire a free-slot semaphore (or wait on a condition) before writing")
    done, first = seen["first"]
    if not done:
        return _problem("get() to return while another process waits in put()",
                        "get() never returned",
                        "a process waiting for a free slot must not hold the mutex: acquire the "
                        "semaphore first, then the lock")
    if seen["stuck"]:
        return _problem("the waiting put() to finish once get() freed a slot",
                        "it stayed blocked: the wake-up was lost",
                        "release the free-slots semaphore (or notify) in get()")
    rest = seen["rest"]
    items = [first, *(rest if rest is not None else ["<blocked>"])]
    if items != list(range(capacity + 1)):
        return _problem(f"items in order {list(range(capacity + 1))}",
                        "[" + ", ".join(_shown(x) for x in items) + "]", "FIFO")
    return None


def _busy(h: Any, window: float) -> Problem:
    seen = h.busy(window)
    if not seen["started"]:
        return _problem("the consumer process to start", "it did not", "")
    if seen["early"] is not None:
        return _problem("get() on an empty buffer to wait", f"it returned {seen['early']}",
                        "wait for an item (acquire the items semaphore) before reading")
    if not seen["put"]:
        return _problem("put() to return while a consumer waits on an empty buffer",
                        "put() never returned",
                        "a waiting consumer must not hold the mutex: semaphore first")
    if not seen["woken"]:
        return _problem("the waiting get() to return the item put()", "it stayed blocked",
                        "release the items semaphore (or notify) in put()")
    wall, cpu, repeats = float(seen["wall"]), float(seen["cpu"]), int(seen["repeats"])
    if cpu > 0.3 * wall or repeats >= 5:
        return _problem(
            "a waiting get() to sleep in acquire()/wait() and use no CPU",
            f"while waiting {wall * 1000:.0f} ms it used {cpu * 1000:.0f} ms of CPU and ran one "
            f"line of your file {repeats} times (polling)",
            "block on a semaphore or condition from ctx instead of looping",
        )
    if seen["item"] != 5:
        return _problem("the waiting get() to return the item put (5)", _shown(seen["item"]),
                        "")
    return None


# --- checks (run in the grader, one child process each) -----------------------------------------


def _check(scenario: Any, impl: str, *args: Any) -> None:
    fail_on(judge(scenario, partial(ProcessBuffers, impl), *args))


def check_interface(impl: str) -> None:
    """``BoundedBuffer(3, ctx).capacity == 3``; capacity below 1 raises ValueError."""
    _check(_interface, impl)


def check_sequence(impl: str, capacity: int = 3, steps: int = 60, seed: int = 4) -> None:
    """A non-blocking put/get sequence in one process behaves like a FIFO queue."""
    _check(_sequence, impl, capacity, steps, seed)


def check_transfer(impl: str, *, producers: int, consumers: int, items: int, capacity: int,
                   noise: bool, seed: int, method: str = "fork") -> None:
    """Producer and consumer processes: nothing lost, duplicated, over capacity or stuck."""
    # Items are offset by a number drawn here, so they differ in every grading.
    base = (1 + secrets.randbelow(100)) * 10_000_000
    _check(_transfer, impl, method, producers, consumers, items, capacity, noise, seed, base)
    # Races these free-running processes hit only in some gradings (a put() into the slot a
    # get() has freed but not yet read; a get() from a slot a put() has signalled but not yet
    # written), made certain, so that the score does not vary.
    fail_on(_stepped_once(_stepped_gets, impl))
    fail_on(_stepped_once(_stepped_put_get, impl))


def check_spawn(impl: str) -> None:
    """The buffer works when the children are started with the spawn method."""
    from multiprocessing import resource_tracker

    # Started here, outside the check's process group, so it outlives a killed check and
    # unlinks any named semaphore a hung check left behind.
    resource_tracker.ensure_running()
    check_transfer(impl, producers=2, consumers=3, items=25, capacity=4, noise=False, seed=1,
                   method="spawn")
    # The same two producers' race, made certain rather than left to the machine's timing.
    check_stepped_puts(impl, method="spawn")


def check_stepped_puts(impl: str, method: str = "spawn") -> None:
    """Two put()s at once, the first stopped before each line of put() in turn while the second
    runs: both items come out, whatever the line (see :mod:`pcmodel.grading.process_stepping`).
    A buffer without a mutex fails this in every grading."""
    _check(_stepped, impl, method, (1 + secrets.randbelow(100)) * 10_000_000)


# The verdicts of the stepped get()s and of the stepped put() against a get(), per scenario and
# file graded in this process. A scenario's outcome is fixed by the file, so every check of a
# grading that needs it (the transfer checks, the busy-waiting check, and each of their
# --grade-repeat rounds) shares one run of it instead of paying about a second each time.
_STEPPED: dict[tuple[Any, str], Problem | CheckFailed] = {}


def _stepped_once(scenario: Any, impl: str) -> Problem:
    key = (scenario, impl)
    if key not in _STEPPED:
        try:
            _STEPPED[key] = judge(scenario, partial(ProcessBuffers, impl), "fork",
                                  (1 + secrets.randbelow(100)) * 10_000_000)
        except CheckFailed as failed:
            _STEPPED[key] = failed
    outcome = _STEPPED[key]
    if isinstance(outcome, CheckFailed):
        raise outcome
    return outcome


def check_stepped_gets(impl: str, method: str = "fork") -> None:
    """A get() from a full buffer stopped before each line of get() in turn while another
    process puts: the items come out in the order put, whatever the line (see
    :mod:`pcmodel.grading.process_stepping`). A get() that frees its slot before reading it
    fails this in every grading."""
    _check(_stepped_gets, impl, method, (1 + secrets.randbelow(100)) * 10_000_000)


def check_stepped_put_get(impl: str, method: str = "fork") -> None:
    """A put() into an empty buffer stopped before each line of put() in turn while another
    process calls get(): the get() returns the item put, whatever the line (see
    :mod:`pcmodel.grading.process_stepping`). A put() that signals its item before writing the
    slot fails this in every grading."""
    _check(_stepped_put_get, impl, method, (1 + secrets.randbelow(100)) * 10_000_000)


def check_blocking(impl: str, capacity: int = 2, window: float = 0.2) -> None:
    """put() in another process waits on a full buffer and is woken by get()."""
    _check(_blocking, impl, capacity, window)


def check_no_busy_waiting(impl: str, window: float = 0.25) -> None:
    """A consumer process waiting on an empty buffer uses no CPU, and is woken by a put()
    with the item put."""
    _check(_busy, impl, window)
    # The wake-up above hands over the item put only if the put() wrote it before signalling,
    # which these free-running processes show only in some gradings: made certain.
    fail_on(_stepped_once(_stepped_put_get, impl))
