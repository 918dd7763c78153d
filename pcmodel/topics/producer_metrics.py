"""A producer's metrics: what it sent, what failed, and how full its accumulator is.

:meth:`ProducerMetricsMixin.metrics` returns a few of Kafka's producer metrics under
kafka-python's group name (``producer-metrics``) and the Java client's metric names, as plain
numbers:

* ``record-send-total`` / ``record-error-total``: records the sender appended, and records
  whose batch failed for good.
* ``request-total``: batches the sender appended (each one call to the broker, its retries
  aside), and ``records-per-request-avg``.
* ``buffer-total-bytes`` / ``buffer-available-bytes``: ``buffer_memory``, and the bytes of the
  accumulator's free slots (``batch_size`` each, as kafka-python's buffer pool counts them).
* ``bufferpool-wait-time-total``: seconds ``send()`` spent waiting for room in the accumulator.

:class:`ProducerMetricsMixin` is one part of :class:`~pcmodel.topics.producer.KafkaProducer`;
the sender and the accumulator count into ``_counts`` (the lock held), a dict the producer
makes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ProducerMetricsMixin"]


class ProducerMetricsMixin:
    """``metrics()`` and ``buffer_stats()`` (KafkaProducer part)."""

    _lock: Any
    _counts: dict[str, float]
    _accumulator: Any
    _batch_size: int
    config: dict[str, Any]

    def buffer_stats(self) -> Any:
        """Statistics of the accumulator buffer (see ``buffer_instrument``)."""
        return self._accumulator.stats()

    def metrics(self) -> dict[str, dict[str, float]]:
        """A few of Kafka's producer metrics, under kafka-python's group name (see the
        module). Returns at once."""
        with self._lock:
            counts = dict(self._counts)
        free = self._accumulator.maxsize - self._accumulator.qsize()
        return {
            "producer-metrics": {
                "record-send-total": counts["records"],
                "record-error-total": counts["errors"],
                "request-total": counts["batches"],
                "records-per-request-avg": counts["records"] / counts["batches"]
                if counts["batches"]
                else 0.0,
                "buffer-total-bytes": self.config["buffer_memory"],
                "buffer-available-bytes": free * self._batch_size,
                "bufferpool-wait-time-total": counts["wait"],
            }
        }
