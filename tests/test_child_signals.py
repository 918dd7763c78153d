"""Children started under children_ignore_ctrl_c cannot be interrupted from birth, and a Ctrl-C
meant for the parent is held back until the block ends, never lost."""

from __future__ import annotations

import os
import signal
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
# The block waits until a thread has taken the signal and noted it for the main thread: the
# signal module's C handler writes to the wakeup fd only after it has noted it (a signal that
# is no longer pending may still be on its way to that note, on a busy machine, and one noted
# only after the block belongs to after the block).
HELD = textwrap.dedent("""\
    import os, signal, threading
    from pcmodel.child_signals import children_ignore_ctrl_c
    noted, note = os.pipe()
    os.set_blocking(note, False)
    signal.set_wakeup_fd(note)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        with children_ignore_ctrl_c():
            os.kill(os.getpid(), signal.SIGINT)
            os.read(noted, 1)  # the helper, which does not block it, took it and noted it
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
    # Started as from a shell, with Ctrl-C's default disposition: a test run may have left it
    # ignored in this process (an ignored SIGINT is inherited across exec, and Python then
    # leaves it ignored), and a Ctrl-C raised again after the block would be dropped.
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=50,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_ctrl_c_taken_by_another_thread_is_raised_when_the_block_ends(tmp_path):
    assert _run(HELD, tmp_path) == ["block ended", "interrupted after the block"]


def test_a_spawned_child_is_born_deaf_to_ctrl_c_and_then_ignores_it(tmp_path):
    # Born blocked; then ignored and unblocked; the parent's mask is as it was.
    assert _run(BORN, tmp_path) == ["(True, True, False)", "False"]


# A SIGTERM sent to the whole process group (a supervisor stopping the command) is the parent's
# to handle: a child must not die of it in the middle of a shared lock or condition, which
# would block the parent for ever when it stops the others. An orphan still ends on SIGTERM.
TERMINATED = textwrap.dedent("""\
    import multiprocessing, os, signal, sys
    from pcmodel.child_signals import child_signals, children_ignore_ctrl_c

    def child(ready, go):
        child_signals()
        ready.set()
        go.wait(30)
        print("survived", flush=True)

    if __name__ == "__main__":
        ctx = multiprocessing.get_context(sys.argv[1])
        ready, go = ctx.Event(), ctx.Event()
        process = ctx.Process(target=child, args=(ready, go))
        with children_ignore_ctrl_c():
            process.start()
        assert ready.wait(30)
        os.kill(process.pid, signal.SIGTERM)
        os.kill(process.pid, signal.SIGTERM)
        go.set()
        process.join(30)
        print(process.exitcode)
""")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_child_leaves_sigterm_to_its_living_parent(tmp_path, method):
    assert _run(TERMINATED.replace("sys.argv[1]", repr(method)), tmp_path) == ["survived", "0"]


ORPHAN = textwrap.dedent("""\
    import os, signal, sys, time
    from pcmodel.child_signals import child_signals

    if os.fork() == 0:  # the child outlives its parent, then gets a SIGTERM
        child_signals()
        parent = os.getppid()
        os.kill(parent, signal.SIGKILL)
        while os.getppid() == parent:
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)  # not reached: an orphan ends on SIGTERM
    os.wait()
""")


def test_an_orphan_still_ends_on_sigterm(tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    # Nobody sees the orphan's status; what matters is that it ends. The shell's `cat` reads a
    # pipe the orphan holds open, so the pipeline ends only when the orphan has.
    done = subprocess.run(["/bin/sh", "-c", f"{sys.executable} {script} | cat"],
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=30)
    assert done.returncode == 0, done.stderr
