"""Waiting for Ctrl-C or SIGTERM without ever missing one, for commands that serve until stopped.

A Python signal handler runs only when the main thread runs Python code again. A command that
blocks in a system call (``select()``, ``Event.wait()``) and lets its handler wake it has a gap:
a signal that lands after the last line of Python and before the call blocks is handled only
after the call returns, which may be never, and Ctrl-C is lost. :func:`stop_signals` closes
the gap with ``signal.set_wakeup_fd``: the interpreter itself writes each signal's number to a
socket the moment the signal arrives, and the command waits on that socket (alone, with
:func:`wait_for_stop`, or beside its other inputs, with :func:`stop_arrived`).
"""

from __future__ import annotations

import selectors
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["STOPS", "stop_arrived", "stop_signals", "stop_signals_deferred", "wait_for_stop"]

STOPS = frozenset({signal.SIGINT, signal.SIGTERM})
"""The signals that stop a serving command."""


@contextmanager
def stop_signals() -> Iterator[socket.socket]:
    """Within the block, SIGINT and SIGTERM only make the yielded socket readable.

    Nothing is raised and nothing is lost: a signal that arrived at any moment of the block,
    before the wait included, is there to read. Main thread only (as ``signal.signal``). The
    previous handlers and wake-up descriptor are restored when the block ends.
    """
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)  # set_wakeup_fd wants it, and a full socket must not block
    previous_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    previous: dict[int, Any] = {}
    try:
        for signum in STOPS:  # from here on a stop signal only writes its number
            previous[signum] = signal.signal(signum, lambda *_: None)
        yield wake_r
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for signum, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back from here.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        wake_r.close()
        wake_w.close()


@contextmanager
def stop_signals_deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are held back; the first is raised again when the
    block ends, to whatever handles it then (``KeyboardInterrupt``, or nothing if ignored).

    For clean-ups that an exception in the middle would break: ``shutil.rmtree`` interrupted
    between closing a descriptor and noting it closed closes it again in its ``finally`` and
    raises ``OSError(EBADF)`` instead of the interrupt. In other threads than the main one,
    which signals never interrupt, the block changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        held.append(signum)

    previous: dict[int, Any] = {}
    try:
        for signum in STOPS:
            previous[signum] = signal.signal(signum, hold)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if held:
            signal.raise_signal(held[0])


def stop_arrived(wake: socket.socket) -> bool:
    """Read what made ``wake`` readable: True if a stop signal was among it (other signals
    with a Python handler are written there too, and do not stop). Call it only once a
    selector has said ``wake`` is readable: otherwise it blocks until a signal comes."""
    return bool(STOPS & set(wake.recv(256)))


def wait_for_stop(wake: socket.socket) -> None:
    """Block until SIGINT or SIGTERM has arrived within the :func:`stop_signals` block that
    made ``wake`` (returns at once if one arrived already)."""
    with selectors.DefaultSelector() as selector:
        selector.register(wake, selectors.EVENT_READ)
        while True:
            selector.select()
            if stop_arrived(wake):
                return
