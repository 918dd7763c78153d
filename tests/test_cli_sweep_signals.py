"""A Ctrl-C or SIGTERM while ``pcmodel explore`` imports its target is the command's
interruption (status 130, its one line), not a mistake of the target's: a student's file that
takes long to import (or never finishes) must still be stoppable the usual way."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals and process groups"),
]

ROOT = Path(__file__).resolve().parents[1]

#: The console script pip writes for ``pcmodel`` (see tests/test_signals_console.py).
CONSOLE = textwrap.dedent("""\
    import sys
    from pcmodel._console import main
    sys.exit(main())
""")

#: A target whose import says it has started, then never ends.
SLOW_IMPORT = textwrap.dedent("""\
    import time
    print("importing", flush=True)
    while True:
        time.sleep(1)
""")


def _read_line(stream, deadline: float) -> str:
    """The first line on ``stream``, read before ``deadline`` (a monotonic time)."""
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, f"no line before the deadline; got {data!r}"
        if select.select([stream], [], [], left)[0]:
            chunk = os.read(stream.fileno(), 1)
            assert chunk, f"the output ended; got {data!r}"
            data += chunk
    return data.decode()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_the_target_imports_is_an_interruption(tmp_path, signum):
    target = tmp_path / "slow_import.py"
    target.write_text(SLOW_IMPORT)
    process = subprocess.Popen(
        [sys.executable, "-c", CONSOLE, "explore", f"{target}:BoundedBuffer"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert _read_line(process.stdout, time.monotonic() + 30) == "importing\n"
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
        # It said "pcmodel explore: error: ...: importing it raised KeyboardInterrupt:" and
        # exited with status 2, as for a file that raises KeyboardInterrupt itself.
        assert err.decode().splitlines() == ["pcmodel explore: interrupted"]
        assert process.returncode == 130
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate()
