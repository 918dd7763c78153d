"""``pcmodel explore`` with shapes too large to explore: a one-line error, not gigabytes.

Every schedule moves every item and the scheduler keeps each one's trace, so ``--items`` of a
hundred million grew the process to 9 GB before its first schedule ended (and far more was
killed by the system for want of memory); ``--pct-depth`` of a hundred quadrillion died with a
MemoryError traceback. A long correct run must not be called a livelock either: the
scheduler's budget of steps grows with the shape.
"""

from __future__ import annotations

import pytest

from pcmodel.cli import main

pytestmark = pytest.mark.timeout(60)


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcmodel explore: error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("option, value", [
    ("--items", "1001"), ("--items", "99999999999999999999"), ("--items", "0"),
    ("--pct-depth", "101"), ("--pct-depth", "99999999999999999"), ("--pct-depth", "0"),
])
def test_a_shape_too_large_to_explore_is_one_line(option, value, capsys):
    status = main(["explore", "pcmodel:condition", "--strategy", "pct", "--max-schedules", "1",
                   option, value])
    assert status == 2
    assert f"{option} must be between 1 and " in one_error_line(capsys)


def test_a_long_correct_run_is_not_called_a_livelock(capsys):
    # 1600 items through one slot take more than the scheduler's default 5,000 steps.
    status = main(["explore", "pcmodel:condition", "--producers", "4", "--consumers", "4",
                   "--items", "400", "--max-schedules", "1"])
    out = capsys.readouterr().out
    assert "livelock" not in out
    assert status == 0


def test_too_many_items_in_all_is_one_line(capsys):
    # 64 producers x 1000 items grew past 2 GB and two minutes on the first schedule.
    assert main(["explore", "pcmodel:condition", "--producers", "64", "--items", "1000"]) == 2
    assert "is more than 4000 items per schedule" in one_error_line(capsys)
