"""Option values out of range are one line that names the option as the user typed it (not the
library parameter behind it), and a value that would make a command run for ever or eat the
memory is refused before anything starts."""

from __future__ import annotations

import pytest

from pcmodel.cli import main


def one_error_line(capsys, command: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pcmodel {command}: error: "), captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize("option, value, message", [
    ("--preemptions", "-1", "--preemptions must be between 0 and 1000, not -1"),
    # A queue per level of the bound was made at once: 10 million took 5 GB.
    ("--preemptions", "10000000", "--preemptions must be between 0 and 1000, not 10000000"),
    ("--capacity", "0", "--capacity must be at least 1, not 0"),
    ("--max-schedules", "0", "--max-schedules must be at least 1, not 0"),
    ("--spurious", "-1", "--spurious must be at least 0, not -1"),
])
def test_explore_names_the_option(capsys, option, value, message):
    assert main(["explore", "pcmodel:condition", option, value]) == 2
    assert one_error_line(capsys, "explore") == f"pcmodel explore: error: {message}"


@pytest.mark.parametrize("option, value, message", [
    ("--producers", "0", "--producers must be between 1 and 1000, not 0"),
    ("--consumers", "-1", "--consumers must be between 1 and 1000, not -1"),
    ("--items", "-1", "--items must be at least 0, not -1"),
    ("--batch", "0", "--batch must be at least 1, not 0"),
    ("--timeout", "nan", "--timeout must be a positive number of seconds, not nan"),
    ("--timeout", "-1", "--timeout must be a positive number of seconds, not -1"),
    # An unset shell variable is not "none": it was run as no work at all.
    ("--produce-work", "", "--produce-work: the value is empty; give sleep:SECONDS, "
                           "cpu:ITERATIONS or none"),
    ("--consume-work", " ", "--consume-work: the value is empty; give sleep:SECONDS, "
                            "cpu:ITERATIONS or none"),
])
def test_run_names_the_option(capsys, option, value, message):
    assert main(["run", "--items", "10", option, value]) == 2
    assert message in one_error_line(capsys, "run")


@pytest.mark.parametrize("option", [
    "--group-initial-rebalance-delay-ms", "--offsets-retention-minutes",
    "--producer-id-expiration-ms", "--transaction-max-timeout-ms",
    "--transaction-abort-timed-out-transaction-cleanup-interval-ms",
])
def test_broker_settings_are_kafka_ints(capsys, option):
    # Above a Java int Kafka refuses them; here a huge delay meant a group never rebalanced.
    assert main(["broker", option, str(2**31)]) == 2
    assert one_error_line(capsys, "broker") == (
        f"pcmodel broker: error: {option} must be <= 2147483647 (a Kafka int), got {2**31}")


def test_an_unreadable_authkey_file_says_which_and_why(tmp_path, capsys):
    assert main(["broker", "--authkey-file", str(tmp_path)]) == 2
    assert one_error_line(capsys, "broker") == (
        f"pcmodel broker: error: --authkey-file {tmp_path}: cannot read it (Is a directory); "
        "name the file that holds the key")


def test_an_explore_target_that_is_a_folder_or_a_device_says_so(tmp_path, capsys):
    folder = tmp_path / "buffer.py"
    folder.mkdir()
    assert main(["explore", f"{folder}:BoundedBuffer"]) == 2
    assert f"'{folder}' is a folder, not a Python file: use PATH.py:NAME" in one_error_line(
        capsys, "explore")
    device = tmp_path / "zero.py"
    device.symlink_to("/dev/zero")
    assert main(["explore", f"{device}:BoundedBuffer"]) == 2
    assert f"'{device}' is not a regular file: use PATH.py:NAME" in one_error_line(
        capsys, "explore")
