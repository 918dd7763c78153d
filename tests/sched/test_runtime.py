"""The controlled runtime: primitives keep their threading semantics, time is virtual, every
failure kind is detected and reported, and no run leaves a thread behind."""

from __future__ import annotations

import itertools
import queue
import threading
import time

import pytest

from pcmodel.sched import (
    DepthFirst,
    FailureKind,
    NondeterminismError,
    explore_program,
    primitives,
    run_controlled,
    yield_point,
)


class Box:
    """Mutable holder for state a program rebuilds on every schedule."""

    value: object = None


def two_threads(body_a, body_b):
    def program():
        a = threading.Thread(target=body_a, name="A")
        b = threading.Thread(target=body_b, name="B")
        a.start()
        b.start()
        a.join()
        b.join()

    return program


def test_primitives_are_real_outside_a_run():
    assert not type(threading.Lock()).__module__.startswith("pcmodel.sched")
    yield_point("nothing happens outside a run")  # a no-op
    box = Box()

    def program():
        box.value = (threading.Lock(), threading.Condition(), threading.Semaphore(2))

    schedule = run_controlled(program)
    assert not schedule.failed
    assert [type(p) for p in box.value] == [
        primitives.Lock,
        primitives.Condition,
        primitives.Semaphore,
    ]
    assert threading.Lock is not None and not type(threading.Lock()).__module__.startswith(
        "pcmodel.sched"
    )


def test_controlled_primitives_can_be_inspected_after_the_run():
    box = Box()

    def program():
        box.value = threading.Lock()

    run_controlled(program)
    lock = box.value
    assert lock.acquire()
    assert not lock.acquire(blocking=False)
    lock.release()
    assert not lock.locked()


def counter_program(box, use_lock):
    def program():
        box.value = 0
        lock = threading.Lock()

        def add():
            for _ in range(2):
                if use_lock:
                    with lock:
                        yield_point("read")
                        value = box.value
                        yield_point("write")
                        box.value = value + 1
                else:
                    yield_point("read")
                    value = box.value
                    yield_point("write")
                    box.value = value + 1

        two_threads(add, add)()
        assert box.value == 4, f"lost update: counter is {box.value}, expected 4"

    return program


def test_named_yield_points_expose_a_lost_update():
    box = Box()
    result = explore_program(counter_program(box, use_lock=False), preemption_bound=1)
    assert result.failure is not None
    assert result.failure.kind is FailureKind.EXCEPTION
    assert "lost update" in result.failure.message
    assert result.failure.preemptions == 1
    assert any(e.op == "yield" and e.obj == "read" for e in result.failure.trace)


def test_a_lock_makes_the_counter_correct_for_every_schedule():
    box = Box()
    result = explore_program(counter_program(box, use_lock=True), preemption_bound=3)
    assert result.passed, str(result)
    assert result.exhaustive


def test_dfs_enumerates_each_interleaving_exactly_once():
    orders: list[tuple[str, ...]] = []
    log: list[str] = []

    def body(name):
        def run():
            for i in range(2):
                yield_point(f"{name}{i}")
                log.append(f"{name}{i}")

        return run

    def program():
        log.clear()
        two_threads(body("a"), body("b"))()
        orders.append(tuple(log))

    class Recording(DepthFirst):
        paths: list[tuple[int, ...]] = []

        def finish(self):
            self.paths.append((*self._root, *(node.chosen for node in self._stack)))
            super().finish()

    strategy = Recording(preemption_bound=10)
    result = explore_program(program, strategy=strategy, max_schedules=500)
    assert result.passed and result.exhaustive
    assert len(strategy.paths) == result.schedules == len(set(strategy.paths))
    # Every interleaving of a0 a1 with b0 b1 (C(4, 2) = 6) appears.
    assert set(orders) == {
        order
        for order in {tuple(p) for p in itertools.permutations(["a0", "a1", "b0", "b1"])}
        if order.index("a0") < order.index("a1") and order.index("b0") < order.index("b1")
    }


def test_rlock_is_reentrant_and_owned():
    box = Box()

    def program():
        lock = threading.RLock()
        with lock, lock:
            box.value = lock._count
        errors = []

        def other():
            try:
                lock.release()
            except RuntimeError as exc:
                errors.append(str(exc))

        t = threading.Thread(target=other)
        with lock:
            t.start()
            t.join()
        box.value = (box.value, errors)

    schedule = run_controlled(program)
    assert not schedule.failed, schedule.message
    count, errors = box.value
    assert count == 2
    assert errors and "un-acquired" in errors[0]


def test_bounded_semaphore_rejects_extra_release():
    def program():
        sem = threading.BoundedSemaphore(1)
        sem.release()

    schedule = run_controlled(program)
    assert schedule.failure_kind is FailureKind.EXCEPTION
    assert "released too many times" in schedule.message


def test_event_wakes_waiters():
    box = Box()

    def program():
        event = threading.Event()
        seen = []

        def waiter():
            seen.append(event.wait())

        threads = [threading.Thread(target=waiter) for _ in range(2)]
        for t in threads:
            t.start()
        event.set()
        for t in threads:
            t.join()
        box.value = seen

    result = explore_program(program)
    assert result.passed
    assert box.value == [True, True]


def test_virtual_time_sleep_and_timeouts():
    box = Box()

    def program():
        start = time.monotonic()
        cond = threading.Condition()
        with cond:
            notified = cond.wait(timeout=2.5)
        time.sleep(10)
        event = threading.Event()
        flag = event.wait(timeout=1)
        q = queue.Queue(maxsize=1)
        try:
            q.get(timeout=0.5)
            got = "item"
        except queue.Empty:
            got = "empty"
        box.value = (notified, flag, got, time.monotonic() - start, time.perf_counter())
        box.wall = time.time()

    schedule = run_controlled(program)
    assert not schedule.failed, schedule.message
    notified, flag, got, elapsed, perf = box.value
    assert notified is False and flag is False and got == "empty"
    assert elapsed == pytest.approx(14.0)
    assert perf == pytest.approx(14.0)
    assert box.wall == pytest.approx(1_700_000_014.0)


def test_sleeping_threads_wake_in_deadline_order():
    box = Box()

    def program():
        order = []

        def sleeper(name, seconds):
            time.sleep(seconds)
            order.append((name, time.monotonic()))

        threads = [
            threading.Thread(target=sleeper, args=("slow", 3)),
            threading.Thread(target=sleeper, args=("fast", 1)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        box.value = order

    result = explore_program(program)
    assert result.passed
    assert box.value == [("fast", 1.0), ("slow", 3.0)]


def test_deadlock_report_names_waiters_and_holders():
    def program():
        first, second = threading.Lock(), threading.Lock()

        def forward():
            with first:
                yield_point("between locks")
                with second:
                    pass

        def backward():
            with second:
                yield_point("between locks")
                with first:
                    pass

        two_threads(forward, backward)()

    result = explore_program(program, preemption_bound=1)
    failure = result.failure
    assert failure is not None and failure.kind is FailureKind.DEADLOCK
    assert "A waits to acquire Lock2, held by B" in failure.message
    assert "B waits to acquire Lock1, held by A" in failure.message
    assert "main waits to join A" in failure.message


def test_queue_queue_built_in_the_run_is_controlled():
    def program():
        q = queue.Queue()
        q.get()  # nobody will ever put

    schedule = run_controlled(program)
    assert schedule.failure_kind is FailureKind.DEADLOCK
    assert "not_empty" in schedule.message or "Condition" in schedule.message


def test_livelock_when_a_thread_spins():
    box = Box()

    def program():
        box.value = False

        def spin():
            while not box.value:
                yield_point("spin")

        def setter():
            yield_point("before set")
            box.value = True

        two_threads(spin, setter)()

    result = explore_program(program, max_steps=200)
    assert result.failure is not None
    assert result.failure.kind is FailureKind.LIVELOCK


@pytest.mark.timeout(20)
def test_stuck_thread_is_interrupted_and_reported():
    def program():
        def forever():
            x = 0
            while True:
                x += 1

        t = threading.Thread(target=forever)
        t.start()
        t.join()

    schedule = run_controlled(program, step_timeout=0.3)
    assert schedule.failure_kind is FailureKind.STUCK
    assert schedule.leaked == ()


def test_spurious_wakeups_expose_if_around_wait():
    box = Box()

    def program():
        cond = threading.Condition()
        items = []
        box.value = items

        def consumer():
            with cond:
                if not items:
                    cond.wait()
                items.pop()

        def producer():
            with cond:
                items.append(1)
                cond.notify()

        two_threads(consumer, producer)()

    assert explore_program(program).passed
    result = explore_program(program, spurious_wakeups=1)
    assert result.failure is not None
    assert "IndexError" in result.failure.message
    assert any(e.op == "woken spuriously on" for e in result.failure.trace)


def test_invariants_are_checked_after_every_step():
    box = Box()

    def program():
        box.value = 0

        def bump():
            box.value += 1
            yield_point("after bump")
            box.value -= 1

        two_threads(bump, bump)()

    def at_most_one():
        assert box.value is None or box.value <= 1, f"value is {box.value}"
        return True

    result = explore_program(program, invariants=[at_most_one])
    assert result.failure is not None
    assert result.failure.kind is FailureKind.INVARIANT
    assert "at_most_one" in result.failure.message


def test_replay_rejects_a_foreign_schedule():
    box = Box()
    with pytest.raises(NondeterminismError):
        run_controlled(counter_program(box, use_lock=False), decisions=[7, 7, 7])


def test_same_seed_same_schedule():
    box = Box()
    first = run_controlled(counter_program(box, use_lock=False), strategy="random", seed=11)
    second = run_controlled(counter_program(box, use_lock=False), strategy="random", seed=11)
    assert first.events == second.events
    assert first.decisions == second.decisions


def test_exception_traceback_shows_the_program_not_the_scheduler():
    def program():
        raise KeyError("boom")

    schedule = run_controlled(program)
    assert schedule.failure_kind is FailureKind.EXCEPTION
    assert "KeyError" in schedule.message
    assert "pcmodel/sched/" not in schedule.message  # none of the scheduler's modules


def test_runs_cannot_nest():
    box = Box()

    def inner():
        pass

    def program():
        try:
            run_controlled(inner)
        except RuntimeError as exc:
            box.value = str(exc)

    run_controlled(program)
    assert "inside another" in box.value


def test_daemon_threads_do_not_keep_the_program_alive():
    def program():
        cond = threading.Condition()

        def serve_forever():
            with cond:
                while True:
                    cond.wait()

        threading.Thread(target=serve_forever, daemon=True).start()

    result = explore_program(program)
    assert result.passed, str(result)


def test_barrier_built_in_the_run_is_controlled():
    box = Box()

    def program():
        barrier = threading.Barrier(2)
        order = []

        def party(name):
            order.append(f"{name} arrives")
            barrier.wait()
            order.append(f"{name} leaves")

        two_threads(lambda: party("A"), lambda: party("B"))()
        box.value = order

    result = explore_program(program)
    assert result.passed, str(result)
    assert all("arrives" in step for step in box.value[:2])


def test_which_waiter_notify_wakes_is_a_choice():
    def program():
        lock = threading.Lock()
        arrived = threading.Condition(lock)
        go = threading.Condition(lock)
        ready, woken = [], []

        def waiter(name):
            with lock:
                ready.append(name)
                arrived.notify()
                go.wait()
                woken.append(name)
                go.notify()  # pass the wake-up on so that everybody finishes

        def notifier():
            with lock:
                while len(ready) < 2:
                    arrived.wait()
                go.notify()

        threads = [threading.Thread(target=waiter, args=(n,), name=n) for n in "AB"]
        threads.append(threading.Thread(target=notifier, name="N"))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert woken[0] == ready[0], f"{woken[0]} woke before {ready[0]}"

    assert explore_program(program, notify_order="fifo").passed
    result = explore_program(program)
    assert result.failure is not None
    assert "woke before" in result.failure.message


def test_thread_api_inside_a_run():
    box = Box()

    def program():
        seen = {}

        def body(tag):
            seen[tag] = threading.current_thread().name

        t = threading.Thread(target=body, args=("x",), name="worker")
        assert not t.is_alive() and t.ident is None
        t.start()
        t.join()
        assert not t.is_alive()
        try:
            t.start()
        except RuntimeError as exc:
            seen["twice"] = str(exc)
        box.value = seen

    schedule = run_controlled(program)
    assert not schedule.failed, schedule.message
    assert box.value == {"x": "worker", "twice": "threads can only be started once"}


def test_wait_for_uses_the_virtual_clock():
    box = Box()

    def program():
        cond = threading.Condition()
        state = {"ready": False}

        def later():
            time.sleep(5)
            with cond:
                state["ready"] = True
                cond.notify_all()

        t = threading.Thread(target=later)
        t.start()
        with cond:
            early = cond.wait_for(lambda: state["ready"], timeout=1)
            at_timeout = time.monotonic()
            late = cond.wait_for(lambda: state["ready"])
        t.join()
        box.value = (early, at_timeout, late, time.monotonic())

    result = explore_program(program)
    assert result.passed, str(result)
    assert box.value == (False, 1.0, True, 5.0)


class Adder(threading.Thread):
    """A Thread subclass defined at import time, i.e. of the real threading.Thread."""

    def __init__(self, box):
        super().__init__(name="adder")
        self.box = box

    def run(self):
        yield_point("read")
        value = self.box.value
        yield_point("write")
        self.box.value = value + 1


def test_subclasses_of_the_real_thread_are_managed():
    box = Box()

    def program():
        box.value = 0
        workers = [Adder(box), Adder(box)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not any(w.is_alive() for w in workers)
        assert box.value == 2, f"lost update: {box.value}"

    result = explore_program(program)
    assert result.failure is not None
    assert "lost update" in result.failure.message
    header = result.failure.table().splitlines()[0]
    assert "adder " in header and "adder#2" in header  # one column per thread
    # Outside a run the class is an ordinary thread.
    box.value = 0
    outside = Adder(box)
    outside.start()
    outside.join(timeout=10)
    assert box.value == 1 and not outside.is_alive()


@pytest.mark.timeout(20)
def test_a_run_ended_while_a_thread_passes_its_gate_still_ends_it():
    # Ctrl-C can end a run just after the controller opened a thread's gate and before the thread
    # passed it (the controller runs in the main thread, where the interrupt lands): the teardown
    # must end that thread too, not fail on the open gate.
    from pcmodel.sched.model import ManagedThread, Pending
    from pcmodel.sched.runtime import ControlledRun

    run = ControlledRun(DepthFirst())
    thread = ManagedThread(0, "main", run, lambda: None)
    thread.pending = Pending("start")
    run.threads.append(thread)
    thread.gate.release()  # the baton handed over; the thread has not taken it yet
    run._end_all()
    assert thread.aborting
    assert thread.gate.acquire(timeout=5)  # the gate is passable: the thread goes on to abort
