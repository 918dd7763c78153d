"""What a run is told about the program: files for line-level scheduling, modules to re-bind.

Guarantees: ``trace_files`` returns real paths of existing files, or raises ``ValueError``
saying which target has no source file (pass its path instead); ``modules_of`` returns each
module once, in the order of the targets, skipping paths (a module loaded from a path and not
registered in ``sys.modules`` is found through its functions, as a :class:`ModuleNamespace`);
``real_path`` is ``os.path.realpath``.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from types import FunctionType, MethodType, ModuleType
from typing import Any

__all__ = ["ModuleNamespace", "modules_of", "real_path", "trace_files"]


def real_path(filename: str) -> str:
    """``os.path.realpath(filename)``, remembered for the rest of the process.

    The line tracer asks which file every call of a managed thread enters, in every schedule:
    thousands of times the same dozen names, and ``realpath`` costs a system call per path
    component, which made it a large share of an exploration's time. Source files do not move
    while a program is explored; a relative name is remembered with the directory it was
    resolved from. A path whose symbolic links are changed later keeps its first answer.
    """
    if not os.path.isabs(filename):
        filename = os.path.join(os.getcwd(), filename)
    return _real_path(filename)


@functools.lru_cache(maxsize=4096)
def _real_path(filename: str) -> str:
    return os.path.realpath(filename)


def _source_file(target: object) -> str | None:
    """The file defining a module, class or function (a class's methods tell where it lives
    when its module was loaded from a path and is not in ``sys.modules``)."""
    try:
        path = inspect.getsourcefile(target)  # type: ignore[arg-type]
    except TypeError:
        path = None
    if path is None and inspect.isclass(target):
        method = _first_method(target)
        if method is not None:
            return method.__code__.co_filename
    return path


def _first_method(cls: type) -> FunctionType | None:
    """The first function ``cls`` defines (static and class methods unwrapped), or None."""
    for value in vars(cls).values():
        function = getattr(value, "__func__", value)
        if isinstance(function, FunctionType):
            return function
    return None


def trace_files(targets: Sequence[str | ModuleType | type | Callable[..., Any]]) -> list[str]:
    """Source files for line-level scheduling, from paths, modules, classes or functions."""
    files = []
    for target in targets:
        path = os.fspath(target) if isinstance(target, (str, os.PathLike)) else _source_file(target)
        if path is None:
            raise ValueError(
                f"cannot find the source file of {target!r} for line-level scheduling; "
                "pass its path instead"
            )
        if not os.path.exists(path):
            raise ValueError(f"line-level scheduling: no such file {path!r}")
        files.append(real_path(path))
    return files


class ModuleNamespace:
    """Stands in for a module that is not in ``sys.modules`` (a file loaded by path without
    registering it): its attributes are that module's globals, read and written in place.

    A controlled run re-binds the names such a module imported (``from threading import
    Lock``) and restores them after, as for any module; without this its buffer would build
    real locks, block for real, and be reported stuck though correct.
    """

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.__dict__ = namespace  # the globals themselves, not a copy

    def __repr__(self) -> str:
        return f"<globals of module {self.__dict__.get('__name__', '?')!r}>"


def _globals_of(target: object) -> dict[str, Any] | None:
    """The globals of the function, method or class ``target`` (through its first method),
    or None (a class without methods, anything else)."""
    if isinstance(target, MethodType):
        target = target.__func__
    if isinstance(target, type):
        target = _first_method(target)
    if isinstance(target, FunctionType):
        return target.__globals__
    return None


def modules_of(targets: Sequence[object]) -> tuple[ModuleType | ModuleNamespace, ...]:
    """The modules defining ``targets`` (modules, classes, functions; paths are skipped), whose
    names imported from ``threading``/``time`` a controlled run must re-bind."""
    found: list[ModuleType | ModuleNamespace] = []
    namespaces: dict[int, ModuleNamespace] = {}  # one stand-in per module's globals
    for target in targets:
        module: ModuleType | ModuleNamespace | None
        if isinstance(target, (ModuleType, ModuleNamespace)):
            module = target
        elif isinstance(target, (str, os.PathLike)):
            continue
        else:
            inner = getattr(target, "func", target)  # functools.partial
            module = sys.modules.get(getattr(inner, "__module__", None) or "")
            if module is None and not isinstance(inner, (type, FunctionType, MethodType)):
                # An object's class tells where it comes from. A class's or a function's own
                # type (``type``, ``function``) would name ``builtins``, which every schedule
                # would then search for names to re-bind, in vain.
                inner = type(inner)
                module = sys.modules.get(getattr(inner, "__module__", None) or "")
            if module is None:
                namespace = _globals_of(inner)
                if namespace is not None:
                    module = namespaces.setdefault(id(namespace), ModuleNamespace(namespace))
        if module is not None and all(module is not m for m in found):
            found.append(module)
    return tuple(found)
