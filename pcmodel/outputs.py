"""Check where a command will write, before it starts working.

A run that takes a minute and then fails to save its chart because the folder is read-only, or
because ``--plot run.txt`` names no image format, wastes the minute; so does a class graded for
an hour whose report cannot be written. ``check_output`` finds such mistakes first (by creating
the file, and removing it again) and raises :class:`~pcmodel.errors.UsageError` saying what is
wrong and what to do. Every command that writes a file checks it here (``run``, ``bench``,
``grade``), so the rules and the messages are the same everywhere; the command creates missing
folders when it writes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from pathlib import Path

from pcmodel.errors import UsageError

__all__ = ["check_output", "plot_formats"]


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
