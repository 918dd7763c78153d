"""Child processes that leave Ctrl-C and SIGTERM to the command that started them.

Ctrl-C in a terminal reaches the whole process group: the command and every process it started.
So does a SIGTERM from a supervisor (systemd stopping a service, ``kill -- -PGID``). The command
decides what stops (it shuts its buffers or brokers down and reaps its children); a child
interrupted on its own, perhaps while still importing, would only print a traceback, and one
ended by SIGTERM at an arbitrary moment may die inside a shared lock or condition, which then
blocks the command for ever when it stops the others (``multiprocessing``'s ``Event.set()``
waits for a dead sleeper's answer). So children are started within
:func:`children_ignore_ctrl_c` and begin with :func:`child_signals`; a command ends a child that
will not stop with ``kill()``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from multiprocessing import resource_tracker
from typing import Any

__all__ = ["child_signals", "children_ignore_ctrl_c"]


@contextlib.contextmanager
def children_ignore_ctrl_c() -> Iterator[None]:
    """Start processes within the block: Ctrl-C cannot interrupt them from birth, and a Ctrl-C
    or SIGTERM meant for this process waits until they are fully started.

    The children are born with SIGINT blocked: a signal mask is inherited across ``fork`` and
    ``exec``, so this covers ``spawn`` children too, and the server process of ``forkserver``
    (started by the first start of such a child, it imports its preloaded modules before it
    protects itself from Ctrl-C). :func:`child_signals`, first thing in the child, turns that
    into ignoring it. Here, meanwhile, SIGINT is blocked in this thread and both signals are
    held back by a handler that raises them again when the block ends, so that no start is cut
    between ``fork`` and handing the child its instructions. Held, not ignored: a signal sent to
    the process may be taken by any of its threads that does not block it, and an ignored one
    would be lost. Only the main thread can do this; from other threads the block changes
    nothing.
    """
    if (threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "pthread_sigmask")):  # Windows: no process groups either
        yield
        return
    # Starting multiprocessing's resource tracker unblocks SIGINT in this thread when it is done
    # (it masks its own start the same way); started first, it leaves the mask alone in the block.
    resource_tracker.ensure_running()
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        held.append(signum)

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    on_interrupt = signal.signal(signal.SIGINT, hold)
    on_terminate = signal.signal(signal.SIGTERM, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, on_terminate)
        signal.signal(signal.SIGINT, on_interrupt)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one pending here is delivered now
        if held:
            signal.raise_signal(held[0])


def child_signals() -> None:
    """First thing in a child started under :func:`children_ignore_ctrl_c`: ignore Ctrl-C (the
    parent handles it) instead of holding it back, and leave SIGTERM to the parent as well,
    while there is one: a child whose parent has died (an orphan, which nobody will stop) ends
    on SIGTERM as usual. A parent stops its children through what they share, or with
    ``kill()``; ``terminate()`` has no effect on a child whose parent is alive."""
    parent = os.getppid()

    def on_terminate(signum: int, frame: Any) -> None:
        if os.getppid() != parent:  # orphaned: the command that would stop us is gone
            os._exit(128 + signum)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C held back so far is dropped
    signal.signal(signal.SIGTERM, on_terminate)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
