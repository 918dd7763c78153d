"""Robustness of ``pcmodel grade``, ``exercises export`` and ``explore`` against odd arguments and
odd targets: one line and status 2, found before any grading; all-or-nothing exports; a target's
import that raises, exits or leaves threads behind."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pcmodel.cli import main
from pcmodel.grading import classroom, engine, export
from pcmodel.grading.classroom import collect

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "exercises" / "01_condition_buffer" / "solution.py"


def one_error_line(capsys, command: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pcmodel {command}: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.fixture
def no_grading(monkeypatch):
    """Any grading fails the test: the mistake must be found before."""
    def refuse(*args, **kwargs):
        raise AssertionError("grading started")
    monkeypatch.setattr(engine, "grade", refuse)
    monkeypatch.setattr(classroom, "grade_class", refuse)


def _report(score=1, max_score=1, checks=None, error=None):
    checks = [{"id": "test_a", "title": "a", "points": 1, "earned": score,
               "outcome": "passed" if score else "failed"}] if checks is None else checks
    report = {"score": score, "max_score": max_score, "checks": checks, "exercise": "x",
              "impl": str(SOLUTION)}
    if error:
        report["error"] = error
    return report


# --- grade: output targets ---------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_grade_refuses_a_dangling_csv_link_before_grading(tmp_path, capsys, no_grading):
    link = tmp_path / "dang.csv"
    link.symlink_to("/nonexistent-pcmodel/x.csv")
    assert main(["grade", "01", "--impl", str(SOLUTION), "--csv", str(link)]) == 2
    assert "--csv" in one_error_line(capsys, "grade")


@pytest.mark.timeout(30)
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_grade_refuses_an_uncreatable_json_before_grading(capsys, no_grading):
    assert main(["grade", "01", "--impl", str(SOLUTION), "--json", "/proc/x.json"]) == 2
    assert "--json /proc/x.json" in one_error_line(capsys, "grade")


@pytest.mark.timeout(30)
def test_grade_refuses_a_gradescope_student_path_in_the_way(tmp_path, capsys, no_grading):
    cls = tmp_path / "cls"
    cls.mkdir()
    for name in ("a.py", "b.py"):
        shutil.copyfile(SOLUTION, cls / name)
    gs = tmp_path / "gs"
    gs.mkdir()
    (gs / "a").write_text("")
    assert main(["grade", "01", "--impl", str(cls), "--gradescope", str(gs)]) == 2
    assert "is in the way" in one_error_line(capsys, "grade")


@pytest.mark.timeout(30)
def test_a_csv_that_cannot_be_written_after_grading_is_one_line(tmp_path, capsys, monkeypatch):
    target = tmp_path / "out.csv"

    def grade(*args, **kwargs):
        target.mkdir()  # a folder took the report's place while grading
        return _report()
    monkeypatch.setattr(engine, "grade", grade)
    assert main(["grade", "01", "--impl", str(SOLUTION), "--csv", str(target)]) == 2
    assert "cannot write" in one_error_line(capsys, "grade")


@pytest.mark.timeout(30)
def test_grading_that_does_not_finish_leaves_no_output_behind(tmp_path, capsys, monkeypatch):
    # The check tries the path for real (the missing folder and the file are created, then
    # removed again); the report is written only once the grading finished.
    target = tmp_path / "new-folder" / "out.json"

    def grade(*args, **kwargs):
        assert not target.parent.exists()
        raise KeyboardInterrupt
    monkeypatch.setattr(engine, "grade", grade)
    assert main(["grade", "01", "--impl", str(SOLUTION), "--json", str(target)]) == 130
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(30)
def test_grade_writes_its_report_into_a_folder_it_creates(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engine, "grade", lambda *a, **k: _report())
    target = tmp_path / "reports" / "01" / "out.csv"
    assert main(["grade", "01", "--impl", str(SOLUTION), "--csv", str(target)]) == 0
    assert target.read_text().startswith("student,")


@pytest.mark.timeout(30)
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_grade_writes_all_its_reports_or_none(tmp_path, capsys, monkeypatch):
    # A full disk for the last report: the others were written before, one after another.
    monkeypatch.setattr(engine, "grade", lambda *a, **k: _report())
    (tmp_path / "old.json").write_text("the last grading's\n")
    full = tmp_path / "full.csv"
    full.symlink_to("/dev/full")
    assert main(["grade", "01", "--impl", str(SOLUTION), "--json", str(tmp_path / "old.json"),
                 "--junit", str(tmp_path / "new.xml"), "--csv", str(full)]) == 2
    assert "--csv" in one_error_line(capsys, "grade")
    assert (tmp_path / "old.json").read_text() == "the last grading's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.csv", "old.json"]


@pytest.mark.timeout(30)
def test_grade_refuses_a_pipe_nobody_reads_instead_of_hanging(tmp_path, capsys, no_grading):
    # Opening a FIFO for writing blocks until a reader comes: grade waited for ever (before it
    # even graded). The check opens without blocking, as run's and bench's always did.
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    assert main(["grade", "01", "--impl", str(SOLUTION), "--json", str(fifo)]) == 2
    assert f"--json {fifo}: cannot write there" in one_error_line(capsys, "grade")


@pytest.mark.timeout(30)
def test_a_report_without_checks_never_passes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engine, "grade", lambda *a, **k: _report(0, 0, checks=[]))
    assert main(["grade", "01", "--impl", str(SOLUTION)]) == 1


# --- grade: the implementation and the numbers ---------------------------------------------------


@pytest.mark.timeout(30)
def test_grade_refuses_a_file_that_is_not_python(tmp_path, capsys, no_grading):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    assert main(["grade", "01", "--impl", str(notes)]) == 2
    assert "not a Python file" in one_error_line(capsys, "grade")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "-1", "0"])
def test_grade_refuses_a_deadline_that_is_not_a_sensible_number(value, capsys, no_grading):
    assert main(["grade", "01", "--impl", str(SOLUTION), "--deadline", value]) == 2
    assert "--deadline" in one_error_line(capsys, "grade")


def test_a_dangling_link_in_a_class_folder_gets_a_row(tmp_path):
    shutil.copyfile(SOLUTION, tmp_path / "ann.py")
    (tmp_path / "dang.py").symlink_to(tmp_path / "gone.py")
    found = {s.student: s for s in collect(tmp_path)}
    assert set(found) == {"ann", "dang"}
    assert found["dang"].path is None and "missing" in found["dang"].problem
    assert found["ann"].path == tmp_path / "ann.py"


# --- exercises export ----------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("only", [["01", "01"], ["1", "condition_buffer"]])
def test_export_names_an_exercise_twice_and_writes_it_once(tmp_path, capsys, only):
    target = tmp_path / "dup"
    args = ["exercises", "export", str(target)]
    for name in only:
        args += ["--only", name]
    assert main(args) == 0
    assert sorted(p.name for p in target.iterdir()) == [
        "01_condition_buffer", "README.md", "conftest.py", "pytest.ini"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("failure", [OSError(errno.EFBIG, "File too large"), KeyboardInterrupt()])
def test_export_is_all_or_nothing(tmp_path, capsys, monkeypatch, failure):
    real = shutil.copyfile
    calls = []

    def copyfile(src, dst, *args, **kwargs):
        calls.append(dst)
        if len(calls) == 4:
            raise failure
        return real(src, dst, *args, **kwargs)
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    target = tmp_path / "deep" / "handout"
    status = main(["exercises", "export", str(target)])
    assert status == (2 if isinstance(failure, OSError) else 130)
    assert list(tmp_path.iterdir()) == []  # no hand-out, no temporary folder, no parent


@pytest.mark.timeout(30)
def test_export_into_a_name_too_long_is_one_line(tmp_path, capsys):
    assert main(["exercises", "export", str(tmp_path / ("x" * 300))]) == 2
    one_error_line(capsys, "exercises")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(30)
def test_export_into_an_empty_folder_fills_it(tmp_path, capsys):
    target = tmp_path / "empty"
    target.mkdir()
    assert main(["exercises", "export", str(target), "--only", "02"]) == 0
    assert (target / "02_semaphore_buffer" / "starter.py").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]
    assert export.HANDED_OUT  # the module under test


# --- explore: targets whose import misbehaves -----------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("source", "said"), [
    ("1 / 0\n", "ZeroDivisionError"),
    ("raise SystemExit(3)\n", "exited"),
    ("import sys\nsys.exit('bye')\n", "exited"),
    ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ("def __getattr__(name):\n    raise RuntimeError('boom')\n", "RuntimeError"),
])
def test_explore_a_target_whose_import_misbehaves_is_one_line(tmp_path, capsys, monkeypatch,
                                                              source, said):
    name = f"pcmodel_target_{abs(hash(source))}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    for target in (f"{name}:B", f"{tmp_path / name}.py:B"):
        sys.modules.pop(name, None)
        assert main(["explore", target]) == 2
        assert said in one_error_line(capsys, "explore")
    sys.modules.pop(name, None)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", [".:B", "..x:B"])
def test_explore_a_relative_module_name_is_one_line(target, capsys):
    assert main(["explore", target]) == 2
    one_error_line(capsys, "explore")


@pytest.mark.timeout(30)
def test_explore_a_file_with_null_bytes_names_the_file(tmp_path, capsys):
    target = tmp_path / "binary.py"
    target.write_bytes(b"x = 1\n\x00\x00\n")
    assert main(["explore", f"{target}:B"]) == 2
    line = one_error_line(capsys, "explore")
    assert str(target) in line and "None" not in line


@pytest.mark.timeout(30)
@pytest.mark.parametrize("option", ["--producers", "--consumers"])
def test_explore_bounds_the_number_of_threads(option, capsys):
    assert main(["explore", "pcmodel:condition", option, "100000", "--max-schedules", "1"]) == 2
    assert "between 1 and 64" in one_error_line(capsys, "explore")


@pytest.mark.timeout(60)
def test_explore_exits_after_printing_even_if_the_target_left_a_thread(tmp_path):
    target = tmp_path / "thr.py"
    target.write_text("import threading\n"
                      "threading.Thread(target=threading.Event().wait).start()\n"
                      "class B:\n    pass\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", "import sys; from pcmodel.cli import main; "
                           "sys.exit(main())", "explore", f"{target}:B"],
                          capture_output=True, text=True, timeout=50, env=env, check=False)
    assert proc.returncode == 1
    assert "Replay it with" in proc.stdout
    assert "Traceback" not in proc.stderr
