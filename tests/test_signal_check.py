"""The suite's signal check fails the test that changed the process's signal handling.

A disposition, a blocked signal or a wakeup fd left behind outlives the test that set it: an
ignored SIGINT is even inherited across exec by every subprocess a later test starts. The check
names what changed and puts it back, so the tests after the offender run as they would alone.
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

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"),
                                reason="needs POSIX signal masks")

# Run in a pytest of its own, so that the offender really changes that process's signals.
CONFTEST = "from tests.conftest import signals_unchanged  # noqa: F401 - the check under test\n"
OFFENDERS = textwrap.dedent("""\
    import os, signal

    def test_a_ignores_sigusr2():
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)

    def test_b_blocks_sigusr1():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})

    def test_c_sets_a_wakeup_fd():
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end)

    def test_d_restores_what_it_changed():
        previous = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        signal.signal(signal.SIGUSR2, previous)

    def test_e_fails_and_loses_the_timeout_alarm():
        # pytest-timeout removes its SIGALRM handler as soon as a test fails, before the
        # test's fixtures end: that is the runner's change, not the test's.
        assert False

    def test_f_runs_with_the_signals_it_would_have_alone():
        assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL
        assert signal.SIGUSR1 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        assert signal.set_wakeup_fd(-1) == -1
""")


@pytest.mark.timeout(180)  # a pytest of its own: 12 s on a busy 2-core machine
def test_each_offender_is_named_and_the_tests_after_it_run_unharmed(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_offenders.py").write_text(OFFENDERS)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "no:randomly", "-o", "addopts=", "-o", "timeout=60", str(tmp_path)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=150,
        # Started with the default dispositions, whatever this process was handed.
        preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL)
                            for s in (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)],
    )
    out = run.stdout
    assert "1 failed, 5 passed, 3 errors" in out, out + run.stderr
    assert "ERROR at teardown of test_a_ignores_sigusr2" in out, out
    assert "SIGUSR2 handler SIG_DFL -> SIG_IGN" in out, out
    assert "ERROR at teardown of test_b_blocks_sigusr1" in out, out
    assert "now blocked ['SIGUSR1']" in out, out
    assert "ERROR at teardown of test_c_sets_a_wakeup_fd" in out, out
    assert "wakeup fd -1 -> " in out, out
    assert "ERROR at teardown of test_e_fails" not in out, out
    assert "test_d_restores" not in out and "test_f_runs" not in out, out

