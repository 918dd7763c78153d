"""Check where a command will write, before it starts working.

A run that takes a minute and then fails to save its chart because the folder is read-only, or
because ``--plot run.txt`` names no image format, wastes the minute; so does a class graded for
an hour whose report cannot be written. ``check_output`` finds such mistakes first (by creating
the file, and removing it again) and raises :class:`~pcmodel.errors.UsageError` saying what is
wrong and what to do. Every command that writes a file checks it here (``run``, ``bench``,
``grade``), so the rules and the messages are the same everywhere; the command creates missing
folders when it writes.

Writing, ``write_outputs`` gives a command's files all at once or not at all: each is written
under a temporary name in its own folder, and only when every one is complete are they renamed
into place (a rename within a folder is atomic), with Ctrl-C held back for the renames. A
Ctrl-C, a full disk or a failing chart while writing leaves the old files as they were, never
half a JSON file or the JSON without its chart. This is how editors save, and what
``os.replace`` is for.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from pcmodel.errors import UsageError
from pcmodel.stop_signals import stop_signals_deferred

__all__ = ["check_output", "plot_formats", "write_outputs"]


#: Formats matplotlib can name but writes only through an outside program (``pgf``: LaTeX, the
#: ``pgf.texsystem`` of matplotlib's settings); offered only where that program is installed.
_NEEDS_PROGRAM = {"pgf": "pgf.texsystem"}


def plot_formats() -> set[str]:
    """The file suffixes matplotlib can save to here (``png``, ``svg``, ``pdf``, ...).

    A format that needs an outside program which is not installed (``pgf`` without LaTeX) is
    left out: the run would end in a traceback instead of a chart. Imports matplotlib: call it
    only when a chart is wanted.
    """
    import shutil

    import matplotlib
    from matplotlib.figure import Figure

    formats = set(Figure().canvas.get_supported_filetypes())
    for suffix, setting in _NEEDS_PROGRAM.items():
        if suffix in formats and shutil.which(str(matplotlib.rcParams[setting])) is None:
            formats.discard(suffix)
    return formats


def check_output(path: Path, option: str, suffixes: Collection[str]) -> Path:
    """Return ``path`` if a file of one of ``suffixes`` can be written there, else raise.

    The suffix must be one of ``suffixes`` (without the dot, any case); ``path`` must not be a
    folder. The test is the real one: an existing file is opened for writing (and left as it
    is); otherwise the missing folders and the file are created, then removed again. Every
    reason the system gives for refusing (no permission, a name too long, a loop of symbolic
    links, a link to nowhere, a read-only or virtual file system) is a UsageError.
    """
    if os.path.isdir(path):  # before the suffix: "." and "/tmp" have none, "data.d" one
        raise UsageError(f"{option} {path} is a folder; name a file in it")
    suffix = path.suffix.lower().lstrip(".")
    legal = ", ".join("." + s for s in sorted(suffixes))
    if not suffix:
        raise UsageError(f"{option} {path}: give the file a suffix ({legal})")
    if suffix not in {s.lower() for s in suffixes}:
        raise UsageError(f"{option} {path}: cannot write a .{suffix} file; use one of {legal}")
    try:
        _try_writing(path, option)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"{option} {path}: cannot write there ({reason})") from None
    return path


def _try_writing(path: Path, option: str) -> None:
    if os.path.isdir(path):
        raise UsageError(f"{option} {path} is a folder; name a file in it")
    if os.path.islink(path) and not os.path.exists(path):
        raise UsageError(f"{option} {path}: a symbolic link to {os.readlink(path)}, which cannot "
                         "be reached; remove the link or name another file")
    if os.path.lexists(path):
        # Existing (a link included: it must lead to a writable file). Not truncated; a FIFO
        # without a reader fails at once (ENXIO) instead of blocking.
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK))
        return
    missing = []
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: {folder} is a file, not a folder")
    made: list[Path] = []
    try:
        for new in reversed(missing):
            os.mkdir(new)
            made.append(new)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        os.remove(path)
    finally:
        for new in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(new)


def write_outputs(outputs: Sequence[tuple[str, Path, Callable[[Path], object]]]) -> None:
    """Write every ``(option, path, write)`` of ``outputs``, or none of them.

    ``write(temporary)`` writes the file's content to the path it is given, which sits in the
    final folder under a hidden name with the same suffix (so that a chart library picks the
    format from it). Once every one is written they replace their paths together, with Ctrl-C
    and SIGTERM held back; a symbolic link is written through, and a path that is no regular
    file (a FIFO, a device) is written in place, since it cannot be swapped. Missing folders
    are created. If anything fails or is interrupted before the renames, the temporary files
    and the folders made for them are removed and the paths are left as they were; an OSError
    becomes a one-line UsageError naming the option and the path.
    """
    staged: list[tuple[Path, Path]] = []  # (temporary, final)
    made: list[Path] = []
    done = False
    try:
        for option, path, write in outputs:
            final = Path(os.path.realpath(path))
            try:
                _make_folders(final.parent, made)
                if os.path.exists(final) and not stat.S_ISREG(os.stat(final).st_mode):
                    write(path)  # a FIFO or a device: there is nothing to swap
                    continue
                temporary = final.with_name(f".{final.stem}.{secrets.token_hex(4)}{final.suffix}")
                os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                staged.append((temporary, final))
                write(temporary)
                if os.path.exists(final):
                    os.chmod(temporary, stat.S_IMODE(os.stat(final).st_mode))
            except OSError as exc:
                raise UsageError(f"{option} {path}: cannot write it "
                                 f"({exc.strerror or exc}); nothing was written") from None
        with stop_signals_deferred():
            for temporary, final in staged:
                try:
                    os.replace(temporary, final)
                except OSError as exc:  # a folder took the file's place meanwhile
                    raise UsageError(f"cannot write {final} ({exc.strerror or exc})") from None
            done = True
    finally:
        if not done:
            with stop_signals_deferred():  # a second Ctrl-C must not leave temporary files
                for temporary, _ in staged:
                    with contextlib.suppress(OSError):
                        os.remove(temporary)
                for folder in reversed(made):
                    with contextlib.suppress(OSError):
                        os.rmdir(folder)


def _make_folders(folder: Path, made: list[Path]) -> None:
    """Create ``folder`` and its missing parents; note each one made in ``made``."""
    missing = []
    while not os.path.isdir(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        os.mkdir(new)
        made.append(new)
