"""A test run handed an ignored SIGINT still runs its tests with Python's Ctrl-C handler.

A shell without job control starts a background command (``pytest ... &``) with SIGINT ignored,
Python keeps the SIG_IGN it inherits, and xdist's workers inherit it from the runner. The
suite's conftest puts Python's handler back before any test, in the runner and in each worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signal dispositions")

# The suite's own hooks and checks, as every test of the suite runs under them.
CONFTEST = "from tests.conftest import *  # noqa: F401,F403\n"
PROBE = textwrap.dedent("""\
    import os, signal

    import pytest

    def test_sigint_has_pythons_handler():
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def test_a_ctrl_c_raises_keyboard_interrupt():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
""")


def test_a_run_started_with_sigint_ignored_gives_its_tests_the_default_handler(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_probe.py").write_text(PROBE)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=50,
        # Only pytest and the suite's conftest: the installed plugins' start-up is not under test
        # and takes tens of seconds on a loaded machine.
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        # As a shell without job control starts `pytest ... &`; xdist's workers inherit the
        # runner's dispositions through exec, and run the same conftest hook.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert "2 passed" in run.stdout, run.stdout + run.stderr
