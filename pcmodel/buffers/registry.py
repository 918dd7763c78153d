"""Which backend a buffer runs on: ``"thread"``, ``"process"``, or a :class:`Backend` instance."""

from __future__ import annotations

from typing import Any

from pcmodel.buffers.backends import BACKENDS, Backend, ThreadBackend
from pcmodel.buffers.processes import ProcessBackend

__all__ = ["get_backend"]

# ProcessBackend's keyword arguments (item_size= only to say that it is gone).
_PROCESS_OPTIONS = frozenset({"context", "ring_size", "item_size"})


def get_backend(backend: str | Backend, **options: Any) -> Backend:
    """Return a backend instance for a name in ``BACKENDS`` (or the instance itself).

    Options are the backend's own: the process backend takes ``context`` (a multiprocessing
    context) and ``ring_size`` (bytes of shared memory for items in transit); the thread backend
    takes none. Raises ValueError for an unknown name, TypeError for options it does not take.
    """
    if isinstance(backend, Backend):
        if options:
            raise TypeError(f"unexpected options {sorted(options)} with a Backend instance")
        return backend
    if backend == "thread":
        unknown = {k: v for k, v in options.items() if v is not None}
        if unknown:
            raise TypeError(
                f"the thread backend takes no options, got {sorted(unknown)}; "
                "context= and ring_size= are for backend='process'"
            )
        return ThreadBackend()
    if backend == "process":
        unknown = sorted(set(options) - _PROCESS_OPTIONS)
        if unknown:
            raise TypeError(f"the process backend takes context= and ring_size=, got {unknown}")
        return ProcessBackend(**options)
    choices = ", ".join(repr(b) for b in BACKENDS)
    raise ValueError(f"unknown backend {backend!r}; choose one of {choices}")
