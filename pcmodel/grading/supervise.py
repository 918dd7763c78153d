"""Run one graded suite in its own pytest process, supervised from outside.

:func:`run_suite` is what :func:`pcmodel.grading.engine.grade` does for one student's file:

- **A private copy of the suite.** The suite's files (the exercise folder's files but the
  solution, the exercises' ``conftest.py`` and ``pytest.ini``) are read into memory once
  (:class:`SuiteCopy`) and written to a fresh temporary folder for each grading, so a grading
  that changes files on disk cannot change a later one; the copy holds no ``solution.py``.
- **A sealed report.** The pytest process receives an HMAC key through a pipe that it reads only
  when the session ends (see :mod:`pcmodel.grading.plugin`); a report whose tag does not verify,
  or a pytest process killed before it wrote one, gives a report in which every check scores 0
  with the reason, never a score the submission wrote itself.
- **A deadline and no stall.** The whole run has a deadline; a pytest process found stopped
  (``SIGSTOP`` from the student's code) is continued; at the deadline everything is killed.
- **Nothing left behind.** This process is a child subreaper while the suite runs, and kills every
  process left below it when the suite ends (:mod:`pcmodel.grading.reaper`).
- **Bounded output.** pytest's own output goes to a file, of which only the tail is read.
"""

from __future__ import annotations

import ast
import contextlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcmodel.grading import reaper

__all__ = ["DEFAULT_DEADLINE", "GradingCancelled", "SuiteCopy", "SuiteError", "failed_report",
           "run_suite"]

DEFAULT_DEADLINE = 600.0  # seconds for one student's whole suite, before the time scale
_LOG_TAIL = 3000  # characters of pytest's output shown when the suite itself fails to run
# One parse at a time: CPython 3.11 keeps the depth of the syntax tree it is turning into
# Python objects in one counter per interpreter, and two threads parsing at once (gradings run
# in threads) can fail with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905).
_PARSING = threading.Lock()


class SuiteError(Exception):
    """The suite could not run for a reason that is not the submission's doing."""


class GradingCancelled(Exception):
    """The grading was cancelled (Ctrl-C, SIGTERM, or a caller's event); nothing is left running."""


@dataclass(frozen=True)
class SuiteCopy:
    """The files of one exercise's graded suite, read once, as bytes."""

    name: str
    origin: Path  # the exercises folder they were read from
    files: tuple[tuple[str, bytes], ...]  # (path relative to the copy's root, content)

    @classmethod
    def take(cls, folder: Path) -> SuiteCopy:
        """Read the exercise's files in ``folder`` (all but the reference solution) and the
        shared pytest configuration of its parent."""
        root = folder.parent
        wanted = [f"{folder.name}/{path.name}" for path in sorted(folder.iterdir())
                  if path.is_file() and not path.name.startswith("solution")]
        files = []
        for relative in [*wanted, "conftest.py", "pytest.ini"]:
            path = root / relative
            if path.is_file():
                files.append((relative, path.read_bytes()))
        return cls(folder.name, root, tuple(files))

    def write(self, root: Path) -> Path:
        """Write the copy under ``root``; return the suite file's path."""
        for relative, content in self.files:
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return root / self.name / "test_graded.py"

    def checks(self) -> list[dict[str, Any]]:
        """The suite's checks as the report lists them (id, title, points), read from its source."""
        source = dict(self.files)[f"{self.name}/test_graded.py"]
        found = []
        with _PARSING:
            tree = ast.parse(source)
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
                continue
            points = None
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                        and deco.func.attr == "points" and deco.args
                        and isinstance(deco.args[0], ast.Constant)):
                    points = int(deco.args[0].value)
            if points is None:
                continue
            doc = (ast.get_docstring(node) or node.name).split("\n\n")[0]
            found.append({"id": node.name, "title": " ".join(doc.split()), "points": points})
        return found


def run_suite(
    copy: SuiteCopy,
    impl: Path,
    *,
    repeat: int = 1,
    only: tuple[str, ...] = (),
    deadline: float = DEFAULT_DEADLINE,
    cancel: threading.Event | None = None,
    exitfirst: bool = False,
) -> dict[str, Any]:
    """Grade ``impl`` with ``copy``'s suite in a supervised pytest process; return the report.

    Returns within about ``deadline`` seconds whatever the submission does. A submission that
    stops the run, kills it, or forges its report gets a report in which every check scores 0 and
    ``error`` says why. Raises SuiteError when pytest cannot run the suite at all (its output is
    included), GradingCancelled once ``cancel`` is set (after killing the run).
    """
    with tempfile.TemporaryDirectory(prefix="pcmodel-grade-") as tmp:
        workdir = Path(tmp)
        suite = copy.write(workdir / "exercises")
        report_path = workdir / "report.json"
        log_path = workdir / "pytest.log"
        key = secrets.token_bytes(32)
        key_r, key_w = os.pipe()
        os.write(key_w, key)
        os.close(key_w)
        command = [
            sys.executable, "-c", _BOOTSTRAP, str(suite),
            "-c", str(suite.parent.parent / "pytest.ini"),
            "--rootdir", str(suite.parent.parent),
            "-q", "--no-header", "-p", "no:randomly",
            # The report takes a failed check's message from the check, not from pytest's
            # traceback, which only the log keeps: Python's own format, where pytest's parses
            # every file in the traceback (a fifth of grading a file that fails every check).
            "--tb=native",
            "--impl", str(impl),
            "--grade-report", str(report_path),
            "--grade-repeat", str(repeat),
            "--grade-seal-fd", str(key_r),
            "--grade-protect", str(copy.origin),
            "--grade-protect", str(suite.parent.parent),
        ]
        if only:
            command += ["-k", " or ".join(only)]
        if exitfirst:
            command.append("-x")  # stop at the first failed check
        # One hash seed for every grading: code that iterates a set of strings (member ids,
        # topic names) then meets the same order each time, so a file gets the same score.
        env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONHASHSEED="0")
        env.pop("PCMODEL_IMPL", None)
        problem = ""
        proc = None
        with reaper.subreaper():
            before = frozenset(reaper.children_of(os.getpid()))
            try:
                try:
                    with reaper.launching, open(log_path, "wb") as log:
                        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, env=env, cwd=tmp,
                                                pass_fds=(key_r,), start_new_session=True)
                        reaper.watch(proc.pid)
                finally:
                    os.close(key_r)
                problem = _wait(proc, time.monotonic() + deadline, deadline, cancel)
            finally:
                # Also on Ctrl-C: pytest, the checks and whatever they started all die here.
                shm: dict[int, str] = {}
                if proc is not None:
                    ended_alone = proc.poll() is not None
                    if not ended_alone or problem:
                        # Killed in the middle: their finalizers and resource trackers never
                        # run, so note what they mapped in /dev/shm (frozen first, so that
                        # nothing new appears) and unlink it once they are dead.
                        reaper.unwatch(proc.pid)
                        frozen = reaper.freeze_descendants(before)
                        shm = reaper.shm_mapped_by(frozen)
                    _stop(proc)
                    reaper.unwatch(proc.pid)
                    if ended_alone and not problem:
                        reaper.wait_for_trackers(before)
                reaper.kill_descendants(before)
                reaper.unlink_unmapped_shm(shm)
        if problem == _CANCELLED:
            raise GradingCancelled(f"grading {impl} was cancelled")
        if not problem:
            problem = _unsealed(report_path, key)
        if problem and proc.returncode is not None and proc.returncode > 0 \
                and not report_path.is_file():
            raise SuiteError(f"the graded suite of {copy.name} did not run:\n{_tail(log_path)}")
        if problem:
            return failed_report(copy, problem)
        report = json.loads(report_path.read_text(encoding="utf-8"))
        return _completed(copy, report, partial=bool(only) or exitfirst)


_CANCELLED = "cancelled"
# pytest, with SIGINT ignored: graded code runs in pytest's forked children, to which pytest is
# os.getppid(); a SIGINT from there must not end the session early with a partial report (the
# grader stops pytest with SIGKILL, never SIGINT). The checks' children restore the default.
_BOOTSTRAP = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
              "import pytest; sys.exit(pytest.console_main())")
_INTERRUPTED = 2  # pytest's exit status when the session was interrupted


def _completed(copy: SuiteCopy, report: dict[str, Any], partial: bool) -> dict[str, Any]:
    """``report``, or when checks of the suite are missing from it (the session was cut short:
    interrupted, or ended by the graded code), a report that says so: the missing checks score
    0, ``max_score`` is the suite's and ``error`` says why. A grading that ran no check never
    looks like a pass. ``partial``: only some checks were asked for (``-k``, ``-x``)."""
    suite = copy.checks()
    ran = {check.get("id") for check in report.get("checks", []) if isinstance(check, dict)}
    missing = [] if partial else [check for check in suite if check["id"] not in ran]
    interrupted = report.get("exit_status") == _INTERRUPTED
    if not missing and ran and not interrupted:
        return report
    if not ran and partial:
        missing = suite
    reason = (f"the grading stopped before every check ran ({len(ran)} of {len(suite)} ran); "
              "every check that did not run scores 0")
    checks = list(report.get("checks", []))
    for check in missing:
        checks.append({**check, "earned": 0, "outcome": "failed", "rounds": 1, "failures": 1,
                       "expected": "the check to run", "got": "it never ran: " + reason,
                       "hint": "", "details": "", "output": "", "duration": 0.0})
    total = sum(c["points"] for c in suite) if not partial else report.get("max_score", 0)
    max_score = max(total, sum(c.get("points", 0) for c in checks))
    return {**report, "checks": checks, "max_score": max_score,
            "score": min(report.get("score", 0), max_score),
            "error": report.get("error") or reason}


def _wait(proc: subprocess.Popen[bytes], deadline: float, seconds: float,
          cancel: threading.Event | None) -> str:
    """Wait for pytest to end; continue it when stopped. Returns "" or why it did not end well."""
    pause = cancel if cancel is not None else threading.Event()
    while True:
        if pause.is_set():
            return _CANCELLED
        code = proc.poll()
        if code is not None:
            if code < 0:
                return f"the grading process was killed by signal {-code} before it finished"
            return ""
        if time.monotonic() > deadline:
            return f"grading took longer than the deadline of {seconds:.0f} s; stopped"
        if _stopped(proc.pid):
            # Only the graded code has a reason to stop the grader; it runs on regardless.
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
        pause.wait(0.05)


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    proc.wait()


def _unsealed(report_path: Path, key: bytes) -> str:
    """"" when the report exists and its tag verifies; else what is wrong with it."""
    tag_path = Path(f"{report_path}.hmac")
    if not report_path.is_file() or not tag_path.is_file():
        return "the grading process ended without writing its report"
    data = report_path.read_bytes()
    tag = tag_path.read_text(encoding="ascii", errors="replace").strip()
    if not hmac.compare_digest(tag, hmac.new(key, data, "sha256").hexdigest()):
        return "the report was not the one the grader wrote (it was changed or replaced)"
    return ""


def failed_report(copy: SuiteCopy, reason: str) -> dict[str, Any]:
    """A report in which every check of ``copy`` scores 0 because of ``reason`` (in ``error``)."""
    checks = []
    for check in copy.checks():
        checks.append({**check, "earned": 0, "outcome": "failed", "rounds": 1, "failures": 1,
                       "expected": "the grading to run to its end", "got": reason,
                       "hint": "", "details": "", "output": "", "duration": 0.0})
    return {"score": 0, "max_score": sum(c["points"] for c in checks), "checks": checks,
            "error": reason}


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - _LOG_TAIL))
            return log.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
