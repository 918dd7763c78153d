"""A user's mistakes on the command line: one line on stderr, status 2, no traceback, no work
started; and the choices a command makes for the user, said out loud."""

from __future__ import annotations

import struct
import textwrap
from pathlib import Path

import pytest

from pcmodel.cli import main

ZOO = Path(__file__).resolve().parents[1] / "exercises" / "zoo"


def one_error_line(capsys, command: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pcmodel {command}: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# --- explore ---------------------------------------------------------------------------------


def test_explore_a_file_with_a_syntax_error_says_file_and_line(tmp_path, capsys):
    target = tmp_path / "broken.py"
    target.write_text("class BoundedBuffer:\n    def put(self, item)\n        pass\n")
    assert main(["explore", f"{target}:BoundedBuffer"]) == 2
    assert f"{target}:2: SyntaxError" in one_error_line(capsys, "explore")


def test_explore_a_file_that_fails_to_import_says_where(tmp_path, capsys):
    target = tmp_path / "raises.py"
    target.write_text("import threading\n\nCAPACITY = 1 / 0\n")
    assert main(["explore", f"{target}:BoundedBuffer"]) == 2
    line = one_error_line(capsys, "explore")
    assert f"{target}:3: importing it raised ZeroDivisionError" in line


def test_explore_a_name_that_is_not_a_class(tmp_path, capsys):
    target = tmp_path / "values.py"
    target.write_text("CAPACITY = 3\n")
    assert main(["explore", f"{target}:CAPACITY"]) == 2
    assert "is an int, not a class" in one_error_line(capsys, "explore")


def test_a_failure_that_needed_no_decision_prints_a_replay_that_runs(tmp_path, capsys):
    # The first schedule fails whatever the scheduler chooses: no decision to replay, and the
    # printed command must still be one that runs (an empty --replay is not).
    target = tmp_path / "fails.py"
    target.write_text("def make(capacity):\n    raise RuntimeError('no buffer today')\n")
    assert main(["explore", f"{target}:make", "--producers", "1", "--consumers", "1"]) == 1
    command = capsys.readouterr().out.split("Replay it with: ")[1].splitlines()[0]
    assert command.endswith("--replay none")
    args = command.split()[2:]  # after "pcmodel explore"
    assert main(["explore", *args]) == 1
    assert "Replay it with: " + command in capsys.readouterr().out


def test_explore_an_unknown_module(capsys):
    assert main(["explore", "no_such_module_anywhere:BoundedBuffer"]) == 2
    assert "no module named 'no_such_module_anywhere'" in one_error_line(capsys, "explore")


@pytest.mark.parametrize("replay", ["1,x,2", "-1", ",", "1.5"])
def test_explore_a_bad_replay(capsys, replay):
    assert main(["explore", "pcmodel:condition", "--producers", "1", "--replay", replay]) == 2
    assert "--replay takes the comma-separated decisions" in one_error_line(capsys, "explore")


def test_explore_a_replay_that_does_not_fit(capsys):
    status = main(["explore", "pcmodel:condition", "--producers", "1", "--consumers", "1",
                   "--replay", "9,9,9,9"])
    assert status == 2
    assert "--replay does not fit" in one_error_line(capsys, "explore")


@pytest.mark.timeout(120)
def test_explore_defaults_find_a_bug_only_the_second_shape_reaches(capsys):
    # A missing mutex shows only with two producers and a scheduling point at every line.
    target = ZOO / "02_semaphore_buffer" / "missing_mutex.py"
    assert main(["explore", f"{target}:BoundedBuffer"]) == 1
    out = capsys.readouterr().out
    assert "2 producer(s) x 1 consumer(s), capacity 2, 2 item(s) each, every line: FAILED" in out


def test_explore_says_what_a_partial_exploration_left_out(capsys):
    assert main(["explore", "pcmodel:condition", "--max-schedules", "3"]) == 0
    out = capsys.readouterr().out
    assert "passed (complete" not in out
    assert "partial: not every schedule was explored for 1 producer(s) x 2 consumer(s)" in out
    assert "raise --max-schedules" in out


# --- run -------------------------------------------------------------------------------------


@pytest.mark.parametrize("option, path, message", [
    ("--plot", "chart.txt", "cannot write a .txt file"),
    ("--plot", "chart", "give the file a suffix"),
    ("--json", "results.csv", "cannot write a .csv file; use one of .json"),
    ("--json", "a-file/results.json", "is a file, not a folder"),
    ("--plot", ".", "is a folder; name a file in it"),
])
def test_run_checks_output_paths_before_any_run(tmp_path, capsys, option, path, message):
    (tmp_path / "a-file").write_text("")
    status = main(["run", "--items", "10", option, str(tmp_path / path)])
    assert status == 2
    assert message in one_error_line(capsys, "run")
    assert capsys.readouterr().out == ""  # no run was made


def test_run_capacity_zero_says_unbounded_or_refuses(capsys):
    status = main(["run", "--variant", "condition", "--capacity", "0", "--items", "20",
                   "--produce-work", "none", "--consume-work", "none"])
    assert status == 0
    assert "capacity 0: unbounded (as queue.Queue" in capsys.readouterr().err
    status = main(["run", "--variant", "semaphore", "--backend", "process", "--capacity", "-1",
                   "--items", "20"])
    assert status == 2
    assert "--capacity -1 with semaphore/process" in one_error_line(capsys, "run")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG")
    return struct.unpack(">II", data[16:24])


@pytest.mark.timeout(120)
def test_run_plot_writes_exactly_the_named_file_at_the_given_dpi(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "run.png"
    status = main(["run", "--items", "100", "--plot", str(chart), "--dpi", "40",
                   "--produce-work", "none", "--consume-work", "none"])
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.png"]
    assert png_size(chart)[0] == 400  # 10 inches at 40 dpi
    assert f"charts of the 3 runs, stacked, written to {chart}" in capsys.readouterr().out


def test_run_rejects_an_absurd_dpi(tmp_path, capsys):
    assert main(["run", "--plot", str(tmp_path / "x.png"), "--dpi", "0"]) == 2
    assert "--dpi must be between 10 and 1200" in one_error_line(capsys, "run")


def test_bench_checks_its_json_path_first(tmp_path, capsys):
    assert main(["bench", "--quick", "--json", str(tmp_path / "bench.txt")]) == 2
    assert "cannot write a .txt file" in one_error_line(capsys, "bench")


def test_broker_mistakes_go_to_stderr(tmp_path, capsys):
    empty = tmp_path / "key"
    empty.write_text("  \n")
    assert main(["broker", "--authkey-file", str(empty)]) == 2
    assert "is empty; put a secret in it" in one_error_line(capsys, "broker")
    assert main(["broker", "--host", "0.0.0.0"]) == 2
    assert "reachable from other machines" in one_error_line(capsys, "broker")
    assert main(["broker", "--group-initial-rebalance-delay-ms", "-1"]) == 2
    assert "must be >= 0, got -1" in one_error_line(capsys, "broker")
    assert main(["broker", "--offsets-retention-minutes", "0"]) == 2
    assert "--offsets-retention-minutes must be >= 1, got 0" in one_error_line(capsys, "broker")
    assert main(["broker", "--producer-id-expiration-ms", "0"]) == 2
    assert "--producer-id-expiration-ms must be >= 1, got 0" in one_error_line(capsys, "broker")
    assert main(["broker", "--transaction-max-timeout-ms", "0"]) == 2
    assert "--transaction-max-timeout-ms must be >= 1, got 0" in one_error_line(capsys, "broker")


def test_explore_target_file_missing(tmp_path, capsys):
    assert main(["explore", f"{tmp_path / 'nope.py'}:BoundedBuffer"]) == 2
    assert "no such file" in one_error_line(capsys, "explore")


def test_a_target_with_an_indentation_error(tmp_path, capsys):
    target = tmp_path / "indent.py"
    target.write_text(textwrap.dedent("""\
        class BoundedBuffer:
        def put(self, item):
            pass
    """))
    assert main(["explore", f"{target}:BoundedBuffer"]) == 2
    assert f"{target}:2: IndentationError" in one_error_line(capsys, "explore")


# --- output paths the system refuses, found before the run -----------------------------------


def _refused_before_the_run(capsys, argv: list[str]) -> str:
    status = main(["run", "--items", "10", "--variant", "condition", *argv])
    line = one_error_line(capsys, "run")
    assert status == 2
    assert capsys.readouterr().out == ""  # no run was made
    return line


def test_run_json_name_too_long(tmp_path, capsys):
    line = _refused_before_the_run(capsys, ["--json", str(tmp_path / ("a" * 300 + ".json"))])
    assert "cannot write there (File name too long)" in line


def test_run_json_under_a_loop_of_symbolic_links(tmp_path, capsys):
    (tmp_path / "loop").symlink_to("loop")
    line = _refused_before_the_run(capsys, ["--json", str(tmp_path / "loop" / "x.json")])
    assert "cannot write there (Too many levels of symbolic links)" in line


def test_run_json_a_dangling_symbolic_link(tmp_path, capsys):
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere" / "f.json")
    line = _refused_before_the_run(capsys, ["--json", str(tmp_path / "dangling.json")])
    assert "a symbolic link to" in line and "cannot be reached" in line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc here")
def test_run_json_in_a_virtual_file_system(capsys):
    assert "cannot write there" in _refused_before_the_run(capsys, ["--json", "/proc/x.json"])


def test_run_json_check_leaves_nothing_behind(tmp_path, capsys):
    target = tmp_path / "new" / "deeper" / "x.json"
    status = main(["run", "--items", "10", "--json", str(target), "--dpi", "5"])
    assert status == 2
    capsys.readouterr()
    assert list(tmp_path.iterdir()) == []  # the folders made to try are gone again


def test_run_json_existing_file_is_left_as_it_is(tmp_path, capsys):
    target = tmp_path / "x.json"
    target.write_text("old")
    assert main(["run", "--items", "10", "--json", str(target), "--dpi", "5"]) == 2
    capsys.readouterr()
    assert target.read_text() == "old"


def test_run_plot_refuses_a_format_whose_program_is_missing(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)  # no LaTeX
    line = _refused_before_the_run(capsys, ["--plot", str(tmp_path / "x.pgf")])
    assert "cannot write a .pgf file" in line and ".png" in line


def test_run_capacity_too_large_for_the_process_backend(capsys):
    line = _refused_before_the_run(capsys, ["--backend", "process",
                                            "--capacity", "99999999999999999999"])
    assert "--capacity 99999999999999999999 with condition/process" in line


def test_run_absurd_sleep_work(capsys):
    line = _refused_before_the_run(capsys, ["--produce-work", "sleep:1e308"])
    assert "sleep work is at most 3600 seconds per item" in line


def test_run_absurd_cpu_work(capsys):
    line = _refused_before_the_run(capsys, ["--consume-work", "cpu:999999999999999999999999"])
    assert "cpu work is at most 100,000,000,000 loop iterations per item" in line
