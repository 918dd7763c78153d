"""A teacher's workflow: hand out without solutions, grade a class, export the grades."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from pcmodel.cli import main
from pcmodel.grading import formats
from pcmodel.grading.classroom import collect, grade_class
from pcmodel.grading.engine import discover, exercises_root, find
from pcmodel.grading.reaper import descendants, subreaper_available
from tests import process_identity
from tests.conftest import wait_until
from tests.shared_results import SharedResults

ROOT = exercises_root()
REPO = ROOT.parent


def test_export_hands_out_no_solution(tmp_path, capsys):
    target = tmp_path / "handout"
    assert main(["exercises", "export", str(target)]) == 0
    assert "no solutions" in capsys.readouterr().out
    names = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    for exercise in discover(ROOT):
        for name in ("README.md", "starter.py", "test_graded.py"):
            assert f"{exercise.name}/{name}" in names
    assert {"README.md", "conftest.py", "pytest.ini"} <= names
    assert not [n for n in names if "solution" in n or "zoo" in n or "alternatives" in n]
    assert all(n.count("/") <= 1 for n in names)


def test_a_hand_out_grades_from_its_own_folder(tmp_path, capsys, monkeypatch):
    """`pcmodel grade` as the hand-out's README says: from the hand-out's folder, with no
    exercises folder in sight, it grades with the hand-out's own suites."""
    target = tmp_path / "handout"
    assert main(["exercises", "export", str(target)]) == 0
    assert "pcmodel grade 01_condition_buffer --impl my_file.py" in \
        (target / "README.md").read_text(encoding="utf-8")
    shutil.copyfile(ROOT / "05_assignor" / "solution.py", target / "mine.py")
    monkeypatch.chdir(target)
    monkeypatch.setattr("pcmodel.__file__", str(tmp_path / "elsewhere" / "pcmodel" / "__init__.py"))
    capsys.readouterr()
    assert exercises_root() == target
    assert main(["grade", "05_assignor", "--impl", "mine.py"]) == 0
    assert "total: 20 / 20" in capsys.readouterr().out


def test_export_refuses_a_folder_in_use(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("keep me")
    assert main(["exercises", "export", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not an empty folder" in err
    assert err.startswith("pcmodel exercises: error: ")
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


@pytest.mark.parametrize(("argv", "message"), [
    (["grade", "nope"], "choose one of"),
    (["grade", "05", "--impl", "missing.py"], "no file or folder at missing.py"),
    (["grade", "05", "--csv", "grades.txt"], "cannot write a .txt file; use one of .csv"),
    (["grade", "05", "--junit", "a-file/x.xml"], "a-file is a file, not a folder"),
    (["grade", "05", "--jobs", "0"], "--jobs must be at least 1"),
])
def test_mistakes_are_one_line_and_status_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err
    assert captured.err.startswith("pcmodel grade: error: ")


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A class of four: a correct file, a starter in a folder, a folder with two files, a file
    that does not parse; graded once through the command, with every output format (under xdist
    once for all the workers: :mod:`tests.shared_results`)."""
    shared = SharedResults(tmp_path_factory, "grading_classroom")
    tmp = shared.folder_for("class", tmp_path_factory)
    return shared.get(("class", str(tmp)), lambda: _grade_a_class(tmp))


def _grade_a_class(tmp):
    subs = tmp / "submissions"
    subs.mkdir()
    shutil.copy(ROOT / "05_assignor" / "solution.py", subs / "alice.py")
    (subs / "bob").mkdir()
    shutil.copy(ROOT / "05_assignor" / "starter.py", subs / "bob" / "assignor.py")
    (subs / "carol").mkdir()
    (subs / "carol" / "a.py").write_text("")
    (subs / "carol" / "b.py").write_text("")
    (subs / "dave.py").write_text("def assign(:\n")
    out = tmp / "out"
    out.mkdir()
    argv = ["grade", "05", "--impl", str(subs), "--no-progress", "--csv", str(out / "g.csv"),
            "--junit", str(out / "g.xml"), "--json", str(out / "g.json"),
            "--gradescope", str(out / "gradescope")]
    done = subprocess.run([sys.executable, "-m", "pcmodel.cli", *argv], capture_output=True,
                          text=True, timeout=240, cwd=tmp, check=False,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    return done, out


@pytest.mark.timeout(300)
def test_a_class_gets_one_row_per_student(graded_class):
    done, out = graded_class
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert set(rows) == {"alice", "bob", "carol", "dave"}
    assert "20 / 20" in rows["alice"] and "0 / 20" in rows["bob"]
    assert "several .py files" in rows["carol"]
    with open(out / "g.csv", newline="") as f:
        table = {row["student"]: row for row in csv.DictReader(f)}
    assert table["alice"]["score"] == "20" and table["bob"]["score"] == "0"
    assert table["alice"]["test_range_matches_kafka"] == "3"
    assert table["carol"]["error"].startswith("several .py files")


@pytest.mark.timeout(300)
def test_a_class_as_junit_gradescope_and_json(graded_class):
    _, out = graded_class
    suites = ET.parse(out / "g.xml").getroot().findall("testsuite")
    by_name = {s.get("name"): s for s in suites}
    assert by_name["05_assignor.alice"].get("failures") == "0"
    bob = by_name["05_assignor.bob"]
    assert bob.get("failures") == bob.get("tests") == "12"
    assert "NotImplementedError" in bob.find("testcase/failure").text
    results = json.loads((out / "gradescope" / "bob" / "results.json").read_text())
    assert results["score"] == 0 and len(results["tests"]) == 12
    assert set(results["tests"][0]) == {"name", "score", "max_score", "output", "status"}
    assert {t["status"] for t in results["tests"]} == {"failed"}
    alice = json.loads((out / "gradescope" / "alice" / "results.json").read_text())
    assert alice["score"] == 20 and {t["status"] for t in alice["tests"]} == {"passed"}
    data = json.loads((out / "g.json").read_text())
    assert data["students"]["alice"]["score"] == 20


def test_progress_bar_and_its_plain_fallback(tmp_path, monkeypatch):
    for name in ("ann", "ben"):
        (tmp_path / name).mkdir()  # no file: each row is reported without running a suite
    exercise = find("05", ROOT)
    stream = io.StringIO()
    rows = grade_class(exercise, collect(tmp_path), stream=stream)
    assert [student for student, _ in rows] == ["ann", "ben"]
    assert "2/2" in stream.getvalue()  # tqdm's counter
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    plain = io.StringIO()
    grade_class(exercise, collect(tmp_path), stream=plain)
    # The two rows are made in parallel: the last line names whichever came last.
    assert plain.getvalue().splitlines()[-1] in ("graded 2/2: ben 0/20", "graded 2/2: ann 0/20")


def test_a_file_and_a_folder_of_one_name_are_two_students(tmp_path):
    (tmp_path / "ann.py").write_text("")
    (tmp_path / "ann").mkdir()
    (tmp_path / "ben").mkdir()
    (tmp_path / "ben" / "mine.py").write_text("")
    found = {s.student: s for s in collect(tmp_path)}
    assert set(found) == {"ann (ann.py)", "ann (ann/)", "ben"}
    assert found["ann (ann/)"].problem == "no .py file in the submission"
    assert found["ben"].path == tmp_path / "ben" / "mine.py"


def test_gradescope_of_one_report():
    report = {"exercise": "05_x", "score": 1, "max_score": 3, "checks": [
        {"id": "test_a", "title": "A.", "points": 1, "earned": 1, "outcome": "passed"},
        {"id": "test_b", "title": "B.", "points": 2, "earned": 0, "outcome": "failed",
         "expected": "B", "got": "not B", "hint": "do B", "output": "hello\n"}]}
    doc = formats.gradescope(report)
    assert doc["score"] == 1
    assert doc["tests"][0] == {"name": "test_a: A.", "score": 1, "max_score": 1, "output": "",
                               "status": "passed"}
    failed = doc["tests"][1]
    assert failed["status"] == "failed" and "got: not B" in failed["output"]
    assert "hello" in failed["output"]


@pytest.mark.skipif(not subreaper_available(), reason="needs Linux prctl and /proc")
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("signum", "target", "running"), [
    (signal.SIGINT, "subs", 6), (signal.SIGTERM, "subs", 6), (signal.SIGINT, "subs/slow1.py", 3),
], ids=["class-SIGINT", "class-SIGTERM", "one-file-SIGINT"])
def test_interrupted_grading_leaves_nothing_running(tmp_path, signum, target, running):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("slow1", "slow2", "slow3"):
        (subs / f"{name}.py").write_text(
            "import os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    time.sleep(120)\n"
            "time.sleep(120)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcmodel.cli", "grade", "05", "--impl", str(tmp_path / target),
         "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=tmp_path)
    try:
        # Each grading running: pytest, a check child and its setsid grandchild.
        wait_until(lambda: proc.poll() is not None or len(descendants(proc.pid)) >= running, 60)
        assert proc.poll() is None, proc.communicate()
        # Named with their start times: by the time the test looks again the pids of those that
        # ended may belong to other processes.
        seen = process_identity.descendants(proc.pid)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip() == "pcmodel grade: interrupted"
    alive = [process.pid for process in seen if process_identity.running(process)]
    assert not alive, f"still running after the interrupt: {alive}"
