"""Checks of a cluster's arguments: its settings, and the flags of its calls.

Each refuses a wrong value in one line that names the argument and what it takes, before
anything changes: ``IllegalArgumentError`` for a setting of
:class:`~pcmodel.cluster.cluster.Cluster` out of its range, ``TypeError`` for a flag that is
not ``True`` or ``False`` (any other value would be taken for its truth: ``whole_batches="no"``
as yes).
"""

from __future__ import annotations

from collections.abc import Mapping

from pcmodel.topics.broker_checks import INT32_MAX
from pcmodel.topics.errors import IllegalArgumentError

__all__ = ["MODES", "check_cluster_settings", "check_default_replication_factor"]

#: How a cluster's brokers run (see :mod:`pcmodel.cluster.cluster`).
MODES = ("threads", "steps", "processes")


def check_cluster_settings(brokers: object, mode: object, counts: Mapping[str, object],
                           offset_metadata_max_bytes: object,
                           auto_leader_rebalance_enable: object) -> None:
    """Raise ``IllegalArgumentError`` for the first of a cluster's settings that is wrong, in
    this order: ``brokers`` an int >= 1, ``mode`` one of :data:`MODES`, each of ``counts``
    (its name to its value: milliseconds, minutes, seconds) an int >= 1,
    ``offset_metadata_max_bytes`` an int a Java int holds (Kafka's
    ``offset.metadata.max.bytes``), ``auto_leader_rebalance_enable`` ``True`` or ``False``."""
    if isinstance(brokers, bool) or not isinstance(brokers, int) or brokers < 1:
        raise IllegalArgumentError(f"brokers must be an int >= 1, got {brokers!r}")
    if mode not in MODES:
        raise IllegalArgumentError(f"mode must be one of {MODES}, got {mode!r}")
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise IllegalArgumentError(f"{name} must be an int >= 1, got {value!r}")
    if isinstance(offset_metadata_max_bytes, bool) \
            or not isinstance(offset_metadata_max_bytes, int) \
            or not -INT32_MAX - 1 <= offset_metadata_max_bytes <= INT32_MAX:
        raise IllegalArgumentError("offset_metadata_max_bytes must be an int, got "
                                   f"{offset_metadata_max_bytes!r}")
    if not isinstance(auto_leader_rebalance_enable, bool):
        raise IllegalArgumentError("auto_leader_rebalance_enable must be True or False, got "
                                   f"{auto_leader_rebalance_enable!r}")


def check_default_replication_factor(value: object, brokers: int) -> int:
    """A cluster's ``default_replication_factor``: ``min(3, brokers)`` for ``None``, else
    ``value`` itself if it is an int from 1 to ``brokers``; ``IllegalArgumentError`` if not."""
    if value is None:
        return min(3, brokers)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= brokers:
        raise IllegalArgumentError(
            f"default_replication_factor must be an int between 1 and the {brokers} "
            f"brokers, got {value!r}")
    return value
