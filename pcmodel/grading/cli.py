"""``pcmodel grade``: list the exercises, grade one file, or grade a whole class.

    pcmodel grade --list
    pcmodel grade 01_condition_buffer --impl my_buffer.py --json report.json
    pcmodel grade 01 --impl submissions/ --csv grades.csv --junit grades.xml

With a file, it prints the report (every check, then what to fix) and exits 0 when every check
passed, 1 when some failed. With a folder of submissions (one ``.py`` file, or one folder, per
student), it grades them ``--jobs`` at a time with a progress bar, prints one row per student and
exits 0 once all are graded. Reports can be written as JSON (``--json``), Gradescope's
``results.json`` (``--gradescope``; for a class, a folder with ``STUDENT/results.json``), JUnit XML
(``--junit``) and a CSV table (``--csv``). Output paths are checked before any grading starts.

A mistake (unknown exercise, missing file, unwritable output) is one line on stderr and exit
status 2. Ctrl-C or SIGTERM stops every grading in progress, prints ``pcmodel grade: interrupted``
and exits with status 130; nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pcmodel.errors import UsageError

__all__ = ["register"]

_SUFFIXES = {"json": ".json", "gradescope": ".json", "junit": ".xml", "csv": ".csv"}
_MAX_DEADLINE = 7 * 24 * 3600.0  # --deadline: a week at most (and a finite number)
_MAX_REPEAT = 100  # --repeat: each repetition runs every check again


def register(subparsers: Any) -> None:
    """Add the ``grade`` subcommand to the ``pcmodel`` parser."""
    parser = subparsers.add_parser(
        "grade",
        help="grade an implementation, or a class's submissions, against an exercise's suite",
        description="Run an exercise's graded suite against a student's file, or against every "
                    "submission in a folder, and report the scores.",
    )
    parser.add_argument("exercise", nargs="?", help="exercise name or number (see --list)")
    parser.add_argument("--list", action="store_true", help="list the exercises and exit")
    parser.add_argument("--impl", type=Path,
                        help="the student's file, or a folder of submissions (one .py file or "
                             "one folder per student); default: the exercise's starter.py")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report(s) as JSON")
    parser.add_argument("--gradescope", type=Path, metavar="PATH",
                        help="write Gradescope's results.json (for a class: a folder, one "
                             "STUDENT/results.json each)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="write one row per student as CSV")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run every check N times; a check scores only if all pass")
    parser.add_argument("--jobs", type=int, default=2, metavar="N",
                        help="submissions graded at the same time (default 2)")
    parser.add_argument("--deadline", type=float, default=None, metavar="SECONDS",
                        help="longest time one submission's grading may take (default 600)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_grade)


def _grade(args: argparse.Namespace) -> int:
    from pcmodel.grading.engine import discover, find
    from pcmodel.grading.supervise import GradingCancelled

    if args.list:
        for exercise in discover():
            print(f"{exercise.name:<24} {exercise.title}")
        return 0
    if not args.exercise:
        raise UsageError("name an exercise (pcmodel grade --list shows them)")
    if not 1 <= args.repeat <= _MAX_REPEAT:
        raise UsageError(f"--repeat must be from 1 to {_MAX_REPEAT}, not {args.repeat}")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.deadline is not None and not 0 < args.deadline <= _MAX_DEADLINE:
        raise UsageError(f"--deadline must be a number of seconds above 0 and at most "
                         f"{_MAX_DEADLINE:.0f}, not {args.deadline}")
    exercise = find(args.exercise)
    impl = args.impl
    try:
        if impl is not None and not impl.exists():
            raise UsageError(f"no file or folder at {impl}")
        batch = impl is not None and impl.is_dir()
    except OSError as exc:
        raise UsageError(f"--impl {impl}: {exc.strerror or exc}") from None
    if impl is not None and not batch:
        if impl.suffix != ".py":
            raise UsageError(f"--impl {impl}: not a Python file (the name must end in .py)")
        if not impl.is_file():
            raise UsageError(f"--impl {impl}: not a regular file")
        try:
            with open(impl, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"--impl {impl}: cannot read it: {exc.strerror}") from None
    submissions = None
    if batch:
        from pcmodel.grading.classroom import collect
        from pcmodel.grading.engine import GradingError

        try:
            submissions = collect(impl)
        except (GradingError, OSError) as exc:
            raise UsageError(str(exc) if isinstance(exc, GradingError)
                             else f"cannot read {impl}: {exc.strerror}") from None
    created = _check_outputs(args, batch, [s.student for s in submissions or []])
    finished = False
    try:
        if batch:
            code = _grade_class(args, exercise, impl, submissions)
        else:
            code = _grade_one(args, exercise, impl)
        finished = True
        return code
    except GradingCancelled:
        raise KeyboardInterrupt from None
    finally:
        if not finished:
            _remove_created(created)


def _grade_one(args: argparse.Namespace, exercise: Any, impl: Path | None) -> int:
    from pcmodel.grading import formats
    from pcmodel.grading.engine import format_report, grade

    report = grade(exercise, impl, repeat=args.repeat, timeout=args.deadline)
    print(format_report(report))
    if report.get("error"):
        print(f"\n  {report['error']}")
    student = Path(report["impl"]).stem
    outputs = []
    if args.json:
        outputs.append(("--json", args.json, _content(json.dumps(report, indent=2) + "\n")))
    if args.gradescope:
        outputs.append(("--gradescope", args.gradescope,
                        _content(json.dumps(formats.gradescope(report), indent=2) + "\n")))
    _write_reports(args, outputs, [(student, report)])
    passed = (report["score"] == report["max_score"] and report["checks"]
              and not report.get("error"))
    return 0 if passed else 1


def _grade_class(args: argparse.Namespace, exercise: Any, folder: Path,
                 submissions: Any) -> int:
    from pcmodel.grading import formats
    from pcmodel.grading.classroom import grade_class

    rows = grade_class(exercise, submissions, jobs=args.jobs, repeat=args.repeat,
                       timeout=args.deadline, progress=not args.no_progress)
    width = max(len(student) for student, _ in rows)
    print(f"{exercise.name}: {len(rows)} submissions in {folder}")
    for student, report in rows:
        note = f"  {report['error']}" if report.get("error") else ""
        print(f"  {student:<{width}}  {report['score']:>3} / {report['max_score']}{note}")
    outputs = []
    if args.json:
        data = {"exercise": exercise.name, "students": dict(rows)}
        outputs.append(("--json", args.json, _content(json.dumps(data, indent=2) + "\n")))
    if args.gradescope:
        outputs += [("--gradescope", args.gradescope / student / "results.json",
                     _content(json.dumps(formats.gradescope(report), indent=2) + "\n"))
                    for student, report in rows]
    _write_reports(args, outputs, rows)
    return 0


def _check_outputs(args: argparse.Namespace, batch: bool, students: list[str]) -> list[Path]:
    """Refuse, before grading, an output that could not be written afterwards (the checks every
    command makes: :func:`pcmodel.outputs.check_output`). Returns what was created (a class's
    Gradescope folder), to be removed if the grading does not finish."""
    from pcmodel.outputs import check_output

    created: list[Path] = []
    try:
        for option, suffix in _SUFFIXES.items():
            path: Path | None = getattr(args, option)
            if path is None:
                continue
            flag = f"--{option}"
            if option == "gradescope" and batch:
                try:
                    _check_folder(flag, path, students, created)
                except OSError as exc:
                    raise UsageError(f"{flag} {path}: cannot write it: "
                                     f"{exc.strerror or exc}") from None
            else:
                check_output(path, flag, [suffix.lstrip(".")])
    except BaseException:
        _remove_created(created)
        raise
    return created


def _check_folder(flag: str, path: Path, students: list[str], created: list[Path]) -> None:
    """The class's Gradescope folder: created if missing; each ``STUDENT/`` in it a folder (or
    nothing yet) in which ``results.json`` can be written."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: for a class this is a folder, and a file is in the way")
    if not path.exists() and not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: the folder {path.parent} does not exist")
    if not path.exists():
        path.mkdir()
        created.append(path)
    for student in students:
        folder = path / student
        if os.path.lexists(folder) and not folder.is_dir():
            raise UsageError(f"{flag} {path}: {folder} is in the way of "
                             f"{folder / 'results.json'} (it is not a folder)")
        target = folder / "results.json"
        if target.is_dir():
            raise UsageError(f"{flag} {path}: {target} is a folder")
    probe = path / f".pcmodel-probe-{os.getpid()}"
    with open(probe, "wb"):
        pass
    probe.unlink()


def _remove_created(created: list[Path]) -> None:
    """Remove the empty folders that the checks created (the grading did not finish)."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            pass


def _write_reports(args: argparse.Namespace,
                   outputs: list[tuple[str, Path, Callable[[Path], object]]],
                   rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Write ``outputs`` and the JUnit and CSV reports of ``rows`` asked for, all at once or
    none (:func:`pcmodel.outputs.write_outputs`): a Ctrl-C or a full disk leaves no report
    half written, and none written without the others."""
    from pcmodel.grading import formats
    from pcmodel.outputs import write_outputs

    if args.junit:
        outputs.append(("--junit", args.junit, _content(formats.junit_xml(rows))))
    if args.csv:
        outputs.append(("--csv", args.csv, lambda path: formats.write_csv(path, rows)))
    write_outputs(outputs)


def _content(data: str | bytes) -> Callable[[Path], object]:
    """A writer of ``data`` (text as UTF-8) to the path it is given."""
    if isinstance(data, bytes):
        return lambda path: path.write_bytes(data)
    return lambda path: path.write_text(data, encoding="utf-8")
