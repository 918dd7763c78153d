"""The mutation campaign's machinery, and a sample of it: mutants of the reference solutions
that change behaviour are caught.

The whole campaign (every mutant of every solution) runs as ``python -m pcmodel.grading.mutants
all``; here the mutator is checked on its own, the list of equivalent mutants is checked against
what it generates, and one mutant per suite that only the contract checks catch is graded.
"""

from __future__ import annotations

import ast

import pytest

from pcmodel.grading.engine import discover, find, grade
from pcmodel.grading.mutants import equivalents, mutants_of, summarise

EXERCISES = discover()


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.name for e in EXERCISES])
def test_mutants_compile_differ_and_have_stable_keys(exercise):
    mutants = mutants_of(exercise)
    assert len(mutants) >= 10
    original = ast.unparse(ast.parse((exercise.folder / "solution.py").read_text()))
    sources = [m.source for m in mutants]
    assert original not in sources and len(set(sources)) == len(sources)
    keys = [m.key for m in mutants]
    assert len(set(keys)) == len(keys)
    assert [m.key for m in mutants_of(exercise)] == keys  # the same run after run
    for m in mutants:
        compile(m.source, "mutant.py", "exec")


def test_every_operator_is_used():
    kinds = {m.key.split("@")[0] for e in EXERCISES for m in mutants_of(e)}
    assert {"delete", "swap", "while-if", "constant", "drop-with", "compare", "call",
            "negate"} <= kinds


def test_listed_equivalents_exist_and_say_why():
    generated = {(e.name, m.key) for e in EXERCISES for m in mutants_of(e)}
    known = equivalents()
    assert known, "exercises/mutation_equivalents.toml lists no equivalent mutant"
    assert set(known) <= generated, set(known) - generated
    assert all(len(why) > 20 for why in known.values())


def test_independent_assignments_are_not_swapped():
    ex = find("01")
    swaps = [m.description for m in mutants_of(ex) if m.key.startswith("swap@")]
    assert not any("self._items = deque()" in d and "threading.Lock()" in d for d in swaps)


def test_summary_leaves_equivalents_out():
    results = [{"key": "a", "verdict": "killed"}, {"key": "b", "verdict": "survived"},
               {"key": "c", "verdict": "survived"}]
    summary = summarise("x", results, {("x", "c"): "because"})
    assert (summary["killed"], summary["counted"], summary["equivalent"]) == (1, 2, 1)
    assert [r["key"] for r in summary["survivors"]] == ["b"]


# Mutants that the suites used to miss: a ring that never clears a slot (keeps taken items
# alive), and a pipeline that raises the last error instead of the first.
SAMPLE = [("02_semaphore_buffer", "delete@38:12"), ("03_pipeline_shutdown", "constant@68:21#2")]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("exercise", "key"), SAMPLE, ids=[k for _, k in SAMPLE])
def test_behaviour_changing_mutant_is_killed(tmp_path, exercise, key):
    ex = find(exercise)
    mutant = next(m for m in mutants_of(ex) if m.key == key)
    path = tmp_path / "solution.py"
    path.write_text(mutant.source + "\n", encoding="utf-8")
    report = grade(ex, path, timeout=240, exitfirst=True)
    assert report["score"] < report["max_score"], f"{mutant.description} survived"
