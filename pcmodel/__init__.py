"""pcmodel: the producer-consumer model, for teaching thread and process concurrency.

Layer 1 is :mod:`pcmodel.buffers` (bounded buffers in three textbook variants, for threads and
processes, instrumented); layer 2 is :mod:`pcmodel.topics` (partitioned topics and consumer groups
with Kafka's semantics); layer 3 is teaching: the runner, charts, notebooks, exercises and grading.

``pcmodel.ShutDown`` is :class:`pcmodel.errors.ShutDown` (``queue.ShutDown`` on Python 3.13 and
later). It is loaded on first use, not here: the ``pcmodel`` console script imports this package
before it can install its Ctrl-C handler (:mod:`pcmodel._console`), and ``pcmodel.errors`` brings
in ``queue`` and ``threading``, which take most of that uncovered moment. So importing the
package itself imports nothing.
"""

__version__ = "0.1.0"

__all__ = ["ShutDown", "__version__"]


def __getattr__(name: str) -> object:
    """``pcmodel.ShutDown`` (also ``from pcmodel import ShutDown``), imported on first use;
    any other missing name raises ``AttributeError`` as for any module."""
    if name == "ShutDown":
        from pcmodel.errors import ShutDown

        globals()["ShutDown"] = ShutDown  # later look-ups find it without calling this again
        return ShutDown
    raise AttributeError(f"module 'pcmodel' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, ``ShutDown`` among them before it is first used."""
    return sorted(set(globals()) | set(__all__))
