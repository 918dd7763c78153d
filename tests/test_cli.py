"""``pcmodel run`` through ``pcmodel.cli.main``: the table, the options, JSON and --plot."""

from __future__ import annotations

import json
import sys

import pytest

from pcmodel.buffers import VARIANTS
from pcmodel.cli import main
from pcmodel.experiments.runner import RunResult

HEADER = ("variant", "backend", "capacity", "items/s", "producers blocked", "consumers blocked",
          "max depth")


def table_lines(out: str) -> list[str]:
    """The data rows of the summary table (after the dashed rule)."""
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) <= {"-", " "} and line)
    rows = []
    for line in lines[rule + 1:]:
        if not line.strip() or line.startswith(("results written", "chart written")):
            break
        rows.append(line)
    return rows


@pytest.mark.timeout(60)
def test_run_without_arguments_prints_one_row_per_variant(capsys):
    assert main(["run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    for word in HEADER:
        assert word in out
    rows = table_lines(out)
    assert [row.split()[0] for row in rows] == list(VARIANTS)
    for row in rows:
        cells = row.split()
        assert cells[1] == "thread" and cells[2] == "4" and "2000" in cells
        assert sum(cell.endswith("%") for cell in cells) == 2


@pytest.mark.timeout(60)
def test_run_with_options_writes_json(tmp_path, capsys):
    path = tmp_path / "out" / "run.json"
    status = main(["run", "--variant", "semaphore", "--backend", "process", "--capacity", "2",
                   "--producers", "3", "--consumers", "1", "--items", "300",
                   "--produce-work", "none", "--consume-work", "cpu:100", "--seed", "3",
                   "--instrument", "counters", "--json", str(path), "--no-progress"])
    assert status == 0
    out = capsys.readouterr().out
    rows = table_lines(out)
    assert len(rows) == 1 and rows[0].split()[:3] == ["semaphore", "process", "2"]
    data = json.loads(path.read_text())
    [run] = data["runs"]
    assert (run["variant"], run["backend"], run["capacity"]) == ("semaphore", "process", 2)
    assert (run["producers"], run["consumers"], run["items"]) == (3, 1, 300)
    assert run["produce_work"] is None and run["consume_work"] == "cpu:100"
    result = RunResult.from_dict(run)
    assert result.items_moved == 300 and result.stats.gets == 300
    assert f"results written to {path}" in out


@pytest.mark.timeout(60)
def test_run_with_batches_and_a_start_method(capsys):
    status = main(["run", "--variant", "condition", "--backend", "process", "--start-method",
                   "spawn", "--items", "200", "--batch", "10", "--produce-work", "none",
                   "--consume-work", "none", "--instrument", "off"])
    assert status == 0
    [row] = table_lines(capsys.readouterr().out)
    assert row.split()[:2] == ["condition", "process"] and row.rstrip().endswith("-")


@pytest.mark.parametrize("argv, message", [
    (["--produce-work", "sleep:soon"], "cannot read work"),
    (["--start-method", "spawn"], "--backend process"),
    (["--items", "-5"], "items must be"),
    (["--plot", "x.png", "--instrument", "counters"], "--instrument timeline"),
])
def test_bad_options_exit_with_status_2_and_say_why(argv, message, capsys):
    assert main(["run", *argv]) == 2
    assert message in capsys.readouterr().err


def test_unknown_variant_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--variant", "lockfree"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    status = main(["run", "--variant", "queue", "--items", "50", "--plot",
                   str(tmp_path / "chart.png")])
    assert status == 2
    assert "pip install matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "chart.png").exists()


@pytest.mark.timeout(60)
def test_plot_writes_a_png_per_run(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plots = pytest.importorskip("pcmodel.plots")
    if not hasattr(plots, "plot_run"):
        pytest.skip("pcmodel.plots has no plot_run yet")
    status = main(["run", "--variant", "condition", "--items", "200", "--plot",
                   str(tmp_path / "chart.png")])
    assert status == 0
    png = (tmp_path / "chart.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert f"chart written to {tmp_path / 'chart.png'}" in capsys.readouterr().out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("argv", [
    ["exercises", "list"],
    ["run", "--items", "10", "--variant", "condition", "--produce-work", "none",
     "--consume-work", "none"],
    ["--help"],
])
def test_stdout_closed_early_exits_quietly_with_141(argv):
    # `pcmodel exercises list | head -1`: the reader is gone before the command writes. Before:
    # a BrokenPipeError traceback (or "Exception ignored ... BrokenPipeError") and status 1.
    import os
    import subprocess
    from pathlib import Path

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from pcmodel.cli import main; sys.exit(main())",
             *argv], stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, timeout=50)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == (0 if argv == ["--help"] else 141)
