"""The suite's /dev/shm leak check blames only what this test run made.

Another program's entry (unmapped, foreign name) is never blamed; a semaphore named with the
run's prefix, a shared-memory block this process created, and an entry mapped by a child of
this process are.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import uuid
from multiprocessing import shared_memory

import pytest

from tests.conftest import SHM, ours_in_shm

pytestmark = pytest.mark.skipif(not os.path.isdir(SHM), reason="needs Linux's /dev/shm")


@pytest.fixture
def shm_file():
    """Make files in /dev/shm as another program would; remove them afterwards."""
    made = []

    def make(name: str) -> str:
        with open(os.path.join(SHM, name), "wb") as f:
            f.write(b"\0" * 4096)
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            os.unlink(os.path.join(SHM, name))
        except FileNotFoundError:
            pass


def test_another_programs_entry_is_not_blamed(shm_file):
    foreign = shm_file(f"sem.mp-{uuid.uuid4().hex[:8]}")  # the default prefix: not this run's
    assert ours_in_shm({foreign}) == set()


def test_a_semaphore_named_with_this_runs_prefix_is_blamed(shm_file):
    prefix = multiprocessing.current_process()._config["semprefix"].lstrip("/")
    ours = shm_file(f"sem.{prefix}-{uuid.uuid4().hex[:8]}")
    assert ours_in_shm({ours}) == {ours}


def test_shared_memory_this_process_created_is_blamed():
    block = shared_memory.SharedMemory(create=True, size=4096)
    try:
        name = block.name.lstrip("/")
        assert ours_in_shm({name}) == {name}
    finally:
        block.close()
        block.unlink()


def test_an_entry_mapped_by_a_child_of_this_process_is_blamed(shm_file):
    name = shm_file(f"foreign-{uuid.uuid4().hex[:8]}")
    # The child maps the file, says so, and holds it until its stdin closes.
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import mmap, sys\n"
         f"f = open({os.path.join(SHM, name)!r}, 'r+b')\n"
         "m = mmap.mmap(f.fileno(), 4096)\n"
         "print('mapped', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "mapped"
        assert ours_in_shm({name}) == {name}
    finally:
        child.stdin.close()
        child.wait(10)
        child.stdout.close()
    assert ours_in_shm({name}) == set()  # unmapped and foreign-named again: not ours
