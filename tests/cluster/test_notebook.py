"""The replication lesson (``notebooks/08_replication.py``, jupytext percent format) runs top to
bottom as a script, drawing its charts off screen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

LESSON = Path(__file__).resolve().parents[2] / "notebooks" / "08_replication.py"


@pytest.mark.timeout(120)
def test_replication_lesson_runs_as_a_script():
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=str(LESSON.parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(LESSON)], capture_output=True, text=True,
                          env=env, timeout=110)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "acks=all: acknowledged" in done.stdout and "lost 0" in done.stdout
