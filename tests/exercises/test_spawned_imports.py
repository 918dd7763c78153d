"""A process spawned by exercise 04's checks imports the sandbox and its own function, no more.

The spawn check starts seven processes per grading, and each is a fresh interpreter: it runs the
sandbox's start-up file, then imports the module of the function it runs. When that pulled in
the whole grader (the engine, the checks, the controlled scheduler) it cost about twice what
Python and multiprocessing cost alone, in every process of every round. Here each of the three
functions such a process runs is started with the spawn method under the sandbox, around a
spying buffer that reports, from inside the process, the pcmodel modules loaded there and
whether the sandbox's audit hook is in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pcmodel

PACKAGE_ROOT = str(Path(pcmodel.__file__).resolve().parents[1])

# What a spawned process of the checks may load of pcmodel: the package, the sandbox applied
# at start-up, and the module of the function it runs.
ALLOWED = {"pcmodel", "pcmodel.grading", "pcmodel.grading.sandbox",
           "pcmodel.grading.process_workers"}

SPY = '''\
import sys


def seen():
    sandbox = sys.modules.get("pcmodel.grading.sandbox")
    return {"modules": sorted(m for m in sys.modules if m.startswith("pcmodel")),
            "sandboxed": bool(sandbox and sandbox._installed)}


class BoundedBuffer:
    """Not a buffer: each put() reports what this process has loaded, as does get()."""

    def __init__(self, conn):
        self.conn = conn

    def put(self, item):
        self.conn.send(seen())

    def get(self):
        return seen()
'''

PROGRAM = '''\
import json, multiprocessing, sys
from pcmodel.grading import sandbox
from pcmodel.grading.process_workers import (
    producer_main,
    stepped_caller_main,
    waiting_consumer_main,
)

sandbox.configure(sandbox.Policy.for_folders([], None))
sandbox.enter()
sys.path.insert(0, sys.argv[1])
import spy

ctx = multiprocessing.get_context("spawn")
found = {}


def run(name, target, args, talk):
    spy_r, spy_w = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(spy.BoundedBuffer(spy_w), *args), daemon=True)
    proc.start()
    spy_w.close()
    found[name] = talk(spy_r)
    proc.join(30)


def producer(spy_r):
    report = spy_r.recv()
    assert done_r.recv() == ("done", None)
    return report


done_r, done_w = ctx.Pipe(duplex=False)
meter, lock = ctx.Array("q", 5, lock=False), ctx.Lock()
run("producer_main", producer_main, (meter, lock, done_w, [1], None, 0), producer)


def stepped(spy_r):
    assert mine.recv() == ("ready", None)
    mine.send(("put", 1))
    report = spy_r.recv()
    assert mine.recv() == ("done", None)
    mine.send(None)
    return report


mine, theirs = ctx.Pipe()
run("stepped_caller_main", stepped_caller_main, (theirs, "no such file"), stepped)


def waiting(spy_r):
    assert mine.recv() == ("started", None)
    kind, (report, *_) = mine.recv()
    return report


mine, theirs = ctx.Pipe()
run("waiting_consumer_main", waiting_consumer_main, (theirs, "no such file"), waiting)
print(json.dumps(found))
'''


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    """What each spawned process of the checks reported: {function: {modules, sandboxed}}."""
    folder = tmp_path_factory.mktemp("spawned")
    (folder / "spy.py").write_text(SPY)
    path = os.pathsep.join([PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM), str(folder)], capture_output=True,
        text=True, timeout=50, cwd=folder, env=dict(os.environ, PYTHONPATH=path))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


FUNCTIONS = ["producer_main", "stepped_caller_main", "waiting_consumer_main"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_spawned_process_imports_only_the_sandbox_and_its_function(spawned, function):
    extra = sorted(set(spawned[function]["modules"]) - ALLOWED)
    assert extra == [], (
        f"a process spawned to run {function} imports {len(extra)} more pcmodel modules "
        f"({', '.join(extra[:5])}, ...): keep what it runs, and pcmodel.grading's own import, "
        "free of the rest of the grader")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_spawned_process_runs_under_the_sandbox(spawned, function):
    assert spawned[function]["sandboxed"], (
        f"the process spawned to run {function} has no sandbox audit hook")
