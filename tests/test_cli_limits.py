"""``pcmodel run`` asked for more actors than the system allows: one line, not a traceback.

Each process actor needs a pipe and each thread a stack; past the limits of the account (``ulimit
-n``, ``ulimit -u``, memory) the system refuses, and the run stops the actors it had started and
says what to do. The limits are lowered for the child process only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--variant", "condition", "--items", "5", "--produce-work", "none", "--consume-work",
         "none", "--no-progress"]


def run_limited(limit: int, value: int, *args: str) -> subprocess.CompletedProcess:
    def lower() -> None:
        resource.setrlimit(limit, (value, value))

    return subprocess.run(
        [sys.executable, "-c", "import sys; from pcmodel.cli import main; sys.exit(main())",
         "run", *QUICK, *args], capture_output=True, text=True, preexec_fn=lower,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=50)


def assert_refused(done: subprocess.CompletedProcess, backend: str) -> None:
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"pcmodel run: error: condition/{backend}: the system refused to "
                           "start"), line
    assert "use fewer (--producers, --consumers)" in line


def test_more_process_actors_than_open_files_allow():
    assert_refused(run_limited(resource.RLIMIT_NOFILE, 200, "--backend", "process",
                               "--producers", "150"), "process")


def test_more_threads_than_memory_allows():
    # Each thread reserves a stack of several megabytes: 1,000 do not fit in 1.5 GB.
    assert_refused(run_limited(resource.RLIMIT_AS, 1_500_000_000, "--producers", "1000"),
                   "thread")
