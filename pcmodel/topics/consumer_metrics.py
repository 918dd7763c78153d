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

:class:`ConsumerMetricsMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`;
the other parts count with :meth:`_tally` (the lock held) into ``_counts``, a ``Counter`` the
consumer makes.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["ConsumerMetricsMixin"]


class ConsumerMetricsMixin:
    """Counting what the consumer does, and reporting it (consumer part)."""

    def _tally(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``; called with the consumer's lock held."""
        self._counts[name] += amount

    def metrics(self) -> dict[str, dict[str, float]]:
        """A few of Kafka's consumer metrics, by kafka-python's group names (see the module).

        Never blocks for long (one hold of the consumer's lock); works after ``close()`` too.
        """
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
