"""``pcmodel cluster --processes`` stopped while its brokers are still starting.

The command is a real child in a session of its own. The test waits until the first broker
process exists (a child of multiprocessing's fork server, which the cluster starts its
brokers from), so the cluster is being built, then sends the signal. The start ends there:
the command stops every broker it had started and says ``interrupted`` with status 130, as any
command stopped before its work is done (``stopped`` and status 0 are for a cluster that
serves). A signal in the middle of building the cluster must not leave a half-built one behind
(a traceback, a process that never exits).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_until

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not os.path.isdir("/proc"), reason="watches processes through /proc"),
]

ROOT = Path(__file__).resolve().parents[1]


def _stat(pid: int) -> list[str] | None:
    """State, parent pid, process group, ... of ``pid`` (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _group(pgid: int) -> dict[int, int]:
    """The live processes of process group ``pgid``: pid -> parent pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and fields[2] == str(pgid) and fields[0] != "Z":
                found[int(entry)] = int(fields[1])
    return found


def _a_broker_process_exists(pid: int) -> bool:
    """True once a grandchild of ``pid`` runs: a broker forked by the fork server."""
    group = _group(pid)
    children = {p for p, parent in group.items() if parent == pid}
    return any(parent in children for parent in group.values())


@pytest.mark.parametrize("how", ["ctrl-c to the group", "sigterm to the parent"])
def test_a_signal_while_the_brokers_start_stops_the_cluster_cleanly(how):
    cluster = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pcmodel.cli import main; sys.exit(main())",
         "cluster", "--processes", "--brokers", "2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True,
    )
    try:
        wait_until(lambda: _a_broker_process_exists(cluster.pid) or cluster.poll() is not None,
                   timeout=60)
        if how == "ctrl-c to the group":
            os.killpg(cluster.pid, signal.SIGINT)
        else:
            os.kill(cluster.pid, signal.SIGTERM)
        out, err = cluster.communicate(timeout=60)
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.communicate(timeout=10)
    assert (cluster.returncode, err) == (130, "pcmodel cluster: interrupted\n"), err
    assert "pcmodel cluster stopped." not in out
    wait_until(lambda: not _group(cluster.pid), timeout=10)  # the fork server ends at EOF
