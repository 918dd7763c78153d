"""The broker's configs: describing a topic's, a group's or the broker's, altering a topic's
or a group's.

:class:`ConfigsMixin` is the part of :class:`~pcmodel.topics.broker.Broker` behind Kafka's
DescribeConfigs, AlterConfigs and IncrementalAlterConfigs. A topic keeps the configs set on it
(its overrides, in ``_Topic.configs``); an alteration computes the new overrides, checks them
whole, and only then applies them: ``retention.ms`` to every partition log at once (records
already older than the new limit go), ``message.timestamp.type`` to the appends that follow,
the others kept and described. A group's configs (Kafka 4's GROUP resource,
:mod:`pcmodel.topics.group_configs`) are kept by group id in ``_group_configs``, whether the
group exists or not, and read by its consumer group at each heartbeat
(:mod:`pcmodel.topics.broker_consumer_groups`). The broker's own settings
are the arguments it was made with, and read-only. It runs under the broker's one lock.

Prior art: Kafka's ``ConfigAdminManager`` and ``ConfigHelper.describeConfigs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from pcmodel.topics.broker_checks import _check_flag
from pcmodel.topics.broker_static_configs import ConsumerGroupConfigs, broker_config_entries
from pcmodel.topics.config_resources import AlterConfigOp, ConfigEntry
from pcmodel.topics.errors import InvalidConfigurationError, InvalidRequestError
from pcmodel.topics.group_configs import (
    altered_group_overrides,
    check_group_resource,
    describe_group_configs,
    with_group_overrides,
)
from pcmodel.topics.group_offsets import DEFAULT_RETENTION_CHECK_INTERVAL_MS
from pcmodel.topics.log import RetentionPolicy
from pcmodel.topics.log_settings import log_settings
from pcmodel.topics.topic_configs import (
    altered_overrides,
    describe_topic_configs,
    topic_options,
)
from pcmodel.topics.topic_settings import block_policy_conflict, check_topic_name

__all__ = ["ConfigsMixin", "check_topic_resource"]


class ConfigsMixin:
    """Describing and altering configs (Broker part)."""

    #: group id -> the configs set on that group. Replaced whole by an alteration, never
    #: changed in place, so this empty default is never written to.
    _group_configs: Mapping[str, Mapping[str, str]] = MappingProxyType({})

    def describe_group_configs(self, group_id: str) -> list[ConfigEntry]:
        """Every config of group ``group_id``, in name order, whether the group exists or not
        (see :func:`~pcmodel.topics.group_configs.describe_group_configs`): the value set on
        the group, else the broker's setting. Returns at once. Raises
        ``InvalidRequestError`` for ``""``."""
        check_group_resource(group_id)
        with self._lock:
            return describe_group_configs(
                self._group_configs.get(group_id, {}),
                session_ms=self.group_consumer_session_timeout_ms,
                heartbeat_ms=self.group_consumer_heartbeat_interval_ms)

    def alter_group_configs(self, group_id: str,
                            operations: Iterable[tuple[str, int | AlterConfigOp, Any]], *,
                            incremental: bool = True, validate_only: bool = False) -> None:
        """Alter group ``group_id``'s configs (the group need not exist): ``operations`` are
        ``(config, AlterConfigOp, value)``, SET or DELETE; ``incremental=False`` (Kafka's
        AlterConfigs) replaces every override with the SETs given. The group's consumer group
        uses a new ``consumer.session.timeout.ms`` or ``consumer.heartbeat.interval.ms`` from
        each member's next heartbeat on.

        All or nothing: raises ``InvalidRequestError`` (``""``, a config named twice, an
        unknown operation) or ``InvalidConfigurationError`` (see
        :func:`~pcmodel.topics.group_configs.altered_group_overrides`) with nothing changed.
        ``validate_only`` checks and changes nothing. Returns at once. ``TypeError`` for a flag
        that is not a bool.
        """
        _check_flag("incremental", incremental)
        _check_flag("validate_only", validate_only)
        with self._lock:
            self._check_open()
            overrides = altered_group_overrides(
                group_id, self._group_configs.get(group_id, {}), operations,
                incremental=incremental,
                session_ms=self.group_consumer_session_timeout_ms,
                heartbeat_ms=self.group_consumer_heartbeat_interval_ms)
            if validate_only:
                return
            self._group_configs = with_group_overrides(self._group_configs, group_id, overrides)

    def describe_topic_configs(self, name: str) -> list[ConfigEntry]:
        """Every config of topic ``name`` (see
        :func:`~pcmodel.topics.topic_configs.describe_topic_configs`), in name order.
        Raises ``UnknownTopicOrPartitionError`` if there is no such topic."""
        with self._lock:
            return describe_topic_configs(self._topic(name).configs)

    def alter_topic_configs(self, name: str,
                            operations: Iterable[tuple[str, int | AlterConfigOp, Any]], *,
                            incremental: bool = True, validate_only: bool = False) -> None:
        """Alter topic ``name``'s configs: ``operations`` are ``(config, AlterConfigOp,
        value)``; ``incremental=False`` (Kafka's AlterConfigs) replaces every override with
        the SETs given. A new ``retention.ms``, ``retention.bytes`` or ``cleanup.policy``
        applies to the records already there, a new ``message.timestamp.type`` to those
        appended from then on.

        All or nothing, in the order of Kafka's controller (``ConfigurationControlManager``):
        raises for the name as :func:`check_topic_resource`, then ``InvalidRequestError`` or
        ``InvalidConfigurationError`` for the configs (see
        :func:`~pcmodel.topics.topic_configs.altered_overrides`), and only then
        ``UnknownTopicOrPartitionError`` if there is no such topic (a ``"block"`` topic takes
        no ``retention.ms``, ``retention.bytes`` or compaction), with nothing changed.
        ``validate_only`` checks and changes nothing.
        """
        check_topic_resource(name)
        _check_flag("incremental", incremental)
        _check_flag("validate_only", validate_only)
        with self._lock:
            self._check_open()
            topic = self._topics.get(name)
            overrides = altered_overrides({} if topic is None else topic.configs, operations,
                                          incremental=incremental)
            options = topic_options(overrides, replicates=False)
            topic = self._topic(name)  # as Kafka: whether it exists is checked last
            retention_ms, retention_bytes = options.get("retention_ms"), \
                options.get("retention_bytes")
            conflict = block_policy_conflict(options, overrides) \
                if topic.policy is RetentionPolicy.BLOCK else None
            if conflict is not None:
                raise InvalidConfigurationError(
                    f"topic {name!r} has retention_policy='block': {conflict}")
            if validate_only:
                return
            topic.configs = overrides
            topic.retention_ms, topic.retention_bytes = retention_ms, retention_bytes
            settings = log_settings(overrides)
            for log in topic.logs:
                log.retention_ms, log.retention_bytes = retention_ms, retention_bytes
                log.settings = settings
                log.enforce_retention()
            self._data_arrived.notify_all()  # a fetch below the new start learns it now

    def describe_broker_configs(self, broker_id: int = 0) -> list[ConfigEntry]:
        """The broker's settings, read-only, in name order (see
        :func:`~pcmodel.topics.broker_static_configs.broker_config_entries`); ``broker_id`` is the
        node id it is known by (0, unless its Kafka listener advertises another)."""
        return broker_config_entries(
            broker_id, num_partitions=self.num_partitions,
            auto_create_topics_enable=self.auto_create_topics_enable,
            default_replication_factor=1,
            group_initial_rebalance_delay_ms=self.group_initial_rebalance_delay_ms,
            offsets_retention_minutes=self.offsets_retention_minutes,
            offsets_retention_check_interval_ms=self.offsets_retention_check_interval_ms
            or DEFAULT_RETENTION_CHECK_INTERVAL_MS,
            offset_metadata_max_bytes=self.offset_metadata_max_bytes,
            producer_id_expiration_ms=self.producer_id_expiration_ms,
            session_timeout_bounds=(self.group_min_session_timeout_ms,
                                    self.group_max_session_timeout_ms),
            transactions=(self._transactions.max_timeout_ms,
                          self._transactions.id_expiration_ms),
            consumer_groups=ConsumerGroupConfigs(
                self.group_consumer_session_timeout_ms,
                self.group_consumer_heartbeat_interval_ms, self.group_consumer_max_size,
                self.group_consumer_migration_policy, self.group_classic_max_size))


def check_topic_resource(name: str) -> str:
    """``name`` as the TOPIC resource of an alteration, checked as Kafka's controller checks it
    before it looks at the configs or whether the topic exists
    (``ControllerConfigurationValidator.validateTopicName``): ``InvalidRequestError`` "Default
    topic resources are not allowed." for ``""``, else as :func:`check_topic_name`
    (``InvalidTopicError`` for a name no topic may have, ``TypeError`` for one not a str)."""
    if name == "":
        raise InvalidRequestError("Default topic resources are not allowed.")
    return check_topic_name(name)
