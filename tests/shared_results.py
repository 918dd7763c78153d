"""Results computed once per test run and shared by the run's pytest-xdist workers.

A module fixture that grades many files (the zoo, the alternatives, the attacks) is built by
every worker that receives one of the module's tests: under ``-n 2`` both workers would grade
every file, and the slowest fixtures of the suite would run twice per run. Here each result is
kept on disk, in a folder that the workers of one run share (pytest-xdist's documented pattern:
the parent of a worker's base temporary folder), under one lock per result: the first worker to
reach a result computes and stores it, the others wait for the lock and read it. Each worker
walks the list from its own starting point (:meth:`SharedResults.walk`), so when several build one
fixture at once, each computes its share of the results and reads the others'.

Without xdist nothing is stored or shared: every result is computed, as it always was. Results
are pickled, so they come back exactly as computed; a computation that raises stores nothing (the
other worker computes it again and fails the same way). The folder lives in the run's temporary
folder, so a new run never sees the results of an earlier one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def fingerprint(path: Path) -> tuple[str, str]:
    """What a file is, for a result's key: its path and the SHA-256 of its content."""
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


class SharedResults:
    """The results named ``name`` of this test run, shared by its xdist workers."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ...; unset without xdist
        self.folder: Path | None = None
        self._index, self._workers = 0, 1
        if worker is not None:
            self.folder = tmp_path_factory.getbasetemp().parent / "shared" / name
            self.folder.mkdir(parents=True, exist_ok=True)
            self._index = int(worker.removeprefix("gw"))
            self._workers = max(self._index + 1,
                                int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))

    def walk(self, items: Sequence[T]) -> list[T]:
        """``items`` in the order this worker should compute them: worker *k* of *n* starts at
        the *k*-th *n*-th of the list and wraps around, so that workers building one fixture at
        once each start on a share of their own, and a worker alone still computes every item."""
        start = len(items) * self._index // self._workers
        return [*items[start:], *items[:start]]

    def get(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()``'s result, computed once per run for ``key`` (a tuple with a stable
        ``repr``: what is computed and with which options).

        Blocks while another worker computes the same key, then returns what it stored. Safe to
        call from several threads at once for different keys. Without xdist, just ``compute()``.
        """
        if self.folder is None:
            return compute()
        name = hashlib.sha256(repr(key).encode()).hexdigest()
        stored = self.folder / f"{name}.pickle"
        with open(self.folder / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            if stored.exists():
                return pickle.loads(stored.read_bytes())
            value = compute()
            # Renamed into place: a worker killed while writing leaves no half-written result.
            partial = stored.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(value))
            partial.replace(stored)
            return value

    def folder_for(self, name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
        """A folder for files that the shared results refer to (markers, copies, outputs): one
        for the whole run under xdist (create its content inside :meth:`get`, so only one worker
        does), a fresh ``tmp_path_factory.mktemp(name)`` without."""
        if self.folder is None:
            return tmp_path_factory.mktemp(name)
        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        return folder
