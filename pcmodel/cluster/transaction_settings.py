"""The settings of a cluster's transaction coordinators: Kafka's ``transaction.*`` broker configs.

``Cluster(transaction_settings={...})`` takes them by the keyword names below; each is an int
and at least 1. They apply when the first transactional call creates the coordinators and their
``__transaction_state`` topic (:mod:`pcmodel.cluster.transaction_log`). The two check intervals
are those of the coordinators' timer, on the cluster's clock (:mod:`pcmodel.cluster.driving`).

One place fills in what was not given: :func:`filled_transaction_settings`, which the
coordinators apply and the cluster's broker configs report, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pcmodel.topics.errors import IllegalArgumentError
from pcmodel.topics.transactions import (
    DEFAULT_EXPIRED_ID_CHECK_INTERVAL_MS,
    DEFAULT_TIMED_OUT_CHECK_INTERVAL_MS,
    DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
    DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS,
)

__all__ = [
    "DEFAULT_TRANSACTION_LOG_MIN_ISR", "TRANSACTION_SETTINGS", "TransactionSettings",
    "check_transaction_settings", "filled_transaction_settings",
]

#: Kafka's ``transaction.state.log.min.isr`` default: the transaction log's
#: ``min.insync.replicas``, which a leader caps at the partition's replica count.
DEFAULT_TRANSACTION_LOG_MIN_ISR = 2

#: Each setting's Kafka name and its default (``None``: the cluster's default replication
#: factor).
TRANSACTION_SETTINGS: dict[str, tuple[str, int | None]] = {
    "partitions": ("transaction.state.log.num.partitions", 1),
    "replication_factor": ("transaction.state.log.replication.factor", None),
    "min_insync_replicas": ("transaction.state.log.min.isr", DEFAULT_TRANSACTION_LOG_MIN_ISR),
    "max_timeout_ms": ("transaction.max.timeout.ms", DEFAULT_TRANSACTION_MAX_TIMEOUT_MS),
    "id_expiration_ms": ("transactional.id.expiration.ms",
                         DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS),
    "timed_out_check_interval_ms": (
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        DEFAULT_TIMED_OUT_CHECK_INTERVAL_MS),
    "expired_id_check_interval_ms": (
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        DEFAULT_EXPIRED_ID_CHECK_INTERVAL_MS),
}


def check_transaction_settings(settings: Mapping[str, object] | None) -> dict[str, int]:
    """``settings`` as a plain dict, checked: ``IllegalArgumentError`` for a name not in
    :data:`TRANSACTION_SETTINGS` or a value that is not an int of at least 1, and for
    ``settings`` that are not a mapping of names to values."""
    if settings is not None and not isinstance(settings, Mapping):
        raise IllegalArgumentError(
            "transaction_settings must be a dict of setting names to ints, such as "
            f"{{'max_timeout_ms': 60000}}, got {settings!r}")
    checked: dict[str, int] = {}
    for name, value in (settings or {}).items():
        if name not in TRANSACTION_SETTINGS:
            raise IllegalArgumentError(
                f"transaction_settings has no {name!r}; the settings are "
                f"{sorted(TRANSACTION_SETTINGS)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise IllegalArgumentError(
                f"transaction_settings[{name!r}] must be an int >= 1, got {value!r}")
        checked[name] = value
    return checked


@dataclass(frozen=True)
class TransactionSettings:
    """Every setting of :data:`TRANSACTION_SETTINGS`, as a cluster's coordinators apply it:
    the value given, or Kafka's default (``replication_factor`` ``None``: the cluster's
    default replication factor). Made by :func:`filled_transaction_settings`."""

    partitions: int
    replication_factor: int | None
    min_insync_replicas: int
    max_timeout_ms: int
    id_expiration_ms: int
    timed_out_check_interval_ms: int
    expired_id_check_interval_ms: int


def filled_transaction_settings(given: Mapping[str, object] | None) -> TransactionSettings:
    """``given`` checked as :func:`check_transaction_settings` checks it (and raising as it
    does), with Kafka's default for every setting it leaves out."""
    checked = check_transaction_settings(given)
    return TransactionSettings(**{name: checked.get(name, default)
                                  for name, (_, default) in TRANSACTION_SETTINGS.items()})
