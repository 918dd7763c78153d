"""Graded checks for exercise 04: a bounded buffer shared between processes.

The student's ``BoundedBuffer(capacity, ctx)`` builds its storage and primitives from the
multiprocessing context ``ctx`` and is handed to child processes as a ``Process`` argument, the way
``multiprocessing.Queue`` is. Producers and consumers here are real processes (forked, and in one
check spawned), so there is real parallelism and no GIL to hide a missing lock; with noise on,
each child perturbs the lines of the student's file as :mod:`pcmodel.grading.crew` does for
threads. Children report through pipes and a small shared meter (operations done, items inside at
most), and the watcher gives up on children that stop making progress, naming who was stuck.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import multiprocessing.connection
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from pcmodel.grading.buffer_checks import STALL
from pcmodel.grading.checks import fail_on, run_check
from pcmodel.grading.crew import noise_tracer, patience
from pcmodel.grading.isolation import describe_exception, time_scale
from pcmodel.grading.probes import ImplementationError, load_impl

__all__ = [
    "check_blocking",
    "check_interface",
    "check_no_busy_waiting",
    "check_sequence",
    "check_spawn",
    "check_transfer",
]

# Meter slots in a shared array: puts done, gets started, most items inside, operations done,
# processes started (the stall clock runs only once all have started: spawning can be slow).
_PUTS, _GETS_STARTED, _MAX, _OPS, _STARTED = range(5)
_START_LIMIT = 60.0  # seconds for every process to start, before PCMODEL_GRADE_TIME_SCALE


def _problem(expected: str, got: str, hint: str) -> dict[str, str]:
    return {"expected": expected, "got": got, "hint": hint}


def _load(impl: str, importable: bool) -> Any:
    """The student's module; ``importable`` imports it by file name so spawned children can too."""
    if not importable:
        return load_impl(impl, "BoundedBuffer")
    folder, filename = os.path.split(os.path.abspath(impl))
    stem = os.path.splitext(filename)[0]
    if stem in sys.modules:
        raise ImplementationError(f"rename {filename}: {stem!r} is already a module name")
    sys.path.insert(0, folder)
    module = importlib.import_module(stem)
    if not hasattr(module, "BoundedBuffer"):
        raise ImplementationError(f"{filename} must define BoundedBuffer")
    return module


# --- code run in the producer and consumer processes --------------------------------------------


def _trace(noise_file: str | None, seed: int) -> None:
    if noise_file is not None:
        sys.settrace(noise_tracer(noise_file, random.Random(seed), 0.3))


def _count(meter: Any, lock: Any, slot: int) -> None:
    with lock:
        meter[slot] += 1
        meter[_OPS] += 1
        meter[_MAX] = max(meter[_MAX], meter[_PUTS] - meter[_GETS_STARTED])


def producer_main(buf: Any, meter: Any, lock: Any, conn: Any, items: list[int],
                  noise_file: str | None, seed: int) -> None:
    """Put ``items`` into ``buf``; send ("done", None) or ("error", text) on ``conn``."""
    with lock:
        meter[_STARTED] += 1
    _trace(noise_file, seed)
    try:
        for item in items:
            buf.put(item)
            _count(meter, lock, _PUTS)
        message = ("done", None)
    except BaseException as exc:  # noqa: BLE001 - reported to the watcher
        message = ("error", describe_exception(exc, noise_file))
    sys.settrace(None)
    conn.send(message)


def consumer_main(buf: Any, meter: Any, lock: Any, conn: Any, count: int,
                  noise_file: str | None, seed: int) -> None:
    """Get ``count`` items from ``buf``; send ("done", items) or ("error", text) on ``conn``."""
    with lock:
        meter[_STARTED] += 1
    _trace(noise_file, seed)
    got: list[int] = []
    try:
        for _ in range(count):
            with lock:
                meter[_GETS_STARTED] += 1
            got.append(buf.get())
            _count(meter, lock, _OPS)
        message: tuple[str, Any] = ("done", got)
    except BaseException as exc:  # noqa: BLE001 - reported to the watcher
        message = ("error", f"{describe_exception(exc, noise_file)} after {len(got)} items")
    sys.settrace(None)
    conn.send(message)


def waiting_consumer_main(buf: Any, conn: Any, source: str) -> None:
    """Get one item, measuring this process's CPU time and repeated lines of ``source``."""
    lines: Counter[tuple[int, int]] = Counter()

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            lines[(id(frame.f_code), frame.f_lineno)] += 1
        return local

    def global_trace(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == source else None

    conn.send(("started", None))
    wall, cpu = time.monotonic(), time.process_time()
    sys.settrace(global_trace)
    try:
        item = buf.get()
    finally:
        sys.settrace(None)
    conn.send(("done", (item, time.monotonic() - wall, time.process_time() - cpu,
                        max(lines.values(), default=0))))


# --- watching the processes (in the check's own child process) ----------------------------------


class _Gang:
    """Producer and consumer processes around one buffer, watched for progress."""

    def __init__(self, ctx: Any, buf: Any) -> None:
        self.ctx = ctx
        self.buf = buf
        self.meter = ctx.Array("q", 5, lock=False)
        self.lock = ctx.Lock()
        self.procs: list[tuple[str, Any, Any]] = []
        self.reports: dict[str, tuple[str, Any]] = {}

    def start(self, name: str, target: Any, *args: Any) -> None:
        reader, writer = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=target, name=name,
                                args=(self.buf, self.meter, self.lock, writer, *args))
        proc.daemon = True
        proc.start()
        writer.close()
        self.procs.append((name, proc, reader))

    def wait(self, stall: float) -> list[str]:
        """Collect reports until all processes end; return the names of those stuck."""
        last, since = -1, time.monotonic()
        start_by = since + _START_LIMIT * time_scale()
        while True:
            pending = {reader: name for name, _, reader in self.procs if name not in self.reports}
            if not pending:
                break
            for reader in multiprocessing.connection.wait(list(pending), timeout=0.05):
                try:
                    self.reports[pending[reader]] = reader.recv()
                except EOFError:
                    self.reports[pending[reader]] = ("error", "the process died without a report")
            ops = self.meter[_OPS]
            if self.meter[_STARTED] < len(self.procs) and time.monotonic() < start_by:
                since = time.monotonic()  # still starting: not a stall yet
            elif ops != last:
                last, since = ops, time.monotonic()
            elif time.monotonic() - since > stall:
                break
        for _, proc, _ in self.procs:
            proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        return [name for name, _, _ in self.procs if name not in self.reports]


def _transfer(impl: str, method: str, producers: int, consumers: int, items: int, capacity: int,
              noise: bool, seed: int) -> dict[str, str] | None:
    ctx = multiprocessing.get_context(method)
    module = _load(impl, importable=(method != "fork"))
    source = os.path.abspath(impl) if method != "fork" else module.__spec__.origin
    buf = module.BoundedBuffer(capacity, ctx)
    ours = _shm_mapped()  # what this buffer created in /dev/shm (named semaphores, segments)
    gang = _Gang(ctx, buf)
    total = producers * items
    rng = random.Random(seed)
    noise_file = source if noise else None
    for c in range(consumers):
        quota = total // consumers + (c < total % consumers)
        gang.start(f"consumer {c}", consumer_main, quota, noise_file, rng.randrange(2**32))
    for p in range(producers):
        batch = [p * 1_000_000 + k + 1 for k in range(items)]  # never 0: unwritten slots are 0
        gang.start(f"producer {p}", producer_main, batch, noise_file, rng.randrange(2**32))
    stuck = gang.wait(STALL * patience())
    reports, level = dict(gang.reports), gang.meter[_MAX]
    del buf, gang
    gc.collect()  # unlink named semaphores now (spawn), not at an exit that runs no finalizers
    setup = (f"{producers} producer and {consumers} consumer processes ({method}), "
             f"{items} items each, capacity {capacity}")
    left = _shm_left(ours)
    for name in left:  # reported below; removed so that the grading itself leaves nothing
        try:
            os.unlink(os.path.join(_SHM, name))
        except OSError:
            pass
    if left:
        return _problem(
            f"nothing left in /dev/shm once the buffer is gone ({setup})",
            f"{len(left)} entries the buffer created are still there: {', '.join(left[:4])}",
            "create shared state only through ctx (ctx.Array, ctx.Value, ctx.Semaphore, "
            "ctx.Lock), which cleans up after itself; unlink any SharedMemory you create")
    errors = [f"{name} raised {data}" for name, (kind, data) in reports.items() if kind == "error"]
    if errors:
        return _problem(f"no exception ({setup})", "; ".join(errors),
                        "create every lock, semaphore and the storage from ctx, in __init__ "
                        "(ctx.Lock(), ctx.Semaphore(n), ctx.Array('q', capacity), ctx.Value('i'))")
    if stuck:
        return _problem(
            f"every process to finish ({setup})", f"stuck: {', '.join(stuck)}",
            "state in plain attributes (a list, an int) is copied into each process, not "
            "shared: keep slots and indices in ctx.Array / ctx.Value and the primitives from ctx",
        )
    if level > capacity:
        return _problem(f"at most {capacity} items inside ({setup})",
                        f"{level} items had been put and not yet taken at one moment",
                        "wait for a free slot before writing")
    got = {name: data for name, (kind, data) in reports.items() if name.startswith("consumer")}
    counts = Counter(x for data in got.values() for x in data)
    wanted = {p * 1_000_000 + k + 1 for p in range(producers) for k in range(items)}
    strange = [x for x in counts if x not in wanted]
    twice = [x for x, n in counts.items() if n > 1 and x in wanted]
    if strange or twice:
        bits = ([f"values never put: {strange[:4]}"] if strange else []) + (
            [f"items received twice: {twice[:4]}"] if twice else [])
        return _problem(f"each item received exactly once ({setup})", "; ".join(bits),
                        "protect the slots and both indices with one lock from ctx, shared by "
                        "every process")
    for name, data in got.items():
        last: dict[int, int] = defaultdict(lambda: -1)
        for x in data:
            p, k = divmod(x - 1, 1_000_000)
            if last[p] > k:
                return _problem(f"each producer's items in the order put ({setup})",
                                f"{name} got item {k} of producer {p} after item {last[p]}",
                                "take the oldest item: head and tail indices modulo capacity")
            last[p] = k
    return None


_SHM = "/dev/shm"


def _shm_mapped() -> dict[int, str]:
    """``{inode: path}`` of the /dev/shm files this process has mapped (empty where there is no
    /proc). A leak is one of these still present once every object using it is gone: entries of
    other programs on the machine are never counted."""
    found: dict[int, str] = {}
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith(_SHM + "/"):
                    found[int(fields[4])] = fields[5].strip()
    except OSError:
        pass
    return found


def _shm_left(ours: dict[int, str]) -> list[str]:
    """The names in /dev/shm whose inode is one of ``ours``."""
    if not ours:
        return []
    left = []
    try:
        names = os.listdir(_SHM)
    except OSError:
        return []
    for name in names:
        try:
            if os.stat(os.path.join(_SHM, name)).st_ino in ours:
                left.append(name)
        except OSError:
            continue
    return sorted(left)


def _call(fn: Any, stall: float) -> tuple[bool, Any]:
    """Run ``fn()`` in a daemon thread; (False, None) if it is still blocked after ``stall`` s."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - returned to the caller
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(stall)
    if worker.is_alive():
        return False, None
    if "error" in box:
        raise box["error"]
    return True, box.get("value")


def _interface(impl: str) -> dict[str, str] | None:
    ctx = multiprocessing.get_context("fork")
    module = load_impl(impl, "BoundedBuffer")
    buf = module.BoundedBuffer(3, ctx)
    if getattr(buf, "capacity", None) != 3:
        return _problem("BoundedBuffer(3, ctx).capacity == 3",
                        f"capacity is {getattr(buf, 'capacity', 'missing')!r}",
                        "store the constructor argument as self.capacity")
    for bad in (0, -1):
        try:
            module.BoundedBuffer(bad, ctx)
        except ValueError:
            continue
        except Exception as exc:
            return _problem(f"BoundedBuffer({bad}, ctx) to raise ValueError", f"{exc!r}",
                            "validate capacity first")
        return _problem(f"BoundedBuffer({bad}, ctx) to raise ValueError", "it returned a buffer",
                        "validate capacity first: ValueError when capacity < 1")
    return None


# 64-bit edge values: 0 is what an unwritten slot holds, -1 what a "no item" marker often is,
# and the extremes of a C long long, which a 32-bit typecode ('i') cannot hold.
EDGE_ITEMS = (0, -1, 2**63 - 1, -(2**63), 1, 2**31, -(2**31) - 1, 2**32 + 5, 7)


def _sequence(impl: str, capacity: int, steps: int, seed: int) -> dict[str, str] | None:
    """A seeded non-blocking put/get sequence over two buffers of different capacities in one
    process, with 64-bit edge values, compared with a FIFO model of each."""
    ctx = multiprocessing.get_context("fork")
    module = load_impl(impl, "BoundedBuffer")
    capacities = (capacity, capacity + 2)
    buffers = [module.BoundedBuffer(c, ctx) for c in capacities]
    rng = random.Random(seed)
    models: list[list[int]] = [[], []]
    log: list[str] = []
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            nxt = 0
            for _ in range(steps):
                b = rng.randrange(2)
                buf, model, cap, name = buffers[b], models[b], capacities[b], "AB"[b]
                if model and (len(model) == cap or rng.random() < 0.45):
                    outcome["doing"] = f"{name}.get() with {len(model)} of {cap} items inside"
                    got, want = buf.get(), model.pop(0)
                    log.append(f"{name}.get()->{got}")
                    if got != want:
                        outcome["wrong"] = (name, want, got)
                        return
                else:
                    item = EDGE_ITEMS[nxt % len(EDGE_ITEMS)]
                    outcome["doing"] = f"{name}.put({item}) with {len(model)} of {cap} items " \
                        "inside"
                    buf.put(item)
                    model.append(item)
                    log.append(f"{name}.put({item})")
                    nxt += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = describe_exception(exc, os.path.abspath(impl))

    setup = (f"two buffers A = BoundedBuffer({capacities[0]}, ctx) and B = BoundedBuffer("
             f"{capacities[1]}, ctx) used in turn, with items such as 0, -1, 2**63 - 1, -2**63")
    worker = threading.Thread(target=body, daemon=True)
    worker.start()
    worker.join(STALL * patience())
    if worker.is_alive():
        return _problem(f"put() to return while there is room, get() while there are items "
                        f"({setup})", f"stuck in {outcome.get('doing')} after: "
                        f"{', '.join(log[-8:])}",
                        "each buffer keeps its own state, created in __init__ from ctx")
    if "error" in outcome:
        return _problem(f"no exception ({setup})", f"{outcome['error']} during "
                        f"{outcome.get('doing')}")
    if "wrong" in outcome:
        name, want, got = outcome["wrong"]
        return _problem(f"{name}.get() to return {want}, the oldest item ({setup})",
                        f"{got} after: {', '.join(log[-8:])}",
                        "store items in a shared array of 64-bit integers ('q') and never "
                        "treat a value (0, -1) as an empty slot")
    return None


def _blocking(impl: str, capacity: int, window: float) -> dict[str, str] | None:
    """A put() in another process waits on a full buffer, and is released by a get()."""
    ctx = multiprocessing.get_context("fork")
    buf = load_impl(impl, "BoundedBuffer").BoundedBuffer(capacity, ctx)
    stall = STALL * patience()
    done, _ = _call(lambda: [buf.put(i) for i in range(capacity)], stall)
    if not done:
        return _problem(f"{capacity} puts into an empty buffer of capacity {capacity} to return",
                        "put() blocked", "wait only while every slot is taken")
    gang = _Gang(ctx, buf)
    gang.start("producer", producer_main, [capacity], None, 0)
    # A bounded negative observation: a correct put() cannot return while the buffer is full,
    # so returning within the window is certain evidence of an overflow.
    reader = gang.procs[0][2]
    if reader.poll(window):
        kind, text = reader.recv()
        gang.reports["producer"] = (kind, text)
        if kind == "error":
            return _problem("put() on a full buffer to wait", f"it raised {text}", "")
        return _problem(f"put() in another process to wait while {capacity} of {capacity} "
                        "slots are taken", "it returned at once: the buffer overflowed",
                        "acquire a free-slot semaphore (or wait on a condition) before writing")
    done, first = _call(buf.get, stall)
    if not done:
        return _problem("get() to return while another process waits in put()",
                        "get() never returned",
                        "a process waiting for a free slot must not hold the mutex: acquire the "
                        "semaphore first, then the lock")
    stuck = gang.wait(stall)
    if stuck:
        return _problem("the waiting put() to finish once get() freed a slot",
                        "it stayed blocked: the wake-up was lost",
                        "release the free-slots semaphore (or notify) in get()")
    done, rest = _call(lambda: [buf.get() for _ in range(capacity)], stall)
    items = [first, *(rest or ["<blocked>"])]
    if items != list(range(capacity + 1)):
        return _problem(f"items in order {list(range(capacity + 1))}", str(items), "FIFO")
    return None


def _busy(impl: str, window: float) -> dict[str, str] | None:
    ctx = multiprocessing.get_context("fork")
    module = load_impl(impl, "BoundedBuffer")
    buf = module.BoundedBuffer(1, ctx)
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=waiting_consumer_main, args=(buf, writer, module.__spec__.origin),
                       daemon=True)
    proc.start()
    writer.close()
    stall = STALL * patience()
    try:
        if not reader.poll(_START_LIMIT * time_scale()):
            return _problem("the consumer process to start", "it did not", "")
        reader.recv()
        if reader.poll(window):  # a measurement window: busy waiting only shows over time
            kind, data = reader.recv()
            return _problem("get() on an empty buffer to wait", f"it returned {data[0]!r}",
                            "wait for an item (acquire the items semaphore) before reading")
        if not _call(lambda: buf.put(5), stall)[0]:
            return _problem("put() to return while a consumer waits on an empty buffer",
                            "put() never returned",
                            "a waiting consumer must not hold the mutex: semaphore first")
        if not reader.poll(stall):
            return _problem("the waiting get() to return the item put()", "it stayed blocked",
                            "release the items semaphore (or notify) in put()")
        _, (item, wall, cpu, repeats) = reader.recv()
    finally:
        proc.join(1.0)
        if proc.is_alive():
            proc.kill()
    if cpu > 0.3 * wall or repeats >= 5:
        return _problem(
            "a waiting get() to sleep in acquire()/wait() and use no CPU",
            f"while waiting {wall * 1000:.0f} ms it used {cpu * 1000:.0f} ms of CPU and ran one "
            f"line of your file {repeats} times (polling)",
            "block on a semaphore or condition from ctx instead of looping",
        )
    return None


def check_interface(impl: str) -> None:
    """``BoundedBuffer(3, ctx).capacity == 3``; capacity below 1 raises ValueError."""
    fail_on(run_check(_interface, impl))


def check_sequence(impl: str, capacity: int = 3, steps: int = 60, seed: int = 4) -> None:
    """A non-blocking put/get sequence in one process behaves like a FIFO queue."""
    fail_on(run_check(_sequence, impl, capacity, steps, seed))


def check_transfer(impl: str, *, producers: int, consumers: int, items: int, capacity: int,
                   noise: bool, seed: int, method: str = "fork") -> None:
    """Producer and consumer processes: nothing lost, duplicated, over capacity or stuck."""
    fail_on(run_check(_transfer, impl, method, producers, consumers, items, capacity, noise, seed))


def check_spawn(impl: str) -> None:
    """The buffer works when the children are started with the spawn method."""
    from multiprocessing import resource_tracker

    # Started here, outside the check's process group, so it outlives a killed check and
    # unlinks any named semaphore a hung check left behind.
    resource_tracker.ensure_running()
    check_transfer(impl, producers=2, consumers=3, items=25, capacity=4, noise=False, seed=1,
                   method="spawn")


def check_blocking(impl: str, capacity: int = 2, window: float = 0.2) -> None:
    """put() in another process waits on a full buffer and is woken by get()."""
    fail_on(run_check(_blocking, impl, capacity, window))


def check_no_busy_waiting(impl: str, window: float = 0.25) -> None:
    """A consumer process waiting on an empty buffer uses no CPU."""
    fail_on(run_check(_busy, impl, window))
