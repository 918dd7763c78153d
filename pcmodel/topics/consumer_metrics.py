"""A consumer's metrics: what it has read and committed, and how far behind it is.

:meth:`ConsumerMetricsMixin.metrics` returns a few of Kafka's consumer metrics under
kafka-python's group names (``consumer-fetch-manager-metrics``, ``consumer-coordinator-metrics``)
and the Java client's metric names, as plain numbers:

* ``records-consumed-total`` / ``bytes-consumed-total``: records ``poll()`` returned, and their
  serialized keys' and values' bytes.
* ``fetch-total``: fetch requests the fetcher thread made (each long-polls the broker).
* ``records-lag-max``: the largest lag, in records, of the assigned partitions: high watermark
  (with ``isolation_level="read_committed"``, last stable offset, as the Java client counts it)
  minus position, where both are known; ``nan`` when none is (the Java client's value with
  nothing measured). The Java client reports the largest lag seen at its fetches over the last
  30 seconds; this is the lag at the moment you ask, which is what a lesson watching a slow
  consumer wants.
* ``assigned-partitions``, ``commit-total`` (commits that succeeded: ``commit()``,
  ``commit_async()``, auto-commits) and ``rebalance-total`` (rebalances this member completed).

``metrics(raw=True)`` is kafka-python 3's raw form of the same metrics (see
:mod:`pcmodel.topics.client_metrics`): ``{MetricName: KafkaMetric}``, each tagged with the
consumer's ``client-id`` and reading its count when asked.

:class:`ConsumerMetricsMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`;
the other parts count with :meth:`_tally` (the lock held) into ``_counts``, a ``Counter`` the
consumer makes.
"""

from __future__ import annotations

from collections import Counter

from pcmodel.topics.client_metrics import KafkaMetric, MetricName, raw_metrics

__all__ = ["ConsumerMetricsMixin"]

#: What each metric counts: the Java client's descriptions, by (group, name).
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("consumer-fetch-manager-metrics", "records-consumed-total"):
        "The total number of records consumed",
    ("consumer-fetch-manager-metrics", "bytes-consumed-total"):
        "The total number of bytes consumed",
    ("consumer-fetch-manager-metrics", "fetch-total"): "The total number of fetch requests.",
    ("consumer-fetch-manager-metrics", "records-lag-max"):
        "The maximum lag in terms of number of records for any partition",
    ("consumer-coordinator-metrics", "assigned-partitions"):
        "The number of partitions currently assigned to this consumer",
    ("consumer-coordinator-metrics", "commit-total"): "The total number of commit calls",
    ("consumer-coordinator-metrics", "rebalance-total"):
        "The total number of rebalance events",
}


class ConsumerMetricsMixin:
    """Counting what the consumer does, and reporting it (consumer part)."""

    def _tally(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``; called with the consumer's lock held."""
        self._counts[name] += amount

    def metrics(self, raw: bool = False
                ) -> dict[str, dict[str, float]] | dict[MetricName, KafkaMetric]:
        """A few of Kafka's consumer metrics, by kafka-python's group names (see the module):
        ``{group: {name: value}}``, or with ``raw=True`` kafka-python's raw form,
        ``{MetricName: KafkaMetric}``, whose metrics read their value when asked.

        Never blocks for long (one hold of the consumer's lock); works after ``close()`` too.
        """
        if raw:
            return raw_metrics(self._metric_values, DESCRIPTIONS, self.config["client_id"])
        return self._metric_values()

    def _metric_values(self) -> dict[str, dict[str, float]]:
        """Every metric's value now, by group and name."""
        read_committed = self.config["isolation_level"] == "read_committed"
        with self._lock:
            counts = Counter(self._counts)
            ends = [(st.last_stable_offset if read_committed else st.high_watermark, st.position)
                    for st in self._states.values()]
            lags = [end - position for end, position in ends
                    if end is not None and end >= 0 and position is not None]
            assigned = len(self._states)
        return {
            "consumer-fetch-manager-metrics": {
                "records-consumed-total": counts["records"],
                "bytes-consumed-total": counts["bytes"],
                "fetch-total": counts["fetches"],
                "records-lag-max": float(max(lags)) if lags else float("nan"),
            },
            "consumer-coordinator-metrics": {
                "assigned-partitions": assigned,
                "commit-total": counts["commits"],
                "rebalance-total": counts["rebalances"],
            },
        }
