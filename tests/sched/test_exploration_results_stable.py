"""What an exploration finds does not depend on how fast the scheduler finds it.

The explorer re-runs the program once per schedule, so the work repeated per schedule (finding
which files are traced, re-binding modules) is remembered across schedules. These tests pin, for
a few buffers of the exercises, the number of schedules a depth-first exploration takes, the
failure it finds and the decisions and trace of that failure: a change meant to make exploration
cheaper must leave all of them as they are. They also check that the remembered work stays
bounded and correct.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import types

import pytest

from pcmodel.sched import explore
from pcmodel.sched.targets import modules_of, real_path

EXERCISES = pathlib.Path(__file__).resolve().parents[2] / "exercises"

ONE_PRODUCER = {"producers": 1, "consumers": 2, "capacity": 1, "items": 2}
LINES = {"producers": 2, "consumers": 1, "capacity": 2, "items": 2, "lines": True}
ALL_LINES = {"producers": 2, "consumers": 1, "capacity": 2, "items": 1, "lines": "all"}


def load(relative: str) -> type:
    """The BoundedBuffer of an exercise file, loaded from its path (not put in sys.modules)."""
    path = EXERCISES / relative
    spec = importlib.util.spec_from_file_location(f"stable_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BoundedBuffer


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("relative", "config", "schedules"),
    [
        ("01_condition_buffer/solution.py", ONE_PRODUCER, 80),
        ("01_condition_buffer/solution.py", ALL_LINES, 266),
        ("02_semaphore_buffer/solution.py", ONE_PRODUCER, 9),
    ],
    ids=["01-1p2c", "01-all-lines", "02-1p2c"],
)
def test_a_correct_buffer_takes_the_same_number_of_schedules(relative, config, schedules):
    result = explore(load(relative), max_schedules=3000, **config)
    assert result.ok and result.complete, result
    assert result.schedules == schedules


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("relative", "config", "schedules", "kind", "decisions", "events"),
    [
        ("zoo/01_condition_buffer/if_instead_of_while.py", ONE_PRODUCER, 15, "exception",
         (2, 1, 1, 3, 2), 29),
        ("zoo/01_condition_buffer/lost_wakeup_unlocked_check.py", ALL_LINES, 29, "deadlock",
         (1, 3, 0, 2, 0), 29),
        ("zoo/02_semaphore_buffer/missing_mutex.py", ALL_LINES, 19, "invariant",
         (1, 1, 2, 2, 2, 1, 0, 0), 39),
    ],
    ids=["01-if-instead-of-while", "01-lost-wakeup", "02-missing-mutex"],
)
def test_a_buggy_buffer_fails_at_the_same_schedule(
    relative, config, schedules, kind, decisions, events
):
    result = explore(load(relative), max_schedules=3000, **config)
    failure = result.failure
    assert failure is not None, result
    assert (result.schedules, failure.kind.value, failure.decisions, len(failure.trace)) == (
        schedules, kind, decisions, events)
    assert result.replay().events == failure.trace


# The failure of a put() that appends after letting the lock go, found with a scheduling point
# before every line of the buffer's file: (step, thread, what it did).
APPEND_AFTER_RELEASING_LOCK = [
    (1, "main", "start"), (1, "main", "start P1"), (1, "P1", "start"), (1, "P1", "put(1)"),
    (1, "main", "start P2"), (1, "P2", "start"), (1, "P2", "put(3)"), (1, "main", "start C1"),
    (1, "C1", "start"), (1, "C1", "get()"),
    (2, "P1", "acquire _not_empty.lock"), (2, "P1", "release _not_empty.lock"),
    (3, "P2", "acquire _not_empty.lock"), (3, "P2", "release _not_empty.lock"),
    (4, "P2", "L31 self._items.append(item)  # BUG: the room seen above may be taken by now"),
    (5, "P2", "acquire _not_empty.lock"), (5, "P2", "notify _not_empty (no waiter)"),
    (5, "P2", "release _not_empty.lock"), (5, "P2", "put(3) done"), (5, "P2", "put(4)"),
    (6, "P2", "acquire _not_empty.lock"), (6, "P2", "release _not_empty.lock"),
    (7, "P2", "L31 self._items.append(item)  # BUG: the room seen above may be taken by now"),
    (8, "P2", "acquire _not_empty.lock"), (8, "P2", "notify _not_empty (no waiter)"),
    (8, "P2", "release _not_empty.lock"), (8, "P2", "put(4) done"), (8, "P2", "exit"),
    (9, "P1", "L31 self._items.append(item)  # BUG: the room seen above may be taken by now"),
]


@pytest.mark.timeout(120)
def test_a_line_level_race_is_found_with_the_same_trace():
    result = explore(
        load("zoo/01_condition_buffer/append_after_releasing_lock.py"), max_schedules=3000,
        **LINES,
    )
    failure = result.failure
    assert failure is not None, result
    assert result.schedules == 37
    assert failure.decisions == (1, 2, 2, 2, 2, 2, 2, 1)
    assert [(e.step, e.thread, e.text()) for e in failure.trace] == APPEND_AFTER_RELEASING_LOCK
    assert "capacity exceeded: the buffer holds 3 items" in failure.message


@pytest.mark.timeout(120)
def test_traced_files_are_resolved_once_per_file_not_once_per_schedule(monkeypatch):
    calls: list[str] = []
    real = os.path.realpath

    def counting(path, *args, **kwargs):
        calls.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os.path, "realpath", counting)
    result = explore(load("01_condition_buffer/solution.py"), max_schedules=60, **LINES)
    assert result.schedules == 60
    # Each file is resolved at most once in the process (never once per schedule: 60 times).
    assert len(calls) == len(set(calls)), sorted(calls)


def test_a_relative_file_name_is_resolved_from_the_current_directory(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "buffer.py").write_text("")
    monkeypatch.chdir(tmp_path / "a")
    in_a = real_path("buffer.py")
    monkeypatch.chdir(tmp_path / "b")
    in_b = real_path("buffer.py")
    assert in_a == os.path.realpath(tmp_path / "a" / "buffer.py")
    assert in_b == os.path.realpath(tmp_path / "b" / "buffer.py")


def test_a_class_from_a_module_outside_sys_modules_binds_no_module():
    # A module loaded from a path without being registered: its class names no module the
    # run can find. The class's own type (``type``) must not stand in for it: ``builtins``
    # would then be searched for names to re-bind in every schedule.
    module = types.ModuleType("not_registered_anywhere")
    exec("class Buffer:\n    pass\n", module.__dict__)
    assert "not_registered_anywhere" not in sys.modules
    assert modules_of([module.Buffer]) == ()
    assert modules_of([module.Buffer()]) == ()
    assert modules_of([pathlib.Path]) == (sys.modules["pathlib"],)
    # With a method, the class tells its module's globals (and never builtins).
    exec("class Gate:\n    def open(self):\n        pass\n", module.__dict__)
    (found,) = modules_of([module.Gate, module.Gate(), module.Gate().open])
    assert vars(found) is module.__dict__
