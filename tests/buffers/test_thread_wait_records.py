"""Recording a wait (instrument="counters"): what it costs, and whose tally it lands in.

At capacity 1 with several producers and consumers nearly every call waits, so a recorded wait
is on the hot path of the ``counters`` level: it is a short, fixed path, pinned down here in
Python calls (exact, unlike time).
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.instrument import ActorState
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(30)


class FakeClock:
    """A clock the test advances by hand: durations become exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def python_calls(action) -> list[str]:
    """The Python functions ``action()`` calls, in order (built-ins and C methods not listed)."""
    calls = []

    def note(frame, event, _arg):
        if event == "call":
            calls.append(frame.f_code.co_name)

    sys.setprofile(note)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls[1:]  # the action itself


def test_the_waiting_states_are_module_constants():
    from pcmodel import instrument

    assert instrument.WAITING_FOR_SPACE is ActorState.WAITING_FOR_SPACE
    assert instrument.WAITING_FOR_ITEMS is ActorState.WAITING_FOR_ITEMS
    assert {"WAITING_FOR_SPACE", "WAITING_FOR_ITEMS"} <= set(instrument.__all__)


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_a_recorded_wait_is_the_buffer_call_and_the_recorder_call(variant):
    buf = make_buffer(variant, 1, instrument="counters")  # the default clock: no Python call
    state = ActorState.WAITING_FOR_ITEMS
    started = time.perf_counter()
    buf._wait_ended(state, started)  # a thread's first record creates its tally
    # Every later one finds it at once: no call beyond the buffer's and the recorder's.
    assert python_calls(lambda: buf._wait_ended(state, started)) == ["_wait_ended", "on_wait"]
    (actor,) = buf.stats().actors
    assert actor.waits_on_empty == 2 and actor.blocked_on_empty > 0


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_each_wait_lands_in_the_tally_of_the_thread_that_waited(variant):
    clock = FakeClock()
    buf = make_buffer(variant, 1, instrument="counters", clock=clock)
    getter = threading.Thread(target=buf.get, name="consumer")
    getter.start()
    wait_until(lambda: buf.waiting == (0, 1))
    clock.now += 1.5  # the consumer waits 1.5 clock seconds for an item
    buf.put("first")
    getter.join(10)
    buf.put("second")
    putter = threading.Thread(target=buf.put, args=("third",), name="producer")
    putter.start()
    wait_until(lambda: buf.waiting == (1, 0))
    clock.now += 2.0  # the producer waits 2 clock seconds for space
    assert buf.get() == "second"
    putter.join(10)
    assert not getter.is_alive() and not putter.is_alive()
    actors = {a.actor: a for a in buf.stats().actors}
    assert set(actors) == {"consumer", "producer"}  # the main thread never waited
    consumer, producer = actors["consumer"], actors["producer"]
    assert (consumer.waits_on_empty, consumer.waits_on_full) == (1, 0)
    assert consumer.blocked_on_empty == pytest.approx(1.5) and consumer.blocked_on_full == 0
    assert (producer.waits_on_full, producer.waits_on_empty) == (1, 0)
    assert producer.blocked_on_full == pytest.approx(2.0) and producer.blocked_on_empty == 0
