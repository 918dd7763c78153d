"""A client's metrics in kafka-python's raw form: ``metrics(raw=True)`` of the consumer and
the producer.

``metrics()`` answers plain numbers, ``{group: {name: value}}``; with ``raw=True`` kafka-python
3 answers ``{MetricName: KafkaMetric}``, and so do pcmodel's clients: each
:class:`MetricName` has its ``name``, ``group``, ``description`` (the Java client's) and
``tags`` (``{"client-id": ...}``, as the Java client tags a client's metrics), and each
:class:`KafkaMetric`'s ``value()`` reads the client's count when called, as kafka-python's
measures then.

Prior art: kafka-python's ``kafka/metrics/metric_name.py`` and ``kafka_metric.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

__all__ = ["KafkaMetric", "MetricName", "raw_metrics"]


class MetricName:
    """A metric's name, group, description and tags: kafka-python's ``MetricName``. Equal (and
    hashing alike) when name, group and tags are; the description does not count."""

    __slots__ = ("_description", "_group", "_name", "_tags")

    def __init__(self, name: str, group: str, description: str | None = None,
                 tags: Mapping[str, str] | None = None) -> None:
        if not (name and group):
            raise ValueError("name and group must be non-empty.")
        if tags is not None and not isinstance(tags, dict):
            raise ValueError("tags must be a dict if present.")
        self._name, self._group, self._description = name, group, description
        self._tags = copy.copy(tags)

    @property
    def name(self) -> str:
        """The metric's name (``"records-consumed-total"``)."""
        return self._name

    @property
    def group(self) -> str:
        """The group it belongs to (``"consumer-fetch-manager-metrics"``)."""
        return self._group

    @property
    def description(self) -> str | None:
        """What it counts."""
        return self._description

    @property
    def tags(self) -> dict[str, str] | None:
        """A copy of its tags (``{"client-id": ...}``)."""
        return copy.copy(self._tags)

    def __hash__(self) -> int:
        return hash((self._group, self._name, frozenset((self._tags or {}).items())))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, MetricName) and (self._group, self._name, self._tags or {})
                == (other._group, other._name, other._tags or {}))

    def __repr__(self) -> str:
        return (f"MetricName(name={self._name!r}, group={self._group!r}, "
                f"description={self._description!r}, tags={self._tags!r})")


class KafkaMetric:
    """One metric of ``metrics(raw=True)``: kafka-python's ``KafkaMetric``; ``value()`` reads
    it now."""

    __slots__ = ("_metric_name", "_read")

    def __init__(self, metric_name: MetricName, read: Callable[[], float]) -> None:
        self._metric_name, self._read = metric_name, read

    @property
    def metric_name(self) -> MetricName:
        """Its :class:`MetricName`."""
        return self._metric_name

    def value(self, time_ms: float | None = None) -> float:
        """Its value now (``time_ms`` is accepted for kafka-python's signature: a count does
        not depend on when it is read)."""
        return self._read()

    def __repr__(self) -> str:
        return f"<KafkaMetric {self._metric_name.group}/{self._metric_name.name}>"


def raw_metrics(read: Callable[[], dict[str, dict[str, float]]],
                descriptions: Mapping[tuple[str, str], str],
                client_id: str) -> dict[MetricName, KafkaMetric]:
    """kafka-python's raw form of a client's metrics: ``{MetricName: KafkaMetric}``, one per
    ``(group, name)`` that ``read()`` reports, tagged with the client's id; each metric calls
    ``read()`` again when its value is asked for. The producer's and the consumer's."""
    tags = {"client-id": client_id}
    found: dict[MetricName, KafkaMetric] = {}
    for group, values in read().items():
        for metric in values:
            name = MetricName(metric, group, descriptions.get((group, metric)), tags)
            found[name] = KafkaMetric(name, lambda g=group, m=metric: read()[g][m])
    return found
