"""Two calls at once, the first one stopped at each line of the student's file in turn.

Under timing noise, a buffer without a mutex loses an item only when two processes happen to be
inside put() together; how often that happens depends on the machine, so a check that relies on
it gives a different score from one grading to the next. Here the interleaving is chosen, as the
controlled scheduler (:mod:`pcmodel.sched`) chooses it for threads: producer A is stopped before
its n-th traced line of the student's file (n = 0, 1, 2, ... in successive rounds), producer B
then runs a whole put() or blocks, A is let go, and the controller takes both items out.

A correct buffer hands back both items whatever line A was stopped at: a put() may be paused
anywhere, and while A holds the mutex B simply blocks (told by
:class:`~pcmodel.grading.crew.Stillness`: asleep, no CPU, no line for a while) until A goes on. A
buffer that lets B in while A has written a slot but not yet moved the index loses an item at
that line, in every run. The rounds end when A's put() finishes before reaching the line where it
would be stopped, so the cost is one round per line of one put().

The same for the other side (:func:`stepped_gets`): the buffer is full, consumer A is stopped
before its n-th line of get(), producer B puts a third item (a correct buffer makes it wait
until A has taken the oldest one), A is let go, and the controller takes the other two. A
correct buffer hands back the three items in the order put whatever line A was stopped at; a
get() that frees its slot before it has read it lets B overwrite the oldest item, at that line,
in every run (a race a free-running transfer catches only in some gradings).

And the mirror of that (:func:`stepped_put_get`): the buffer is empty, producer A is stopped
before its n-th line of put(), consumer B calls get() (a correct buffer makes it wait until A has
written its item and signalled it), A is let go. A correct buffer hands B the item A put whatever
line A was stopped at; a put() that signals its item before writing the slot lets B read the
slot unwritten (a stale item or the initial 0), at that line, in every run.

Two get()s at once (:func:`stepped_two_gets`): the buffer holds two items, consumer A is stopped
before its n-th line of get(), consumer B calls get() (a correct buffer either hands B one item
at once or makes it wait until A has taken the other and moved the index), A is let go. A
correct buffer hands A and B one item each; a get() that reads the slot and moves the index
without the mutex lets both read the same slot at that line, in every run. And in the two
put()s above, once B's put() has returned while A is still stopped, the controller takes an
item at once: a put() that claims its slot under the mutex but writes it after letting the
mutex go leaves the oldest slot unwritten there, and that get() reads it.

The processes are stopped through their line tracer: before each line of the student's file a
stepped process asks the controller (over its pipe) for leave to go on. What runs in them is
:func:`~pcmodel.grading.process_workers.stepped_caller_main`, in a module of its own that a
spawned process imports without the rest of the grader. Everything is returned as plain data;
the verdict is :mod:`pcmodel.grading.process_stepped_checks`'s, made in the grader.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from pcmodel.grading.crew import Stillness, patience
from pcmodel.grading.isolation import time_scale
from pcmodel.grading.process_workers import stepped_caller_main
from pcmodel.grading.thread_harness import STALL, plain

__all__ = ["MOST_ROUNDS", "stepped_gets", "stepped_put_get",
           "stepped_puts", "stepped_two_gets"]

MOST_ROUNDS = 24  # lines of one put() or get() stepped through at most
_START_LIMIT = 60.0  # seconds for a process to start, before PCMODEL_GRADE_TIME_SCALE
_CAPACITY = 2  # room for both items: neither put() has a reason to wait for a get()
# Seconds B must sleep, without asking for a line, to count as blocked while A is held. Shorter
# than a deadlock's proof: a B wrongly taken for blocked only lets A go on sooner, which is a
# schedule a correct buffer must survive too; a B that runs through put() asks for every line,
# and each answer starts the quiet over, so it is never taken for blocked.
_QUIET = 0.1


class _Stepper:
    """One producer or consumer process, stepped line by line from the controller."""

    def __init__(self, ctx: Any, buf: Any, source: str, name: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=stepped_caller_main, args=(buf, child, source),
                                name=name, daemon=True)
        self.proc.start()
        child.close()
        self.lines = 0  # lines let through in the current put()
        self.held = False  # a line request left unanswered: the process is stopped

    def ready(self) -> bool:
        deadline = time.monotonic() + _START_LIMIT * time_scale()
        while time.monotonic() < deadline and self.proc.is_alive():
            if self.conn.poll(0.05):
                try:
                    return self.conn.recv() == ("ready", None)
                except EOFError:
                    return False
        return False

    def call(self, op: str, item: int | None = None) -> None:
        """Start ``put(item)`` or ``get()`` in the process."""
        self.lines = 0
        self.conn.send((op, item))

    def advance(self, hold_at: int | None, stall: float) -> list[Any]:
        """Let lines through until the call ends (``["done", result]`` / ``["error", text]``),
        or, with ``hold_at``, until it asks for line number ``hold_at`` (0-based), left unanswered
        (``["held", lineno]``); ``["still", None]`` when it sleeps without asking (blocked in a
        primitive), ``["stalled", None]`` when it runs ``stall`` s without a line."""
        stillness = Stillness(_QUIET)
        deadline = time.monotonic() + stall
        while True:
            if self.conn.poll(0.02):
                try:
                    kind, data = self.conn.recv()
                except EOFError:
                    return ["error", "the process died"]
                if kind != "line":
                    plain_data = data is None or isinstance(data, str) or (
                        isinstance(data, int) and not isinstance(data, bool))
                    return [kind, data if plain_data else repr(data)]
                if hold_at is not None and self.lines >= hold_at:
                    self.held = True
                    return ["held", data if isinstance(data, int) else -1]
                self.lines += 1
                self.conn.send(True)
                deadline = time.monotonic() + stall
            elif stillness.still([f"/proc/{self.proc.pid}/stat"], self.lines):
                return ["still", None]
            elif time.monotonic() > deadline:
                return ["stalled", None]

    def release(self) -> None:
        if self.held:
            self.held = False
            self.lines += 1
            self.conn.send(True)

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(1.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(1.0)


@contextmanager
def _two_steppers(module: Any, source: str, method: str, a_role: str, b_role: str
                  ) -> Iterator[tuple[Any, float, _Stepper, _Stepper, bool]]:
    """A fresh buffer of capacity 2, the stall allowed, actors A and B stepping the student's
    code in it, and whether both started; both are stopped on the way out."""
    ctx = multiprocessing.get_context(method)
    buf = module.BoundedBuffer(_CAPACITY, ctx)
    a = _Stepper(ctx, buf, source, a_role)
    b = _Stepper(ctx, buf, source, b_role)
    try:
        yield buf, STALL * patience(), a, b, a.ready() and b.ready()
    finally:
        a.stop()
        b.stop()


def stepped_puts(module: Any, source: str, method: str, base: int,
                 call: Callable[[Callable[[], Any], float], tuple[bool, Any]]) -> dict[str, Any]:
    """The rounds of two stepped put()s on a fresh buffer of capacity 2 (see the module's
    docstring): per round, the line A was held at, how B's put() went while A was held, how
    each ended, and the two items get() returned (None for a get() that did not return).
    Stops after the first round where anything went wrong. ``source`` is the student's file as
    the producers' code objects name it; ``call(fn, stall)`` runs ``fn`` in a thread and returns
    ``(returned, value)``, ``(False, None)`` when it is still blocked after ``stall`` s."""
    rounds: list[dict[str, Any]] = []
    with _two_steppers(module, source, method, "producer A", "producer B") as (
            buf, stall, a, b, started):
        for hold_at in range(MOST_ROUNDS if started else 0):
            items = [base + 2 * hold_at + 1, base + 2 * hold_at + 2]
            entry: dict[str, Any] = {"items": items, "a_held": None, "b_while": None,
                                     "a_end": None, "b_end": None, "got": []}
            rounds.append(entry)
            held = _hold_a(entry, buf, a, ("put", items[0]), (), hold_at, stall, call)
            if held == "done":  # A's put() is shorter than hold_at lines: all seen
                entry["got"] = _take(buf, 1, stall, call)
            if held != "held":
                break
            b.call("put", items[1])
            entry["b_while"] = b.advance(None, stall)
            if entry["b_while"][0] == "done":
                # B's put() has returned, so an item is there for a get() now, while A is still
                # stopped: the oldest slot must hold a real item, not one A has yet to write.
                entry["got"] = _take(buf, 1, stall, call)
            if not _let_a_go(a, b, entry, stall):
                break
            entry["got"] += _take(buf, 2 - len(entry["got"]), stall, call)
            if sorted(x for x in entry["got"] if isinstance(x, int)) != items:
                break
    return {"started": started, "rounds": rounds}


def stepped_two_gets(module: Any, source: str, method: str, base: int,
                     call: Callable[[Callable[[], Any], float], tuple[bool, Any]]
                     ) -> dict[str, Any]:
    """The rounds of two stepped get()s from a full buffer of capacity 2 (see the module's
    docstring). Per round n, items ``base + 2n + 1`` and ``base + 2n + 2``: whether the
    controller's two puts filled the buffer, the line consumer A was held at, how consumer B's
    get() went while A was held, how each ended (``["done", item]``), and, when A's get() ended
    before its n-th line, what the controller's get() returned after it. Stops after the first
    round where anything went wrong. Arguments as for :func:`stepped_puts`."""
    rounds: list[dict[str, Any]] = []
    with _two_steppers(module, source, method, "consumer A", "consumer B") as (
            buf, stall, a, b, started):
        for hold_at in range(MOST_ROUNDS if started else 0):
            items = [base + 2 * hold_at + 1, base + 2 * hold_at + 2]
            entry: dict[str, Any] = {"items": items, "filled": False, "a_held": None,
                                     "b_while": None, "a_end": None, "b_end": None, "got": []}
            rounds.append(entry)
            held = _hold_a(entry, buf, a, ("get", None), items, hold_at, stall, call)
            if held == "done":  # A's get() is shorter than hold_at lines: all seen
                entry["got"] = _take(buf, 1, stall, call)
            if held != "held":
                break
            b.call("get")
            if not _let_a_go(a, b, entry, stall):
                break
            got = [entry["a_end"][1], entry["b_end"][1]]
            if sorted(x for x in got if isinstance(x, int)) != items:
                break
    return {"started": started, "rounds": rounds}


def stepped_gets(module: Any, source: str, method: str, base: int,
                 call: Callable[[Callable[[], Any], float], tuple[bool, Any]]) -> dict[str, Any]:
    """The rounds of a stepped get() against a put() on a full buffer of capacity 2 (see the
    module's docstring). Per round n, items ``base + 3n + 1 .. base + 3n + 3``: whether the
    controller's two puts filled the buffer, the line consumer A was held at, how producer B's
    put() of the third item went while A was held, how each ended (A's ``["done", item]``), and
    what the controller's two get()s returned (None for one that did not return). Stops after
    the first round where anything went wrong. Arguments as for :func:`stepped_puts`."""
    rounds: list[dict[str, Any]] = []
    with _two_steppers(module, source, method, "consumer A", "producer B") as (
            buf, stall, a, b, started):
        for hold_at in range(MOST_ROUNDS if started else 0):
            items = [base + 3 * hold_at + k for k in (1, 2, 3)]
            entry: dict[str, Any] = {"items": items, "filled": False, "a_held": None,
                                     "b_while": None, "a_end": None, "b_end": None, "got": []}
            rounds.append(entry)
            held = _hold_a(entry, buf, a, ("get", None), items[:2], hold_at, stall, call)
            if held == "done":  # A's get() is shorter than hold_at lines: all seen
                entry["got"] = _take(buf, 1, stall, call)
            if held != "held":
                break
            b.call("put", items[2])
            if not _let_a_go(a, b, entry, stall):
                break
            entry["got"] = _take(buf, 2, stall, call)
            if [entry["a_end"][1], *entry["got"]] != items:
                break
    return {"started": started, "rounds": rounds}


def stepped_put_get(module: Any, source: str, method: str, base: int,
                    call: Callable[[Callable[[], Any], float], tuple[bool, Any]]) -> dict[str, Any]:
    """The rounds of a stepped put() into an empty buffer of capacity 2 against a get() (see
    the module's docstring). Per round n, item ``base + n + 1``: the line producer A was held at,
    how consumer B's get() went while A was held, and how each ended (B's ``["done", item]``);
    when A's put() ended before its n-th line, B's get() after it. Stops after the first round
    where anything went wrong. Arguments as for :func:`stepped_puts`."""
    rounds: list[dict[str, Any]] = []
    with _two_steppers(module, source, method, "producer A", "consumer B") as (
            buf, stall, a, b, started):
        for hold_at in range(MOST_ROUNDS if started else 0):
            item = base + hold_at + 1
            entry: dict[str, Any] = {"item": item, "a_held": None, "b_while": None,
                                     "a_end": None, "b_end": None}
            rounds.append(entry)
            held = _hold_a(entry, buf, a, ("put", item), (), hold_at, stall, call)
            if held == "done":  # A's put() is shorter than hold_at lines: all seen
                b.call("get")
                entry["b_end"] = b.advance(None, stall)
            if held != "held":
                break
            b.call("get")
            _let_a_go(a, b, entry, stall)
            if entry["a_end"] != ["done", None] or entry["b_end"] != ["done", item]:
                break
    return {"started": started, "rounds": rounds}


def _hold_a(entry: dict[str, Any], buf: Any, a: _Stepper, a_call: tuple[str, int | None],
            fill: Sequence[int], hold_at: int, stall: float,
            call: Callable[[Callable[[], Any], float], tuple[bool, Any]]) -> str:
    """Open a round as every scenario does: the controller puts ``fill`` into ``buf`` first, if
    any (``entry["filled"]``: whether each put returned within ``stall`` s; the round stops at
    the first that did not), then A starts ``a_call`` (``("put", item)`` or ``("get", None)``)
    and is let through its lines up to line ``hold_at``, held there (``entry["a_held"]``, and
    ``entry["a_end"]`` until A goes on). Returns what A did: ``"held"``, the round goes on;
    ``"done"``, A's call is shorter than ``hold_at`` lines (every line has been a stopping
    point); anything else (``"error"``, ``"still"``, ``"stalled"``, ``"unfilled"``), the round
    ends there."""
    if fill:
        entry["filled"] = all(call(partial(buf.put, x), stall)[0] for x in fill)
        if not entry["filled"]:
            return "unfilled"
    a.call(*a_call)
    entry["a_held"] = entry["a_end"] = held = a.advance(hold_at, stall)
    return held[0]


def _let_a_go(a: _Stepper, b: _Stepper, entry: dict[str, Any], stall: float) -> bool:
    """B's call was made while A is held: note how it went while A waited (``b_while``, unless
    already noted), let A go and note how each ended (``a_end``, ``b_end``; B's first answer if
    it had already ended). Returns whether both calls ended by returning."""
    if entry["b_while"] is None:
        entry["b_while"] = b.advance(None, stall)
    a.release()
    entry["a_end"] = a.advance(None, stall)
    entry["b_end"] = (entry["b_while"] if entry["b_while"][0] not in ("still", "stalled")
                      else b.advance(None, stall))
    return entry["a_end"][0] == "done" and entry["b_end"][0] == "done"


def _take(buf: Any, count: int, stall: float, call: Any) -> list[Any]:
    """Up to ``count`` items got from ``buf`` in a helper thread; None for one that did not
    come within ``stall`` seconds (the rest are not tried)."""
    got: list[Any] = []
    for _ in range(count):
        done, item = call(buf.get, stall)
        got.append(plain(item) if done else None)
        if not done:
            break
    return got

