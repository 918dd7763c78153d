"""Find the exercises, run a graded suite against an implementation, and format the score.

Exercises live in ``exercises/`` next to the installed package (the project is installed in
editable mode), else in ``./exercises``. Each exercise is a folder ``NN_name/`` holding
``README.md`` (its first line is the title), ``starter.py`` and ``test_graded.py``.

:func:`grade` runs the suite with pytest in a separate, supervised interpreter
(:mod:`pcmodel.grading.supervise`), so nothing a student's code does can disturb the grader; the
suite's own plugin (:mod:`pcmodel.grading.plugin`) writes the sealed JSON report that
:func:`grade` returns.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pcmodel
from pcmodel.errors import UsageError
from pcmodel.grading.formats import check_passed
from pcmodel.grading.isolation import time_scale
from pcmodel.grading.supervise import DEFAULT_DEADLINE, SuiteCopy, SuiteError, run_suite

__all__ = [
    "Exercise",
    "GradingError",
    "discover",
    "exercises_root",
    "find",
    "format_report",
    "grade",
]


_DETAIL_LINES = 60  # a failing schedule's trace can be long; the JSON report keeps all of it


class GradingError(UsageError):
    """The exercises, the exercise or the implementation asked for cannot be found or run.

    A user's mistake, so the ``pcmodel`` command says it on one line, as every
    :class:`~pcmodel.errors.UsageError`."""


@dataclass(frozen=True)
class Exercise:
    """One exercise folder: ``name`` (``01_condition_buffer``), ``title`` and its files."""

    name: str
    title: str
    folder: Path

    @property
    def suite(self) -> Path:
        return self.folder / "test_graded.py"

    @property
    def starter(self) -> Path:
        return self.folder / "starter.py"


def exercises_root() -> Path:
    """The folder of the exercises to grade: the current folder if it is a hand-out (made by
    ``pcmodel exercises export``: exercise folders holding ``test_graded.py`` beside
    ``conftest.py``), else the ``exercises`` folder next to the package, else ``./exercises``.

    Raises GradingError naming the places tried when none holds exercises.
    """
    here = Path.cwd()
    if (here / "conftest.py").is_file() and any(here.glob("*/test_graded.py")):
        return here
    beside_package = Path(pcmodel.__file__).resolve().parents[1] / "exercises"
    candidates = [beside_package, here / "exercises"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = " or ".join(str(c) for c in [here, *candidates])
    raise GradingError(f"no exercises found at {tried}; run from a hand-out's folder "
                       "(pcmodel exercises export) or from a pcmodel checkout")


def discover(root: Path | None = None) -> list[Exercise]:
    """Every exercise folder under ``root`` (default: :func:`exercises_root`), sorted by name."""
    root = exercises_root() if root is None else root
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (folder / "test_graded.py").is_file():
            continue
        readme = folder / "README.md"
        title = folder.name
        if readme.is_file():
            first = readme.read_text(encoding="utf-8").strip().splitlines()[0]
            title = first.lstrip("#").strip()
            number, _, rest = title.partition(" · ")
            if number.isdigit() and rest:
                title = rest
        found.append(Exercise(folder.name, title, folder))
    return found


def find(name: str, root: Path | None = None) -> Exercise:
    """The exercise called ``name``: its folder name, its number (``1``, ``01``) or its words
    (``condition_buffer``). Raises GradingError listing the choices when nothing matches."""
    exercises = discover(root)
    for ex in exercises:
        number, _, words = ex.name.partition("_")
        if name in (ex.name, words) or (name.isdigit() and int(name) == int(number or -1)):
            return ex
    choices = ", ".join(ex.name for ex in exercises) or "none"
    raise GradingError(f"no exercise {name!r}; choose one of: {choices}")


def grade(
    exercise: Exercise,
    impl: str | os.PathLike[str] | None = None,
    *,
    repeat: int = 1,
    only: list[str] | tuple[str, ...] = (),
    timeout: float | None = None,
    suite: SuiteCopy | None = None,
    cancel: threading.Event | None = None,
    exitfirst: bool = False,
) -> dict[str, Any]:
    """Run ``exercise``'s graded suite against ``impl`` (default: its starter); return the report.

    The report has ``score``, ``max_score`` and ``checks`` (one dict per check with ``points``,
    ``earned``, ``outcome``, ``expected``, ``got``, ``hint``, ``output``), plus ``exercise`` and
    ``impl``. ``repeat`` runs every check that many times; ``only`` names the checks to run
    (default: all). ``timeout`` bounds the whole run (default :data:`DEFAULT_DEADLINE` seconds,
    times ``PCMODEL_GRADE_TIME_SCALE``); ``suite`` is a copy of the suite taken earlier (a class
    is graded with one copy, so no grading can change the suite of the next).

    Whatever the graded code does, this returns: a run that was stopped, killed, timed out or
    whose report was forged gives a report where every check scores 0 and ``error`` says why.
    Raises GradingError when ``impl`` does not exist or the suite cannot run at all, and
    GradingCancelled once ``cancel`` is set (the run is killed first). ``exitfirst`` stops at
    the first failed check (the report then lists only the checks run): enough to know that a
    file does not get full marks, as mutation testing needs.
    """
    if importlib.util.find_spec("pytest") is None:
        raise GradingError("grading runs the suites with pytest: pip install pytest")
    path = Path(impl) if impl is not None else exercise.starter
    if not path.is_file():
        raise GradingError(f"no implementation file at {path}")
    copy = suite if suite is not None else SuiteCopy.take(exercise.folder)
    deadline = timeout if timeout is not None else DEFAULT_DEADLINE * time_scale()
    try:
        report = run_suite(copy, path.resolve(), repeat=repeat, only=tuple(only),
                           deadline=deadline, cancel=cancel, exitfirst=exitfirst)
    except SuiteError as exc:
        raise GradingError(str(exc)) from exc
    report["exercise"] = exercise.name
    report["impl"] = str(path)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A plain-text score report: one line per check, then what to fix for each failed one."""
    lines = [f"{report['exercise']}: grading {report['impl']}", ""]
    if report.get("error"):
        # One line, once: the file could not be run at all (a SyntaxError).
        lines += [f"  cannot grade: {report['error']}", ""]
    width = max((len(c["id"]) for c in report["checks"]), default=10)
    for check in report["checks"]:
        mark = "PASS" if check_passed(check) else "NOTE" if not check["points"] else "FAIL"
        lines.append(f"  {mark}  {check['earned']:>2}/{check['points']:<2}  {check['id']:<{width}}"
                     f"  {check['title']}")
    lines += ["", f"  total: {report['score']} / {report['max_score']}"]
    failed = [c for c in report["checks"] if not check_passed(c) and not report.get("error")]
    for check in failed:
        lines += ["", f"{check['id']} ({check['points']} points): {check['title']}"]
        if check.get("rounds", 1) > 1:
            lines.append(f"  failed {check['failures']} of {check['rounds']} rounds")
        for label in ("expected", "got", "hint"):
            if check.get(label):
                lines.append(f"  {label + ':':<9} {check[label]}")
        details = check.get("details", "").splitlines()
        if details:
            shown = details[:_DETAIL_LINES]
            lines += ["", *(f"    {line}" for line in shown)]
            if len(details) > len(shown):
                lines.append(f"    ... {len(details) - len(shown)} more lines in the JSON report")
    return "\n".join(lines)
