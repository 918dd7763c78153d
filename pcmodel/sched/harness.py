# The bounded-buffer harness: producers and consumers around one buffer, under the scheduler.
#
# It drives any class with the exercises' student interface (``BoundedBuffer(capacity)``,
# blocking ``put(item)`` / ``get()``) or any factory returning such an object (pcmodel's buffers
# via ``make_buffer``). Each producer puts its own numbered items; each consumer gets a fixed
# quota, so a correct buffer always finishes and every failure is a real bug:
# - an item received twice, or one that no producer put (a torn or stale slot);
# - an item lost (a consumer then waits forever: reported as a deadlock that lists it);
# - more items inside than the capacity: checked after every step on the storage when the harness
#   can see it (a deque attribute, or a ``contents`` function), and always by a bound that holds
#   for any correct buffer, ``puts returned - gets started <= capacity``;
# - with one consumer, a producer's items out of order (FIFO).

from __future__ import annotations

import functools
import inspect
import sys
from collections import deque
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from pcmodel.sched.arguments import (
    MAX_ACTORS,
    MAX_ITEMS,
    MAX_TOTAL_ITEMS,
    check_callables,
    check_count,
    check_modules,
    check_targets,
)
from pcmodel.sched.explore import ExplorationResult, explore_program
from pcmodel.sched.primitives import Thread
from pcmodel.sched.primitives.base import _Primitive
from pcmodel.sched.runtime import InvariantViolation, current_thread
from pcmodel.sched.strategies import Strategy
from pcmodel.sched.targets import modules_of
from pcmodel.sched.trace import Activity

__all__ = ["BufferHarness", "explore"]


def name_primitives(obj: object, prefix: str = "", depth: int = 2) -> None:
    """Label the controlled primitives found in ``obj``'s attributes by attribute name.

    Traces then say ``wait not_full`` instead of ``wait Condition2``. A condition's lock that is
    not an attribute itself is labelled ``<condition>.lock``.
    """
    seen: set[int] = set()
    conditions = []

    def walk(value: object, path: str, level: int) -> None:
        if id(value) in seen or level > depth:
            return
        seen.add(id(value))
        if isinstance(value, _Primitive):
            value._label = path
            if hasattr(value, "_lock"):
                conditions.append(value)
            return
        attrs = getattr(value, "__dict__", None)
        if not isinstance(attrs, dict):
            return
        for name, attr in list(attrs.items()):
            walk(attr, f"{path}.{name}" if path else name, level + 1)

    walk(obj, prefix, 0)
    for condition in conditions:
        lock = condition._lock
        if id(lock) not in seen:
            lock._label = f"{condition._label}.lock"


_STORAGE_NAMES = ("items", "buffer", "buf", "queue", "data", "storage", "slots", "elements")


def find_storage(buffer: object) -> tuple[deque | list | None, bool]:
    """Guess the container holding the buffer's items, and whether the guess is sure.

    Looks for deque (then list) attributes of the buffer, then of its attributes
    (``queue.Queue().queue``). The guess is sure when there is a single deque, or one whose name
    says it holds the items (``items``, ``_queue``, ...); only then is its length checked
    against the capacity. A list (a ring buffer's slots) is shown, never counted.
    """
    owners = [buffer] + [v for v in vars_of(buffer).values() if not isinstance(v, _Primitive)]
    for kind in (deque, list):
        found = [
            (name, value)
            for owner in owners
            for name, value in vars_of(owner).items()
            if isinstance(value, kind) and not name.startswith("__")
        ]
        if not found:
            continue
        if kind is list:
            return found[0][1], False
        if len(found) == 1:
            return found[0][1], True
        for name, value in found:
            if name.strip("_").lower() in _STORAGE_NAMES:
                return value, True
        return found[0][1], False
    return None, False


def vars_of(obj: object) -> dict[str, Any]:
    """``vars(obj)`` or an empty dict for objects without a ``__dict__``."""
    attrs = getattr(obj, "__dict__", None)
    return attrs if isinstance(attrs, dict) else {}


class BufferHarness:
    """Builds the producer/consumer program for one buffer configuration.

    ``program()`` is what each schedule runs; ``invariants()`` returns the checks bound to the
    current schedule's state. Producer p (1-based) puts ``(p-1)*items + 1 ... p*items``.
    """

    def __init__(
        self,
        factory: Callable[[int], Any],
        *,
        producers: int = 1,
        consumers: int = 2,
        capacity: int = 1,
        items: int = 2,
        contents: Callable[[Any], Sequence[Any]] | None = None,
        invariants: Sequence[Callable[[Any], object]] = (),
    ) -> None:
        if not callable(factory):
            raise TypeError(f"factory must be a class or callable taking the capacity: {factory!r}")
        # Every actor is a thread with a column in the trace, and every schedule moves every
        # item: the command line's limits keep one schedule within seconds and megabytes.
        check_count("producers", producers, 1, MAX_ACTORS)
        check_count("consumers", consumers, 1, MAX_ACTORS)
        check_count("capacity", capacity, 1)
        check_count("items", items, 1, MAX_ITEMS)
        if producers * items > MAX_TOTAL_ITEMS:
            raise ValueError(f"producers={producers} x items={items} is more than "
                             f"{MAX_TOTAL_ITEMS} items per schedule: explore fewer (two or "
                             "three per producer find interleaving bugs)")
        if contents is not None and not callable(contents):
            raise TypeError(f"contents must be a function of the buffer returning its items, "
                            f"not {contents!r}")
        self.factory = factory
        self.producers = producers
        self.consumers = consumers
        self.capacity = capacity
        self.items = items
        self.contents = contents
        self.user_invariants = check_callables("invariants", invariants)
        total = producers * items
        self.quotas = [
            total // consumers + (1 if c < total % consumers else 0) for c in range(consumers)
        ]
        self.expected = set(range(1, total + 1))
        self._reset()

    def _reset(self) -> None:
        self.puts_done = 0
        self.gets_started = 0
        self.received: dict[int, str] = {}
        self.last_from: dict[int, int] = {}
        self.buffer: Any = None
        self._show: Callable[[], str] | None = None
        self._occupancy: Callable[[], int] | None = None

    def program(self) -> None:
        """Build the buffer, start producers and consumers, join them, check conservation."""
        self._reset()
        run = current_thread().run
        if run.trace_files:
            # No other thread exists while the buffer is built: no line-level points needed.
            sys.settrace(None)
        buffer = self.factory(self.capacity)
        self.buffer = buffer
        name_primitives(buffer)
        if self.contents is not None:
            view = self.contents
            self._show = lambda: repr(list(view(buffer)))
            self._occupancy = lambda: len(view(buffer))
        else:
            storage, sure = find_storage(buffer)
            if storage is not None:
                self._show = lambda: repr(list(storage))
                if sure:
                    self._occupancy = storage.__len__
        if self._show is not None:
            run.describe_state = self._show
        run.explain_deadlock = self._explain
        threads = [
            Thread(target=self._produce, args=(p,), name=f"P{p + 1}") for p in range(self.producers)
        ]
        threads += [
            Thread(target=self._consume, args=(q,), name=f"C{c + 1}")
            for c, q in enumerate(self.quotas)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        missing = sorted(self.expected - set(self.received))
        if missing:
            raise InvariantViolation(f"items put but never received: {missing}")

    def _produce(self, p: int) -> None:
        me = current_thread()
        run = me.run
        for item in range(p * self.items + 1, (p + 1) * self.items + 1):
            run.log(f"put({item})")
            me.activity = Activity.PUT
            self.buffer.put(item)
            me.activity = None
            self.puts_done += 1
            run.log(f"put({item}) done")

    def _consume(self, quota: int) -> None:
        me = current_thread()
        run = me.run
        for _ in range(quota):
            run.log("get()")
            me.activity = Activity.GET
            self.gets_started += 1
            item = self.buffer.get()
            me.activity = None
            run.log(f"get() -> {item!r}")
            self._check_item(me.name, item)

    def _check_item(self, who: str, item: object) -> None:
        if type(item) is not int or item not in self.expected:
            raise InvariantViolation(
                f"{who} got {item!r}, which no producer put (a slot read before it was "
                "written, or after it was overwritten)"
            )
        if item in self.received:
            raise InvariantViolation(
                f"item {item} was received twice (by {self.received[item]} and by {who}): "
                "two gets took the same slot"
            )
        self.received[item] = who
        if self.consumers == 1:
            producer = (item - 1) // self.items
            last = self.last_from.get(producer, 0)
            if item < last:
                raise InvariantViolation(
                    f"{who} got {item} after {last}, but P{producer + 1} put {item} first: "
                    "the buffer is not FIFO"
                )
            self.last_from[producer] = item

    def within_capacity(self) -> bool:
        """Invariant: the buffer never holds more than ``capacity`` items.

        Checked on the storage when it is known (``contents`` or a deque attribute), and always
        by a bound that holds for any correct buffer: puts returned - gets started <= capacity.
        """
        if self._occupancy is not None:
            held = self._occupancy()
            if held > self.capacity:
                raise InvariantViolation(
                    f"capacity exceeded: the buffer holds {held} items, more than its "
                    f"capacity {self.capacity}"
                )
        inside = self.puts_done - self.gets_started
        if inside > self.capacity:
            raise InvariantViolation(
                f"capacity exceeded: {self.puts_done} puts have returned and only "
                f"{self.gets_started} gets have started, so the buffer holds at least {inside} "
                f"items, more than its capacity {self.capacity}"
            )
        return True

    def invariants(self) -> list[Callable[[], object]]:
        """The checks for one schedule; called before it starts, so it also clears the state
        left by the previous one."""
        self._reset()
        checks: list[Callable[[], object]] = [self.within_capacity]
        for invariant in self.user_invariants:
            checks.append(self._bind(invariant))
        return checks

    def _bind(self, invariant: Callable[[Any], object]) -> Callable[[], object]:
        def check() -> object:
            return True if self.buffer is None else invariant(self.buffer)

        check.__name__ = getattr(invariant, "__name__", "invariant")
        return check

    def _explain(self) -> str:
        not_received = sorted(self.expected - set(self.received))
        shown = f"; buffer: {self._show()}" if self._show is not None else ""
        return f"items not received yet: {not_received}{shown}"

    def describe(self) -> str:
        """The configuration as keyword arguments, for replay calls."""
        return (
            f"producers={self.producers}, consumers={self.consumers}, "
            f"capacity={self.capacity}, items={self.items}"
        )


def _factory_name(factory: Callable[..., Any]) -> str:
    if isinstance(factory, functools.partial):
        args = ", ".join(repr(a) for a in factory.args)
        return f"functools.partial({_factory_name(factory.func)}, {args})"
    return getattr(factory, "__qualname__", None) or repr(factory)


def explore(
    factory: Callable[[int], Any],
    *,
    producers: int = 1,
    consumers: int = 2,
    capacity: int = 1,
    items: int = 2,
    strategy: str | Strategy = "dfs",
    max_schedules: int = 2000,
    seed: int = 0,
    preemption_bound: int = 2,
    pct_depth: int = 3,
    lines: bool | str = False,
    trace: Sequence[str | ModuleType | type | Callable[..., Any]] = (),
    spurious_wakeups: int = 0,
    notify_order: str = "any",
    reduce: bool = True,
    max_steps: int = 5_000,
    step_timeout: float = 5.0,
    minimise: bool = True,
    time_limit: float | None = None,
    decisions: Sequence[int] | None = None,
    contents: Callable[[Any], Sequence[Any]] | None = None,
    invariants: Sequence[Callable[[Any], object]] = (),
    replay_call: Callable[[Sequence[int]], str] | None = None,
    allow_polling: bool = False,
    bind: Sequence[ModuleType] = (),
) -> ExplorationResult:
    """Explore schedules of producers and consumers sharing ``factory(capacity)``.

    ``factory`` is a buffer class (``BoundedBuffer``) or any callable taking the capacity. With
    ``lines=True`` every line of the factory's source file run outside a critical section is a
    scheduling point (data races between plain statements become reachable), ``lines="all"``
    every line; ``trace`` adds more files or modules.
    ``decisions`` replays one recorded schedule. ``contents(buffer)`` returns the items held, for
    traces and the capacity check, when the harness cannot find them itself. ``invariants`` are
    called with the buffer after every step (False or AssertionError fails; read attributes, do
    not call methods that take the buffer's locks). The producers and consumers ask for no
    timeout, so by default a buffer that needs time to pass (it naps and re-checks instead of
    waiting to be woken) fails as ``polling``. Names the factory's module imported from
    ``threading`` or ``time`` (``from threading import Condition``) are controlled like
    ``threading.Condition``; ``bind`` adds more modules. Other options as for ``explore_program``.
    Returns an ExplorationResult; a failure carries its trace table and the call that replays it.
    """
    trace = check_targets("trace", trace)
    bind = check_modules("bind", bind)
    harness = BufferHarness(
        factory,
        producers=producers,
        consumers=consumers,
        capacity=capacity,
        items=items,
        contents=contents,
        invariants=invariants,
    )
    if lines not in (False, True, "all"):
        raise ValueError(f"lines must be False, True or 'all', got {lines!r}")
    targets = list(trace)
    if lines:
        target = factory.func if isinstance(factory, functools.partial) else factory
        targets.append(
            target if inspect.isclass(target) or inspect.isfunction(target) else type(target)
        )
    extras = []
    if lines:
        extras.append(f"lines={lines!r}")
    if trace:
        extras.append(f"trace={list(trace)!r}")
    if spurious_wakeups:
        extras.append(f"spurious_wakeups={spurious_wakeups}")
    if notify_order != "any":
        extras.append(f"notify_order={notify_order!r}")
    if not reduce:
        extras.append("reduce=False")
    if allow_polling:
        extras.append("allow_polling=True")
    if replay_call is None:
        head = f"pcmodel.sched.explore({_factory_name(factory)}, {harness.describe()}"

        def replay_call(ds: Sequence[int]) -> str:
            return ", ".join([head, *extras, f"decisions={list(ds)})"])

    return explore_program(
        harness.program,
        strategy=strategy,
        max_schedules=max_schedules,
        seed=seed,
        preemption_bound=preemption_bound,
        pct_depth=pct_depth,
        invariants=harness.invariants,
        trace=targets,
        max_steps=max_steps,
        step_timeout=step_timeout,
        spurious_wakeups=spurious_wakeups,
        notify_order=notify_order,
        reduce=reduce,
        lines_inside_locks=lines == "all",
        allow_polling=allow_polling,
        minimise=minimise,
        time_limit=time_limit,
        decisions=decisions,
        replay_call=replay_call,
        bind=modules_of([factory, *bind]),
    )
