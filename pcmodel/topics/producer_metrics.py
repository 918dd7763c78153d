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

``metrics(raw=True)`` is kafka-python 3's raw form of the same metrics, ``{MetricName:
KafkaMetric}`` (:mod:`pcmodel.topics.client_metrics`): each named by group,
name and ``{"client-id": ...}`` tag, each reading its value when asked.

:class:`ProducerMetricsMixin` is one part of :class:`~pcmodel.topics.producer.KafkaProducer`;
the sender and the accumulator count into ``_counts`` (the lock held), a dict the producer
makes.
"""

from __future__ import annotations

from typing import Any

from pcmodel.topics.client_metrics import KafkaMetric, MetricName, raw_metrics

__all__ = ["ProducerMetricsMixin"]

#: What each metric counts: the Java client's descriptions, by (group, name).
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("producer-metrics", "record-send-total"): "The total number of records sent.",
    ("producer-metrics", "record-error-total"):
        "The total number of record sends that resulted in errors",
    ("producer-metrics", "request-total"): "The total number of requests sent",
    ("producer-metrics", "records-per-request-avg"):
        "The average number of records per request.",
    ("producer-metrics", "buffer-total-bytes"):
        "The maximum amount of buffer memory the client can use (whether or not it is "
        "currently used).",
    ("producer-metrics", "buffer-available-bytes"):
        "The total amount of buffer memory that is not being used (either unallocated or in "
        "the free list).",
    ("producer-metrics", "bufferpool-wait-time-total"):
        "The total time an appender waits for space allocation.",
}


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

    def metrics(self, raw: bool = False
                ) -> dict[str, dict[str, float]] | dict[MetricName, KafkaMetric]:
        """A few of Kafka's producer metrics, under kafka-python's group name (see the
        module): ``{group: {name: value}}``, or with ``raw=True`` kafka-python's raw form,
        ``{MetricName: KafkaMetric}``. Returns at once."""
        if raw:
            return raw_metrics(self._metric_values, DESCRIPTIONS, self.config["client_id"])
        return self._metric_values()

    def _metric_values(self) -> dict[str, dict[str, float]]:
        """Every metric's value now, by group and name."""
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
