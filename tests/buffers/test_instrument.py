"""Counters, blocked time per actor, timelines and the no-busy-waiting guarantee (threads)."""

from __future__ import annotations

import itertools
import queue
import threading
import time

import pytest

from pcmodel.buffers import VARIANTS, make_buffer
from pcmodel.instrument import ActorState, Level, NotRecorded
from tests.conftest import wait_until


class FakeClock:
    """A clock the test advances by hand: durations become exact."""

    def __init__(self):
        self.now = 100.0
        self.read_by: list[str] = []  # the name of each thread that read the clock, in order

    def __call__(self):
        self.read_by.append(threading.current_thread().name)
        return self.now


@pytest.mark.parametrize("variant", VARIANTS)
def test_off_records_nothing(variant):
    buf = make_buffer(variant, 2)
    buf.put(1)
    buf.get()
    stats = buf.stats()
    # Nothing recorded, and the snapshot says so instead of showing zeros as measurements.
    assert stats.level is Level.OFF and not stats.recorded and stats.actors == ()
    assert stats.puts is None and stats.gets is None and stats.max_depth is None
    assert stats.depth == 0 and stats.maxsize == 2  # observed, not recorded: always real
    for measurement in ("throughput", "blocked_on_full", "blocked_on_empty"):
        with pytest.raises(NotRecorded, match='instrument="off"'):
            getattr(stats, measurement)


@pytest.mark.parametrize("level", ["counters", "timeline"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_counts_buffer_wide_and_per_actor(variant, level):
    buf = make_buffer(variant, 16, instrument=level)

    def work(name, n):
        threading.current_thread().name = name
        for i in range(n):
            buf.put(i)

    threads = [threading.Thread(target=work, args=(f"P{i}", 5)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    taker = threading.Thread(target=lambda: taken.extend(buf.get_many(10)), name="C")
    taken = []
    taker.start()
    taker.join(10)
    assert len(taken) == 10
    stats = buf.stats()
    rows = {row["actor"]: row for row in stats.rows()}
    if level == "timeline":  # per-actor item counts cost too much for the counters level
        assert rows["P0"]["puts"] == rows["P1"]["puts"] == 5 and rows["C"]["gets"] == 10
    else:
        assert all(row["puts"] is None and row["gets"] is None for row in rows.values())
    assert (stats.puts, stats.gets, stats.depth) == (10, 10, 0)
    assert 1 <= stats.max_depth <= 10
    buf.reset_stats()
    assert buf.stats().puts == 0 and buf.stats().actors == ()


@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("level", ["counters", "timeline"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_counts_and_max_depth_survive_task_done_reset_and_immediate_shutdown(
        variant, level, backend):
    # Puts are not counted one by one (condition, semaphore derive them from the task
    # accounting) and only a new maximum depth is reported: the totals must still be exact.
    with make_buffer(variant, 8, backend, instrument=level) as buf:
        buf.put_many([1, 2, 3])
        assert buf.get_many(2) == [1, 2]
        buf.task_done()
        buf.task_done()
        buf.put(4)
        stats = buf.stats()
        assert (stats.puts, stats.gets, stats.max_depth, stats.depth) == (4, 2, 3, 2)
        buf.reset_stats()  # two items in, two of the four still not done
        stats = buf.stats()
        assert (stats.puts, stats.gets, stats.max_depth) == (0, 0, 2)
        buf.put(5)
        buf.put(6)
        buf.task_done()
        buf.task_done()
        stats = buf.stats()
        assert (stats.puts, stats.gets, stats.max_depth, stats.depth) == (2, 0, 4, 4)
        buf.shutdown(immediate=True)  # discards four items: neither taken nor put again
        stats = buf.stats()
        assert (stats.puts, stats.gets, stats.max_depth, stats.depth) == (2, 0, 4, 0)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_time_blocked_on_empty_is_measured_with_the_injected_clock(variant):
    clock = FakeClock()
    buf = make_buffer(variant, 1, instrument="timeline", clock=clock)
    got = threading.Event()

    def getter():
        threading.current_thread().name = "consumer"
        buf.get()
        got.set()

    thread = threading.Thread(target=getter)
    thread.start()
    if variant == "queue":
        # The queue variant cannot report its waiters, but it reads the clock when it finds
        # the queue empty, just before it waits: from then on the get counts as a wait.
        wait_until(lambda: "consumer" in clock.read_by)
    else:
        wait_until(lambda: buf.waiting == (0, 1))
    clock.now += 2.5  # the consumer waits 2.5 clock seconds
    buf.put("x")
    assert got.wait(10)
    thread.join(10)
    stats = buf.stats()
    consumer = next(a for a in stats.actors if a.actor == "consumer")
    if variant != "queue":  # the queue variant starts timing when it knows it must wait
        assert consumer.blocked_on_empty == pytest.approx(2.5)
    assert consumer.waits_on_empty == 1 and consumer.blocked_on_full == 0
    waits = [i for i in stats.timeline.intervals if i.state is ActorState.WAITING_FOR_ITEMS]
    assert len(waits) == 1 and waits[0].actor == "consumer"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_timeline_covers_each_actor_without_gaps(variant):
    buf = make_buffer(variant, 1, instrument="timeline")

    def producer():
        for i in range(200):
            buf.put(i)

    def consumer():
        for _ in range(200):
            buf.get()

    threads = [threading.Thread(target=producer, name="P"), threading.Thread(target=consumer,
                                                                            name="C")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    timeline = buf.stats().timeline
    assert set(timeline.actors) == {"P", "C"}
    for actor in ("P", "C"):
        mine = [i for i in timeline.intervals if i.actor == actor]
        for before, after in itertools.pairwise(mine):
            assert before.end == pytest.approx(after.start), "gap or overlap in the timeline"
    assert all(0 <= depth <= 1 for _, depth in timeline.depth)
    assert len(timeline.depth) == 400
    assert [t for t, _ in timeline.depth] == sorted(t for t, _ in timeline.depth)
    assert {row["state"] for row in timeline.rows()} <= {s.value for s in ActorState}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_blocked_thread_uses_no_cpu(variant):
    buf = make_buffer(variant, 1)
    used = []

    def getter():
        started = time.thread_time()
        with pytest.raises(queue.Empty):
            buf.get(timeout=0.3)
        used.append(time.thread_time() - started)

    thread = threading.Thread(target=getter)
    thread.start()
    thread.join(10)
    assert used and used[0] < 0.1, f"a getter blocked for 0.3 s used {used} s of CPU"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", ["process", "thread"])
def test_the_condition_variant_records_a_wait_where_its_backend_says(backend):
    """Between processes a wait's record (a clock read and a tally) runs once the lock is let
    go; between threads, under the GIL, at once (see ``Backend.records_waits_unlocked``)."""
    buf = make_buffer("condition", 1, backend, instrument="counters")

    def locked():
        return buf._mutex._owner.value != 0 if backend == "process" else buf._mutex.locked()

    lock_held_while_recording = []
    record = buf._rec.on_wait

    def on_wait(state, start, end):
        lock_held_while_recording.append((state, locked()))
        record(state, start, end)

    buf._rec.on_wait = on_wait
    try:
        getter = threading.Thread(target=buf.get)
        getter.start()
        wait_until(lambda: buf.waiting == (0, 1))
        buf.put("first")  # wakes the getter
        getter.join(10)
        buf.put("second")
        putter = threading.Thread(target=buf.put, args=("third",))
        putter.start()
        wait_until(lambda: buf.waiting == (1, 0))
        assert buf.get() == "second"  # wakes the putter
        putter.join(10)
        assert not getter.is_alive() and not putter.is_alive()
        held = backend == "thread"
        assert lock_held_while_recording == [(ActorState.WAITING_FOR_ITEMS, held),
                                             (ActorState.WAITING_FOR_SPACE, held)]
        waits = sorted((a.waits_on_empty, a.waits_on_full) for a in buf.stats().actors
                       if a.waits_on_empty or a.waits_on_full)
        assert waits == [(0, 1), (1, 0)]  # both waits counted, each by the thread that waited
    finally:
        buf.close()
