"""The grading machinery: isolation of hung code, discovery, the CLI, reports, the pytest plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from pcmodel.cli import main
from pcmodel.grading.checks import CheckFailed, observe
from pcmodel.grading.engine import GradingError, discover, exercises_root, find, format_report
from pcmodel.grading.isolation import Verdict, run_isolated
from pcmodel.grading.probes import Probe, instrument, load_impl
from pcmodel.grading.reaper import children_of
from tests.conftest import wait_until

ROOT = exercises_root()


def _forever() -> None:
    threading.Event().wait()


def test_run_isolated_returns_the_value():
    outcome = run_isolated(lambda: {"answer": 42}, time_limit=30)
    assert outcome.verdict is Verdict.RETURNED
    assert outcome.value == {"answer": 42}


def test_run_isolated_reports_an_exception():
    def boom():
        raise KeyError("missing")

    outcome = run_isolated(boom, time_limit=30)
    assert outcome.verdict is Verdict.RAISED
    assert "KeyError" in outcome.error and "missing" in outcome.error


@pytest.mark.timeout(30)
def test_run_isolated_abandons_a_hang():
    outcome = run_isolated(_forever, time_limit=0.5)
    assert outcome.verdict is Verdict.TIMED_OUT
    assert "still running" in outcome.error


@pytest.mark.timeout(30)
def test_a_check_that_times_out_shows_what_the_code_printed(capsys):
    def prints_then_hangs():
        print("about to wait for ever", flush=True)
        _forever()

    with pytest.raises(CheckFailed, match="finish within"):
        observe(prints_then_hangs, time_limit=0.5)
    assert "about to wait for ever" in capsys.readouterr().out


def test_run_isolated_reports_a_crash():
    outcome = run_isolated(lambda: os._exit(3), time_limit=30)
    assert outcome.verdict is Verdict.CRASHED
    assert "exit status 3" in outcome.error


@pytest.mark.timeout(30)
def test_a_leaked_blocked_thread_does_not_hold_the_child():
    def leak():
        threading.Thread(target=_forever).start()  # not a daemon: would block a normal exit
        return "done"

    outcome = run_isolated(leak, time_limit=20)
    assert outcome.verdict is Verdict.RETURNED and outcome.value == "done"


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"  # killed, not yet reaped
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to see other processes")
@pytest.mark.timeout(30)
def test_processes_started_by_the_workload_are_killed():
    def spawn_sleeper():
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]).pid

    outcome = run_isolated(spawn_sleeper, time_limit=20)
    assert outcome.verdict is Verdict.RETURNED
    deadline = time.monotonic() + 10
    while not _gone(outcome.value):
        assert time.monotonic() < deadline, "the grandchild survived its check"
        threading.Event().wait(0.01)


def test_discover_lists_the_exercises_with_titles():
    names = [ex.name for ex in discover(ROOT)]
    assert names == sorted(names)
    assert {"01_condition_buffer", "02_semaphore_buffer", "03_pipeline_shutdown",
            "04_process_buffer", "05_assignor"} <= set(names)
    assert all(ex.title and not ex.title[0].isdigit() for ex in discover(ROOT))


def test_find_by_name_number_or_words():
    assert find("01_condition_buffer", ROOT).name == "01_condition_buffer"
    assert find("2", ROOT).name == "02_semaphore_buffer"
    assert find("assignor", ROOT).name == "05_assignor"
    with pytest.raises(GradingError, match="choose one of: 01_condition_buffer"):
        find("nope", ROOT)


def test_cli_lists_exercises(capsys):
    assert main(["grade", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(discover(ROOT))
    assert lines[0].startswith("01_condition_buffer")


def test_cli_rejects_an_unknown_exercise(capsys):
    assert main(["grade", "nope"]) == 2
    assert "choose one of" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_cli_grades_and_writes_json(tmp_path, capsys):
    target = tmp_path / "report.json"
    solution = ROOT / "05_assignor" / "solution.py"
    assert main(["grade", "05", "--impl", str(solution), "--json", str(target)]) == 0
    out = capsys.readouterr().out
    report = json.loads(target.read_text())
    assert report["score"] == report["max_score"] > 0
    assert f"total: {report['max_score']} / {report['max_score']}" in out
    check = report["checks"][0]
    assert {"id", "title", "points", "earned", "outcome", "expected", "got", "hint"} <= set(check)


@pytest.mark.timeout(120)
def test_cli_grades_the_starter_by_default_and_explains_failures(tmp_path, capsys):
    assert main(["grade", "05_assignor"]) == 1
    out = capsys.readouterr().out
    assert "total: 0 / " in out
    assert "expected:" in out and "got:" in out and "NotImplementedError" in out


def test_format_report_shows_what_to_fix():
    report = {
        "exercise": "01_x", "impl": "me.py", "score": 1, "max_score": 3,
        "checks": [
            {"id": "test_a", "title": "A works.", "points": 1, "earned": 1},
            {"id": "test_b", "title": "B works.", "points": 2, "earned": 0, "rounds": 1,
             "expected": "B", "got": "not B", "hint": "do B", "details": "trace line"},
        ],
    }
    text = format_report(report)
    assert "PASS   1/1" in text and "FAIL   0/2" in text and "total: 1 / 3" in text
    assert "expected: B" in text and "got:      not B" in text and "hint:     do B" in text
    assert "trace line" in text


def test_format_report_marks_a_check_of_no_points_by_its_outcome():
    def report(outcome):
        return {"exercise": "01_x", "impl": "me.py", "score": 1, "max_score": 1, "checks": [
            {"id": "test_a", "title": "A works.", "points": 1, "earned": 1,
             "outcome": "passed"},
            {"id": "test_notes", "title": "Notes.", "points": 0, "earned": 0,
             "outcome": outcome, "expected": "no note", "got": "a note"}]}

    quiet = format_report(report("passed"))
    assert "PASS   0/0   test_notes" in quiet and "FAIL" not in quiet
    assert "test_notes (0 points)" not in quiet  # nothing to fix: no section for it
    noted = format_report(report("failed"))
    assert "NOTE   0/0   test_notes" in noted and "FAIL" not in noted
    assert "test_notes (0 points): Notes." in noted and "got:      a note" in noted


@pytest.mark.timeout(240)  # a whole suite graded: 19 s on a busy 2-core machine
@pytest.mark.parametrize("how", ["option", "environment"])
def test_suites_run_with_plain_pytest(how, tmp_path):
    solution = ROOT / "05_assignor" / "solution.py"
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    command = [sys.executable, "-m", "pytest", str(ROOT / "05_assignor"), "-q"]
    if how == "option":
        command += ["--impl", str(solution)]
    else:
        env["PCMODEL_IMPL"] = str(solution)
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=110, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "graded score: 20 / 20" in done.stdout


def test_probe_sees_a_blocked_condition_wait(tmp_path):
    source = tmp_path / "student.py"
    source.write_text(
        "from threading import Condition\n"
        "class Box:\n"
        "    def __init__(self):\n"
        "        self.cond = Condition()\n"
    )
    module = load_impl(source, "Box")
    probe = Probe()
    instrument(module, probe)
    box = module.Box()
    assert probe.created["Condition"] == 1

    def waiter():
        with box.cond:
            box.cond.wait()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert probe.wait_until(lambda: probe.blocked == 1, 10)
    with box.cond:
        box.cond.notify()
    thread.join(10)
    assert not thread.is_alive()
    assert probe.blocked == 0


def _a_check_runs() -> bool:
    me = os.getsid(0)
    for pid in children_of(os.getpid()):
        try:
            if os.getsid(pid) != me:  # the check's child leads a session of its own
                return True
        except OSError:
            continue
    return False


def _wait_for_file(path: str) -> str:
    pause = threading.Event()
    deadline = time.monotonic() + 30
    while not os.path.exists(path) and time.monotonic() < deadline:
        pause.wait(0.01)
    return "saw it"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to see other processes")
@pytest.mark.timeout(60)
def test_a_child_the_caller_starts_meanwhile_is_not_killed(tmp_path):
    """Only what graded code started dies: a process this test starts while a check runs lives."""
    flag = tmp_path / "go"
    box = {}
    runner = threading.Thread(target=lambda: box.update(
        outcome=run_isolated(_wait_for_file, str(flag), time_limit=30)))
    runner.start()
    try:
        wait_until(_a_check_runs, 30)  # the check's child exists: the bystander starts after
        bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        flag.write_text("go")
        runner.join(30)
        assert box["outcome"].verdict is Verdict.RETURNED and box["outcome"].value == "saw it"
        assert bystander.poll() is None, "a process started by the caller was killed"
    finally:
        flag.write_text("go")
        runner.join(30)
        if "bystander" in locals():
            bystander.kill()
            bystander.wait()


def _keys_on_the_stack() -> list[str]:
    frame, found = sys._getframe(), []
    while frame is not None:
        found += [f"{frame.f_code.co_name}.{name}" for name, value in frame.f_locals.items()
                  if isinstance(value, bytes) and len(value) == 32]
        frame = frame.f_back
    return found


def test_the_checks_key_is_not_on_the_childs_stack():
    """The result's key is drawn after the fork: code in the check cannot find it by walking up."""
    outcome = run_isolated(_keys_on_the_stack, time_limit=30)
    assert outcome.verdict is Verdict.RETURNED
    assert outcome.value == []
