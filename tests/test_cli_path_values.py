"""Every option that takes a path, given an empty value or a folder where a file is written:
one line that says what is wrong, status 2, nothing started.

``Path("")`` is the current folder, so an empty value used to be checked as ``.`` and answered
for it (``--json .: give the file a suffix``), a puzzle for whoever typed ``--json "$OUT"``
with ``OUT`` unset."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pcmodel.cli import build_parser, main


def path_arguments(parser=None, words=()):
    """``(command words, argument)`` for every argument declared ``type=Path``, in every
    command and subcommand."""
    parser = parser or build_parser()
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += path_arguments(sub, (*words, name))
        elif action.type is Path:
            found.append((words, action))
    return found


PATH_ARGUMENTS = path_arguments()


def test_the_commands_have_path_arguments_to_check():
    names = {(" ".join(words), action.dest) for words, action in PATH_ARGUMENTS}
    assert {("run", "json"), ("run", "plot"), ("bench", "json"), ("grade", "json"),
            ("exercises export", "folder"), ("broker", "authkey_file")} <= names


@pytest.mark.parametrize(
    "words, action", PATH_ARGUMENTS,
    ids=[" ".join((*words, *(action.option_strings[:1] or [action.dest])))
         for words, action in PATH_ARGUMENTS])
def test_an_empty_path_says_it_is_empty(capsys, words, action):
    value = [action.option_strings[0], ""] if action.option_strings else [""]
    with pytest.raises(SystemExit) as exit_info:  # argparse's mistakes exit from the parser
        main([*words, *value])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    name = action.option_strings[0] if action.option_strings else action.dest
    assert lines[0].startswith(f"pcmodel {' '.join(words)}: error: argument {name}: "
                               "the value is empty; give a path"), lines[0]
    assert captured.out == ""


@pytest.mark.parametrize("command, option", [
    (["run", "--items", "10"], "--json"), (["run", "--items", "10"], "--plot"),
    (["bench"], "--json"),
])
def test_a_folder_where_a_file_is_written_says_it_is_a_folder(tmp_path, capsys, command,
                                                              option):
    for folder in (tmp_path, tmp_path / "."):
        assert main([*command, option, str(folder)]) == 2
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [
            f"pcmodel {command[0]}: error: {option} {tmp_path} is a folder; name a file in it"]
        assert captured.out == ""
