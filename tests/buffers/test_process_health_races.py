"""A process buffer's health check never blames a process that let go and exited while it
looked: a record is read again after its process was found dead (a dead process can no longer
change it), so a holder that released the lock, or a peer that paid its debt, just before it
exited breaks nothing."""

from __future__ import annotations

import os

import pytest

from pcmodel.buffers import make_buffer, robust

pytestmark = pytest.mark.timeout(30)


def _exited_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_holder_that_let_go_just_before_it_exited_breaks_nothing(monkeypatch):
    with make_buffer("condition", 2, "process") as buf:
        health = buf._mutex._health
        cell = health._owners[0]
        gone = _exited_pid()
        cell.value = gone  # recorded as the holder when the check reads it

        def alive(pid):  # meanwhile it lets go, then exits
            cell.value = 0
            return False

        monkeypatch.setattr(robust, "process_alive", alive)
        health.check()
        assert not health.broken
        buf.put("x")
        assert buf.get(timeout=5) == "x"


def test_a_holder_that_died_holding_the_lock_still_breaks_the_buffer(monkeypatch):
    with make_buffer("condition", 2, "process") as buf:
        health = buf._mutex._health
        cell = health._owners[0]
        cell.value = _exited_pid()
        with pytest.raises(robust.BufferBroken, match="died holding the buffer's lock"):
            health.check()
        cell.value = 0
