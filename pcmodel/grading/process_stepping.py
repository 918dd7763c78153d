"""Two put() calls at once, the first one stopped at each line of the student's put() in turn.

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

The processes are stopped through their line tracer: before each line of the student's file a
producer asks the controller (over its pipe) for leave to go on. Everything is returned as plain
data; the verdict is :mod:`pcmodel.grading.process_checks`'s, made in the grader.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable
from typing import Any

from pcmodel.grading.crew import Stillness, patience
from pcmodel.grading.isolation import describe_exception, time_scale
from pcmodel.grading.thread_harness import STALL, plain

__all__ = ["MOST_ROUNDS", "stepped_producer_main", "stepped_puts"]

MOST_ROUNDS = 24  # lines of one put() stepped through at most (a put() of a buffer with room)
_START_LIMIT = 60.0  # seconds for a process to start, before PCMODEL_GRADE_TIME_SCALE
_CAPACITY = 2  # room for both items: neither put() has a reason to wait for a get()
# Seconds B must sleep, without asking for a line, to count as blocked while A is held. Shorter
# than a deadlock's proof: a B wrongly taken for blocked only lets A go on sooner, which is a
# schedule a correct buffer must survive too; a B that runs through put() asks for every line,
# and each answer starts the quiet over, so it is never taken for blocked.
_QUIET = 0.1


def stepped_producer_main(buf: Any, conn: Any, source: str) -> None:
    """Put each item received on ``conn`` (until None); before each line of ``source`` send
    ``("line", lineno)`` and wait for leave to go on; after each put send ``("done", None)`` or
    ``("error", text)``."""

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            conn.send(("line", frame.f_lineno))
            conn.recv()
        return local

    def global_trace(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == source else None

    conn.send(("ready", None))
    while True:
        item = conn.recv()
        if item is None:
            return
        sys.settrace(global_trace)
        try:
            buf.put(item)
            message: tuple[str, Any] = ("done", None)
        except BaseException as exc:  # noqa: BLE001 - reported to the controller
            message = ("error", describe_exception(exc, source))
        finally:
            sys.settrace(None)
        conn.send(message)


class _Stepper:
    """One producer process, stepped line by line from the controller."""

    def __init__(self, ctx: Any, buf: Any, source: str, name: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=stepped_producer_main, args=(buf, child, source),
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

    def put(self, item: int) -> None:
        self.lines = 0
        self.conn.send(item)

    def advance(self, hold_at: int | None, stall: float) -> list[Any]:
        """Let lines through until the put ends (``["done", None]`` / ``["error", text]``), or,
        with ``hold_at``, until it asks for line number ``hold_at`` (0-based), left unanswered
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
                    return [kind, data if isinstance(data, str) or data is None else repr(data)]
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


def stepped_puts(module: Any, source: str, method: str, base: int,
                 call: Callable[[Callable[[], Any], float], tuple[bool, Any]]) -> dict[str, Any]:
    """The rounds of two stepped put()s on a fresh buffer of capacity 2 (see the module's
    docstring): per round, the line A was held at, how B's put() went while A was held, how
    each ended, and the two items get() returned (None for a get() that did not return).
    Stops after the first round where anything went wrong. ``source`` is the student's file as
    the producers' code objects name it; ``call(fn, stall)`` runs ``fn`` in a thread and returns
    ``(returned, value)``, ``(False, None)`` when it is still blocked after ``stall`` s."""
    ctx = multiprocessing.get_context(method)
    buf = module.BoundedBuffer(_CAPACITY, ctx)
    stall = STALL * patience()
    a = _Stepper(ctx, buf, source, "producer A")
    b = _Stepper(ctx, buf, source, "producer B")
    rounds: list[dict[str, Any]] = []
    started = a.ready() and b.ready()
    try:
        for hold_at in range(MOST_ROUNDS if started else 0):
            items = [base + 2 * hold_at + 1, base + 2 * hold_at + 2]
            a.put(items[0])
            held = a.advance(hold_at, stall)
            entry: dict[str, Any] = {"items": items, "a_held": held, "b_while": None,
                                     "a_end": held, "b_end": None, "got": []}
            rounds.append(entry)
            if held[0] != "held":
                if held[0] == "done":  # A's put() is shorter than hold_at lines: all seen
                    entry["got"] = _take(buf, 1, stall, call)
                break
            b.put(items[1])
            entry["b_while"] = b.advance(None, stall)
            a.release()
            entry["a_end"] = a.advance(None, stall)
            entry["b_end"] = (entry["b_while"] if entry["b_while"][0] not in ("still", "stalled")
                              else b.advance(None, stall))
            if entry["a_end"][0] != "done" or entry["b_end"][0] != "done":
                break
            entry["got"] = _take(buf, 2, stall, call)
            if sorted(x for x in entry["got"] if isinstance(x, int)) != items:
                break
    finally:
        a.stop()
        b.stop()
    return {"started": started, "rounds": rounds}


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

