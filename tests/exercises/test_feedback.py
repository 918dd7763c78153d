"""What a failed check says: the student's file:line, a SyntaxError once, hints in the words of
the exercise, lint notes that cost nothing unless the rule is a bug in that exercise."""

from __future__ import annotations

import textwrap

import pytest

from pcmodel.grading import lint_checks
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.engine import find, format_report, grade
from pcmodel.grading.hints import HINTS, hinted, resolve
from pcmodel.grading.isolation import describe_exception
from pcmodel.grading.probes import ImplementationError, compile_problem, load_impl


def _write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_exception_names_the_students_line_not_the_graders(tmp_path):
    path = _write(tmp_path, "student.py", """
        def put(items, item):
            items.append(item)
            raise KeyError(item)
    """)
    module = load_impl(path, "put")
    try:
        module.put([], 3)
    except KeyError as exc:
        text = describe_exception(exc)
    assert text == "KeyError: 3 (at student.py:4: raise KeyError(item))"


def test_syntax_error_is_one_line(tmp_path):
    path = _write(tmp_path, "broken.py", "class BoundedBuffer:\n    def put(self)\n        pass\n")
    assert compile_problem(path) == "broken.py:2: expected ':'"
    with pytest.raises(ImplementationError, match=r"^broken\.py:2: expected ':'$"):
        load_impl(path)


@pytest.mark.timeout(120)
def test_syntax_error_is_reported_once_and_no_check_runs(tmp_path):
    path = _write(tmp_path, "broken.py", "class BoundedBuffer:\n    def put(self)\n        pass\n")
    report = grade(find("01"), path, timeout=100)
    assert report["error"] == "broken.py:2: expected ':'"
    assert report["score"] == 0
    assert {c["got"] for c in report["checks"]} == {"not run: the file does not compile"}
    text = format_report(report)
    assert text.count("expected ':'") == 1 and "cannot grade: broken.py:2" in text


def test_hints_speak_each_exercises_language():
    for styles in HINTS.values():
        if "semaphore" in styles:
            assert "notify" not in styles["semaphore"] and "condition" not in styles["semaphore"]
    assert "semaphore" in resolve("@wake", "semaphore")
    assert "notify" in resolve("@wake", "condition")
    assert resolve("@wrong-waiter", "semaphore") == ""  # no condition hint there
    assert resolve("plain text", "semaphore") == "plain text"
    with pytest.raises(CheckFailed) as caught, hinted("semaphore"):
        raise CheckFailed("x", "y", "@lock-order")
    assert "semaphore BEFORE the mutex" in caught.value.hint
    with pytest.raises(ValueError, match="style"), hinted("monitor"):
        pass


def test_lint_costs_only_for_the_rules_named(tmp_path):
    path = _write(tmp_path, "late.py", """
        import threading

        def run(sources):
            threads = []
            for source in sources:
                threads.append(threading.Thread(target=lambda: print(source)))
            try:
                return threads
            except:
                return []
    """)
    if lint_checks.findings(str(path)) is None:
        pytest.skip("ruff is not installed")
    codes = {f["code"] for f in lint_checks.findings(str(path))}
    assert {"B023", "E722"} <= codes
    with pytest.raises(CheckFailed, match="late.py:7: B023"):
        lint_checks.check_rules(str(path), {"B023": "a late-binding thread target"})
    lint_checks.check_rules(str(path), {"B006": "a mutable default"})  # not present: passes
    with pytest.raises(CheckFailed, match="information only"):
        lint_checks.check_notes(str(path))
