"""Options that set how long ``bench`` and ``grade`` run: a value that would run for days, or for
ever (``--trial-seconds inf``), is a one-line error before any work starts."""

from __future__ import annotations

import pytest

from pcmodel.cli import main

pytestmark = pytest.mark.timeout(60)


def one_error_line(capsys, command: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pcmodel {command}: error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("option, value, says", [
    ("--repeat", "99999999999", "--repeat must be from 1 to 1000"),
    ("--repeat", "0", "--repeat must be from 1 to 1000"),
    ("--trial-seconds", "inf", "--trial-seconds must be above 0 and at most 60"),
    ("--trial-seconds", "1e9", "--trial-seconds must be above 0 and at most 60"),
    ("--trial-seconds", "nan", "--trial-seconds must be above 0 and at most 60"),
])
def test_bench_refuses_a_run_without_end(option, value, says, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", option, value, "--json", str(out)]) == 2
    assert says in one_error_line(capsys, "bench")
    assert not out.exists()


@pytest.mark.parametrize("value", ["1000000000", "101", "0"])
def test_grade_refuses_a_repeat_without_end(value, tmp_path, capsys):
    impl = tmp_path / "mine.py"
    impl.write_text("class BoundedBuffer: pass\n")
    assert main(["grade", "01_condition_buffer", "--impl", str(impl), "--repeat", value]) == 2
    assert "--repeat must be from 1 to 100" in one_error_line(capsys, "grade")
