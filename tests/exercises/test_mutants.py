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
from pcmodel.grading.mutants import equivalents, format_summary, mutants_of, summarise
from pcmodel.grading.mutation_operators import independent_swaps

EXERCISES = discover()

# Generating every mutant of a solution takes 7-12 s on a busy 2-core machine.
pytestmark = pytest.mark.timeout(180)


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
    assert independent_swaps(ex) == 3  # capacity/deque, deque/Lock, the two Conditions


def test_summary_leaves_equivalents_out():
    results = [{"key": "a", "verdict": "killed"}, {"key": "b", "verdict": "survived"},
               {"key": "c", "verdict": "survived"}]
    summary = summarise("x", results, {("x", "c"): "because"})
    assert (summary["killed"], summary["counted"], summary["equivalent"]) == (1, 2, 1)
    assert [r["key"] for r in summary["survivors"]] == ["b"]


def _result(key, scores, top=10):
    kills = sum(score < top for score in scores)
    verdict = "killed" if kills == len(scores) else "survived" if not kills else "unstable"
    return {"key": key, "description": f"line 1: change {key}", "verdict": verdict,
            "kills": kills, "rounds": len(scores), "scores": scores, "max_score": top,
            "failed_checks": [["test_x"] if score < top else [] for score in scores]}


def test_summary_reports_what_needs_attention():
    results = [_result("killed", [4, 4]), _result("sometimes", [10, 7]),
               _result("varies", [4, 6]), _result("eq-ok", [10, 10]),
               _result("eq-killed", [10, 9]), _result("lives", [10, 10])]
    known = {("x", "eq-ok"): "cannot change anything visible",
             ("x", "eq-killed"): "claimed to change nothing"}
    s = summarise("x", results, known, generated=9, not_generated=2)
    assert (s["generated"], s["graded"], s["equivalent"], s["counted"], s["killed"]) == \
        (9, 6, 2, 4, 2)
    assert [r["key"] for r in s["unstable"]] == ["sometimes"]
    assert [r["key"] for r in s["equivalent_killed"]] == ["eq-killed"]
    assert [r["key"] for r in s["varying"]] == ["sometimes", "varies", "eq-killed"]
    text = format_summary(s)
    assert text.startswith("x: 9 mutants generated (2 independent swaps not generated), 6 "
                           "graded, 2 equivalent excluded; killed 2/4 (50%)")
    assert "excluded eq-ok (line 1: change eq-ok): cannot change anything visible" in text
    assert "SURVIVED lives" in text and "KILLED IN ONLY 1 OF 2 GRADINGS sometimes" in text
    assert "LISTED AS EQUIVALENT BUT LOST POINTS eq-killed (scores 10, 9 of 10)" in text
    assert "SCORE VARIED varies (scores 4, 6 of 10; failed test_x / test_x)" in text


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
