"""``pcmodel cluster < faults.txt``: commands read from a file are run, as typed ones are."""

from __future__ import annotations

import io
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from pcmodel.cluster import Cluster
from pcmodel.cluster.cli import MAX_COMMAND_BYTES, ClusterShell, _serve
from tests.conftest import wait_until


def serve(script: Path, answered: Callable[[str], bool]) -> list[str]:
    """Serve a one-broker stepped cluster the commands of ``script`` until ``answered(output)``
    (then a Ctrl-C stops it, as a terminal's would); the lines it answered."""
    out = io.StringIO()
    wake_r, wake_w = socket.socketpair()

    def stop_once_answered() -> None:
        try:
            wait_until(lambda: answered(out.getvalue()), timeout=10)
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
    return out.getvalue().splitlines()


def test_commands_from_a_regular_file_are_run(tmp_path):
    # epoll refuses to watch a regular file: the commands were ignored, and the cluster
    # served until stopped without running one.
    script = tmp_path / "faults.txt"
    script.write_text("status\nkill 0\nfrobnicate\nstatus")  # the last line without newline
    answers = serve(script, lambda out: len(out.splitlines()) >= 4)
    assert answers[0].startswith("live brokers:"), answers
    assert answers[1] == "killed broker 0"
    assert answers[2].startswith("error: unknown command 'frobnicate'")
    assert answers[3].startswith("live brokers:")  # the last line, without its newline


def test_a_line_too_long_to_be_a_command_is_skipped_with_one_line(tmp_path):
    # A binary file piped in has no newline for megabytes: the line was held in memory while
    # it grew, then answered with itself in an "unknown command" line.
    script = tmp_path / "faults.bin"
    script.write_bytes(b"status\n" + b"x" * 1_000_000 + b"\nkill 0\n")
    answers = serve(script, lambda out: "killed broker 0" in out)
    assert answers[0].startswith("live brokers:"), answers
    assert answers[1:] == [
        f"error: a command is at most {MAX_COMMAND_BYTES} bytes; this line is skipped",
        "killed broker 0"]
