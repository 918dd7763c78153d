"""Names imported from threading and time at import are controlled like module attributes.

A buffer written ``from threading import Lock, Condition`` binds the real classes in its own
module; the scheduler must re-bind them for a run (and restore them after), or the buffer's locks
block for real and a correct buffer is reported as stuck.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import threading
import time

import pytest

from pcmodel.sched import FailureKind, explore

CORRECT = """
    from threading import Lock, Condition
    from collections import deque
    from time import sleep, monotonic

    class BoundedBuffer:
        def __init__(self, capacity):
            self.capacity = capacity
            self.items = deque()
            self.cv = Condition(Lock())

        def put(self, item):
            with self.cv:
                self.cv.wait_for(lambda: len(self.items) < self.capacity)
                self.items.append(item)
                self.cv.notify_all()

        def get(self):
            with self.cv:
                self.cv.wait_for(lambda: self.items)
                item = self.items.popleft()
                self.cv.notify_all()
                return item
"""

# The same monitor with a single notify(): the OSTEP deadlock, which needs the scheduler to
# control the imported names to be found at all.
BUGGY = CORRECT.replace("self.cv.notify_all()", "self.cv.notify()")

# Polls with an imported sleep: found as polling only if that sleep is the virtual one.
POLLING = """
    import threading as th
    from time import sleep

    class BoundedBuffer:
        def __init__(self, capacity):
            self.capacity = capacity
            self.items = []
            self.mutex = th.Lock()

        def put(self, item):
            while True:
                with self.mutex:
                    if len(self.items) < self.capacity:
                        self.items.append(item)
                        return
                sleep(0.01)

        def get(self):
            while True:
                with self.mutex:
                    if self.items:
                        return self.items.pop(0)
                sleep(0.01)
"""


def _load(tmp_path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"binding_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(60)
def test_imported_names_are_controlled_and_restored(tmp_path):
    module = _load(tmp_path, "correct", CORRECT)
    for config in ({"producers": 1, "consumers": 2, "capacity": 1, "items": 2},
                   {"producers": 2, "consumers": 1, "capacity": 2, "items": 1, "lines": True}):
        result = explore(module.BoundedBuffer, max_schedules=500, preemption_bound=1, **config)
        assert result.passed, str(result)
    # Restored after the runs: the module sees the real primitives again.
    assert module.Lock is threading.Lock and module.Condition is threading.Condition
    assert module.sleep is time.sleep and module.monotonic is time.monotonic


@pytest.mark.timeout(60)
def test_bug_behind_imported_names_is_found(tmp_path):
    module = _load(tmp_path, "buggy", BUGGY)
    result = explore(module.BoundedBuffer, producers=1, consumers=2, capacity=1, items=2,
                     max_schedules=500)
    assert result.failure is not None and result.failure.kind is FailureKind.DEADLOCK


@pytest.mark.timeout(60)
def test_imported_sleep_runs_on_the_virtual_clock(tmp_path):
    module = _load(tmp_path, "polling", POLLING)
    started = time.monotonic()
    result = explore(module.BoundedBuffer, producers=1, consumers=2, capacity=1, items=2,
                     max_schedules=50)
    assert result.failure is not None and result.failure.kind is FailureKind.POLLING
    assert time.monotonic() - started < 30  # virtual naps cost no real time


@pytest.mark.timeout(60)
def test_imported_names_are_controlled_in_a_module_not_registered(tmp_path):
    # Loaded by path without an entry in sys.modules, as a notebook may load a student's
    # file: the class names no module the run can look up, so its globals are re-bound in
    # place (found through its methods). It was reported stuck: its Lock blocked for real.
    path = tmp_path / "unregistered.py"
    path.write_text(textwrap.dedent(CORRECT), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("binding_unregistered", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert spec.name not in sys.modules
    result = explore(module.BoundedBuffer, producers=1, consumers=2, capacity=1, items=2,
                     max_schedules=500, preemption_bound=1, step_timeout=5.0)
    assert result.passed, str(result)
    assert module.Lock is threading.Lock and module.Condition is threading.Condition
    buggy = tmp_path / "unregistered_buggy.py"
    buggy.write_text(textwrap.dedent(BUGGY), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("binding_unregistered_buggy", buggy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = explore(module.BoundedBuffer, producers=1, consumers=2, capacity=1, items=2,
                     max_schedules=500, step_timeout=5.0)
    assert result.failure is not None and result.failure.kind is FailureKind.DEADLOCK
