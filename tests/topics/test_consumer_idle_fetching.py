"""A consumer that is not polling does not keep fetching what is not there.

With ``fetch_max_wait_ms=0`` the broker answers an empty fetch at once; the fetcher used to ask
again at once, some 20,000 times a second, while the application was not even polling. The
Java client sends fetches only within ``poll()``: after a fetch that brought nothing, the
fetcher now waits for a ``poll()`` (or for something new to fetch: a seek, an assignment).

The bound is exact in the fetcher's logic: once ``poll()`` has returned, at most two fetches
follow (one in flight, and one for a poll that began while it was), whatever the scheduling; a
window of 0.3 s (an ``Event.wait``) then sees at most those two, where a spinning fetcher makes
thousands. The window can only make the test pass too easily on a stalled machine, never fail.
"""

from __future__ import annotations

import threading

import pytest

from tests.topics.conftest import fill, tp, wait_until

pytestmark = pytest.mark.timeout(30)

T0 = tp("t", 0)
WINDOW_S = 0.3
#: Fetches allowed in the window after poll() returned: two can happen, more is spinning.
MOST_FETCHES = 5


def fetches(consumer) -> int:
    return consumer.metrics()["consumer-fetch-manager-metrics"]["fetch-total"]


def fetches_in_window(consumer) -> int:
    before = fetches(consumer)
    threading.Event().wait(WINDOW_S)  # the window itself: nothing to wait for
    return fetches(consumer) - before


@pytest.fixture
def idle_consumer(broker, make_consumer):
    broker.create_topic("t", 1)
    consumer = make_consumer(fetch_max_wait_ms=0, auto_offset_reset="earliest")
    consumer.assign([T0])
    return consumer


def test_an_idle_consumer_on_an_empty_topic_does_not_keep_fetching(idle_consumer):
    assert idle_consumer.poll(timeout_ms=0) == {}  # positions the partition: fetching starts
    wait_until(lambda: fetches(idle_consumer) >= 1)
    assert fetches_in_window(idle_consumer) <= MOST_FETCHES


def test_a_consumer_with_records_buffered_does_not_keep_fetching(broker, idle_consumer):
    """Every record fetched and waiting in the consumer: nothing left to fetch until a poll."""
    fill(broker, "t", 0, [b"r%d" % i for i in range(100)])
    got = idle_consumer.poll(timeout_ms=10_000, max_records=1)
    assert [r.value for r in got[T0]] == [b"r0"]
    assert fetches_in_window(idle_consumer) <= MOST_FETCHES
    assert len(idle_consumer.poll(timeout_ms=0)[T0]) == 99  # buffered, not fetched again


def test_a_poll_still_gets_records_that_arrive_while_it_waits(broker, idle_consumer):
    assert idle_consumer.poll(timeout_ms=0) == {}
    wait_until(lambda: fetches(idle_consumer) >= 1)
    before = fetches(idle_consumer)

    def produce_once_the_poll_fetches() -> None:
        wait_until(lambda: fetches(idle_consumer) > before + 2)  # fetching for the poll
        fill(broker, "t", 0, [b"late"])

    producer = threading.Thread(target=produce_once_the_poll_fetches)
    producer.start()
    try:
        got = idle_consumer.poll(timeout_ms=10_000)
    finally:
        producer.join()
    assert [r.value for r in got[T0]] == [b"late"]


def test_polling_without_waiting_still_gets_new_records(broker, idle_consumer):
    """Each poll(timeout_ms=0) sends a fetch, whose records the next poll returns."""
    assert idle_consumer.poll(timeout_ms=0) == {}
    wait_until(lambda: fetches(idle_consumer) >= 1)
    assert fetches_in_window(idle_consumer) <= MOST_FETCHES  # idle now
    fill(broker, "t", 0, [b"new"])
    got: list = []

    def polled() -> bool:
        for records in idle_consumer.poll(timeout_ms=0).values():
            got.extend(r.value for r in records)
        return bool(got)

    wait_until(polled)
    assert got == [b"new"]


def test_a_seek_while_idle_fetches_again(broker, idle_consumer):
    fill(broker, "t", 0, [b"a", b"b"])
    assert [r.value for r in idle_consumer.poll(timeout_ms=10_000, max_records=2)[T0]] == [
        b"a", b"b"]
    assert fetches_in_window(idle_consumer) <= MOST_FETCHES  # caught up, idle
    before = fetches(idle_consumer)
    idle_consumer.seek(T0, 0)
    wait_until(lambda: fetches(idle_consumer) > before)  # without a poll(): the seek wakes it
    assert [r.value for r in idle_consumer.poll(timeout_ms=10_000)[T0]] == [b"a", b"b"]
