"""Correct code in other styles gets full marks: every file of ``exercises/alternatives/``.

Each alternative is a correct implementation written unlike the exercise's ``solution.py`` (names
imported from ``threading``, one condition with ``notify_all``, ``wait_for``, BoundedSemaphore, a
dict or a ring for storage, thread subclasses, other valid shutdown protocols, explicit commit
offsets...). Here each is graded once, in parallel (under xdist the workers share the gradings:
:mod:`tests.shared_results`); ``exercises/alternatives/grade_all.py`` grades each 20 times for the
full proof.
"""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor

import pytest

from pcmodel.grading.engine import discover, exercises_root, grade
from tests.shared_results import SharedResults, fingerprint

ROOT = exercises_root()
EXERCISES = {ex.name: ex for ex in discover(ROOT)}
ALTERNATIVES = sorted(
    (folder.name, path)
    for folder in (ROOT / "alternatives").iterdir()
    if folder.is_dir()
    for path in folder.glob("*.py")
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    shared = SharedResults(tmp_path_factory, "alternatives")

    def run(job):
        exercise, path = job
        return shared.get((exercise, fingerprint(path)),
                          lambda: grade(EXERCISES[exercise], path, timeout=300))

    order = shared.walk(ALTERNATIVES)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(order, pool.map(run, order)))


def test_three_alternatives_per_exercise():
    folders = {folder.name for folder in (ROOT / "alternatives").iterdir() if folder.is_dir()}
    assert folders <= set(EXERCISES), f"alternatives for no exercise: {folders - set(EXERCISES)}"
    assert len(folders) >= 6
    counts = {name: sum(1 for ex, _ in ALTERNATIVES if ex == name) for name in folders}
    assert all(n >= 3 for n in counts.values()), counts


def test_alternatives_differ_from_the_solution():
    for exercise, path in ALTERNATIVES:
        solution = (EXERCISES[exercise].folder / "solution.py").read_text(encoding="utf-8")
        assert path.read_text(encoding="utf-8") != solution, path


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("exercise", "path"), ALTERNATIVES,
                         ids=[f"{e[:2]}-{p.stem}" for e, p in ALTERNATIVES])
def test_alternative_gets_full_marks(reports, exercise, path):
    report = reports[(exercise, path)]
    lost = [(c["id"], c["got"]) for c in report["checks"] if c["points"] and not c["earned"]]
    assert not lost, f"{path.name} is correct but lost points: {lost}"
    assert report["score"] == report["max_score"]


def test_grade_all_script_lists_every_alternative():
    spec = importlib.util.spec_from_file_location("grade_all", ROOT / "alternatives" /
                                                  "grade_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert [(e, p.name) for e, p in module.alternatives()] == [
        (e, p.name) for e, p in ALTERNATIVES]
