"""The graded suites, graded: every zoo entry is caught, every reference solution always passes.

Each entry of ``exercises/zoo/<exercise>/`` names, in ``CAUGHT_BY``, the checks that must catch
its bug; graded on those checks, it must fail each of them (so it can never reach full marks).
Only those checks run, to keep the time small: a deadlocking entry would otherwise spend a stall
timeout in every check it hangs. Each reference solution is graded with ``--grade-repeat 3``
and must pass every check in every round (each of the sixty alternatives, graded once per run
by ``test_alternatives.py``, is a further round of every check on correct code); its checks of
every interleaving, whose searches are seeded (the same schedules in every round), run once:
a second round would search the same schedules again (what a seeded search finds is pinned by
``tests/sched/test_exploration_results_stable.py``). Every starter must fail every
check cleanly (a report, not a crash). All gradings run once, in parallel subprocesses (they
mostly wait on stalled student code, not on the CPU), before the tests read their reports;
under xdist the workers share them (:mod:`tests.shared_results`).
"""

from __future__ import annotations

import ast
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pcmodel.grading.engine import discover, exercises_root, grade
from tests.shared_results import SharedResults, fingerprint

ROOT = exercises_root()
EXERCISES = {ex.name: ex for ex in discover(ROOT)}
REFERENCE_ROUNDS = 3
#: The checks that search a seeded set of schedules (pcmodel.grading.sched_checks): every round
#: of them explores the same schedules, so a reference runs them only this many times.
SEEDED_CHECKS = ("test_interleavings",)
SEEDED_ROUNDS = 1


def _caught_by(path: Path) -> tuple[str, ...]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CAUGHT_BY" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"{path} has no CAUGHT_BY = (...) naming the checks that catch it")


def _check_names(suite: Path) -> list[str]:
    """The graded checks of ``suite`` (its ``test_*`` functions), in the order they run."""
    return [node.name for node in ast.parse(suite.read_text(encoding="utf-8")).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]


ZOO = sorted(
    (folder.name, entry)
    for folder in (ROOT / "zoo").iterdir()
    if folder.is_dir() and folder.name in EXERCISES
    for entry in folder.glob("*.py")
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Grade every zoo entry, reference (REFERENCE_ROUNDS rounds), starter; {key: (report, s)}."""
    shared = SharedResults(tmp_path_factory, "graded_suites")
    jobs = {("zoo", ex, entry.stem): (ex, entry, 1, _caught_by(entry)) for ex, entry in ZOO}
    for name, ex in EXERCISES.items():
        checks = _check_names(ex.suite)
        seeded = tuple(c for c in checks if c in SEEDED_CHECKS)
        jobs[("reference", name, "solution")] = (
            name, ex.folder / "solution.py", REFERENCE_ROUNDS,
            tuple(c for c in checks if c not in SEEDED_CHECKS) if seeded else ())
        if seeded:
            jobs[("reference", name, "seeded")] = (
                name, ex.folder / "solution.py", SEEDED_ROUNDS, seeded)
        jobs[("starter", name, "starter")] = (name, ex.starter, 1, ())

    def run(job):
        name, path, rounds, only = job

        def timed_grade():
            started = time.monotonic()
            report = grade(EXERCISES[name], path, repeat=rounds, only=only, timeout=600)
            return report, time.monotonic() - started

        return shared.get((name, fingerprint(path), rounds, only), timed_grade)

    started = time.monotonic()
    # Longest first, so the slow reference runs do not end up last in the queue; each group from
    # this worker's starting point, so that workers building it at once share it.
    slow = [key for key in jobs if key[0] == "reference"]
    order = shared.walk(slow) + shared.walk([key for key in jobs if key[0] != "reference"])
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = dict(zip(order, pool.map(run, [jobs[key] for key in order])))
    elapsed = time.monotonic() - started
    caught = sum(
        1 for key, (report, _) in results.items()
        if key[0] == "zoo" and report["score"] < report["max_score"]
    )
    print(f"\nzoo: {caught}/{len(ZOO)} entries caught; all gradings took {elapsed:.1f} s")
    slowest = sorted(results.items(), key=lambda item: -item[1][1])[:8]
    print("slowest gradings: " + ", ".join(f"{'/'.join(k)} {t:.1f} s" for k, (_, t) in slowest))
    return results


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("exercise", "entry"), ZOO, ids=[f"{e}/{p.stem}" for e, p in ZOO])
def test_zoo_entry_is_caught(reports, exercise, entry):
    report, _ = reports[("zoo", exercise, entry.stem)]
    expected = _caught_by(entry)
    checks = {c["id"]: c for c in report["checks"]}
    unknown = [name for name in expected if name not in checks]
    assert not unknown, f"CAUGHT_BY names checks the suite does not have: {unknown}"
    missed = [name for name in expected if checks[name]["earned"]]
    assert not missed, f"{entry.name} was not caught by {missed}; report: {report['checks']}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_reference_passes_every_round(reports, exercise):
    parts = [reports[key][0] for key in (("reference", exercise, "solution"),
                                         ("reference", exercise, "seeded")) if key in reports]
    checks = [c for report in parts for c in report["checks"]]
    assert sorted(c["id"] for c in checks) == sorted(_check_names(EXERCISES[exercise].suite))
    flaky = [(c["id"], c["failures"], c["got"]) for c in checks if c["failures"]]
    assert not flaky, f"reference failed in some of its rounds: {flaky}"
    for check in checks:
        rounds = SEEDED_ROUNDS if check["id"] in SEEDED_CHECKS else REFERENCE_ROUNDS
        assert check["rounds"] == rounds, check["id"]
        assert check["earned"] == check["points"], check["id"]
    assert all(report["score"] == report["max_score"] for report in parts)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_starter_fails_cleanly(reports, exercise):
    report, _ = reports[("starter", exercise, "starter")]
    assert report["score"] == 0
    for check in report["checks"]:
        if not check["points"]:
            continue  # information only (lint notes): a starter may well have none
        assert check["outcome"] == "failed"
        assert check["expected"] and check["got"], f"{check['id']} gives the student no message"


def test_every_exercise_has_zoo_entries():
    covered = {exercise for exercise, _ in ZOO}
    assert covered == set(EXERCISES), f"exercises without zoo entries: {set(EXERCISES) - covered}"
