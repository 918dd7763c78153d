"""Factories captured at definition time, made to look ``threading`` up when they are called.

The scheduler controls a program by replacing threading's factories (``threading.Lock``,
``threading.Semaphore``, ...) for the duration of a run, and the names a module bound at import
(``from threading import Lock``: :mod:`pcmodel.sched.patching`). A factory captured when a
function or a class was defined is neither: a dataclass field's
``default_factory=threading.Lock``, a default argument ``lock_type=threading.Lock``, a class
attribute ``semaphore = threading.Semaphore``, a factory a closure holds. A run would build a real
primitive it cannot see, and a correct buffer would fail (a controlled ``Condition`` refuses a
real lock). :func:`rebind_captured_factories` replaces such captured factories, in the functions
and classes a module defines (never a library's), by one that calls threading's factory of the
same name when it is called: inside a run it builds the controlled object, outside one the real
object, exactly as before, so the change is made once and kept. The graders' probes use
:func:`replace_captured_factories` to put their own wrappers there
(:mod:`pcmodel.grading.probes`).

A class built *on* a primitive (``class Gate(threading.Condition)``) captured the real class as
its base when it was defined. :func:`rebase_primitive_subclasses` gives such classes another
base for a while (a run: the controlled class; the graders' probes: their wrapper), and
:func:`restore_bases` gives the old one back; the class's own methods stay as written, and
``super()`` reaches the new base.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "rebase_primitive_subclasses",
    "rebind_captured_factories",
    "replace_captured_factories",
    "restore_bases",
]

_FACTORIES = ("Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event")
# threading's own factories, as they were when this module was imported (before any run or
# probe replaced them).
_REAL = {name: getattr(threading, name) for name in _FACTORIES}


def _late(name: str) -> Callable[..., Any]:
    def factory(*args: Any, **kwargs: Any) -> Any:
        return getattr(threading, name)(*args, **kwargs)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"threading.{name}, looked up when called"
    factory.late_factory = name  # type: ignore[attr-defined]
    return factory


def _factory_name(value: Any) -> str | None:
    """Which ``threading`` factory ``value`` is (the real one, or one of :func:`_late`'s)."""
    late = getattr(value, "late_factory", None) if isinstance(value, types.FunctionType) \
        else None
    if isinstance(late, str):
        return late
    for name, real in _REAL.items():
        if value is real:
            return name
    return None


def _defined_in(value: Any, module: types.ModuleType) -> bool:
    """Whether the function or class ``value`` was defined by ``module``. A class whose
    ``__module__`` cannot even be read (a metaclass's own business) counts as not defined
    there: it is left alone."""
    try:
        return bool(value.__module__ == module.__name__)
    except Exception:  # noqa: BLE001 - any failure to answer means "not the student's"
        return False


def _functions(module: types.ModuleType) -> Iterator[types.FunctionType]:
    """The functions ``module`` defines: at its top level and in its classes (methods, static
    and class methods, properties), nested classes included."""
    seen: set[int] = set()
    pending: list[Any] = list(vars(module).values())
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, (staticmethod, classmethod)):
            pending.append(value.__func__)
        elif isinstance(value, property):
            pending.extend(f for f in (value.fget, value.fset, value.fdel) if f is not None)
        elif isinstance(value, types.FunctionType):
            if _defined_in(value, module):
                yield value
        elif isinstance(value, type) and _defined_in(value, module):
            pending.extend(vars(value).values())


def rebind_captured_factories(module: types.ModuleType) -> int:
    """Replace every ``threading`` factory captured by a function or class that ``module``
    defines (closure cells, default arguments, class attributes, dataclass fields'
    ``default_factory``) by one looked up in ``threading`` at call time; return how many were
    replaced. Only the student's own functions and classes are touched, never a library's."""
    return replace_captured_factories(module, _late)


def replace_captured_factories(module: types.ModuleType,
                               replacement: Callable[[str], Any]) -> int:
    """Replace each factory captured by ``module``'s own functions and classes (see
    :func:`rebind_captured_factories`) by ``replacement(name)``, ``name`` being "Lock",
    "Semaphore", ...; return how many were replaced."""

    def swap(value: Any) -> Any:
        name = _factory_name(value)
        return None if name is None else replacement(name)

    replaced = 0
    for fn in list(_functions(module)):
        for cell in fn.__closure__ or ():
            try:
                new = swap(cell.cell_contents)
            except ValueError:  # an empty cell
                continue
            if new is not None:
                cell.cell_contents = new
                replaced += 1
        if fn.__defaults__:
            news = [swap(v) for v in fn.__defaults__]
            if any(n is not None for n in news):
                fn.__defaults__ = tuple(v if n is None else n
                                        for v, n in zip(fn.__defaults__, news))
                replaced += sum(n is not None for n in news)
        for key, value in (fn.__kwdefaults__ or {}).items():
            new = swap(value)
            if new is not None:
                fn.__kwdefaults__[key] = new
                replaced += 1
    for cls in _classes(module):
        for attr, value in list(vars(cls).items()):
            new = swap(value)
            if new is None:
                continue
            try:  # a function kept as a class attribute would be bound as a method
                setattr(cls, attr, staticmethod(new)
                        if isinstance(new, types.FunctionType) else new)
            except (TypeError, AttributeError):  # a metaclass that refuses: left as it is
                continue
            replaced += 1
        fields = vars(cls).get("__dataclass_fields__")
        for field in fields.values() if isinstance(fields, dict) else ():
            new = swap(getattr(field, "default_factory", None))
            if new is not None:
                field.default_factory = new  # what dataclasses.fields() shows from now on
    return replaced


def _classes(module: types.ModuleType) -> Iterator[type]:
    """The classes ``module`` defines, nested ones included."""
    pending = [v for v in vars(module).values() if isinstance(v, type)]
    seen: set[int] = set()
    while pending:
        cls = pending.pop()
        if id(cls) in seen or not _defined_in(cls, module):
            continue
        seen.add(id(cls))
        yield cls
        pending.extend(v for v in vars(cls).values() if isinstance(v, type))


#: The primitives that are classes, which a module can subclass.
SUBCLASSABLE = ("Condition", "Semaphore", "BoundedSemaphore")


def rebase_primitive_subclasses(module: types.ModuleType,
                                bases: dict[str, type]) -> list[tuple[type, tuple[type, ...]]]:
    """Give every class ``module`` defined directly on top of a ``threading`` primitive class
    (or on a replacement of one: a class whose ``_primitive_kind`` names the primitive) the
    replacement ``bases[kind]`` as its base instead. Returns ``(class, old bases)`` for each
    class changed, to undo it with :func:`restore_bases`."""
    real = {id(_REAL[kind]): kind for kind in SUBCLASSABLE}
    changed = []
    for value in list(vars(module).values()):
        if not isinstance(value, type) or value.__module__ != module.__name__:
            continue
        kinds = [real.get(id(base)) or getattr(base, "_primitive_kind", None)
                 for base in value.__bases__]
        if any(kind in bases for kind in kinds):
            changed.append((value, value.__bases__))
            value.__bases__ = tuple(bases.get(kind, base)  # type: ignore[arg-type]
                                    for base, kind in zip(value.__bases__, kinds))
    return changed


def restore_bases(changed: list[tuple[type, tuple[type, ...]]]) -> None:
    """Undo :func:`rebase_primitive_subclasses`."""
    for cls, old in reversed(changed):
        cls.__bases__ = old
