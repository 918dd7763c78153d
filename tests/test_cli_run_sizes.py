"""``pcmodel run`` asked for sizes the machine cannot honour: one line and status 2 before any
run starts, never a traceback or a wait of minutes."""

from __future__ import annotations

import pytest

from pcmodel.cli import main
from pcmodel.experiments import cli as run_cli

QUICK = ["run", "--variant", "condition", "--items", "5", "--produce-work", "none",
         "--consume-work", "none", "--no-progress"]


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcmodel run: error: "), captured.err
    return lines[0]


@pytest.fixture
def no_runs(monkeypatch):
    """Fail the test if a run starts: the mistake must be found before."""
    def refuse(**kwargs):
        raise AssertionError(f"a run started: {kwargs}")

    monkeypatch.setattr(run_cli, "run_workload", refuse)


def test_a_process_buffer_too_large_for_shared_memory_is_one_line(capsys, no_runs):
    # 96 bytes of ring per item: a trillion items is a file larger than /dev/shm accepts.
    assert main([*QUICK, "--backend", "process", "--capacity", "999999999999"]) == 2
    line = one_error_line(capsys)
    assert "--capacity 999999999999 with condition/process" in line
    assert "use a smaller --capacity" in line


@pytest.mark.parametrize("option", ["--producers", "--consumers"])
def test_run_bounds_the_number_of_actors(option, capsys, no_runs):
    assert main([*QUICK, option, "100000"]) == 2
    assert f"{option} must be between 1 and {run_cli.MAX_ACTORS}" in one_error_line(capsys)


def test_the_most_actors_are_allowed(capsys, monkeypatch):
    started = []
    monkeypatch.setattr(run_cli, "run_workload", lambda **kwargs: started.append(kwargs) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main([*QUICK, "--producers", str(run_cli.MAX_ACTORS)])
    assert started and started[0]["producers"] == run_cli.MAX_ACTORS
