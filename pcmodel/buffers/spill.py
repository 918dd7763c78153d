"""Files of a process buffer's private folder: where items too large for its ring travel.

An item whose pickle is larger than a quarter of the ring, or a record that finds the ring out of
bytes, is written to a file of the buffer's own folder, and the ring carries only the file's
name (see :mod:`pcmodel.buffers.ring`). The folder lives inside this process's private temporary
folder (mode 0700), is created only when something is written there, and goes with the buffer's
``close()`` or with the creating process's exit, whatever a dead process left in it.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
from typing import Any

__all__ = ["SpillFolder", "Spilled", "ensure_folder", "private_folder", "unlink_quietly"]


class Spilled:
    """A pickle kept in file ``name`` of the buffer's folder ``folder`` (see the module)."""

    __slots__ = ("folder", "name")

    def __init__(self, folder: str, name: str) -> None:
        self.folder = folder
        self.name = name

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.name)


_root: tuple[int, str] | None = None  # (pid, folder) of this process's private folder


def private_folder() -> str:
    """A new folder's path inside this process's private temporary folder (mode 0700, created
    on first use and removed with everything in it when this process exits). The new folder
    itself is created only when something is written there (:meth:`SpillFolder.ensure`)."""
    global _root
    if _root is None or _root[0] != os.getpid():
        root = tempfile.mkdtemp(prefix="pcmodel-")
        atexit.register(_remove_root, os.getpid(), root)
        _root = (os.getpid(), root)
    return os.path.join(_root[1], f"buffer-{next(_folders)}")


_folders = itertools.count()


def ensure_folder(path: str) -> None:
    """Create ``path`` (not its parents) unless it exists."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass


def _remove_root(pid: int, root: str) -> None:
    if os.getpid() == pid:
        shutil.rmtree(root, ignore_errors=True)


class SpillFolder:
    """Writes and reads the files of spilled records, in one private folder per buffer."""

    _names = itertools.count()

    def __init__(self, path: str) -> None:
        self.path = path

    def ensure(self) -> None:
        """Create the folder if it is not there yet (any process may be first); never its
        parent: once the creating process has exited, FileNotFoundError."""
        ensure_folder(self.path)

    def _new_name(self) -> str:
        return f"{os.getpid()}-{next(self._names)}"  # at most 28 characters (RESERVE_PER_ITEM)

    def write(self, data: Any) -> Spilled:
        """A new file holding ``data``: bytes, or a pickle in pieces (anything with ``parts``)."""
        self.ensure()
        while True:
            name = self._new_name()
            try:
                fd = os.open(os.path.join(self.path, name),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # a forked sibling counts from the same number
                continue
            with os.fdopen(fd, "wb") as file:
                if type(data) is bytes:
                    file.write(data)
                else:
                    file.writelines(data.parts)
            return Spilled(self.path, name)

    @staticmethod
    def take(spilled: Spilled) -> bytes:
        """The file's bytes; the file is removed."""
        with open(spilled.path, "rb") as file:
            data = file.read()
        os.unlink(spilled.path)
        return data

    def share(self, spilled: Spilled) -> Spilled:
        """A second name for the same file, for a reader taking part of a spilled run."""
        while True:
            name = self._new_name()
            try:
                os.link(spilled.path, os.path.join(self.path, name))
            except FileExistsError:
                continue
            return Spilled(self.path, name)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
