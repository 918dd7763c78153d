"""``pcmodel exercises``: list the exercises, or export them for students without the answers.

    pcmodel exercises list
    pcmodel exercises export handout/

``export`` writes, for every exercise (or the ones named with ``--only``), its ``README.md``,
``starter.py`` and ``test_graded.py`` (the public checks: the same suite the teacher grades with),
plus the ``conftest.py`` and ``pytest.ini`` that let students run the checks with plain pytest, and
a short ``README.md`` saying how. It never writes ``solution.py``, the bug zoo or any other file of
the exercises folder. The target folder must not exist yet, or be empty, so nothing is overwritten.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pcmodel.errors import UsageError
from pcmodel.grading.engine import Exercise, GradingError, discover, find

__all__ = ["HANDED_OUT", "export", "register"]

HANDED_OUT = ("README.md", "starter.py", "test_graded.py")  # per exercise; nothing else leaves
_SHARED = ("conftest.py", "pytest.ini")

_README = """# Exercises

Each folder is one exercise: read its `README.md`, copy `starter.py` to a file of your own and
edit the copy. The checks you will be graded with are in `test_graded.py`; run them on your file:

    pytest {first} --impl my_file.py

or `pcmodel grade {first} --impl my_file.py` for a report with hints, both from this folder.
They need pytest (`pip install pytest`) and pcmodel, installed as your course says (from its
wheel or its checkout: `pip install PATH`).

| Folder | Exercise |
|---|---|
{rows}
"""


def export(target: Path, exercises: list[Exercise]) -> list[Path]:
    """Write the hand-out of ``exercises`` into ``target``; return the files written.

    All or nothing: the hand-out is written into a hidden temporary folder next to ``target``
    and renamed into place only once complete; on any error or interruption it is removed, as are
    the parent folders this call created. Raises GradingError (and leaves nothing) when
    ``target`` is a file, a non-empty folder, or cannot be created or written.
    """
    exercises = list({ex.name: ex for ex in exercises}.values())  # each exercise once
    if not exercises:
        raise GradingError("no exercises to export")
    try:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise GradingError(f"{target} already exists and is not an empty folder; "
                               "export into a new folder")
    except OSError as exc:
        raise GradingError(f"cannot create {target}: {exc.strerror or exc}") from None
    made: list[Path] = []  # parent folders created here, deepest last
    tmp: Path | None = None
    done = False
    try:
        parent = target.absolute().parent
        missing = []
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name[:40]}.", suffix=".partial",
                                    dir=target.absolute().parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        files = _write_handout(tmp, exercises)
        os.rename(tmp, target)  # replaces an empty folder; fails on a non-empty one
        done = True
        return [target / path.relative_to(tmp) for path in files]
    except OSError as exc:
        raise GradingError(f"cannot write into {target}: {exc.strerror or exc}") from None
    finally:
        if not done:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _write_handout(root: Path, exercises: list[Exercise]) -> list[Path]:
    written = []
    source_root = exercises[0].folder.parent
    for name in _SHARED:
        if (source_root / name).is_file():
            written.append(Path(shutil.copyfile(source_root / name, root / name)))
    for exercise in exercises:
        folder = root / exercise.name
        folder.mkdir()
        for name in HANDED_OUT:
            source = exercise.folder / name
            if source.is_file():
                written.append(Path(shutil.copyfile(source, folder / name)))
    rows = "\n".join(f"| `{ex.name}` | {ex.title} |" for ex in exercises)
    readme = root / "README.md"
    readme.write_text(_README.format(first=exercises[0].name, rows=rows), encoding="utf-8")
    written.append(readme)
    return written


def register(subparsers: Any) -> None:
    """Add the ``exercises`` subcommand to the ``pcmodel`` parser."""
    parser = subparsers.add_parser(
        "exercises",
        help="list the exercises, or export them for students (no solutions)",
        description="List the exercises, or write a hand-out for students: starters, READMEs "
                    "and the public checks, never the solutions or the bug zoo.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the exercises")
    out = actions.add_parser("export", help="write the hand-out into a new folder")
    out.add_argument("folder", type=Path, help="where to write it (must not exist, or be empty)")
    out.add_argument("--only", action="append", default=[], metavar="EXERCISE",
                     help="export this exercise only (repeat for several)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.action == "list":
        for exercise in discover():
            print(f"{exercise.name:<24} {exercise.title}")
        return 0
    if args.action != "export":
        raise UsageError("choose an action: list or export FOLDER")
    chosen = [find(name) for name in args.only] if args.only else discover()
    chosen = list({exercise.name: exercise for exercise in chosen}.values())
    written = export(args.folder, chosen)
    print(f"wrote {len(written)} files for {len(chosen)} exercises into {args.folder} "
          "(no solutions)")
    return 0
