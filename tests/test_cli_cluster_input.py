"""``pcmodel cluster < faults.txt``: commands read from a file are run, as typed ones are."""

from __future__ import annotations

import io
import signal
import socket
import threading

from pcmodel.cluster import Cluster
from pcmodel.cluster.cli import ClusterShell, _serve
from tests.conftest import wait_until


def test_commands_from_a_regular_file_are_run(tmp_path):
    # epoll refuses to watch a regular file: the commands were ignored, and the cluster
    # served until stopped without running one.
    script = tmp_path / "faults.txt"
    script.write_text("status\nkill 0\nfrobnicate\nstatus")  # the last line without newline
    out = io.StringIO()
    wake_r, wake_w = socket.socketpair()

    def stop_once_answered() -> None:
        try:
            wait_until(lambda: len(out.getvalue().splitlines()) >= 4, timeout=10)
        finally:
            wake_w.send(bytes([signal.SIGINT]))  # what a Ctrl-C writes to the wake-up socket

    cluster = Cluster(1, mode="steps")
    stopper = threading.Thread(target=stop_once_answered)
    try:
        with script.open() as commands:
            stopper.start()
            _serve(ClusterShell(cluster), commands, out, wake_r)
    finally:
        stopper.join(30)
        cluster.close()
        wake_r.close()
        wake_w.close()
    answers = out.getvalue().splitlines()
    assert answers[0].startswith("live brokers:"), answers
    assert answers[1] == "killed broker 0"
    assert answers[2].startswith("error: unknown command 'frobnicate'")
    assert answers[3].startswith("live brokers:")  # the last line, without its newline
