"""Raising KeyboardInterrupt at a chosen instruction of the package's code, as Ctrl-C may.

Python raises ``KeyboardInterrupt`` between two bytecodes of the main thread, wherever it is. A
tracer stands for it here: :func:`interrupted_at` raises it at an operation's n-th instruction,
and :func:`positions` runs the operation once per instruction, interrupted at the first, then the
second, and so on until it completes, checking what it left after each run.

This is stricter than a real Ctrl-C. CPython (3.10 and 3.11) runs a signal's handler, and so
raises KeyboardInterrupt, only where it checks for pending signals: on entering a function,
after a call returns and at a backward jump (or inside a blocking call, which then raises without
having done anything). :func:`landings` tells which positions those are, so that a test can hold
the positions a real Ctrl-C reaches to a stricter standard than the others.
"""

from __future__ import annotations

import dis
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import pcmodel

PACKAGE = os.path.dirname(os.path.abspath(pcmodel.__file__))


def interrupted_at(position: int, call: Callable[[], Any]) -> bool:
    """Run ``call()`` raising KeyboardInterrupt at its ``position``-th instruction (1-based,
    counting the instructions of the package's own code only); True if it ran to the end
    first, False if it was interrupted."""
    seen = 0

    def each_instruction(frame, event, arg):
        nonlocal seen
        if event == "opcode":
            seen += 1
            if seen == position:
                raise KeyboardInterrupt  # a trace function's exception disables tracing
        return each_instruction

    def on_call(frame, event, arg):
        if not frame.f_code.co_filename.startswith(PACKAGE):
            return None
        frame.f_trace_opcodes = True
        return each_instruction

    sys.settrace(on_call)
    try:
        call()
    except KeyboardInterrupt:
        return False
    finally:
        sys.settrace(None)
    return True


def positions(setup: Callable[[], Any], operation: Callable[[Any], Any],
              check: Callable[[Any, bool, int], None]) -> int:
    """Interrupt ``operation(setup())`` at each of its instructions in turn (then let it run to
    the end) and ``check(made, completed, position)`` after each run; how many instructions it
    has."""
    position = 0
    while True:
        position += 1
        made = setup()
        completed = interrupted_at(position, lambda made=made: operation(made))
        check(made, completed, position)
        if completed:
            return position - 1


def in_thread(call: Callable[[], Any]) -> Any:
    """``call()``'s result, run in another thread (a peer of the interrupted caller)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    thread.join()
    return result[0]


# Instructions after which CPython looks for pending signals (its "eval breaker").
_CHECKS_AFTER = {"CALL", "CALL_FUNCTION_EX", "JUMP_BACKWARD", "JUMP_ABSOLUTE",
                 "CALL_FUNCTION", "CALL_METHOD", "CALL_FUNCTION_KW"}


def landings(call: Callable[[], Any]) -> list[tuple[bool, str]]:
    """For each position of ``call()`` (run once, not interrupted): whether a real Ctrl-C can
    land there (the function's entry, or just after a call or a backward jump), and where it
    is (``file:line function opcode``), for the messages of failing tests."""
    found: list[tuple[bool, str]] = []
    before: dict[int, str] = {}  # per frame: the last instruction it ran

    def each_instruction(frame, event, arg):
        if event == "exception":  # a call that raised: its handler runs with no check first
            before[id(frame)] = event
        elif event == "opcode":
            code = frame.f_code
            name = dis.opname[code.co_code[frame.f_lasti]]
            last = before.get(id(frame))
            # Its first event is the instruction after its entry (RESUME), which checks too.
            real = last is None or last in _CHECKS_AFTER
            before[id(frame)] = name
            found.append((real, f"{os.path.basename(code.co_filename)}:{frame.f_lineno} "
                                f"{code.co_name} {name}"))
        return each_instruction

    def on_call(frame, event, arg):
        if not frame.f_code.co_filename.startswith(PACKAGE):
            return None
        frame.f_trace_opcodes = True
        before.pop(id(frame), None)
        return each_instruction

    sys.settrace(on_call)
    try:
        call()
    finally:
        sys.settrace(None)
    return found


class Stop:
    """Where :func:`interrupted_once` stopped a call: ``completed`` if it ran to the end; else
    whether a real Ctrl-C could land there (``real``, as :func:`landings` tells), where it is
    (``file:line function opcode``) and, if the instruction just before it was the call of a
    function of the package that had just returned, that function's name (``returned_from``,
    else "")."""

    __slots__ = ("completed", "real", "where", "returned_from", "entry")

    def __init__(self, completed: bool, real: bool = False, where: str = "",
                 returned_from: str = "", entry: bool = False) -> None:
        self.completed = completed
        self.real = real
        self.where = where
        self.returned_from = returned_from
        self.entry = entry  # the first instruction of its function

    def __repr__(self) -> str:
        if self.completed:
            return "Stop(completed)"
        after = f" after {self.returned_from}()" if self.returned_from else ""
        return f"Stop({'real' if self.real else 'unreal'} {self.where}{after})"


def interrupted_once(position: int, call: Callable[[], Any],
                     counting: Callable[[], bool] = lambda: True, real_only: bool = False) -> Stop:
    """Run ``call()`` raising KeyboardInterrupt at its ``position``-th instruction (1-based,
    counting the instructions of the package's own code run once ``counting()`` is true, such
    as those of a waiter after another thread woke it; with ``real_only``, counting only those
    where a real Ctrl-C can land); say where it stopped.

    Each position is described from the run that stops there, so that a call whose path
    depends on other threads (a lock found held, a wake-up passed on) is described truly."""
    seen = 0
    before: dict[int, str] = {}  # per frame: the last instruction it ran (as in landings)
    returned: dict[int, str] = {}  # per frame: the package function that just returned to it

    def each_instruction(frame, event, arg):
        nonlocal seen
        if event == "exception":
            before[id(frame)] = event
        elif event == "return":
            caller = frame.f_back
            if caller is not None:
                returned[id(caller)] = frame.f_code.co_name
        elif event == "opcode":
            code = frame.f_code
            name = dis.opname[code.co_code[frame.f_lasti]]
            last = before.get(id(frame))
            before[id(frame)] = name
            came_back = returned.pop(id(frame), "")
            real = last is None or last in _CHECKS_AFTER
            if (real or not real_only) and counting():
                seen += 1
                if seen == position:
                    stop.real = real
                    stop.entry = last is None
                    stop.where = (f"{os.path.basename(code.co_filename)}:{frame.f_lineno} "
                                  f"{code.co_name} {name}")
                    stop.returned_from = came_back if last in _CHECKS_AFTER else ""
                    raise KeyboardInterrupt  # a trace function's exception disables tracing
        return each_instruction

    def on_call(frame, event, arg):
        if not frame.f_code.co_filename.startswith(PACKAGE):
            return None
        frame.f_trace_opcodes = True
        before.pop(id(frame), None)
        returned.pop(id(frame), None)
        return each_instruction

    stop = Stop(False)
    sys.settrace(on_call)
    try:
        call()
    except KeyboardInterrupt:
        if stop.where:
            return stop
        raise
    finally:
        sys.settrace(None)
    return Stop(True)
