"""Grade a whole class: find each student's file, grade them in parallel, report progress.

A submissions folder holds either one ``.py`` file per student (the student is the file's name
without ``.py``) or one folder per student holding their ``.py`` file (the student is the folder's
name), as learning platforms export them. A student folder with no Python file, or with several,
gets a row that says so and scores 0.

Every submission is graded with the same in-memory copy of the suite (taken once, before the
first grading), so no submission can change how a later one is graded. Gradings run ``jobs`` at a
time (each one is a supervised pytest process, :mod:`pcmodel.grading.supervise`); a progress bar
shows on stderr (tqdm when installed, ``pip install pcmodel[grading]``; one line per student
otherwise). :func:`grade_class` stops every grading in progress, and leaves nothing running, when
``cancel`` is set or when it is interrupted.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pcmodel.grading.engine import Exercise, GradingError, grade
from pcmodel.grading.supervise import GradingCancelled, SuiteCopy, failed_report

__all__ = ["Submission", "collect", "grade_class"]


@dataclass(frozen=True)
class Submission:
    """One student's work: ``path`` is None when ``problem`` says why none could be chosen."""

    student: str
    path: Path | None
    problem: str = ""


def collect(folder: Path) -> list[Submission]:
    """The submissions in ``folder``, sorted by student. Raises GradingError if there are none."""
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")):
            continue
        if entry.suffix == ".py" and not entry.is_dir():
            problem = _unreadable(entry)
            found.append(Submission(entry.stem, None if problem else entry, problem))
        elif entry.is_dir():
            files = sorted(p for p in entry.rglob("*.py") if "__pycache__" not in p.parts)
            if len(files) == 1:
                found.append(Submission(entry.name, files[0]))
            elif not files:
                found.append(Submission(entry.name, None, "no .py file in the submission"))
            else:
                names = ", ".join(str(p.relative_to(entry)) for p in files[:5])
                found.append(Submission(entry.name, None,
                                        f"several .py files ({names}); submit exactly one"))
    if not found:
        raise GradingError(f"no submissions in {folder}: expected .py files or one folder per "
                           "student")
    # ``ann.py`` next to a folder ``ann/``: two rows, each named after what it came from.
    names = [s.student for s in found]
    return [s if names.count(s.student) == 1 else
            Submission(f"{s.student} ({_origin(folder, s)})", s.path, s.problem) for s in found]


def _unreadable(path: Path) -> str:
    """"" when ``path`` is a regular file that can be read, else why the submission cannot be."""
    if not path.exists():
        return f"{path.name} is missing (a link to a file that does not exist)"
    if not path.is_file():
        return f"{path.name} is not a regular file"
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        return f"{path.name} cannot be read: {exc.strerror or exc}"
    return ""


def _origin(folder: Path, submission: Submission) -> str:
    if submission.path is not None and submission.path.parent == folder:
        return submission.path.name
    return submission.student + "/"


def grade_class(
    exercise: Exercise,
    submissions: list[Submission],
    *,
    jobs: int = 2,
    repeat: int = 1,
    timeout: float | None = None,
    progress: bool = True,
    cancel: threading.Event | None = None,
    stream: TextIO | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Grade every submission, ``jobs`` at a time; return ``[(student, report)]`` in their order.

    Blocks until all are graded. Raises GradingCancelled when ``cancel`` is set, and re-raises
    KeyboardInterrupt, after stopping every grading in progress (nothing is left running).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    cancel = cancel if cancel is not None else threading.Event()
    copy = SuiteCopy.take(exercise.folder)
    results: dict[str, dict[str, Any]] = {}
    bar = _Progress(len(submissions), progress, stream or sys.stderr)

    def one(submission: Submission) -> dict[str, Any]:
        if submission.path is None:
            report = failed_report(copy, submission.problem)
            report.update(exercise=exercise.name, impl="")
            return report
        return grade(exercise, submission.path, repeat=repeat, timeout=timeout, suite=copy,
                     cancel=cancel)

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pcmodel-grade")
    try:
        pending: dict[Future[dict[str, Any]], Submission] = {
            pool.submit(one, s): s for s in submissions}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                submission = pending.pop(future)
                results[submission.student] = future.result()
                bar.update(submission.student, results[submission.student])
    except BaseException:
        cancel.set()  # every grading in progress stops and cleans up; queued ones never start
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    if cancel.is_set():
        raise GradingCancelled("grading was cancelled")
    return [(s.student, results[s.student]) for s in submissions]


class _Progress:
    """tqdm's bar when it is installed, else one line per graded student."""

    def __init__(self, total: int, enabled: bool, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.enabled = enabled
        self.bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                # No monitor thread: a grading run leaves no thread behind.
                bar_class = type("GradingBar", (tqdm,), {"monitor_interval": 0})
                self.bar = bar_class(total=total, unit="student", file=stream, leave=True,
                                     dynamic_ncols=True)

    def update(self, student: str, report: dict[str, Any]) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(student, refresh=False)
            self.bar.update(1)
        else:
            print(f"graded {self.done}/{self.total}: {student} "
                  f"{report['score']}/{report['max_score']}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
