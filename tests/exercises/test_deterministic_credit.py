"""Partial credit is deterministic: checks that used to catch a bug only in some gradings.

Each of these checks once depended on timing or on an unseeded draw, so the same zoo file got
different scores from one grading to the next. Each is now run a few times on the buggy file (it
must fail every time, for the same reason) and on the reference (it must pass). The full
survey, every zoo entry graded repeatedly, is a script: ``exercises/zoo/score_spread.py``.
"""

from __future__ import annotations

from functools import partial

import pytest

from pcmodel.grading import (
    assignor_checks,
    buffer_checks,
    pipeline_checks,
    process_checks,
    process_stepped_checks,
)
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.engine import exercises_root, find
from pcmodel.grading.mutation_operators import mutants_of

ROOT = exercises_root()
RUNS = 3


def _failures(check, impl: str) -> list[str]:
    """What ``check(impl)`` reported in each of RUNS runs ("" for a pass)."""
    seen = []
    for _ in range(RUNS):
        try:
            check(impl)
        except CheckFailed as failed:
            seen.append(str(failed))
        else:
            seen.append("")
    return seen


def _many_threads(impl: str) -> None:
    """Exercise 01's many-threads check, as its suite calls it."""
    buffer_checks.check_stress(impl, producers=3, consumers=4, items=30, capacity=2,
                               trials=12, noise=0.25, seed=201)


@pytest.mark.parametrize(("check", "exercise", "buggy", "because"), [
    (_many_threads, "01_condition_buffer", "off_by_one_capacity",
     "3 items had been put and not yet taken"),
    (_many_threads, "01_condition_buffer", "single_condition_notify",
     "everyone waits: deadlock"),
    # Caught by the perturbed trials in about 1 grading in 7 (scored 23 or 20 of 26): now the
    # two producers racing for the last slot are searched by the controlled scheduler.
    (_many_threads, "01_condition_buffer", "append_after_releasing_lock",
     "racing for the last free slot"),
    (lambda impl: process_stepped_checks.check_stepped_puts(impl, method="fork"),
     "04_process_buffer", "missing_mutex", "the second put() ran meanwhile"),
    # A put() that writes its slot after letting the mutex go: the free-running transfers
    # caught it in some gradings only; now a get() is made while the first put() is stopped.
    (lambda impl: process_stepped_checks.check_stepped_puts(impl, method="fork"),
     "04_process_buffer", "slot_written_after_the_mutex", "the second put() ran meanwhile"),
    (pipeline_checks.check_parallel_consumers, "03_pipeline_shutdown",
     "markers_before_producers_finish", "it did not return"),
    (pipeline_checks.check_source_error, "03_pipeline_shutdown",
     "markers_before_producers_finish", "it did not return"),
], ids=["01-one-item-too-many", "01-wrong-waiter", "01-last-slot-raced", "04-two-puts-stepped",
        "04-put-written-after-the-mutex", "03-markers-before-items", "03-markers-source-error"])
def test_a_race_is_caught_in_every_run(check, exercise, buggy, because):
    failures = _failures(check, str(ROOT / "zoo" / exercise / f"{buggy}.py"))
    assert all(because in f for f in failures), failures
    check(str(ROOT / exercise / "solution.py"))  # the reference passes


@pytest.mark.timeout(180)  # 14 s on a busy 2-core machine
def test_two_consumer_processes_without_a_mutex_are_caught_in_every_run():
    # A get() without the mutex: two consumers read the same slot only when the timing lets
    # them (the spawn check caught it in 1 grading of 6). Each transfer with several consumers
    # now also steps two get()s at once, one stopped before each line of get() in turn.
    impl = str(ROOT / "zoo" / "04_process_buffer" / "mutex_only_in_put.py")
    transfer = partial(process_checks.check_transfer, producers=1, consumers=2, items=20,
                       capacity=2, noise=False, seed=1)
    failures = _failures(transfer, impl)
    assert all(failures), failures
    transfer(str(ROOT / "04_process_buffer" / "solution.py"))  # the reference passes


# Mutants of the reference solutions (pcmodel.grading.mutants) that a free-running check caught
# only in some gradings: a get() that frees its slot before reading it (the 1-producer/1-consumer
# transfer caught it in 9 of 10 gradings, the spawn transfer in 5 of 10), its mirror, a put()
# that signals its item before writing the slot (scored 7, 7, 10 and 5 of 15 in four gradings),
# and a pipeline that raises the first error before joining its consumers (caught or not by the
# timing).
MUTANT_RACES = [
    ("04_process_buffer", "swap@38:8", "self._empty.release()\n        with self._mutex:",
     partial(process_stepped_checks.check_stepped_gets, method="fork"), "the put() ran meanwhile"),
    ("04_process_buffer", "swap@30:8", "self._full.release()\n        with self._mutex:",
     partial(process_stepped_checks.check_stepped_put_get, method="fork"),
     "before the put() had finished"),
    ("03_pipeline_shutdown", "swap@65:4", "raise errors[0]\n    for thread in consumer_threads:",
     pipeline_checks.check_source_error, "still running: consumer-"),
]


@pytest.mark.parametrize(("exercise", "key", "change", "check", "because"), MUTANT_RACES,
                         ids=[f"{e[:2]}-{k}" for e, k, *_ in MUTANT_RACES])
def test_a_mutant_race_is_caught_in_every_run(tmp_path, exercise, key, change, check, because):
    found = [m for m in mutants_of(find(exercise)) if m.key == key]
    assert found and change in found[0].source, f"{exercise} has no mutant {key} any more"
    impl = tmp_path / "solution.py"
    impl.write_text(found[0].source + "\n", encoding="utf-8")
    failures = _failures(check, str(impl))
    assert all(because in f for f in failures), failures
    check(str(ROOT / exercise / "solution.py"))  # the reference passes


@pytest.mark.timeout(240)  # three gradings of a polling file: 25 s on a busy 2-core machine
def test_a_caller_that_polls_its_producers_gets_the_same_credit_every_time():
    # The first item waits until the caller of run_pipeline() sleeps; a caller that polls
    # join() never quite does, and that wait, as long as a stall, used to be taken for a
    # deadlock in some gradings (this check failed in 6 of 9). The polling is the
    # interleavings check's to catch, in every grading.
    impl = str(ROOT / "zoo" / "03_pipeline_shutdown" / "joins_producers_by_polling.py")
    assert _failures(pipeline_checks.check_parallel_consumers, impl) == [""] * RUNS


def test_an_assignor_that_draws_at_random_scores_the_same_every_time():
    impl = str(ROOT / "zoo" / "05_assignor" / "roundrobin_random_start.py")
    examples = _failures(lambda i: assignor_checks.check(i, "roundrobin", "examples"), impl)
    assert len(set(examples)) == 1, examples
    determinism = _failures(lambda i: assignor_checks.check(i, "roundrobin", "deterministic"),
                            impl)
    assert all(determinism), "a random start must still fail the determinism check"


@pytest.mark.timeout(120)
def test_every_grading_uses_the_same_hash_seed(tmp_path):
    # A file whose score depends on the order of strings in a set (here, blatantly, on a
    # string's hash) must score the same in every grading: the suite runs with one hash seed.
    import subprocess
    import sys

    from pcmodel.grading.engine import find, grade

    seeded = subprocess.run([sys.executable, "-c", "print(hash('pcmodel'))"], check=True,
                            capture_output=True, text=True,
                            env={"PYTHONHASHSEED": "0"}).stdout.strip()
    source = (ROOT / "05_assignor" / "solution.py").read_text()
    impl = tmp_path / "hash_order.py"
    impl.write_text(source + f"""

_correct = assign


def assign(subscriptions, partitions_per_topic):
    if hash("pcmodel") != {seeded}:
        return {{}}
    return _correct(subscriptions, partitions_per_topic)
""")
    report = grade(find("05_assignor"), impl, only=["test_range_kafka_example"], timeout=100)
    assert report["score"] == report["max_score"] > 0, report


class _PlanSeen(Exception):
    """Raised by :class:`_Planner` to stop a scenario once it asked for its run."""


class _Planner:
    """A stand-in for the pipeline harness that notes the plan of the first run asked for."""

    plan: dict

    def run(self, data, consumers, capacity, plan):
        self.plan = plan
        raise _PlanSeen


@pytest.mark.parametrize("scenario", ["_everything", "_bounded", "_order"])
def test_pipeline_sources_wait_for_the_caller(scenario):
    # On a machine loaded enough to keep the caller of run_pipeline() off the processor while
    # the items went through, a pipeline that sends its end markers before its producers
    # finished sent them after the last item, and passed the order check (scored 3, then 2 and
    # 2 of 23 in three gradings). Sources that give their first item only once the caller
    # sleeps (it is then waiting for its producers, its markers already sent) put the markers
    # before every item in every run: a caller kept off the processor is runnable, not asleep.
    planner = _Planner()
    args = {"_everything": (4, 30, 3, 2), "_bounded": (2,), "_order": ()}[scenario]
    with pytest.raises(_PlanSeen):
        getattr(pipeline_checks, scenario)(planner, *args)
    assert planner.plan.get("slow_start") is True
