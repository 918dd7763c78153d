"""The ``pcmodel`` commands under Ctrl-C and SIGTERM: one line, status 130, nothing left behind.

Each command runs as a real child process in a session of its own (so that "Ctrl-C" can be sent
to its whole process group, as a terminal does). The test waits for an observable sign that the
work is under way (worker processes exist, a file the target writes appears) — never a sleep —
then signals, and checks the exit status, that stderr is the one line, that no process of the
group is left, and that no semaphore the child created is left in /dev/shm. The child names its
semaphores with a prefix of its own, so that the check blames nothing else on the machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.conftest import wait_until

pytestmark = [
    pytest.mark.timeout(180),  # pythons started and signalled: slow on a busy machine
    pytest.mark.skipif(not os.path.isdir("/proc"), reason="watches processes through /proc"),
]

ROOT = Path(__file__).resolve().parents[1]
# Runs `pcmodel ARGS` with the semaphore name prefix given as the first argument.
CHILD = textwrap.dedent("""\
    import multiprocessing, sys
    multiprocessing.current_process()._config["semprefix"] = sys.argv[1]
    from pcmodel.cli import main
    sys.exit(main(sys.argv[2:]))
""")


class Command:
    """One ``pcmodel`` command running in a session of its own."""

    def __init__(self, *args: str) -> None:
        self.prefix = f"/mp-pcmsig{uuid.uuid4().hex[:10]}"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, self.prefix, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def group(self) -> list[int]:
        """Processes still in the command's process group (zombies are not running)."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = _stat(int(entry))
                if fields and fields[2] == str(self.pid) and fields[0] != "Z":
                    found.append(int(entry))
        return found

    def workers(self) -> list[int]:
        """Children started by multiprocessing's spawn (workers, not the resource tracker)."""
        return [pid for pid in _children(self.pid) if "spawn_main" in _cmdline(pid)]

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err

    def semaphores_left(self) -> list[str]:
        return [n for n in os.listdir("/dev/shm") if n.startswith("sem." + self.prefix[1:])]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.communicate(timeout=10)


def _stat(pid: int) -> list[str] | None:
    """State, parent pid, process group, ... of ``pid`` (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and fields[1] == str(pid):
                kids.append(int(entry))
    return kids


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture
def command():
    started: list[Command] = []

    def start(*args: str) -> Command:
        started.append(Command(*args))
        return started[-1]

    yield start
    for cmd in started:
        cmd.kill()


LONG_RUN = ("run", "--variant", "condition", "--backend", "process", "--start-method", "spawn",
            "--items", "10000000", "--no-progress", "--timeout", "600")


@pytest.mark.parametrize("how", ["ctrl-c to the group", "sigterm to the parent",
                                 "sigterm to the group"])
def test_run_stops_and_reaps_every_worker_and_leaves_no_semaphore(command, how):
    run = command(*LONG_RUN)
    wait_until(lambda: len(run.workers()) == 4, timeout=60)  # 2 producers, 2 consumers
    assert run.semaphores_left()  # the buffer's semaphores exist while it runs
    if how == "ctrl-c to the group":
        os.killpg(run.pid, signal.SIGINT)
    elif how == "sigterm to the group":  # a supervisor stopping the command: workers get it too
        os.killpg(run.pid, signal.SIGTERM)
    else:
        os.kill(run.pid, signal.SIGTERM)
    status, out, err = run.finish()
    assert (status, err) == (130, "pcmodel run: interrupted\n"), err
    wait_until(lambda: run.group() == [], timeout=20)
    assert run.semaphores_left() == []


def test_bench_stops_on_ctrl_c_with_one_line(command, tmp_path):
    bench = command("bench", "--backend", "process", "--start-method", "spawn", "--repeat",
                    "50", "--json", str(tmp_path / "bench.json"), "--no-progress")
    wait_until(lambda: len(bench.workers()) >= 2, timeout=60)
    os.killpg(bench.pid, signal.SIGINT)
    status, out, err = bench.finish()
    assert (status, err) == (130, "pcmodel bench: interrupted\n"), err
    wait_until(lambda: bench.group() == [], timeout=20)
    assert bench.semaphores_left() == []
    assert not (tmp_path / "bench.json").exists()


def test_explore_stops_on_ctrl_c_with_one_line(command, tmp_path):
    started = tmp_path / "started"
    target = tmp_path / "slow_buffer.py"
    # A correct buffer that says when the exploration first builds it.
    target.write_text(textwrap.dedent(f"""\
        import threading
        from collections import deque

        class BoundedBuffer:
            def __init__(self, capacity):
                open({str(started)!r}, "a").close()
                self.items, self.capacity = deque(), capacity
                self.lock = threading.Lock()
                self.not_full = threading.Condition(self.lock)
                self.not_empty = threading.Condition(self.lock)

            def put(self, item):
                with self.not_full:
                    while len(self.items) >= self.capacity:
                        self.not_full.wait()
                    self.items.append(item)
                    self.not_empty.notify()

            def get(self):
                with self.not_empty:
                    while not self.items:
                        self.not_empty.wait()
                    item = self.items.popleft()
                    self.not_full.notify()
                    return item
    """))
    explore = command("explore", f"{target}:BoundedBuffer", "--producers", "3", "--consumers",
                      "3", "--capacity", "1", "--items", "5", "--max-schedules", "10000000",
                      "--preemptions", "6")
    wait_until(started.exists, timeout=60)
    os.killpg(explore.pid, signal.SIGINT)
    status, out, err = explore.finish()
    assert (status, err) == (130, "pcmodel explore: interrupted\n"), err
    assert explore.group() == []


def test_broker_stops_cleanly_on_ctrl_c(command):
    broker = command("broker")
    lines = []
    while not lines or lines[-1] != "Stop with Ctrl-C.":
        line = broker.process.stdout.readline()
        assert line, "the broker exited before it was ready"
        lines.append(line.strip())
    os.killpg(broker.pid, signal.SIGINT)
    status, out, err = broker.finish()
    assert (status, err) == (0, ""), err
    assert out.strip() == "pcmodel broker stopped."
    assert broker.group() == []


# Runs `pcmodel run`, signalling itself the moment the commands' modules start loading: an
# audit hook sends the signal when one of them imports the buffers.
LOADING_CHILD = textwrap.dedent("""\
    import os, signal, sys
    signum = int(sys.argv[1])

    def hook(event, args):
        if event == "import" and args[0] == "pcmodel.buffers":
            os.kill(os.getpid(), signum)

    sys.addaudithook(hook)
    from pcmodel.cli import main
    sys.exit(main(["run", "--items", "10"]))
""")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_the_commands_load_gets_one_line(signum):
    child = subprocess.run(
        [sys.executable, "-c", LOADING_CHILD, str(int(signum))], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60,
        # A child started in the background may inherit SIGINT ignored; a terminal's is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert (child.returncode, child.stderr) == (130, "pcmodel: interrupted\n"), child.stderr
    assert child.stdout == ""  # the run never started


# Runs `pcmodel run`, whose run receives a Ctrl-C inside a __del__ (as an import's weakref
# callback does): Python would print "Exception ignored" and drop the KeyboardInterrupt there.
SWALLOWED_CHILD = textwrap.dedent("""\
    import os, signal, sys
    import pcmodel.experiments.cli as run_cli

    class Dropped:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10000):  # the handler runs here, inside __del__
                pass

    real = run_cli.run_workload

    def run_workload(**kwargs):
        Dropped()
        return real(**kwargs)

    run_cli.run_workload = run_workload
    from pcmodel.cli import main
    sys.exit(main(["run", "--variant", "condition", "--items", "3000", "--no-progress"]))
""")


def test_a_ctrl_c_that_python_dropped_is_raised_again_at_once_and_quietly():
    child = subprocess.run(
        [sys.executable, "-c", SWALLOWED_CHILD], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # One line, no "Exception ignored" traceback; and the run stopped there, not after it was
    # done: no table, at most the run's opening line. (The run is long enough, about a
    # second, for "at once" to mean something: the Ctrl-C is sent again within milliseconds.)
    assert (child.returncode, child.stderr) == (130, "pcmodel run: interrupted\n"), child.stderr
    assert [line for line in child.stdout.splitlines()
            if not line.startswith("1 run(s), ")] == [], child.stdout
