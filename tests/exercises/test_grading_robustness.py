"""Robustness of the supervised grading: an interrupted grading leaves nothing in /dev/shm, and
graded code cannot cut the grading short (or make a partial report look like a pass)."""

from __future__ import annotations

import os
import shutil
import textwrap
import threading
from pathlib import Path

import pytest

from pcmodel.grading.engine import exercises_root
from pcmodel.grading.supervise import GradingCancelled, SuiteCopy, _completed, run_suite
from tests.conftest import wait_until

pytestmark = pytest.mark.skipif(not os.path.isdir("/dev/shm") or not hasattr(os, "fork"),
                                reason="needs /dev/shm and fork")


def _suite(tmp_path: Path, body: str) -> SuiteCopy:
    """A one-exercise suite (with the real conftest and pytest.ini) whose test_graded.py is
    ``body``."""
    root = tmp_path / "exercises"
    folder = root / "99_probe"
    folder.mkdir(parents=True)
    for name in ("conftest.py", "pytest.ini"):
        shutil.copyfile(exercises_root() / name, root / name)
    (folder / "test_graded.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return SuiteCopy.take(folder)


_HOLDS_A_SEMAPHORE = """
    import multiprocessing, os, signal
    import pytest

    @pytest.mark.points(1)
    def test_holds_a_semaphore():
        # A named semaphore that only its finalizer or the resource tracker unlinks.
        sem = multiprocessing.get_context("spawn").Semaphore(1)
        if os.fork() == 0:  # a process of its own that holds the tracker's pipe
            os.setsid()
            signal.pause()  # until the grading kills it
            os._exit(0)
        out = os.environ["PCMODEL_TEST_SEM_OUT"]
        with open(out + ".tmp", "w") as f:
            f.write(sem._semlock.name)
        os.rename(out + ".tmp", out)
        signal.pause()  # holds the semaphore until the test cancels the grading
"""


@pytest.mark.timeout(90)
def test_a_cancelled_grading_unlinks_the_named_semaphores_its_processes_made(tmp_path,
                                                                            monkeypatch):
    copy = _suite(tmp_path, _HOLDS_A_SEMAPHORE)
    impl = tmp_path / "impl.py"
    impl.write_text("", encoding="utf-8")
    out = tmp_path / "semname"
    monkeypatch.setenv("PCMODEL_TEST_SEM_OUT", str(out))
    cancel = threading.Event()
    outcome: dict[str, BaseException] = {}

    def grading() -> None:
        try:
            run_suite(copy, impl, deadline=80, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - looked at below
            outcome["raised"] = exc

    worker = threading.Thread(target=grading)
    worker.start()
    try:
        wait_until(out.exists, timeout=60)
        shm = Path("/dev/shm") / ("sem." + out.read_text().lstrip("/"))
        assert shm.exists()
    finally:
        cancel.set()
        worker.join(60)
    assert not worker.is_alive()
    assert isinstance(outcome.get("raised"), GradingCancelled)
    leaked = shm.exists()
    if leaked:
        shm.unlink()  # leave nothing behind, then fail
    assert not leaked, f"{shm} was left behind by the cancelled grading"


_SIGNALS_PYTEST = """
    import os, signal
    import pytest

    @pytest.mark.points(1)
    def test_signals_its_parent():
        pid = os.fork()
        if pid == 0:  # graded code runs in a child of pytest: os.getppid() is pytest
            os.kill(os.getppid(), signal.SIGINT)
            os._exit(0)
        os.waitpid(pid, 0)
        for _ in range(1000):  # let a pending signal's handler run here, if there is one
            pass

    @pytest.mark.points(2)
    def test_second():
        pass
"""


@pytest.mark.timeout(90)
def test_a_sigint_from_graded_code_to_pytest_does_not_cut_the_grading_short(tmp_path):
    copy = _suite(tmp_path, _SIGNALS_PYTEST)
    impl = tmp_path / "impl.py"
    impl.write_text("", encoding="utf-8")
    report = run_suite(copy, impl, deadline=80)
    assert [c["id"] for c in report["checks"]] == ["test_signals_its_parent", "test_second"]
    assert (report["score"], report["max_score"]) == (3, 3)
    assert not report.get("error")


def _copy_of(points: list[int]) -> SuiteCopy:
    body = "import pytest\n" + "".join(
        f"\n@pytest.mark.points({p})\ndef test_{i}():\n    pass\n" for i, p in enumerate(points))
    return SuiteCopy("99_probe", Path("."), (("99_probe/test_graded.py", body.encode()),))


def test_a_report_without_checks_is_an_error_with_the_suites_maximum():
    copy = _copy_of([1, 2, 3])
    report = _completed(copy, {"score": 0, "max_score": 0, "checks": [], "exit_status": 2},
                        partial=False)
    assert report["max_score"] == 6 and report["score"] == 0
    assert "0 of 3 ran" in report["error"]
    assert [c["earned"] for c in report["checks"]] == [0, 0, 0]


def test_a_report_missing_some_checks_scores_them_zero():
    copy = _copy_of([1, 2, 3])
    ran = {"id": "test_0", "title": "t", "points": 1, "earned": 1, "outcome": "passed"}
    report = _completed(copy, {"score": 1, "max_score": 1, "checks": [ran], "exit_status": 2},
                        partial=False)
    assert (report["score"], report["max_score"]) == (1, 6)
    assert "1 of 3 ran" in report["error"]
    assert [c["id"] for c in report["checks"]] == ["test_0", "test_1", "test_2"]


def test_a_complete_report_is_left_alone():
    copy = _copy_of([1, 2])
    checks = [{"id": f"test_{i}", "points": p, "earned": p} for i, p in enumerate([1, 2])]
    report = {"score": 3, "max_score": 3, "checks": checks, "exit_status": 0}
    assert _completed(copy, report, partial=False) is report
