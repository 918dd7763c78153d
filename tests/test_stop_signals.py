"""Commands that serve until Ctrl-C or SIGTERM never miss the signal (pcmodel.stop_signals)."""

from __future__ import annotations

import _thread
import signal
import threading

import pytest

from pcmodel.stop_signals import stop_signals, stop_signals_deferred, wait_for_stop

pytestmark = pytest.mark.timeout(30)


def test_a_stop_that_arrived_before_the_wait_ends_it_at_once():
    # interrupt_main() marks the signal as arrived, as a real one does, but interrupts no
    # system call: a Ctrl-C landing after the last line of Python, before the wait blocks.
    with stop_signals() as wake:
        _thread.interrupt_main(signal.SIGINT)
        wait_for_stop(wake)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_during_the_wait_ends_it(signum):
    with stop_signals() as wake:
        sender = threading.Thread(target=signal.pthread_kill,
                                  args=(threading.main_thread().ident, signum))
        sender.start()
        wait_for_stop(wake)
        sender.join(10)


def test_other_signals_do_not_end_the_wait():
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: seen.append("usr1"))
    try:
        with stop_signals() as wake:
            _thread.interrupt_main(signal.SIGUSR1)  # written to the socket too: not a stop
            _thread.interrupt_main(signal.SIGINT)
            wait_for_stop(wake)
            assert seen == ["usr1"]  # its own handler still ran
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_the_handlers_and_the_wakeup_descriptor_are_restored():
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    wakeup_before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup_before)
    with stop_signals():
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
    assert {signum: signal.getsignal(signum) for signum in before} == before
    assert signal.set_wakeup_fd(wakeup_before) == wakeup_before


@pytest.mark.timeout(10)
@pytest.mark.parametrize("block", [stop_signals, stop_signals_deferred])
def test_a_handler_installed_outside_python_is_restored_as_the_default(block, monkeypatch):
    # signal.signal() returns None for a handler that C code installed; signal.signal() refuses
    # None, so the restore at the end of the block raised TypeError.
    real = signal.signal
    found = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    given = []

    def installed_outside_python(signum, handler):
        given.append((signum, handler))
        previous = real(signum, handler)
        return None if len(given) <= 2 else previous

    monkeypatch.setattr(signal, "signal", installed_outside_python)
    try:
        with block():
            pass
        restored = [handler for _, handler in given[2:]]
        assert restored == [signal.SIG_DFL, signal.SIG_DFL]
    finally:
        monkeypatch.undo()
        for signum, handler in found.items():
            signal.signal(signum, handler)
