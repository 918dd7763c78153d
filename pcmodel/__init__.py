"""pcmodel: the producer-consumer model, for teaching thread and process concurrency.

Layer 1 is :mod:`pcmodel.buffers` (bounded buffers in three textbook variants, for threads and
processes, instrumented); layer 2 is :mod:`pcmodel.topics` (partitioned topics and consumer groups
with Kafka's semantics); layer 3 is teaching: the runner, charts, notebooks, exercises and grading.
"""

from pcmodel.errors import ShutDown

__version__ = "0.1.0"

__all__ = ["ShutDown", "__version__"]
