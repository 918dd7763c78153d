"""Children started under children_ignore_ctrl_c cannot be interrupted from birth, and a Ctrl-C
meant for the parent is held back until the block ends, never lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals and process groups"),
]

ROOT = Path(__file__).resolve().parents[1]

# A Ctrl-C sent to the process while another thread runs (which the kernel may pick to take
# it: the main thread blocks it in the block) must raise in the main thread when the block ends.
HELD = textwrap.dedent("""\
    import os, signal, threading
    from pcmodel.child_signals import children_ignore_ctrl_c
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        with children_ignore_ctrl_c():
            os.kill(os.getpid(), signal.SIGINT)
            print("block ended", flush=True)
        print("not interrupted")
    except KeyboardInterrupt:
        print("interrupted after the block")
    finally:
        stop.set()
""")

# A spawned child is born with SIGINT blocked; child_signals() turns that into ignoring it.
BORN = textwrap.dedent("""\
    import multiprocessing, signal
    from pcmodel.child_signals import child_signals, children_ignore_ctrl_c

    def child(queue):
        blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        child_signals()
        queue.put((blocked, signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
                   signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])))

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        process = ctx.Process(target=child, args=(queue,))
        with children_ignore_ctrl_c():
            process.start()
        print(queue.get(timeout=30))
        process.join()
        print(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
""")


def _run(code: str, tmp_path: Path) -> list[str]:
    script = tmp_path / "main.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=50)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_ctrl_c_taken_by_another_thread_is_raised_when_the_block_ends(tmp_path):
    assert _run(HELD, tmp_path) == ["block ended", "interrupted after the block"]


def test_a_spawned_child_is_born_deaf_to_ctrl_c_and_then_ignores_it(tmp_path):
    # Born blocked; then ignored and unblocked; the parent's mask is as it was.
    assert _run(BORN, tmp_path) == ["(True, True, False)", "False"]
