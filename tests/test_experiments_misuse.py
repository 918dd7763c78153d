"""The experiments' Python API (as the notebooks call it) refuses wrong arguments before any
run starts, in one line naming the argument: no list read letter by letter, no flag that is
merely truthy, no error from deep inside after minutes of runs."""

from __future__ import annotations

import pytest

from pcmodel.experiments import runner
from pcmodel.experiments.bench import BenchConfig
from pcmodel.experiments.contenders import ActorKind
from pcmodel.experiments.work import Work

TINY = {"items": 4, "producers": 1, "consumers": 1}


@pytest.fixture
def no_runs(monkeypatch):
    """Fail the test if a run starts: every mistake must be found before the first one."""
    def refuse(*args, **kwargs):
        raise AssertionError("a run started before the arguments were checked")

    monkeypatch.setattr(runner, "_supervise", refuse)


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"timeout": "60"}, ValueError, "timeout must be a positive number of seconds"),
    ({"timeout": True}, ValueError, "timeout must be a positive number of seconds"),
    ({"progress": "no"}, TypeError, "progress must be True, False or None"),
    ({"produce_work": 5}, TypeError, "work must be text such as 'sleep:0.001'"),
])
def test_run_workload_refuses_a_wrong_argument(no_runs, kwargs, error, words):
    with pytest.raises(error, match=words):
        runner.run_workload(**TINY, **kwargs)


def test_work_parse_names_what_it_takes_for_a_bare_number():
    with pytest.raises(TypeError, match="a Work or None, not 0.001"):
        Work.parse(0.001)


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda: runner.capacity_sweep(variants="condition", capacities=(1,), **TINY), TypeError,
     r"variants must be a list of values, not 'condition': write variants=\['condition'\]"),
    (lambda: runner.capacity_sweep(capacities=4, **TINY), TypeError,
     r"capacities must be a list of values, not 4"),
    (lambda: runner.actor_sweep(backends="thread", counts=(1,), items=4), TypeError,
     "backends must be a list of values"),
    (lambda: runner.actor_sweep(counts=1, items=4), TypeError, "counts must be a list"),
    (lambda: runner.speed_ratio_sweep(ratios=2.0, **TINY), TypeError,
     "ratios must be a list of values"),
    (lambda: runner.speed_ratio_sweep(ratios=["2"], **TINY), ValueError,
     "speed ratios must be numbers > 0"),
    (lambda: runner.sweep({"capacity": "12"}, **TINY), TypeError,
     "capacity must be a list of values"),
    (lambda: runner.sweep([("capacity", [1])], **TINY), TypeError, "grid must be a dict"),
    (lambda: runner.sweep({"capacty": [1]}, **TINY), TypeError,
     "run_workload has no argument 'capacty'"),
    (lambda: runner.sweep({"capacity": [1]}, progress="no", **TINY), TypeError,
     "progress must be True, False or None"),
    (lambda: runner.speed_ratio_sweep(ratios=[1.0], produce_work="sleep:0.001", **TINY),
     ValueError, "speed_ratio_sweep sets produce_work itself"),
    (lambda: runner.actor_sweep(counts=(1,), producers=2, items=4), ValueError,
     "actor_sweep sets producers itself"),
], ids=["variants-str", "capacities-int", "backends-str", "counts-int", "ratios-float",
        "ratio-str", "grid-str", "grid-list", "grid-typo", "progress-str", "ratio-clash",
        "actor-clash"])
def test_sweeps_refuse_a_wrong_argument_before_any_run(no_runs, call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize("sweep", [
    lambda: runner.sweep({"capacity": [1, 2, "x"]}, **TINY),
    lambda: runner.capacity_sweep(capacities=(1, 2), variants=("condition", "conditon"),
                                  **TINY),
    lambda: runner.actor_sweep(counts=(1, 2), backends=("thread", "proces"), items=4),
], ids=["last-capacity", "second-variant", "second-backend"])
def test_a_mistake_in_a_later_run_of_a_sweep_is_found_before_the_first(no_runs, sweep):
    with pytest.raises(ValueError):
        sweep()


def test_table_refuses_what_is_not_a_run_result():
    with pytest.raises(TypeError, match="table\\(\\) takes RunResults"):
        runner.table([1, 2])


@pytest.mark.parametrize(("fields", "error", "words"), [
    ({"backends": ("thread", "proces")}, ValueError, "unknown backend 'proces'"),
    ({"repeat": 0}, ValueError, "repeat must be from 1 to 1000"),
    ({"capacities": 16}, TypeError, "capacities must be a tuple of values"),
    ({"item_sizes": (0,)}, ValueError, "item_sizes must be from 1 to"),
    ({"actors": (1,)}, TypeError, "actors must hold \\(producers, consumers\\) pairs"),
    ({"min_items": 10, "max_items": 5}, ValueError, "max_items must be at least 10"),
    ({"trial_seconds": float("nan")}, ValueError, "trial_seconds must be a number"),
    ({"start_method": "nope"}, ValueError, "start_method 'nope' is not available"),
    ({"capacities": (16, 16)}, ValueError, "capacities names a value more than once"),
], ids=["backend", "repeat", "capacities", "item-size", "actors", "items", "seconds",
        "start-method", "twice"])
def test_bench_config_refuses_a_wrong_field_when_built(fields, error, words):
    with pytest.raises(error, match=words):
        BenchConfig(**fields)


def test_bench_config_takes_backend_names_and_lists_in_their_normal_form():
    config = BenchConfig(backends=["thread"], capacities=[16], actors=[[1, 1]])
    assert config.backends == (ActorKind.THREAD,)
    assert config.capacities == (16,)
    assert config.actors == ((1, 1),)
