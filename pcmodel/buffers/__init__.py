"""Layer 1: bounded buffers, each a textbook algorithm, for threads and for processes.

>>> from pcmodel.buffers import make_buffer
>>> buf = make_buffer("condition", 8)          # or "semaphore", "queue"; backend="process"
>>> buf.put("item"); buf.get()
'item'

Every buffer is a drop-in for ``queue.Queue`` (``put/get(block, timeout)``, ``*_nowait``,
``qsize/empty/full``, ``task_done/join``, ``maxsize``; ``queue.Full``/``queue.Empty``), adds
``shutdown(immediate=False)`` with Python 3.13's semantics on every Python, batch operations
``put_many``/``get_many``, and instrumentation (``instrument="counters"`` or ``"timeline"``, read
with ``stats()``).
"""

from __future__ import annotations

from typing import Any

from pcmodel.buffers.backends import BACKENDS, Backend, ThreadBackend
from pcmodel.buffers.base import BatchFull, Buffer
from pcmodel.buffers.condition import ConditionBuffer
from pcmodel.buffers.queued import QueueBuffer
from pcmodel.buffers.registry import get_backend
from pcmodel.buffers.semaphore import SemaphoreBuffer
from pcmodel.errors import BufferBroken, ItemNotPicklable, ItemNotUnpicklable, ShutDown

__all__ = [
    "BACKENDS",
    "VARIANTS",
    "Backend",
    "BatchFull",
    "Buffer",
    "BufferBroken",
    "ConditionBuffer",
    "ItemNotPicklable",
    "ItemNotUnpicklable",
    "QueueBuffer",
    "SemaphoreBuffer",
    "ShutDown",
    "ThreadBackend",
    "get_backend",
    "make_buffer",
]

_CLASSES: dict[str, type[Buffer]] = {
    "condition": ConditionBuffer,
    "semaphore": SemaphoreBuffer,
    "queue": QueueBuffer,
}
VARIANTS: tuple[str, ...] = tuple(_CLASSES)


def make_buffer(variant: str, maxsize: int, backend: str | Backend = "thread",
                **options: Any) -> Buffer:
    """Create a bounded buffer of ``variant`` (one of ``VARIANTS``) on ``backend``.

    ``maxsize <= 0`` means unbounded (thread backend and the process ``queue`` variant only:
    shared memory has a fixed size). Options: ``instrument`` ("off", "counters", "timeline"),
    ``clock``, ``name``; for ``backend="process"`` also ``context`` (a multiprocessing context,
    default: the default one) and ``ring_size`` (bytes of shared memory items travel through,
    and as many again for the arena of large items; default 64 KiB per item of ``maxsize``,
    between 8 MiB and 64 MiB; items of any size pass; the ``queue`` variant, which sends items
    through a pipe, has no ring and ignores it).
    Raises ValueError for an unknown variant or backend, naming the choices; TypeError for an
    option the backend does not take. A process buffer is unusable once closed (see
    :meth:`Buffer.close`).
    """
    try:
        cls = _CLASSES[variant]
    except (KeyError, TypeError):
        choices = ", ".join(repr(v) for v in VARIANTS)
        raise ValueError(f"unknown variant {variant!r}; choose one of {choices}") from None
    return cls(maxsize, backend=backend, **options)
