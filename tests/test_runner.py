"""The workload runner: conservation, failures re-raised, clean termination, consistent results."""

from __future__ import annotations

import io
import json
import multiprocessing
import random

import pytest

from pcmodel.buffers import BACKENDS, VARIANTS, ConditionBuffer
from pcmodel.experiments.progress import ProgressBar, progress
from pcmodel.experiments.runner import (
    ConservationError,
    Role,
    RunResult,
    Spread,
    Work,
    WorkerError,
    WorkKind,
    actor_sweep,
    capacity_sweep,
    run_workload,
    speed_ratio_sweep,
    sweep,
    table,
)
from pcmodel.instrument import Level

START_METHODS = multiprocessing.get_all_start_methods()


class FailingWork(Work):
    """Work that raises on the item numbered ``amount`` of an actor (counting from 0)."""

    def perform(self, rng: random.Random) -> None:
        count = getattr(self, "_count", 0)
        object.__setattr__(self, "_count", count + 1)
        if count == int(self.amount):
            raise ValueError(f"failing on purpose at item {count}")


class LossyBuffer(ConditionBuffer):
    """A broken buffer that silently drops the item numbered 7."""

    def put(self, item, block=True, timeout=None):
        if item != 7:
            super().put(item, block, timeout)


def check_consistent(result: RunResult) -> None:
    """Invariants every successful RunResult must satisfy."""
    assert result.items_moved == result.items
    made = [a for a in result.actors if a.role is Role.PRODUCER]
    used = [a for a in result.actors if a.role is Role.CONSUMER]
    assert len(made) == result.producers and len(used) == result.consumers
    assert sum(a.items for a in made) == sum(a.items for a in used) == result.items
    assert result.wall_time > 0
    assert result.throughput == pytest.approx(result.items_moved / result.wall_time)
    for actor in result.actors:
        assert 0 <= actor.active <= result.wall_time + 1e-6
    if result.instrument == "off":
        assert result.producer_blocked is None and result.consumer_blocked is None
        assert result.max_depth is None
        return
    assert 0.0 <= result.producer_blocked <= 1.0
    assert 0.0 <= result.consumer_blocked <= 1.0
    for actor in result.actors:
        assert actor.blocked is not None and 0.0 <= actor.blocked_fraction <= 1.0
    assert result.stats.puts == result.stats.gets == result.items
    assert 1 <= result.max_depth <= result.capacity or result.items == 0
    assert result.stats.depth == 0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_item_is_consumed_exactly_once(variant, backend):
    result = run_workload(variant, backend, capacity=2, producers=3, consumers=2, items=301,
                          instrument="counters")
    check_consistent(result)
    assert (result.variant, result.backend, result.capacity) == (variant, backend, 2)
    assert result.start_method == (None if backend == "thread" else
                                   multiprocessing.get_start_method())
    # At the counters level an actor is recorded once it waits (one that always found room or
    # an item has nothing to report, however many items it moved), under its own name.
    assert {s.actor for s in result.stats.actors} <= {a.name for a in result.actors}
    for recorded in result.stats.actors:
        assert recorded.waits_on_full + recorded.waits_on_empty >= 1
        assert recorded.puts is None and recorded.gets is None  # timeline level only


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_batches_conserve_items(variant, backend):
    result = run_workload(variant, backend, capacity=5, producers=2, consumers=3, items=250,
                          batch=7, instrument="counters")
    check_consistent(result)
    assert result.batch == 7


@pytest.mark.timeout(60)
@pytest.mark.skipif("spawn" not in START_METHODS, reason="no spawn start method")
def test_spawned_processes_conserve_items_and_report_blocking():
    result = run_workload("semaphore", "process", capacity=1, producers=2, consumers=2,
                          items=200, context="spawn", instrument="timeline")
    check_consistent(result)
    assert result.start_method == "spawn"
    on_timeline = {interval.actor for interval in result.timeline.intervals}
    assert {a.name for a in result.actors if a.items} <= on_timeline <= {a.name for a in
                                                                         result.actors}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("role", ["produce_work", "consume_work"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_exception_in_an_actor_is_reraised_in_the_caller(backend, role):
    with pytest.raises(WorkerError) as caught:
        run_workload("condition", backend, capacity=1, producers=2, consumers=3, items=200,
                     **{role: FailingWork(WorkKind.SLEEP, 5)})
    error = caught.value
    assert isinstance(error.__cause__, ValueError)
    assert "failing on purpose at item 5" in str(error.__cause__)
    side = "producer" if role == "produce_work" else "consumer"
    assert error.failures and all(name.startswith(side) for name, _ in error.failures)
    assert str(error).startswith(error.failures[0][0])
    # The no_leaks fixture checks that no thread or process outlived the failed run.


@pytest.mark.timeout(30)
def test_shutdown_ends_every_consumer_even_those_that_got_nothing():
    result = run_workload("semaphore", "thread", capacity=1, producers=1, consumers=8, items=3,
                          instrument="counters")
    check_consistent(result)
    consumers = [a for a in result.actors if a.role is Role.CONSUMER]
    assert len(consumers) == 8 and sum(a.items for a in consumers) == 3


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_items_ends_at_once(backend):
    result = run_workload("queue", backend, items=0, instrument="counters")
    assert result.items_moved == 0 and result.throughput >= 0


@pytest.mark.timeout(30)
def test_a_lost_item_is_reported_loudly(monkeypatch):
    monkeypatch.setattr("pcmodel.experiments.runner.make_buffer",
                        lambda variant, capacity, backend, **options: LossyBuffer(capacity,
                                                                                  **options))
    with pytest.raises(ConservationError, match="lost or duplicated"):
        run_workload("condition", "thread", capacity=4, items=50)


@pytest.mark.timeout(30)
def test_a_run_longer_than_its_timeout_is_stopped():
    with pytest.raises(TimeoutError, match="timeout"):
        run_workload("condition", "thread", capacity=1, producers=1, consumers=1, items=1000,
                     consume_work="sleep:0.05", timeout=0.3)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("instrument", ["off", "counters", "timeline"])
def test_result_fields_follow_the_instrument_level(instrument):
    result = run_workload("condition", "thread", capacity=3, items=400, instrument=instrument,
                          produce_work="cpu:200", consume_work="cpu:300:uniform")
    check_consistent(result)
    assert result.instrument == instrument
    assert result.stats.level is Level(instrument)
    assert (result.timeline is not None) == (instrument == "timeline")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_json_round_trip_is_exact(backend):
    result = run_workload("condition", backend, capacity=2, items=120, instrument="timeline",
                          produce_work="sleep:0.0001:exp", consume_work="cpu:50", seed=7)
    text = json.dumps(result.to_dict())
    again = RunResult.from_dict(json.loads(text))
    assert again == result
    assert again.timeline.intervals == result.timeline.intervals
    assert repr(result).startswith(f"<RunResult condition/{backend} cap=2 2x2: 120 items")
    assert len(repr(result)) < 200  # a notebook echoing a result must not print its timeline
    rows = result.rows()
    assert [r["actor"] for r in rows] == [a.name for a in result.actors]
    assert table([result])[0]["throughput"] == result.throughput
    json.dumps(rows)


def test_work_parses_and_prints_its_spec():
    assert Work.parse("sleep:0.001") == Work(WorkKind.SLEEP, 0.001)
    assert Work.parse("cpu:20000:uniform") == Work(WorkKind.CPU, 20000, Spread.UNIFORM)
    assert Work.parse(" none ") is None and Work.parse(None) is None
    for spec in ("sleep:0.002:exp", "cpu:500", "sleep:0"):
        assert str(Work.parse(spec)) == spec
    for bad in ("sleep", "nap:1", "cpu:1.5", "sleep:-1", "sleep:1:sometimes", "cpu:x"):
        with pytest.raises(ValueError, match="sleep:SECONDS|cpu"):
            Work.parse(bad)
    with pytest.raises(ValueError, match="kind must be one of"):
        Work("dream", 1)


def test_random_work_is_reproducible_from_its_seed():
    work = Work(WorkKind.SLEEP, 0.01, Spread.EXPONENTIAL)
    first = [work.sample(random.Random(3)) for _ in range(5)]
    assert first == [work.sample(random.Random(3)) for _ in range(5)]
    uniform = Work(WorkKind.CPU, 100, Spread.UNIFORM)
    samples = [uniform.sample(random.Random(seed)) for seed in range(50)]
    assert all(0 <= s <= 200 for s in samples) and len(set(samples)) > 1


@pytest.mark.parametrize("kwargs, message", [
    ({"variant": "lockfree"}, "unknown variant"),
    ({"backend": "gpu"}, "unknown backend"),
    ({"producers": 0}, "producers"),
    ({"items": -1}, "items"),
    ({"batch": 0}, "batch"),
    ({"context": "spawn"}, "backend='process'"),
    ({"produce_work": "sleep:fast"}, "cannot read work"),
    ({"instrument": "verbose"}, "not a level"),
    ({"timeout": 0}, "timeout"),
])
def test_bad_arguments_are_rejected_before_anything_starts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_workload(**kwargs)


@pytest.mark.timeout(30)
def test_sweeps_return_results_in_grid_order():
    results = sweep({"capacity": [1, 4], "variant": ["condition", "queue"]}, items=60,
                    instrument="counters")
    assert [(r.capacity, r.variant) for r in results] == [
        (1, "condition"), (1, "queue"), (4, "condition"), (4, "queue")]
    results = capacity_sweep([2, 8], variants=["semaphore"], items=60)
    assert [r.capacity for r in results] == [2, 8]
    results = speed_ratio_sweep([0.5, 2.0], consume_work="cpu:200", items=60)
    assert [r.speed_ratio for r in results] == [0.5, 2.0]
    results = actor_sweep([1, 2], backends=["thread"], items=60)
    assert [(r.producers, r.consumers) for r in results] == [(1, 1), (2, 2)]
    with pytest.raises(ValueError, match="both in the grid"):
        sweep({"capacity": [1]}, capacity=2)


@pytest.mark.timeout(30)
def test_progress_bar_is_drawn_when_asked(capsys):
    run_workload("condition", "thread", items=300, progress=True, instrument="off")
    err = capsys.readouterr().err
    assert "condition/thread [" in err and "300/300" in err and err.endswith("\n")


def test_progress_bar_throttles_and_stays_quiet_off_a_terminal():
    now = [0.0]
    stream = io.StringIO()
    bar = ProgressBar(10, "job", enabled=True, stream=stream, interval=1.0,
                      clock=lambda: now[0])
    bar.advance(3)
    bar.advance(3)  # same instant: not redrawn
    assert stream.getvalue().count("\r") == 1
    now[0] = 2.0
    bar.advance(4)
    bar.close()
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 3 and "10/10" in text and text.endswith("100% 10/10 2.0s\n")
    quiet = io.StringIO()
    assert list(progress(range(4), stream=quiet)) == [0, 1, 2, 3]
    assert quiet.getvalue() == ""  # a StringIO is not a terminal
    with pytest.raises(ValueError, match="total"):
        ProgressBar(-1)
