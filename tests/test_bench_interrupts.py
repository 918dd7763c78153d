"""Ctrl-C in the middle of a ``pcmodel bench`` trial: every actor stops at once, none prints a
traceback, and clean-ups that a signal would break wait until they are done.

The interruption is driven, not timed: a real SIGINT is sent to the main thread (as Ctrl-C
does) once the actors are known to be where the test wants them.
"""

from __future__ import annotations

import contextlib
import signal
import threading

import pytest

from pcmodel.errors import ShutDown
from pcmodel.experiments import trials
from pcmodel.experiments.contenders import ActorKind, Contender, close_contender
from pcmodel.stop_signals import stop_signals_deferred

PRODUCERS, CONSUMERS = 2, 2


@pytest.fixture
def ctrl_c():
    """SIGINT raises KeyboardInterrupt in the main thread (as in the command) during the test;
    yields a function that sends it to the main thread from another thread."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.main_thread().ident

    def send() -> None:
        signal.pthread_kill(main, signal.SIGINT)

    yield send
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def thread_errors(monkeypatch):
    """The exceptions that escaped any thread (each would print a traceback)."""
    seen: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    return seen


class StuckBuffer:
    """A buffer on which every put and get waits until it is shut down: actors past the start
    never end on their own. Each arrival in a put or get is counted on ``inside``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._down = False
        self.inside = threading.Semaphore(0)

    def _wait(self, *args: object) -> None:
        with self._cond:
            self.inside.release()
            self._cond.wait_for(lambda: self._down)
        raise ShutDown

    put = get = _wait

    def shutdown(self, immediate: bool = False) -> None:
        with self._cond:
            self._down = True
            self._cond.notify_all()


class Ended(list):
    began: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.began = []


@pytest.fixture
def actors_ended(monkeypatch):
    """Names of the actor threads whose actor code has returned (or raised), and (``.began``)
    of those that began it."""
    ended = Ended()
    actor = trials._actor

    def recording_actor(*args: object) -> None:
        ended.began.append(threading.current_thread().name)
        try:
            actor(*args)
        finally:
            ended.append(threading.current_thread().name)

    monkeypatch.setattr(trials, "_actor", recording_actor)
    return ended


@pytest.mark.timeout(20)
@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_after_the_start_stops_actors_blocked_in_the_buffer(ctrl_c, thread_errors,
                                                                   actors_ended, attempt):
    # Before: the barrier was aborted after every actor had passed it, and the actors were left
    # to finish their share; blocked ones (consumers whose producers broke at the barrier, in
    # the race) kept the trial in join() for JOIN_TIMEOUT, 120 s.
    buf = StuckBuffer()
    contender = Contender("stuck", ActorKind.THREAD, lambda capacity, context, size: buf)

    def interrupt_once_all_are_inside() -> None:
        for _ in range(PRODUCERS + CONSUMERS):
            assert buf.inside.acquire(timeout=10)
        ctrl_c()

    helper = threading.Thread(target=interrupt_once_all_are_inside)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            trials.run_trial(contender, 1, PRODUCERS, CONSUMERS, 100)
    finally:
        helper.join()
    assert len(actors_ended) == PRODUCERS + CONSUMERS  # every one, done when the interrupt goes on
    assert thread_errors == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_before_the_start_turns_every_actor_back_quietly(ctrl_c, thread_errors,
                                                                actors_ended, monkeypatch,
                                                                attempt):
    # One producer is held before the start while the others wait there; Ctrl-C then. Before:
    # each actor freed by Barrier.abort() died of BrokenBarrierError with a traceback.
    held = threading.Event()
    go = threading.Event()
    payloads = trials._payloads

    def hold_producer_0(item_size: int, batch: int) -> list:
        if threading.current_thread().name == "bench-producer-0":
            held.set()
            assert go.wait(10)
        return payloads(item_size, batch)

    monkeypatch.setattr(trials, "_payloads", hold_producer_0)
    contender = Contender("condition", ActorKind.THREAD, trials_buffer)

    def interrupt_then_release() -> None:
        assert held.wait(10)
        ctrl_c()
        # Let the held producer go on once the others have been turned back.
        for thread in threading.enumerate():
            if thread.name.startswith("bench-consumer-"):
                with contextlib.suppress(RuntimeError):  # one still starting: let it be
                    thread.join(10)
        go.set()

    helper = threading.Thread(target=interrupt_then_release)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            trials.run_trial(contender, 1, PRODUCERS, CONSUMERS, 100)
    finally:
        go.set()
        helper.join()
    # Every actor that began is done when the interrupt goes on.
    assert sorted(actors_ended) == sorted(actors_ended.began)
    assert thread_errors == []


def trials_buffer(capacity: int, context: object, size: int):
    from pcmodel.buffers import make_buffer

    return make_buffer("condition", capacity)


@pytest.mark.parametrize("gate_opens", [True, False])
def test_start_gate_decides_once_for_all(gate_opens):
    gate = trials._StartGate(2)
    outcomes: list[str] = []

    def actor() -> None:
        try:
            gate.wait(10)
            outcomes.append("passed")
        except threading.BrokenBarrierError:
            outcomes.append("turned back")

    first = threading.Thread(target=actor)
    first.start()
    if gate_opens:
        actor()
        assert gate.cancel() is False  # too late: everyone passed
    else:
        assert gate.cancel() is True
        actor()
    first.join(10)
    expected = "passed" if gate_opens else "turned back"
    assert outcomes == [expected, expected]


def test_a_signal_during_a_deferred_clean_up_comes_after_it(ctrl_c):
    done = []
    with pytest.raises(KeyboardInterrupt), stop_signals_deferred():
        signal.raise_signal(signal.SIGINT)
        done.append("rest of the clean-up")
    assert done == ["rest of the clean-up"]


def test_close_contender_is_not_cut_by_ctrl_c(ctrl_c):
    # Before: the interrupt landed inside the buffer's close (shutil.rmtree of its folder),
    # which then failed half-way with OSError(EBADF) instead.
    steps = []

    class Closing:
        def close(self) -> None:
            steps.append("first")
            signal.raise_signal(signal.SIGINT)
            steps.append("second")

    with pytest.raises(KeyboardInterrupt):
        close_contender(Closing())
    assert steps == ["first", "second"]
