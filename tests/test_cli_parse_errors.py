"""Mistakes argparse finds (a value of the wrong type, an unknown choice or option) are one line
on stderr with status 2, like every other mistake of ``pcmodel``'s, not the usage block."""

from __future__ import annotations

import pytest

from pcmodel.cli import main


@pytest.mark.parametrize("argv, prog, message", [
    (["run", "--capacity", "abc"], "pcmodel run", "argument --capacity: invalid int value"),
    (["run", "--variant", "lockfree"], "pcmodel run", "invalid choice: 'lockfree'"),
    (["broker", "--port", "many"], "pcmodel broker", "argument --port: invalid int value"),
    (["exercises", "bogus"], "pcmodel exercises", "invalid choice: 'bogus'"),
    (["bogus"], "pcmodel", "invalid choice: 'bogus'"),
    (["run", "--no-such-option"], "pcmodel", "unrecognized arguments: --no-such-option"),
])
def test_a_mistake_argparse_finds_is_one_line(argv, prog, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith(f"{prog}: error: ") and message in line, line
    assert line.endswith(f"(see {prog} --help)")
    assert captured.out == ""
