"""The configs part of :class:`~pcmodel.topics.admin.KafkaAdminClient`: describing and altering.

``describe_configs``, ``alter_configs`` and ``reset_configs`` take kafka-python 3's
:class:`~pcmodel.topics.config_resources.ConfigResource` lists and answer its dicts::

    admin.alter_configs([ConfigResource("TOPIC", "orders", {"retention.ms": "60000"})])
    admin.describe_configs([ConfigResource("TOPIC", "orders")])
    # {"topic": {"orders": {"retention.ms": {"value": "60000", "read_only": False,
    #     "config_source": "DYNAMIC_TOPIC_CONFIG", ...}}}}

A topic's configs can be altered (what each does: :mod:`pcmodel.topics.topic_configs`), and
so can a group's, Kafka 4's GROUP resource named by a group id, of a group that exists or not
(``consumer.session.timeout.ms`` and ``consumer.heartbeat.interval.ms``:
:mod:`pcmodel.topics.group_configs`)::

    admin.alter_configs([ConfigResource("GROUP", "billing",
                                        {"consumer.session.timeout.ms": "60000"})])

A broker's configs are read-only. Where kafka-python and Kafka's Java client differ, pcmodel
follows Java: describing an unknown topic raises ``UnknownTopicOrPartitionError``
(kafka-python answers an empty dict for it), and ``alter_configs`` without ``incremental``
never adds the other modified configs into the caller's ``ConfigResource`` (kafka-python's
fallback for brokers older than 2.3 writes them there; pcmodel's brokers all take
IncrementalAlterConfigs). A resource given twice in one ``alter_configs`` is altered for
neither entry, as Kafka's broker (and pcmodel's Kafka listener) refuses it.

Prior art: kafka-python's ``kafka/admin/_configs.py`` and the Java ``Admin`` interface
(``describeConfigs``, ``incrementalAlterConfigs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pcmodel.topics.broker_checks import _check_entries
from pcmodel.topics.broker_configs import check_topic_resource
from pcmodel.topics.broker_static_configs import BROKER_CONFIGS_READ_ONLY
from pcmodel.topics.config_resources import (
    GIVEN_TWICE,
    AlterConfigOp,
    ConfigEntry,
    ConfigFilterType,
    ConfigResource,
    ConfigResourceType,
    enum_member,
    repeated_resources,
)
from pcmodel.topics.errors import (
    BrokerResponseError,
    IllegalArgumentError,
    InvalidRequestError,
)
from pcmodel.topics.topic_settings import check_topic_name

__all__ = ["ConfigAdminMixin", "config_dict"]


def config_dict(entry: ConfigEntry, include_synonyms: bool) -> dict[str, Any]:
    """One described config as kafka-python 3 returns it (DescribeConfigs v4's fields, the
    enums by name; no documentation, which kafka-python does not ask for)."""
    return {
        "value": entry.value,
        "read_only": entry.read_only,
        "config_source": entry.source.name,
        "is_sensitive": entry.sensitive,
        "synonyms": [{"name": s.name, "value": s.value, "source": s.source.name}
                     for s in entry.synonyms] if include_synonyms else [],
        "config_type": entry.config_type.name,
        "documentation": None,
    }


def _operations(resource: ConfigResource, incremental: bool) -> list[tuple[str, int, Any]]:
    """``(name, op, value)`` from a resource's ``{name: value}`` / ``{name: (op, value)}``."""
    configs = resource.configs
    if not configs:
        return []
    if not isinstance(configs, Mapping):
        raise TypeError("alter_configs requires configs as a dict of {key: (op, value)} or "
                        f"{{key: value}} (interpreted as SET), found {type(configs)}")
    operations = []
    for name, op_value in configs.items():
        op, value = op_value if isinstance(op_value, tuple) else (AlterConfigOp.SET, op_value)
        op = enum_member(AlterConfigOp, op, "config operation")
        if not incremental and op is not AlterConfigOp.SET:
            raise ValueError(f"Non-incremental AlterConfigsRequest does not support operation "
                             f"{op.name} (SET only)")
        operations.append((name, op, None if op is AlterConfigOp.DELETE else value))
    return operations


def _given_twice() -> InvalidRequestError:
    """Kafka's answer to a resource given more than once in one alteration."""
    return InvalidRequestError(GIVEN_TWICE)


def _check_values(operations: list[tuple[str, AlterConfigOp, Any]]) -> None:
    """Refuse a SET, APPEND or SUBTRACT without a value, every such config named at once, as
    Kafka's broker does before it looks at the resource (``ConfigAdminManager.preprocess``):
    ``InvalidRequestError`` "Null value not supported for : a, b"."""
    unset = [name for name, op, value in operations
             if value is None and op is not AlterConfigOp.DELETE]
    if unset:
        raise InvalidRequestError(f"Null value not supported for : {', '.join(unset)}")


def _unsupported(kind: ConfigResourceType) -> InvalidRequestError:
    return InvalidRequestError(f"config resources of type {kind.name} are not served by "
                               "pcmodel's brokers; TOPIC, BROKER and GROUP are")


def _group_call(conn: Any, method: str) -> Any:
    """The connection's group config ``method``. A connection to a broker in another process
    does not carry group configs: ``InvalidRequestError`` says what to use instead."""
    if not hasattr(conn, method):
        raise InvalidRequestError(
            "config resources of type GROUP are not served through this connection: use an "
            "in-process broker, or a Kafka admin client on the broker's Kafka listener")
    return getattr(conn, method)


class ConfigAdminMixin:
    """Config administration (KafkaAdminClient part: the client provides ``_conn``,
    ``_check_open()`` and ``_replicated()``)."""

    def describe_configs(self, config_resources: Iterable[ConfigResource],
                         include_synonyms: bool = False,
                         config_filter: ConfigFilterType | str | int = "modified",
                         ) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        """The configs of each resource: ``{"topic"|"broker"|"group": {name: {config:
        {...}}}}``.

        A resource's ``configs`` names the configs wanted (``None`` or empty: all, as Kafka's
        ``ConfigHelper`` takes a null or empty key list);
        ``config_filter`` keeps ``"modified"`` ones (set on the resource: the default),
        ``"dynamic"`` (alterable), ``"default"``, ``"static"`` or ``"all"``; synonyms are
        listed only with ``include_synonyms``. A group's configs are described whether the group
        exists or not. Raises ``InvalidTopicError`` for a name no topic may have (``""``
        included), ``UnknownTopicOrPartitionError`` for a topic that does not exist,
        ``IllegalArgumentError`` for an unknown broker id,
        ``InvalidRequestError`` for the group id ``""``,
        ``InvalidRequestError`` for a resource type the broker does not serve, ``ValueError``
        for a broker name that is not an integer or an unknown filter, ``TypeError`` for a
        bare str or an entry that is not a ``ConfigResource`` (pass
        ``[ConfigResource("topic", "orders")]``), before any resource is described.
        """
        self._check_open()
        keep = enum_member(ConfigFilterType, config_filter, "config filter")
        out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        for resource in _check_entries("config_resources", config_resources, ConfigResource):
            wanted = resource.configs
            names = set(wanted) if wanted else None
            out.setdefault(resource.resource_type.name.lower(), {})[resource.name] = {
                entry.name: config_dict(entry, include_synonyms)
                for entry in self._entries(resource)
                if (names is None or entry.name in names) and keep.keeps(entry)
            }
        return out

    def alter_configs(self, config_resources: Iterable[ConfigResource],
                      validate_only: bool = False, raise_on_unknown: bool = True,
                      incremental: bool | None = None) -> dict[str, dict[str, str]]:
        """Alter each resource's configs: ``{"topic"|"group"|"broker": {name: "OK" or the
        error}}``.

        A resource's ``configs`` are ``{config: value}`` (SET) or ``{config: (op, value)}``
        with an :class:`~pcmodel.topics.config_resources.AlterConfigOp` (or its name or number):
        SET, DELETE (back to the default), APPEND and SUBTRACT (list configs). Each resource
        changes all or nothing. A value of ``None`` (other than for DELETE) is refused before
        the resource is looked at, every such config named: ``InvalidRequestError`` "Null
        value not supported for : retention.ms", as Kafka's broker answers. A topic is then
        checked in the order of Kafka's controller: its name (``""``: ``InvalidRequestError``
        "Default topic resources are not allowed.", an illegal one ``InvalidTopicError``), the
        configs, and last whether it exists (a cluster looks that up before the configs). A
        resource given more than once (same type and name) is applied for none of its
        entries: its result is ``InvalidRequestError`` "Each resource must appear at most
        once.", as Kafka's broker answers it.
        ``incremental=False`` (Kafka's older AlterConfigs) takes SETs only and keeps the
        resource's other modified configs; ``validate_only`` checks and changes nothing. With
        ``raise_on_unknown`` a config that cannot be altered there raises ``ValueError``
        before anything is sent; otherwise the broker's error is the resource's result (a
        broker's configs are read-only: a broker resource with no configs is ``"OK"``, one
        with any is refused).
        Raises ``TypeError`` for configs that are not a dict, a bare str given as
        ``config_resources`` or an entry that is not a ``ConfigResource`` (before anything is
        altered), ``ValueError`` for a bad operation.
        """
        self._check_open()
        resources = _check_entries("config_resources", config_resources, ConfigResource)
        if raise_on_unknown:
            self._check_alterable(resources)
        incremental = True if incremental is None else bool(incremental)
        changes = []
        for resource in resources:
            operations = _operations(resource, incremental)
            if not incremental:  # keep what is set and not named, as kafka-python does
                named = {name for name, _, _ in operations}
                operations += [(name, AlterConfigOp.SET, value)
                               for name, value in self._modified(resource).items()
                               if name not in named and value is not None]
            changes.append((resource, operations))
        repeated = repeated_resources((r.resource_type, r.name) for r in resources)
        out: dict[str, dict[str, str]] = {}
        for resource, operations in changes:
            key = (resource.resource_type, resource.name)
            out.setdefault(resource.resource_type.name.lower(), {})[resource.name] = \
                str(_given_twice()) if key in repeated \
                else self._alter(resource, operations, incremental, validate_only)
        return out

    def reset_configs(self, config_resources: Iterable[ConfigResource],
                      validate_only: bool = False, raise_on_unknown: bool = True,
                      incremental: bool | None = None) -> dict[str, dict[str, str]]:
        """Put configs back to their defaults: those a resource names (a list or the keys of a
        dict), or every modified one if it names none. Results and errors as
        :meth:`alter_configs`."""
        self._check_open()
        if incremental is False:
            raise ValueError("reset_configs needs incremental alteration (DELETE); pcmodel's "
                             "brokers all take it: leave incremental=None")
        resources = []
        for resource in _check_entries("config_resources", config_resources, ConfigResource):
            names = list(resource.configs or ()) or list(self._modified(resource))
            resources.append(ConfigResource(resource.resource_type, resource.name,
                                            {name: (AlterConfigOp.DELETE, None)
                                             for name in names}))
        return self.alter_configs(resources, validate_only, raise_on_unknown, True)

    # --- internals ----------------------------------------------------------------------------

    def _entries(self, resource: ConfigResource) -> list[ConfigEntry]:
        kind = resource.resource_type
        if kind is ConfigResourceType.TOPIC:
            check_topic_name(resource.name)  # before the topic is looked up, as Kafka's broker
            return self._conn.describe_topic_configs(resource.name)
        if kind is ConfigResourceType.BROKER:
            return self._conn.describe_broker_configs(self._broker_id(resource.name))
        if kind is ConfigResourceType.GROUP:
            return _group_call(self._conn, "describe_group_configs")(resource.name)
        raise _unsupported(kind)

    def _modified(self, resource: ConfigResource) -> dict[str, str | None]:
        """``{config: value}`` of the configs set on the resource itself."""
        return {entry.name: entry.value for entry in self._entries(resource)
                if entry.source.is_modified}

    def _broker_id(self, name: str) -> int:
        try:
            broker_id = int(name)
        except ValueError:
            raise ValueError("Broker resource names must be an integer or a string "
                             "represented integer") from None
        if not self._replicated() and broker_id != 0:
            raise IllegalArgumentError(f"there is no broker {broker_id}: a lone broker is 0")
        return broker_id

    def _check_alterable(self, resources: list[ConfigResource]) -> None:
        for resource in resources:
            alterable = {entry.name for entry in self._entries(resource) if not entry.read_only}
            unknown = set(resource.configs or ()) - alterable
            if unknown:
                raise ValueError(f"Unrecognized configs: {unknown}")

    def _alter(self, resource: ConfigResource, operations: list, incremental: bool,
               validate_only: bool) -> str:
        """One resource's result: ``"OK"`` or the broker's error, as kafka-python words it."""
        try:
            if resource.resource_type is ConfigResourceType.BROKER:
                self._broker_id(resource.name)  # kafka-python checks the name before sending
            _check_values(operations)
            if resource.resource_type is ConfigResourceType.TOPIC:
                check_topic_resource(resource.name)  # whatever the connection checks
                self._conn.alter_topic_configs(resource.name, operations,
                                               incremental=incremental,
                                               validate_only=validate_only)
            elif resource.resource_type is ConfigResourceType.GROUP:
                _group_call(self._conn, "alter_group_configs")(
                    resource.name, operations, incremental=incremental,
                    validate_only=validate_only)
            elif resource.resource_type is ConfigResourceType.BROKER:
                if operations:  # nothing asked, nothing refused: as Kafka answers
                    raise InvalidRequestError(BROKER_CONFIGS_READ_ONLY)
            else:
                raise _unsupported(resource.resource_type)
        except BrokerResponseError as exc:
            return str(exc)
        return "OK"
