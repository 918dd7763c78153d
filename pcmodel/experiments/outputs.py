"""Check where a command will write, before it starts working.

A run that takes a minute and then fails to save its chart because the folder is read-only, or
because ``--plot run.txt`` names no image format, wastes the minute. ``check_output`` finds such
mistakes first and raises :class:`~pcmodel.errors.UsageError` saying what is wrong and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from pcmodel.errors import UsageError

__all__ = ["check_output", "plot_formats"]


def plot_formats() -> set[str]:
    """The file suffixes matplotlib can save to (``png``, ``svg``, ``pdf``, ...).

    Imports matplotlib: call it only when a chart is wanted.
    """
    import matplotlib  # noqa: F401 - the package itself, not only a submodule already loaded
    from matplotlib.figure import Figure

    return set(Figure().canvas.get_supported_filetypes())


def check_output(path: Path, option: str, suffixes: Collection[str]) -> Path:
    """Return ``path`` if a file of one of ``suffixes`` can be written there, else raise.

    The suffix must be one of ``suffixes`` (without the dot, any case); ``path`` must not be a
    folder; its folder must exist and be writable, or be creatable under a writable ancestor
    (it is created later, when the file is written). Nothing is created here.
    """
    suffix = path.suffix.lower().lstrip(".")
    legal = ", ".join("." + s for s in sorted(suffixes))
    if not suffix:
        raise UsageError(f"{option} {path}: give the file a suffix ({legal})")
    if suffix not in {s.lower() for s in suffixes}:
        raise UsageError(f"{option} {path}: cannot write a .{suffix} file; use one of {legal}")
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; name a file in it")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"{option} {path}: the file exists and is not writable")
        return path
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot write in {folder} (permission denied)")
    return path
