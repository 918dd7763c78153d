"""A broker's own configs as DescribeConfigs answers them: read-only, the settings it was
started with.

Kafka lets a running broker's configs be altered (dynamic broker configs); pcmodel's brokers
do not: a broker's settings are the arguments it was made with, every one is described as
``STATIC_BROKER_CONFIG`` and read-only, and an alteration is refused with
:data:`BROKER_CONFIGS_READ_ONLY` (INVALID_REQUEST). The settings that are only topics'
defaults (``min.insync.replicas``, ``unclean.leader.election.enable``,
``log.retention.bytes``) are Kafka's, and ``log.retention.ms`` is pcmodel's ``-1`` (see
:mod:`~pcmodel.topics.topic_configs`). A bound pcmodel leaves unset (``None``:
``group.consumer.max.size``, ``group.max.size``) is described as Kafka's default,
2147483647, which means the same: no bound.

Prior art: Kafka's ``ConfigHelper.describeConfigs`` for a ``BROKER`` resource.
"""

from __future__ import annotations

from typing import NamedTuple

from pcmodel.topics.broker_checks import INT32_MAX
from pcmodel.topics.config_resources import ConfigEntry, ConfigSource, ConfigSynonym, ConfigType
from pcmodel.topics.group_configs import consumer_group_bounds
from pcmodel.topics.topic_configs import BROKER_RETENTION_MS, TOPIC_CONFIGS

__all__ = ["BROKER_CONFIGS_READ_ONLY", "ConsumerGroupConfigs", "broker_config_entries"]

#: Kafka's default for a bound that is not set (``GROUP_MAX_SIZE_DEFAULT`` and
#: ``CONSUMER_GROUP_MAX_SIZE_DEFAULT`` are ``Integer.MAX_VALUE``).
_NO_BOUND = INT32_MAX

#: Why an alteration of a broker's configs is refused (INVALID_REQUEST).
BROKER_CONFIGS_READ_ONLY = ("a broker's configs are read-only: they are the settings it was "
                            "started with")

_T = ConfigType
#: The broker settings DescribeConfigs shows for a broker, and their types.
_BROKER_CONFIG_TYPES = {
    "auto.create.topics.enable": _T.BOOLEAN,
    "auto.leader.rebalance.enable": _T.BOOLEAN,
    "broker.id": _T.INT,
    "default.replication.factor": _T.INT,
    "group.consumer.heartbeat.interval.ms": _T.INT,
    "group.consumer.max.heartbeat.interval.ms": _T.INT,
    "group.consumer.max.session.timeout.ms": _T.INT,
    "group.consumer.max.size": _T.INT,
    "group.consumer.migration.policy": _T.STRING,
    "group.consumer.min.heartbeat.interval.ms": _T.INT,
    "group.consumer.min.session.timeout.ms": _T.INT,
    "group.consumer.session.timeout.ms": _T.INT,
    "group.initial.rebalance.delay.ms": _T.INT,
    "group.max.session.timeout.ms": _T.INT,
    "group.max.size": _T.INT,
    "group.min.session.timeout.ms": _T.INT,
    "leader.imbalance.check.interval.seconds": _T.LONG,
    "log.retention.bytes": _T.LONG,
    "log.retention.ms": _T.LONG,
    "min.insync.replicas": _T.INT,
    "num.partitions": _T.INT,
    "offset.metadata.max.bytes": _T.INT,
    "offsets.retention.check.interval.ms": _T.LONG,
    "offsets.retention.minutes": _T.INT,
    "producer.id.expiration.ms": _T.INT,
    "transaction.max.timeout.ms": _T.INT,
    "transactional.id.expiration.ms": _T.INT,
    "unclean.leader.election.enable": _T.BOOLEAN,
}


class ConsumerGroupConfigs(NamedTuple):
    """The settings of a broker that serves Kafka 4's consumer groups (a lone broker, or
    every broker of a cluster), by their Python names; ``None`` is no bound."""

    group_consumer_session_timeout_ms: int
    group_consumer_heartbeat_interval_ms: int
    group_consumer_max_size: int | None
    group_consumer_migration_policy: str
    #: Kafka's ``group.max.size``.
    group_classic_max_size: int | None


def broker_config_entries(node_id: int, *, num_partitions: int,
                          auto_create_topics_enable: bool, default_replication_factor: int,
                          group_initial_rebalance_delay_ms: int,
                          offsets_retention_minutes: int,
                          offsets_retention_check_interval_ms: int,
                          offset_metadata_max_bytes: int,
                          producer_id_expiration_ms: int,
                          session_timeout_bounds: tuple[int, int],
                          leader_balancing: tuple[bool, int] | None = None,
                          transactions: tuple[int, int] | None = None,
                          consumer_groups: ConsumerGroupConfigs | None = None,
                          ) -> list[ConfigEntry]:
    """A broker's settings as DescribeConfigs answers them, in name order: read-only, from
    its static configuration (the arguments it was made with); the rest are Kafka's
    defaults for the topics (``min.insync.replicas``, ``unclean.leader.election.enable``,
    ``log.retention.bytes``) and pcmodel's ``log.retention.ms`` of ``-1``.
    ``session_timeout_bounds`` are ``group.min.session.timeout.ms`` and
    ``group.max.session.timeout.ms``, the session timeouts a classic group's member may ask for.
    ``leader_balancing``, a cluster's (``auto.leader.rebalance.enable``,
    ``leader.imbalance.check.interval.seconds``), is listed where given, and so is
    ``transactions``, a transaction coordinator's (``transaction.max.timeout.ms``,
    ``transactional.id.expiration.ms``), and ``consumer_groups``, a broker's that serves
    Kafka 4's consumer groups (``group.consumer.session.timeout.ms``,
    ``group.consumer.heartbeat.interval.ms``, ``group.consumer.max.size``,
    ``group.consumer.migration.policy`` and ``group.max.size``, and the bounds of a group's
    configs, ``group.consumer.min/max.session.timeout.ms`` and
    ``group.consumer.min/max.heartbeat.interval.ms``: Kafka's defaults widened to take in the
    broker's own settings, as :mod:`~pcmodel.topics.group_configs` applies them)."""
    values = {
        "auto.create.topics.enable": "true" if auto_create_topics_enable else "false",
        "broker.id": str(node_id),
        "default.replication.factor": str(default_replication_factor),
        "group.initial.rebalance.delay.ms": str(group_initial_rebalance_delay_ms),
        "group.min.session.timeout.ms": str(session_timeout_bounds[0]),
        "group.max.session.timeout.ms": str(session_timeout_bounds[1]),
        "log.retention.bytes": TOPIC_CONFIGS["retention.bytes"].default,
        "log.retention.ms": BROKER_RETENTION_MS,
        "min.insync.replicas": TOPIC_CONFIGS["min.insync.replicas"].default,
        "num.partitions": str(num_partitions),
        "offset.metadata.max.bytes": str(offset_metadata_max_bytes),
        "offsets.retention.check.interval.ms": str(offsets_retention_check_interval_ms),
        "offsets.retention.minutes": str(offsets_retention_minutes),
        "producer.id.expiration.ms": str(producer_id_expiration_ms),
        "unclean.leader.election.enable":
            TOPIC_CONFIGS["unclean.leader.election.enable"].default,
    }
    if leader_balancing is not None:
        enabled, interval = leader_balancing
        values["auto.leader.rebalance.enable"] = "true" if enabled else "false"
        values["leader.imbalance.check.interval.seconds"] = str(interval)
    if transactions is not None:
        values["transaction.max.timeout.ms"] = str(transactions[0])
        values["transactional.id.expiration.ms"] = str(transactions[1])
    if consumer_groups is not None:
        session_ms, heartbeat_ms, consumer_max, policy, classic_max = consumer_groups
        values["group.consumer.session.timeout.ms"] = str(session_ms)
        values["group.consumer.heartbeat.interval.ms"] = str(heartbeat_ms)
        values["group.consumer.max.size"] = str(consumer_max or _NO_BOUND)
        values["group.consumer.migration.policy"] = policy
        values["group.max.size"] = str(classic_max or _NO_BOUND)
        values.update((name, str(bound)) for name, bound
                      in consumer_group_bounds(session_ms, heartbeat_ms).items())
    source = ConfigSource.STATIC_BROKER_CONFIG
    return [ConfigEntry(name, value, source, True, False, _BROKER_CONFIG_TYPES[name],
                        (ConfigSynonym(name, value, source),),
                        "Set when the broker starts; it cannot be altered while it runs.")
            for name, value in sorted(values.items())]
