"""Each trial of ``pcmodel bench`` is sized to last the time asked, whatever a trial's start
costs.

A trial pays a fixed cost to start (its actors' first calls; for processes, their first
touches of memory after a fork). A warm-up of a few hundred items measures mostly that, and
sizing the trials from it gave a point's contenders trials of very different lengths, each
biased by how much of its own start it amortised. Here ``run_trial`` is replaced by a model
(a start cost plus a steady rate per contender), so the sizing is checked exactly, with no
timing of real code.
"""

from __future__ import annotations

import pytest

from pcmodel.experiments import bench
from pcmodel.experiments.bench import BenchConfig, run_benchmarks
from pcmodel.experiments.contenders import ActorKind

pytestmark = pytest.mark.timeout(60)

START = 0.005  # seconds every modelled trial pays before its first item moves


def steady_rate(name: str) -> float:
    """Items per second once started: a different one per contender, up to 40x apart."""
    return 100_000.0 * (1 + sum(map(ord, name)) % 40)


def modelled_trial(contender, capacity, producers, consumers, items, context=None,
                   item_size=8, usage=None):
    seconds = START + items / steady_rate(contender.name)
    return items / seconds, items


@pytest.fixture
def sized(monkeypatch):
    monkeypatch.setattr(bench, "run_trial", modelled_trial)
    monkeypatch.setattr(bench, "measure_uncontended", lambda *args: {})
    config = BenchConfig(repeat=1, trial_seconds=0.3, capacities=(1024,), actors=((4, 4),),
                         backends=(ActorKind.THREAD,))
    steps: list[tuple[int, int]] = []
    results = run_benchmarks(config, on_progress=lambda done, total: steps.append((done, total)))
    return config, results["measurements"], steps


def test_every_trial_lasts_about_the_time_asked(sized):
    config, measurements, _ = sized
    assert len(measurements) > 5
    for m in measurements:
        seconds = START + m["items"] / steady_rate(m["contender"])
        assert 0.5 * config.trial_seconds <= seconds <= 1.5 * config.trial_seconds, m


def test_contenders_at_a_point_get_trials_of_like_lengths(sized):
    _, measurements, _ = sized
    lengths = [START + m["items"] / steady_rate(m["contender"]) for m in measurements]
    assert max(lengths) <= 1.5 * min(lengths), lengths


def test_the_warm_ups_count_once_each_in_the_progress(sized):
    _, measurements, steps = sized
    total = 2 * len(measurements)  # one warm-up and one repetition per contender
    assert steps[-1] == (total, total)
    assert [done for done, _ in steps] == list(range(1, total + 1))
