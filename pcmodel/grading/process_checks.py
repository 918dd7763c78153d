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

from collections import Counter, defaultdict
from typing import Any

from pcmodel.grading.checks import Problem, problem
from pcmodel.grading.process_harness import edge_ops, shm_left, transfer_item
from pcmodel.grading.process_stepped_checks import (
    check_stepped_puts,
    item_base,
    judged,
    stepped_gets_once,
    stepped_put_get_once,
    stepped_puts_once,
    stepped_two_gets_once,
)
from pcmodel.grading.thread_harness import shown

__all__ = [
    "check_blocking",
    "check_interface",
    "check_no_busy_waiting",
    "check_sequence",
    "check_spawn",
    "check_transfer",
]


# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------


def _interface(h: Any) -> Problem:
    capacity = h.capacity_of(3)
    if capacity != 3 or isinstance(capacity, bool):
        told = "missing" if capacity == {"missing": True} else shown(capacity)
        return problem("BoundedBuffer(3, ctx).capacity == 3", f"capacity is {told}",
                        "store the constructor argument as self.capacity")
    for bad in (0, -1):
        outcome = h.construct(bad)
        if outcome == "ValueError":
            continue
        if outcome.startswith("raised "):
            return problem(f"BoundedBuffer({bad}, ctx) to raise ValueError",
                            outcome[len("raised "):], "validate capacity first")
        return problem(f"BoundedBuffer({bad}, ctx) to raise ValueError", "it returned a buffer",
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
        log.append(f"{name}.get()->{shown(value)}")
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
        return problem(f"put() to return while there is room, get() while there are items "
                        f"({setup})", f"stuck in {doing} after: {', '.join(log[-8:])}",
                        "each buffer keeps its own state, created in __init__ from ctx")
    if seen["error"]:
        return problem(f"no exception ({setup})", f"{seen['error']} during {doing}")
    if wrong is not None:
        name, want, value = wrong
        return problem(f"{name}.get() to return {want}, the oldest item ({setup})",
                        f"{shown(value)} after: {', '.join(log[-8:])}",
                        "store items in a shared array of 64-bit integers ('q') and never "
                        "treat a value (0, -1) as an empty slot")
    if done != len(ops):
        raise ValueError("the sequence ended early without a reason")
    return _wraparound(h, LARGE_CAPACITY, 2)


#: Larger than any index an 8- or 16-bit shared value can hold.
LARGE_CAPACITY = 70_000


def _wraparound(h: Any, capacity: int, rounds: int) -> Problem:
    """A buffer of ``capacity`` filled with 0, 1, 2... and emptied, ``rounds`` times: its
    indices go through every slot and back to 0."""
    seen = h.wraparound(capacity, rounds)
    if not 0 <= seen["done"] <= 2 * capacity * rounds:
        raise ValueError("more operations than the scenario has")
    setup = (f"BoundedBuffer({capacity}, ctx) filled with 0, 1, 2 ... {capacity - 1} and "
             f"emptied, {rounds} times")
    step, count = divmod(seen["done"], capacity)
    doing = f"{'put' if step % 2 == 0 else 'get'} number {count + 1} of round {step // 2 + 1}"
    if seen["stuck"]:
        return problem(f"put() to return while there is room, get() while there are items "
                        f"({setup})", f"stuck in {doing}",
                        "semaphores start at capacity (free slots) and 0 (items)")
    if seen["error"]:
        return problem(f"no exception ({setup})", f"{seen['error']} during {doing}")
    if seen["wrong"] is not None:
        want, value = seen["wrong"]
        return problem(f"get() to return {want}, the oldest item ({setup})",
                        f"{shown(value)}",
                        "the head and tail indices must hold numbers up to capacity - 1: a "
                        "ctx.Value('b') or ('h') overflows; use ctx.Value('i') or ('q')")
    if seen["done"] != 2 * capacity * rounds:
        raise ValueError("the scenario ended early without a reason")
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
        return problem(
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
        return problem(f"no exception ({setup})", "; ".join(errors),
                        "create every lock, semaphore and the storage from ctx, in __init__ "
                        "(ctx.Lock(), ctx.Semaphore(n), ctx.Array('q', capacity), ctx.Value('i'))")
    if stuck:
        return problem(
            f"every process to finish ({setup})", f"stuck: {', '.join(sorted(stuck))}",
            "state in plain attributes (a list, an int) is copied into each process, not "
            "shared: keep slots and indices in ctx.Array / ctx.Value and the primitives from ctx",
        )
    level = seen["most_inside"]
    if level > capacity:
        return problem(f"at most {capacity} items inside ({setup})",
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
        return problem(f"each item received exactly once ({setup})", "; ".join(bits),
                        "protect the slots and both indices with one lock from ctx, shared by "
                        "every process")
    for name, data in sorted(got.items()):
        last: dict[int, int] = defaultdict(lambda: -1)
        for x in data:
            p, k = divmod(x - 1 - base, 1_000_000)
            if last[p] > k:
                return problem(f"each producer's items in the order put ({setup})",
                                f"{name} got item {k} of producer {p} after item {last[p]}",
                                "take the oldest item: head and tail indices modulo capacity")
            last[p] = k
    if sum(counts.values()) != len(wanted):
        raise ValueError("every process finished, yet not every item was received")
    return None


def _blocking(h: Any, capacity: int, window: float) -> Problem:
    """A put() in another process waits on a full buffer, and is released by a get()."""
    seen = h.blocking(capacity, window)
    if not seen["filled"]:
        return problem(f"{capacity} puts into an empty buffer of capacity {capacity} to return",
                        "put() blocked", "wait only while every slot is taken")
    if seen["early"] is not None:
        kind, text = seen["early"]
        if kind == "error":
            return problem("put() on a full buffer to wait", f"it raised {text}", "")
        return problem(f"put() in another process to wait while {capacity} of {capacity} "
                        "slots are taken", "it returned while the buffer was full: it "
                        "overflowed, or gave up waiting after a timeout and dropped the item",
                        "acquire a free-slot semaphore (or wait on a condition) before writing, "
                        "with no timeout")
    done, first = seen["first"]
    if not done:
        return problem("get() to return while another process waits in put()",
                        "get() never returned",
                        "a process waiting for a free slot must not hold the mutex: acquire the "
                        "semaphore first, then the lock")
    if seen["stuck"]:
        return problem("the waiting put() to finish once get() freed a slot",
                        "it stayed blocked: the wake-up was lost",
                        "release the free-slots semaphore (or notify) in get()")
    rest = seen["rest"]
    items = [first, *(rest if rest is not None else ["<blocked>"])]
    if items != list(range(capacity + 1)):
        return problem(f"items in order {list(range(capacity + 1))}",
                        "[" + ", ".join(shown(x) for x in items) + "]", "FIFO")
    return _waiting_get(seen, capacity + 1)


def _waiting_get(seen: dict[str, Any], item: int) -> Problem:
    """A get() in another process on the emptied buffer waits, and returns the item put."""
    if "get_early" not in seen:
        raise ValueError("the waiting get() was not observed")
    if seen["get_early"] is not None:
        kind, text = seen["get_early"]
        return problem("get() in another process to wait while the buffer is empty",
                        f"it raised {text}" if kind == "error" else
                        f"it returned {text} without an item: it gave up waiting",
                        "acquire the items semaphore (or wait on a condition) with no timeout")
    if seen["get_woken"] is None:
        return problem(f"the waiting get() to return once put({item}) was called",
                        "it stayed blocked", "release the items semaphore (or notify) in put()")
    kind, got = seen["get_woken"]
    if kind == "error" or got != [item]:
        return problem(f"the waiting get() to return {item}",
                        f"it raised {got}" if kind == "error" else f"it returned {got}", "")
    return None


def _busy(h: Any, window: float) -> Problem:
    seen = h.busy(window)
    if not seen["started"]:
        return problem("the consumer process to start", "it did not", "")
    if seen["early"] is not None:
        return problem("get() on an empty buffer to wait", f"it returned {seen['early']}",
                        "wait for an item (acquire the items semaphore) before reading")
    if not seen["put"]:
        return problem("put() to return while a consumer waits on an empty buffer",
                        "put() never returned",
                        "a waiting consumer must not hold the mutex: semaphore first")
    if not seen["woken"]:
        return problem("the waiting get() to return the item put()", "it stayed blocked",
                        "release the items semaphore (or notify) in put()")
    wall, cpu, repeats = float(seen["wall"]), float(seen["cpu"]), int(seen["repeats"])
    if cpu > 0.3 * wall or repeats >= 5:
        return problem(
            "a waiting get() to sleep in acquire()/wait() and use no CPU",
            f"while waiting {wall * 1000:.0f} ms it used {cpu * 1000:.0f} ms of CPU and ran one "
            f"line of your file {repeats} times (polling)",
            "block on a semaphore or condition from ctx instead of looping",
        )
    if seen["item"] != 5:
        return problem("the waiting get() to return the item put (5)", shown(seen["item"]),
                        "")
    return None


# --- checks (run in the grader, one child process each) -----------------------------------------


def check_interface(impl: str) -> None:
    """``BoundedBuffer(3, ctx).capacity == 3``; capacity below 1 raises ValueError."""
    judged(_interface, impl)


def check_sequence(impl: str, capacity: int = 3, steps: int = 60, seed: int = 4) -> None:
    """A non-blocking put/get sequence in one process behaves like a FIFO queue."""
    judged(_sequence, impl, capacity, steps, seed)


def check_transfer(impl: str, *, producers: int, consumers: int, items: int, capacity: int,
                   noise: bool, seed: int, method: str = "fork") -> None:
    """Producer and consumer processes: nothing lost, duplicated, over capacity or stuck."""
    # Items are offset by a number drawn here, so they differ in every grading.
    base = item_base()
    judged(_transfer, impl, method, producers, consumers, items, capacity, noise, seed, base)
    # Races these free-running processes hit only in some gradings (a put() into the slot a
    # get() has freed but not yet read; a get() from a slot a put() has signalled but not yet
    # written), made certain, so that the score does not vary.
    stepped_gets_once(impl)
    stepped_put_get_once(impl)
    # With several producers, or several consumers, the races between two of a kind too.
    if producers > 1:
        stepped_puts_once(impl)
    if consumers > 1:
        stepped_two_gets_once(impl)


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


def check_blocking(impl: str, capacity: int = 2, window: float = 0.2) -> None:
    """put() in another process waits on a full buffer and is woken by get()."""
    judged(_blocking, impl, capacity, window)


def check_no_busy_waiting(impl: str, window: float = 0.25) -> None:
    """A consumer process waiting on an empty buffer uses no CPU, and is woken by a put()
    with the item put."""
    judged(_busy, impl, window)
    # The wake-up above hands over the item put only if the put() wrote it before signalling,
    # which these free-running processes show only in some gradings: made certain.
    stepped_put_get_once(impl)
