"""pytest plugin that turns a graded suite into a score report.

A graded suite is an ordinary pytest file. Each test is one check, worth the points of its
``@pytest.mark.points(n)`` marker, and receives the student's file through the ``impl`` fixture:
``--impl PATH``, else the ``PCMODEL_IMPL`` environment variable, else the exercise's
``starter.py``. The plugin records every check's outcome (with the expected / got / hint of a
:class:`~pcmodel.grading.checks.CheckFailed`) and, with ``--grade-report FILE``, writes them as
JSON with the score. ``--grade-repeat N`` runs every check N times (as pytest-repeat does), to
prove a suite does not flake; a check earns its points only if every round passed.

While a suite runs, the pytest process is the grading parent: it is made non-dumpable (code
running as the same user cannot read its memory or file descriptors through ``/proc``), every
check child applies the sandbox policy (:mod:`pcmodel.grading.sandbox`: no reading of the
exercises' other files, no changing them or the grader), and with ``--grade-seal-fd N`` the report
is sealed: the plugin reads a key from file descriptor N only when the session ends (check
children close that descriptor before any student code runs) and writes the report's HMAC-SHA256
next to it, as ``FILE.hmac``, so that a report written by anyone else is detected.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from pcmodel.grading import reaper, sandbox
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.probes import compile_problem

OUTPUT_IN_REPORT = 8 * 1024  # characters of a check's output kept in the report

__all__ = ["summarise"]

_ROUND = "grade_round"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pcmodel grading")
    group.addoption("--impl", default=None, metavar="PATH",
                    help="implementation to grade (default: $PCMODEL_IMPL, else starter.py)")
    group.addoption("--grade-report", default=None, metavar="FILE",
                    help="write the score report as JSON to FILE")
    group.addoption("--grade-repeat", type=int, default=1, metavar="N",
                    help="run every graded check N times; points only if all pass")
    group.addoption("--grade-seal-fd", type=int, default=None, metavar="FD",
                    help="read the report's HMAC key from this file descriptor at the end")
    group.addoption("--grade-protect", action="append", default=[], metavar="DIR",
                    help="a folder whose files graded code may not read or change")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): how many points a graded check is worth")
    if config.getoption("--grade-repeat") < 1:
        raise pytest.UsageError("--grade-repeat must be at least 1")
    config.stash[_results_key] = []
    reaper.harden()
    # Read by pcmodel.grading.checks.budget() in this process and in every check's child.
    os.environ["PCMODEL_GRADE_ROUNDS"] = str(config.getoption("--grade-repeat"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    rounds = metafunc.config.getoption("--grade-repeat")
    if rounds > 1 and metafunc.definition.get_closest_marker("points") is not None:
        metafunc.fixturenames.append(_ROUND)
        metafunc.parametrize(_ROUND, range(1, rounds + 1), ids=lambda n: f"round{n}")


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> str:
    """Absolute path of the implementation under test."""
    chosen = request.config.getoption("--impl") or os.environ.get("PCMODEL_IMPL")
    if chosen:
        path = Path(chosen)
        if not path.is_absolute():
            path = Path(request.config.invocation_params.dir) / path
    else:
        path = Path(request.node.path).parent / "starter.py"
    if not path.is_file():
        pytest.fail(f"no implementation file at {path}; pass --impl PATH or set PCMODEL_IMPL")
    broken = request.config.stash.setdefault(_compile_key, {})
    if str(path) not in broken:
        broken[str(path)] = compile_problem(path)
    if broken[str(path)] is not None:
        # Said once for the whole report (its "error"); each check only says it did not run.
        raise CheckFailed("your file to compile", "not run: the file does not compile", "")
    _configure_sandbox(request, path)
    callspec = getattr(request.node, "callspec", None)
    os.environ["PCMODEL_GRADE_ROUND"] = str(callspec.params.get(_ROUND, 1) if callspec else 1)
    return str(path.resolve())


_results_key = pytest.StashKey[list]()
_compile_key = pytest.StashKey[dict]()
_policies: dict[str, sandbox.Policy] = {}


def _configure_sandbox(request: pytest.FixtureRequest, impl: Path) -> None:
    """Protect the exercises (and --grade-protect folders) from the code about to be graded."""
    from pcmodel.grading.engine import GradingError, exercises_root

    key = str(impl.resolve())
    if key not in _policies:
        suite_root = Path(request.node.path).resolve().parents[1]
        folders = {suite_root, *(Path(p).resolve() for p in request.config.getoption(
            "--grade-protect"))}
        try:
            folders.add(exercises_root())
        except GradingError:
            pass
        readonly = [Path(reaper.__file__).resolve().parents[1]]  # the pcmodel package
        _policies[key] = sandbox.Policy.for_folders(sorted(folders), impl, readonly)
    sandbox.configure(_policies[key])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("points")
    if marker is None:
        return
    failed = report.failed or (call.when == "call" and report.skipped)
    if call.when != "call" and not failed:
        return
    doc = (getattr(item, "function", None).__doc__ or "").strip()
    paragraphs = [p.strip() for p in doc.split("\n\n") if p.strip()]
    title = " ".join(paragraphs[0].split()) if paragraphs else item.name
    hint = next((" ".join(p.split())[5:].strip() for p in paragraphs if p.startswith("Hint:")), "")
    entry: dict[str, Any] = {
        "id": getattr(item, "originalname", item.name),
        "nodeid": item.nodeid,
        "title": title,
        "points": int(marker.args[0]) if marker.args else 1,
        "outcome": "passed" if report.passed else ("skipped" if report.skipped else "failed"),
        "duration": round(report.duration, 3),
        "expected": "",
        "got": "",
        "hint": hint,
        "details": "",
        "output": _shorten(report.capstdout),
    }
    if call.excinfo is not None and not report.passed:
        exc = call.excinfo.value
        if isinstance(exc, CheckFailed):
            entry.update(expected=exc.expected, got=exc.got, hint=exc.hint or hint,
                         details=exc.details)
        else:
            entry["got"] = call.excinfo.exconly().strip().splitlines()[0][:500]
            if call.when != "call":
                entry["expected"] = "the check to start"
    item.config.stash[_results_key].append(entry)


def _shorten(output: str) -> str:
    if len(output) <= OUTPUT_IN_REPORT:
        return output
    rest = len(output) - OUTPUT_IN_REPORT
    return output[:OUTPUT_IN_REPORT] + f"\n[output truncated: {rest} more characters not shown]"


def summarise(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Score a list of check results: a check earns its points only if every round passed."""
    checks: dict[str, dict[str, Any]] = {}
    for entry in entries:
        check = checks.setdefault(entry["id"], {**entry, "rounds": 0, "failures": 0})
        check["rounds"] += 1
        if entry["outcome"] != "passed":
            check["failures"] += 1
            if check["failures"] == 1:
                keys = ("outcome", "expected", "got", "hint", "details", "output")
                check.update({k: entry[k] for k in keys})
        check.pop("nodeid", None)
    for check in checks.values():
        check["earned"] = check["points"] if check["failures"] == 0 else 0
    ordered = list(checks.values())
    return {
        "score": sum(c["earned"] for c in ordered),
        "max_score": sum(c["points"] for c in ordered),
        "checks": ordered,
    }


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    entries = config.stash.get(_results_key, [])
    if not entries:
        return
    summary = summarise(entries)
    for problem in config.stash.get(_compile_key, {}).values():
        if problem is not None:
            terminalreporter.write_line(f"cannot grade: {problem}")
    terminalreporter.write_line(f"graded score: {summary['score']} / {summary['max_score']}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = session.config.getoption("--grade-report")
    if not target:
        return
    entries = session.config.stash.get(_results_key, [])
    summary = summarise(entries)
    impl = session.config.getoption("--impl") or os.environ.get("PCMODEL_IMPL") or "starter.py"
    problems = [p for p in session.config.stash.get(_compile_key, {}).values() if p]
    if problems:
        summary["error"] = problems[0]
    summary.update(
        impl=impl,
        rounds=session.config.getoption("--grade-repeat"),
        collected=session.testscollected,
        exit_status=int(exitstatus),
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    path = Path(target)
    if not path.is_absolute():
        path = Path(session.config.invocation_params.dir) / path
    data = (json.dumps(summary, indent=2) + "\n").encode("utf-8")
    path.write_bytes(data)
    seal_fd = session.config.getoption("--grade-seal-fd")
    if seal_fd is not None:
        key = os.read(seal_fd, 64)
        os.close(seal_fd)
        tag = hmac.new(key, data, "sha256").hexdigest()
        Path(f"{path}.hmac").write_text(tag + "\n", encoding="ascii")
