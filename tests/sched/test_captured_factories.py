"""Buffers whose primitives were captured when their class was defined (a dataclass field's
``default_factory=threading.Lock``, a default argument, a class attribute) run under the
scheduler's control like any other: a correct one passes, a broken one is caught."""

from __future__ import annotations

import importlib.util
import sys
import threading

import pytest

from pcmodel.sched import explore

pytestmark = pytest.mark.timeout(60)

BUFFER = '''
import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class BoundedBuffer:
    capacity: int
    _items: deque = field(default_factory=deque, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    condition_type = threading.Condition   # a class attribute

    def __post_init__(self, make=threading.Condition):   # a default argument
        self._not_full = make(self._lock)
        self._not_empty = self.condition_type(self._lock)

    def put(self, item):
        with self._not_full:
            while len(self._items) >= self.capacity:
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            {loop} not self._items:
                self._not_empty.wait()
            self._not_full.notify()
            return self._items.popleft()
'''


def load(tmp_path, name: str, loop: str):
    path = tmp_path / f"{name}.py"
    path.write_text(BUFFER.format(loop=loop))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses looks the module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture
def modules(tmp_path):
    loaded = []

    def make(name, loop):
        loaded.append(name)
        return load(tmp_path, name, loop)

    yield make
    for name in loaded:
        sys.modules.pop(name, None)


def test_a_correct_buffer_with_captured_factories_passes(modules):
    module = modules("captured_ok", "while")
    result = explore(module.BoundedBuffer, producers=2, consumers=1, capacity=1, items=2,
                     max_schedules=300)
    assert result.failure is None, result.failure and result.failure.message
    # Outside a run the buffer still builds real primitives.
    buffer = module.BoundedBuffer(1)
    assert type(buffer._lock) is type(threading.Lock())


def test_a_broken_buffer_with_captured_factories_is_caught(modules):
    module = modules("captured_if", "if")  # if instead of while: a lost wake-up's twin
    result = explore(module.BoundedBuffer, producers=1, consumers=2, capacity=1, items=2,
                     max_schedules=2000)
    assert result.failure is not None
    assert "a controlled lock" not in result.failure.message  # a real failure, not ours


SUBCLASS = '''
import threading
from collections import deque


class Predicate(threading.Condition):
    """A condition that knows what it waits for."""

    def __init__(self, lock, test):
        super().__init__(lock)
        self.test = test

    def wait_until_true(self):
        {loop} not self.test():
            self.wait()


class BoundedBuffer:
    def __init__(self, capacity):
        self.capacity = capacity
        self._items = deque()
        lock = threading.Lock()
        self._not_full = Predicate(lock, lambda: len(self._items) < self.capacity)
        self._not_empty = Predicate(lock, lambda: bool(self._items))

    def put(self, item):
        with self._not_full:
            self._not_full.wait_until_true()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            self._not_empty.wait_until_true()
            item = self._items.popleft()
            self._not_full.notify()
            return item
'''


@pytest.mark.parametrize("loop", ["while", "if"])
def test_a_buffer_on_a_subclass_of_condition_runs_controlled(tmp_path, monkeypatch, loop):
    # The subclass took the real Condition as its base when it was defined: a run gives it the
    # controlled one, and gives the real one back after.
    path = tmp_path / f"subclassed_{loop}.py"
    path.write_text(SUBCLASS.format(loop=loop))
    spec = importlib.util.spec_from_file_location(f"subclassed_{loop}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    spec.loader.exec_module(module)
    result = explore(module.BoundedBuffer, producers=1, consumers=2, capacity=1, items=2,
                     max_schedules=2000)
    if loop == "while":
        assert result.failure is None, result.failure and result.failure.message
    else:  # if instead of while: caught as a buffer bug, not as a real primitive in a run
        assert result.failure is not None
        assert "stuck" not in result.failure.kind.value
    assert module.Predicate.__bases__ == (threading.Condition,)
