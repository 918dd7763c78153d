"""A buffer whose lock or semaphores come from a factory captured when its class was defined
(a dataclass field's ``default_factory=threading.Lock``, a class attribute
``semaphore = threading.Semaphore``, a default argument) or from ``threading`` imported inside a
function is watched by the probes and scheduled by the schedule search like one that calls
``threading.Lock()`` with ``threading`` imported at the top. The graded proof, correct files of
each shape getting full marks, is ``exercises/alternatives/`` (``dataclass_fields.py``,
``factories_as_class_attributes.py``, ``imports_inside_init.py``); here the two mechanisms are
checked on their own, in this process."""

from __future__ import annotations

import builtins
import threading

from pcmodel.grading.probes import Probe, instrument, load_impl

CAPTURED = '''
import threading
from dataclasses import dataclass, field

def make(lock_type=threading.Lock, *, semaphore=threading.Semaphore):
    return lock_type(), semaphore(0)

@dataclass
class Box:
    condition_type = threading.Condition
    lock: object = field(default_factory=threading.RLock)

    def made(self):
        return self.condition_type(self.lock)
'''

LOCAL_IMPORT = '''
def make():
    import threading
    from threading import Lock
    return threading.Semaphore(0), Lock()
'''


def test_captured_factories_are_looked_up_when_called(tmp_path, monkeypatch):
    from pcmodel.sched.captured import rebind_captured_factories

    path = tmp_path / "captured.py"
    path.write_text(CAPTURED, encoding="utf-8")
    module = load_impl(path, "make", "Box")
    assert rebind_captured_factories(module) == 4  # two defaults, a class attribute, a cell
    for name in ("Lock", "RLock", "Condition", "Semaphore"):
        monkeypatch.setattr(threading, name, lambda *args, name=name: f"controlled {name}")
    assert module.make() == ("controlled Lock", "controlled Semaphore")
    box = module.Box()
    assert box.lock == "controlled RLock"
    assert box.made() == "controlled Condition"
    monkeypatch.undo()
    assert isinstance(module.make()[1], threading.Semaphore)  # the real ones outside a run


def test_probes_see_captured_factories_and_local_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(builtins, "__import__", builtins.__import__)  # restored afterwards
    captured = tmp_path / "captured.py"
    captured.write_text(CAPTURED, encoding="utf-8")
    local = tmp_path / "local.py"
    local.write_text(LOCAL_IMPORT, encoding="utf-8")
    uses = {captured: lambda m: (m.make(), m.Box().made()), local: lambda m: m.make()}
    for path, made in uses.items():
        module = load_impl(path, "make")
        probe = Probe()
        instrument(module, probe)
        made(module)
        assert probe.created["Semaphore"] == 1 and probe.created["Lock"] == 1, (path.name,
                                                                                probe.created)
    assert isinstance(threading.Semaphore(0), threading.Semaphore)  # others' imports untouched
