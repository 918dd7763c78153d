"""Submissions that attack the grader instead of solving the exercise gain nothing.

Each attack is a starter with a few lines added, as a determined student would write them: forge
the verdict, leave a process behind that rewrites the report, run the shipped solution, rewrite the
suite for later gradings, print without end, stop the grader. Every attacked starter must score
exactly what the plain starter scores (0), and the attack's effect must be absent.

All gradings run once, in parallel, before the tests read their reports (they mostly wait);
under xdist the workers share them (:mod:`tests.shared_results`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pcmodel.grading.engine import discover, exercises_root, find, grade
from pcmodel.grading.reaper import subreaper_available
from tests.process_identity import ProcessIdentity, running
from tests.shared_results import SharedResults, fingerprint

ROOT = exercises_root()
EXERCISES = {ex.name: ex for ex in discover(ROOT)}

pytestmark = pytest.mark.skipif(not subreaper_available(), reason="needs Linux prctl and /proc")

# The attack of the report that found the hole: walk the call stack to the check's result pipe and
# send "returned" (eight lines); then a blunter one: write that message to every pipe it holds.
FORGE_STACK = """
import os, sys
from multiprocessing.connection import Connection
frame = sys._getframe()
while frame:
    for value in list(frame.f_locals.values()):
        if isinstance(value, Connection) and value.writable:
            value.send(("returned", None, "")); os._exit(0)
    frame = frame.f_back
"""
FORGE_FDS = """
import os, pickle, stat
message = pickle.dumps(("returned", None, ""))
for name in os.listdir("/proc/self/fd"):
    fd = int(name)
    try:
        if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, message)
    except OSError:
        pass
os._exit(0)
"""
# Written against the grader's internals: patch, in the check's own process, the check
# functions of pcmodel.grading and the encoders the result is written with, so that whatever the
# check found, the message says "returned" with nothing to report.
PATCH_GRADER = """
import json as _json, pickle as _pickle, sys as _sys, types as _types
def _claim_success():
    real_pickle, real_json = _pickle.dumps, _json.dumps
    _pickle.dumps = lambda message, *a, **k: real_pickle(("returned", None, ""), *a, **k)
    _json.dumps = lambda message, *a, **k: real_json(["returned", None, ""], *a, **k)
    for name, module in list(_sys.modules.items()):
        if name.startswith("pcmodel.grading") and name.endswith("checks") and module:
            for attr, value in list(vars(module).items()):
                if (attr.startswith(("check", "fail_on", "_"))
                        and isinstance(value, _types.FunctionType)
                        and value.__module__ == name):
                    setattr(module, attr, lambda *a, **k: None)
_claim_success()
"""
# Also written against the grader's internals: the module takes the check's key from its pipe
# by descriptor number as it is imported (before the workload runs: a workload that fails at
# once would take the key first), then a thread waits until the workload has returned and
# writes a correctly sealed "returned" message to the result pipe. (Against the grader that
# judged in the child, this scored up to full marks.)
FORGE_BY_NUMBER = """
import fcntl as _fcntl, hmac as _hmac, json as _json, os as _os, select as _select
import stat as _stat, struct as _struct, sys as _sys, threading as _threading
def _pipes():
    from multiprocessing import resource_tracker
    tracker = getattr(resource_tracker._resource_tracker, "_fd", None)
    readers, writers = [], []
    for name in _os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd <= 2 or fd == tracker or not _stat.S_ISFIFO(_os.fstat(fd).st_mode):
                continue
            mode = _fcntl.fcntl(fd, _fcntl.F_GETFL) & _os.O_ACCMODE
        except OSError:
            continue
        (readers if mode == _os.O_RDONLY else writers).append(fd)
    return readers, writers
def _forge_by_number(key, writers):
    main = _threading.main_thread().ident
    for _ in range(3000):
        frame = _sys._current_frames().get(main)
        if frame is None or frame.f_code.co_name == "_read_exactly":
            break
        _threading.Event().wait(0.01)
    payload = _json.dumps(["returned", None, ""]).encode()
    message = _hmac.digest(key, payload, "sha256") + _struct.pack("!I", len(payload)) + payload
    for fd in writers:
        try:
            _os.write(fd, message)
        except OSError:
            pass
if not hasattr(_sys, "_forged"):  # some checks import the module twice: the key comes once
    _sys._forged = True
    _readers, _writers = _pipes()
    _key = b""
    if _readers and _select.select(_readers[:1], [], [], 5)[0]:
        _key = _os.read(_readers[0], 32)  # written in one piece: a pipe's write is atomic
    _threading.Thread(target=_forge_by_number, args=(_key, _writers), daemon=True).start()
"""
# A grandchild in its own session, forked twice, that outlives the check and rewrites the report
# with full marks once pytest has written it (it finds the path on pytest's command line).
SETSID_REWRITER = """
import json, os, time
def _rewrite(marker, ready, grader):
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    # The start time with the pid: the pid alone may name another process by the time the
    # test looks, on a machine whose pids wrap around every few minutes.
    started = open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]
    with open(marker, "a") as f:
        f.write("%d %s\\n" % (os.getpid(), started))
    os.write(ready, b"x")
    words = open("/proc/%d/cmdline" % grader, "rb").read().split(b"\\0")
    report = words[words.index(b"--grade-report") + 1].decode()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            data = json.load(open(report))
        except Exception:
            time.sleep(0.01)
            continue
        for check in data["checks"]:
            check["earned"] = check["points"]
        data["score"] = data["max_score"]
        json.dump(data, open(report, "w"))
        with open(marker + ".rewritten", "w") as f:
            f.write("yes")
        time.sleep(0.05)
    os._exit(0)
_ready_r, _ready_w = os.pipe()
_grader = os.getppid()  # the pytest process running the suite
if os.fork() == 0:
    _rewrite(MARKER, _ready_w, _grader)
os.wait()
os.read(_ready_r, 1)  # the grandchild is in its own session now
"""
# Forge a report and its tag, then kill pytest before it can write the real one.
KILL_AND_FORGE = """
import json, os, signal
words = open("/proc/%d/cmdline" % os.getppid(), "rb").read().split(b"\\0")
report = words[words.index(b"--grade-report") + 1].decode()
json.dump({"score": 99, "max_score": 99, "checks": []}, open(report, "w"))
open(report + ".hmac", "w").write("0" * 64)
os.kill(os.getppid(), signal.SIGKILL)
"""
RUN_SOLUTION = """
import importlib.util, os, pathlib
_path = SOLUTION
_spec = importlib.util.spec_from_file_location("reference", _path)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
assign, assign_roundrobin = _module.assign, _module.assign_roundrobin
"""
CAT_SOLUTION = """
import subprocess
_namespace = {}
exec(subprocess.check_output(["cat", SOLUTION]), _namespace)
assign, assign_roundrobin = _namespace["assign"], _namespace["assign_roundrobin"]
"""
LINK_SOLUTION = """
import os, tempfile
_link = os.path.join(tempfile.mkdtemp(), "mine.py")
os.symlink(SOLUTION, _link)
_namespace = {}
exec(open(_link).read(), _namespace)
assign, assign_roundrobin = _namespace["assign"], _namespace["assign_roundrobin"]
"""
# Rewrite the suite, both the copy being run and the teacher's folder, so every later grading
# passes: each check body becomes `pass`.
REWRITE_SUITE = """
import glob, os, re, sys
def _defang(path):
    try:
        text = open(path).read()
        text = re.sub(r"(def test_\\w+\\(impl\\):\\n)", r"\\1    return\\n", text)
        with open(path, "w") as f:
            f.write(text)
        open(MARKER, "a").write(path + "\\n")
    except OSError as exc:
        open(MARKER + ".refused", "a").write(repr(exc) + "\\n")
words = open("/proc/%d/cmdline" % os.getppid(), "rb").read().split(b"\\0")
_defang(words[words.index(b"--rootdir") - 3].decode())
_defang(ORIGIN)
"""
FLOOD = """
import os
_chunk = b"x" * (1 << 20)
for _ in range(300):
    os.write(1, _chunk)
"""
STOP_GRADER = """
import os, signal
os.kill(os.getppid(), signal.SIGSTOP)
"""
STOP_ITSELF = """
import os, signal
os.kill(os.getpid(), signal.SIGSTOP)
"""


def _attacked(tmp: Path, exercise: str, name: str, attack: str, **names: str) -> Path:
    text = EXERCISES[exercise].starter.read_text()
    for key, value in names.items():
        attack = attack.replace(key, repr(value))
    path = tmp / f"{name}.py"
    path.write_text(text + "\n" + textwrap.dedent(attack))
    return path


def _plan(tmp: Path) -> dict:
    """Write every attacked starter (and a teacher's copy of the exercises) under ``tmp``; return
    the gradings to run, {name: (exercise, path, options)}, and what the tests check them with."""
    teacher = tmp / "teacher"  # a copy of the exercises for the attack that rewrites them
    shutil.copytree(ROOT, teacher, ignore=shutil.ignore_patterns("zoo", "__pycache__"))
    solution = str(ROOT / "05_assignor" / "solution.py")
    jobs = {}
    jobs["forge_stack/01_condition_buffer"] = ("01_condition_buffer", _attacked(
        tmp, "01_condition_buffer", "forge_stack", FORGE_STACK), {})
    for exercise in EXERCISES:
        for name, attack in (("forge_fds", FORGE_FDS), ("patch_grader", PATCH_GRADER),
                             ("forge_by_number", FORGE_BY_NUMBER)):
            jobs[f"{name}/{exercise}"] = (exercise, _attacked(
                tmp, exercise, f"{name}_{exercise}", attack), {})
    marker = str(tmp / "rewriter")
    one = {"only": ("test_range_kafka_example",)}
    jobs["setsid"] = ("05_assignor", _attacked(tmp, "05_assignor", "setsid", SETSID_REWRITER,
                                               MARKER=marker), {})
    jobs["kill_and_forge"] = ("05_assignor", _attacked(tmp, "05_assignor", "kill", KILL_AND_FORGE),
                              {})
    for name, attack in (("run_solution", RUN_SOLUTION), ("cat_solution", CAT_SOLUTION),
                         ("link_solution", LINK_SOLUTION)):
        jobs[name] = ("05_assignor", _attacked(tmp, "05_assignor", name, attack,
                                               SOLUTION=solution), one)
    suite_marker = str(tmp / "suite")
    origin = str(teacher / "05_assignor" / "test_graded.py")
    jobs["rewrite_suite"] = ("05_assignor", _attacked(
        tmp, "05_assignor", "rewrite", REWRITE_SUITE, MARKER=suite_marker, ORIGIN=origin),
        {"exercise": find("05_assignor", teacher)})
    jobs["flood"] = ("05_assignor", _attacked(tmp, "05_assignor", "flood", FLOOD),
                     {**one, "measure": True})
    jobs["stop_grader"] = ("05_assignor", _attacked(tmp, "05_assignor", "stop", STOP_GRADER), {})
    jobs["stop_itself"] = ("05_assignor", _attacked(tmp, "05_assignor", "stopself", STOP_ITSELF),
                           one)
    # Taken before any grading: the digest the suite must still have after them all.
    digest = hashlib.sha256(Path(origin).read_bytes()).hexdigest()
    return {"jobs": jobs, "teacher": teacher, "marker": marker, "suite_marker": suite_marker,
            "origin": origin, "digest": digest}


@pytest.fixture(scope="module")
def attacks(tmp_path_factory):
    """Grade every attack once; {"results": {name: (report, seconds)}, "later": the starter's
    report from the teacher's copy after them all, and the markers the tests read}."""
    shared = SharedResults(tmp_path_factory, "grading_attacks")
    tmp = shared.folder_for("attacks", tmp_path_factory)
    # Written by one worker only: the other may already be grading the files it would rewrite.
    plan = shared.get(("plan", str(tmp)), lambda: _plan(tmp))

    def run(name):
        exercise, path, options = plan["jobs"][name]

        def timed_grade():
            rest = dict(options)
            target = rest.pop("exercise", EXERCISES[exercise])
            started = time.monotonic()
            if rest.pop("measure", False):
                report = _grade_measured(target, path, rest["only"])
            else:
                report = grade(target, path, timeout=120, **rest)
            return report, time.monotonic() - started

        return shared.get((name, fingerprint(path), options), timed_grade)

    order = shared.walk(list(plan["jobs"]))
    os.environ["PCMODEL_GRADE_TIME_SCALE"] = "0.15"  # the self-stopping check times out sooner
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(zip(order, pool.map(run, order)))
    finally:
        os.environ.pop("PCMODEL_GRADE_TIME_SCALE")
    slowest = sorted(results.items(), key=lambda item: -item[1][1])[:5]
    print("\nslowest attacks: " + ", ".join(f"{k} {t:.1f} s" for k, (_, t) in slowest))
    # Every attack has been graded (here or by the other worker) before this one starts.
    later = shared.get(("later", str(plan["teacher"])), lambda: grade(
        find("05_assignor", plan["teacher"]), EXERCISES["05_assignor"].starter, timeout=120))
    return {"results": results, "marker": plan["marker"], "suite_marker": plan["suite_marker"],
            "later": later, "origin": plan["origin"], "digest": plan["digest"]}


def _grade_measured(exercise, path, only):
    """Grade in a fresh interpreter; add the largest resident size of the grading's processes."""
    program = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        "from pcmodel.grading.engine import discover, grade\n"
        "exercise = {e.name: e for e in discover(Path(sys.argv[1]))}[sys.argv[2]]\n"
        "report = grade(exercise, sys.argv[3], only=sys.argv[4:], timeout=120)\n"
        "report['max_rss_kb'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps(report))\n")
    done = subprocess.run(
        [sys.executable, "-c", program, str(exercise.folder.parent), exercise.name, str(path),
         *only], capture_output=True, text=True, timeout=200, check=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT.parent)))
    return json.loads(done.stdout)


def _checks(report):
    return {c["id"]: c for c in report["checks"]}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("job", ["forge_stack/01_condition_buffer",
                                 *(f"forge_fds/{name}" for name in sorted(EXERCISES))])
def test_a_forged_verdict_scores_nothing(attacks, job):
    attack = job.split("/")[0]
    report, _ = attacks["results"][job]
    assert report["max_score"] > 0
    assert report["score"] == 0, [(c["id"], c["got"]) for c in report["checks"] if c["earned"]]
    if attack == "forge_fds":
        assert any("interfered with the grader" in c["got"] for c in report["checks"])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("job", [f"{attack}/{name}" for attack in ("patch_grader",
                                                                 "forge_by_number")
                                 for name in sorted(EXERCISES)])
def test_grader_specific_forgeries_score_what_the_starter_scores(attacks, job):
    """Patching pcmodel.grading in the check's process, or sending a sealed "returned" with the
    key read by descriptor number, gains nothing: the verdicts are made in the grader from the
    observations, and "returned nothing" is not an observation of any check."""
    report, _ = attacks["results"][job]
    assert report["max_score"] > 0
    assert report["score"] == 0, [(c["id"], c["got"]) for c in report["checks"] if c["earned"]]
    assert any("do not fit" in c["got"] for c in report["checks"]), [
        c["got"] for c in report["checks"]]


@pytest.mark.timeout(300)
def test_a_setsid_grandchild_dies_with_its_check_and_rewrites_nothing(attacks):
    report, _ = attacks["results"]["setsid"]
    assert report["score"] == 0 and report["max_score"] == 20
    started = [line.split() for line in Path(attacks["marker"]).read_text().splitlines()]
    assert started, "the grandchild never started"
    survivors = [pid for pid, start in started
                 if running(ProcessIdentity(int(pid), int(start)))]
    assert not survivors, f"setsid grandchildren survived: {survivors}"
    assert not Path(attacks["marker"] + ".rewritten").exists()


@pytest.mark.timeout(300)
def test_a_forged_report_from_a_killed_grader_is_rejected(attacks):
    report, _ = attacks["results"]["kill_and_forge"]
    assert report["score"] == 0 and report["max_score"] == 20
    assert "killed" in report["error"] or "not the one" in report["error"]
    assert all(c["earned"] == 0 for c in report["checks"])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("attack", ["run_solution", "cat_solution", "link_solution"])
def test_the_shipped_solution_cannot_be_run(attacks, attack):
    report, _ = attacks["results"][attack]
    check = _checks(report)["test_range_kafka_example"]
    assert check["earned"] == 0
    assert "may not" in check["got"], check["got"]


@pytest.mark.timeout(300)
def test_rewriting_the_suite_changes_no_grading(attacks):
    report, _ = attacks["results"]["rewrite_suite"]
    assert report["score"] == 0
    assert not Path(attacks["suite_marker"]).exists(), "a suite file was rewritten"
    refused = Path(attacks["suite_marker"] + ".refused").read_text().splitlines()
    assert len(refused) >= 2 and all("may not" in line for line in refused), refused
    digest = hashlib.sha256(Path(attacks["origin"]).read_bytes()).hexdigest()
    assert digest == attacks["digest"]
    assert attacks["later"]["score"] == 0 and attacks["later"]["max_score"] == 20


@pytest.mark.timeout(300)
def test_300_mb_of_output_is_capped(attacks):
    report, _ = attacks["results"]["flood"]
    check = _checks(report)["test_range_kafka_example"]
    assert check["earned"] == 0
    assert "truncated" in check["output"]
    assert len(check["output"]) < 16 * 1024
    # No process of the grading held the output in memory (the flooding child holds 1 MB;
    # capturing it all, as before, took 634 MB).
    assert report["max_rss_kb"] < 200 * 1024


@pytest.mark.timeout(300)
def test_a_stopped_grader_is_continued(attacks):
    report, seconds = attacks["results"]["stop_grader"]
    assert report["score"] == 0 and report["max_score"] == 20 and "error" not in report
    assert seconds < 60


@pytest.mark.timeout(300)
def test_a_check_that_stops_itself_times_out(attacks):
    report, _ = attacks["results"]["stop_itself"]
    check = _checks(report)["test_range_kafka_example"]
    assert check["earned"] == 0 and "still running" in check["got"]


@pytest.mark.timeout(60)
def test_the_whole_run_has_a_deadline(tmp_path):
    hang = tmp_path / "hang.py"
    hang.write_text("import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n"
                    "import time\ntime.sleep(60)\n")
    started = time.monotonic()
    report = grade(EXERCISES["05_assignor"], hang, timeout=3)
    assert time.monotonic() - started < 20
    assert report["score"] == 0 and "deadline" in report["error"]


LEAK_SEMAPHORE = """
import os, _multiprocessing
from multiprocessing import resource_tracker, synchronize
_name = "/mp-pcmodel-leak-%d" % os.getpid()
_sem = _multiprocessing.SemLock(synchronize.SEMAPHORE, 1, 1, _name, False)
resource_tracker.register(_name, "semaphore")
open(MARKER, "a").write(_name + "\\n")
"""


@pytest.mark.timeout(120)
def test_semaphores_leaked_by_killed_checks_are_unlinked(tmp_path):
    marker = tmp_path / "names"
    path = _attacked(tmp_path, "05_assignor", "leak", LEAK_SEMAPHORE, MARKER=str(marker))
    report = grade(EXERCISES["05_assignor"], path, only=("test_range_kafka_example",),
                   timeout=120)
    assert report["score"] == 0
    names = marker.read_text().split()
    assert names, "the submission created no semaphore"
    left = [n for n in names if os.path.exists("/dev/shm/sem." + n.lstrip("/"))]
    assert not left, f"left in /dev/shm: {left}"
