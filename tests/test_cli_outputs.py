"""What ``pcmodel run`` and ``pcmodel bench`` write: every file complete, or none of them.

A Ctrl-C while the chart is being drawn, a chart that cannot be saved, a disk that is full: the
old files stay as they were, no new file is half written, no JSON is left without its chart,
and no temporary file or new folder is left behind. The signal tests run the command as a
child process that signals itself from inside the chart's writing (half of the image is out),
so the moment is exact, not a guess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pcmodel.cli import main
from pcmodel.errors import UsageError

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
QUICK_RUN = ["run", "--variant", "condition", "--items", "20", "--produce-work", "none",
             "--consume-work", "none", "--no-progress"]
FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")

# `pcmodel run ARGS` whose chart, half written, is interrupted by the signal given first.
INTERRUPTED_CHART = textwrap.dedent("""\
    import os, signal, sys
    from matplotlib.figure import Figure

    def savefig(self, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\\x89PNG half a chart")
            f.flush()
            os.kill(os.getpid(), int(sys.argv[1]))
            f.write(b" and the rest")

    Figure.savefig = savefig
    from pcmodel.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def one_error_line(err: str, command: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pcmodel {command}: error: "), err
    return lines[0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_the_chart_is_written_leaves_the_old_files(tmp_path, signum):
    (tmp_path / "run.json").write_text('{"old": true}')
    args = [*QUICK_RUN, "--json", str(tmp_path / "run.json"),
            "--plot", str(tmp_path / "new" / "run.png")]
    child = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_CHART, str(int(signum)), *args],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (child.returncode, child.stderr) == (130, "pcmodel run: interrupted\n"), child.stderr
    assert json.loads((tmp_path / "run.json").read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # no temporary, no folder


@needs_dev_full
def test_a_full_disk_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "run.png").symlink_to(FULL)
    status = main([*QUICK_RUN, "--json", str(tmp_path / "out" / "run.json"),
                   "--plot", str(tmp_path / "run.png")])
    assert status == 2
    line = one_error_line(capsys.readouterr().err, "run")
    assert "--plot" in line and "No space left on device" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.png"]


@needs_dev_full
def test_bench_on_a_full_disk_is_one_line(tmp_path, capsys):
    (tmp_path / "bench.json").symlink_to(FULL)
    status = main(["bench", "--quick", "--backend", "thread", "--no-progress", "--json",
                   str(tmp_path / "bench.json")])
    assert status == 2
    assert "No space left on device" in one_error_line(capsys.readouterr().err, "bench")


def test_run_replaces_an_existing_file_and_keeps_its_mode(tmp_path, capsys):
    target = tmp_path / "run.json"
    target.write_text("old")
    target.chmod(0o640)
    assert main([*QUICK_RUN, "--json", str(target)]) == 0
    assert json.loads(target.read_text())["runs"][0]["items"] == 20
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_write_outputs_writes_through_a_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    (tmp_path / "link.json").symlink_to(real)
    from pcmodel.outputs import write_outputs

    write_outputs([("--json", tmp_path / "link.json", lambda path: path.write_text("new"))])
    assert (tmp_path / "link.json").is_symlink() and real.read_text() == "new"


def test_write_outputs_is_all_or_nothing(tmp_path):
    from pcmodel.outputs import write_outputs

    first = tmp_path / "a" / "first.json"

    def fail(path: Path) -> None:
        path.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(UsageError, match="--second .*No space left on device"):
        write_outputs([("--first", first, lambda path: path.write_text("{}")),
                       ("--second", tmp_path / "b" / "second.json", fail)])
    assert list(tmp_path.iterdir()) == []


def test_write_outputs_an_interrupt_leaves_nothing(tmp_path):
    from pcmodel.outputs import write_outputs

    def interrupted(path: Path) -> None:
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_outputs([("--json", tmp_path / "new" / "x.json", interrupted)])
    assert list(tmp_path.iterdir()) == []


def pcmodel(*args: str, preexec_fn=None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from pcmodel.cli import main; sys.exit(main())",
         *args], stdout=stdout, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=50)


@needs_dev_full
@pytest.mark.parametrize("args", [QUICK_RUN, ["exercises", "list"],
                                  ["explore", "pcmodel:condition", "--max-schedules", "2"]],
                         ids=["run", "exercises", "explore"])
def test_standard_output_on_a_full_disk_is_one_line(args):
    with open(FULL, "w") as full:
        done = pcmodel(*args, stdout=full)
    assert done.returncode == 1
    assert done.stderr == (f"pcmodel {args[0]}: error: cannot write to standard output (No "
                           "space left on device); send it to a file or a program that has room "
                           "for it\n")


def test_a_command_started_with_standard_output_closed_runs(tmp_path):
    # `pcmodel run ... >&-`: Python then has no sys.stdout; the table goes nowhere, the JSON
    # is written.
    done = pcmodel(*QUICK_RUN, "--json", str(tmp_path / "run.json"),
                   preexec_fn=lambda: os.close(1), stdout=None)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads((tmp_path / "run.json").read_text())["runs"]


@pytest.mark.timeout(180)  # 8 s on a busy 2-core machine
def test_a_bitmap_too_large_to_open_is_refused_before_the_runs(tmp_path, capsys):
    # Six stacked runs at 700 dpi: 7,000 x 29,000 pixels, which Pillow refuses to open and
    # which took gigabytes to draw. A vector chart of the same runs is fine.
    args = ["run", "--backend", "all", "--items", "20", "--produce-work", "none",
            "--consume-work", "none", "--no-progress", "--dpi", "700"]
    assert main([*args, "--plot", str(tmp_path / "runs.png")]) == 2
    captured = capsys.readouterr()
    line = one_error_line(captured.err, "run")
    assert "more than image viewers open; use --dpi" in line
    assert captured.out == "" and list(tmp_path.iterdir()) == []  # no run was made
    assert main([*args, "--plot", str(tmp_path / "runs.svg")]) == 0
