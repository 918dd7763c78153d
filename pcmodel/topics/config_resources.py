"""Kafka's configuration model: resources, entries, their sources and types, and alterations.

A Kafka *config resource* is a topic, a broker or a group (``ConfigResourceType``); each has
named configs whose *entries* say the value in force, where it comes from (``ConfigSource``:
set on the topic or the group, set in the broker's static configuration, or the default),
whether it can be changed and its type. DescribeConfigs answers entries; AlterConfigs replaces
a resource's whole set of overrides, IncrementalAlterConfigs applies ``AlterConfigOp``
operations to it.

These are the types the broker answers with (:class:`ConfigEntry` pickles, so a broker in
another process answers the same) and the admin client takes (:class:`ConfigResource`), with
kafka-python's names and numbers (they are Kafka's protocol values). Which topic configs exist
and what pcmodel does with each: :mod:`pcmodel.topics.topic_configs`; a group's:
:mod:`pcmodel.topics.group_configs`.

Prior art: Kafka's ``ConfigResource``, ``ConfigEntry.ConfigSource`` and ``AlterConfigOp``
(``org.apache.kafka.clients.admin``), kafka-python's ``kafka.admin`` classes of the same names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any, NamedTuple, TypeVar

from pcmodel.topics.broker_checks import _check_tuples
from pcmodel.topics.errors import InvalidRequestError

__all__ = [
    "AlterConfigOp",
    "ConfigEntry",
    "ConfigFilterType",
    "ConfigResource",
    "ConfigResourceType",
    "ConfigSource",
    "ConfigSynonym",
    "ConfigType",
    "GIVEN_TWICE",
    "checked_operations",
    "enum_member",
    "repeated_resources",
]

#: Kafka's message (INVALID_REQUEST) for every entry of a resource an alteration names more than
#: once (``ConfigAdminManager.preprocess``): which entry should win is unclear, so none does.
GIVEN_TWICE = "Each resource must appear at most once."

_Key = TypeVar("_Key")


class ConfigResourceType(IntEnum):
    """What a config belongs to (Kafka's resource type codes)."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


class ConfigSource(IntEnum):
    """Where a config's value comes from (kafka-python calls it ``ConfigSourceType``)."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    #: Set on a group (Kafka's ``GROUP_CONFIG``; the Java client's ``DYNAMIC_GROUP_CONFIG``).
    DYNAMIC_GROUP_CONFIG = 8

    @property
    def is_modified(self) -> bool:
        """Set on the resource, not taken from a default or the broker's static settings."""
        return self not in (ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
                            ConfigSource.STATIC_BROKER_CONFIG, ConfigSource.DEFAULT_CONFIG)


class ConfigType(IntEnum):
    """A config's data type (DescribeConfigs v3 and later)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class AlterConfigOp(IntEnum):
    """An IncrementalAlterConfigs operation: set a value, delete the override (back to the
    default), or append to / subtract from a list-typed config."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class ConfigFilterType(IntEnum):
    """Which configs ``KafkaAdminClient.describe_configs`` returns: all, the alterable ones,
    those set on the resource (the default), those left at their defaults, or the broker's
    static ones (kafka-python's filter; Kafka answers every config)."""

    ALL = 0
    DYNAMIC = 1
    MODIFIED = 2
    DEFAULT = 3
    STATIC = 4

    def keeps(self, entry: ConfigEntry) -> bool:
        """Whether ``entry`` passes this filter."""
        if self is ConfigFilterType.DYNAMIC:
            return not entry.read_only
        if self is ConfigFilterType.MODIFIED:
            return entry.source.is_modified
        if self is ConfigFilterType.DEFAULT:
            return not entry.source.is_modified
        if self is ConfigFilterType.STATIC:
            return entry.source is ConfigSource.STATIC_BROKER_CONFIG
        return True


class ConfigSynonym(NamedTuple):
    """One level a config's value may come from, most specific first (the topic override,
    then the broker setting it defaults to)."""

    name: str
    value: str | None
    source: ConfigSource


class ConfigEntry(NamedTuple):
    """One config of a resource as DescribeConfigs answers it."""

    name: str
    value: str | None
    source: ConfigSource
    read_only: bool
    sensitive: bool
    config_type: ConfigType
    synonyms: tuple[ConfigSynonym, ...]
    documentation: str


class ConfigResource:
    """A resource and its configs, for the admin client (kafka-python's class).

    ``resource_type`` is a :class:`ConfigResourceType` or its name (``"TOPIC"``, ``"broker"``);
    ``name`` the topic's name, the broker's id or the group's id; ``configs`` the names to describe
    (``None``: all) or, to alter, ``{name: value}`` / ``{name: (AlterConfigOp, value)}``.
    Raises ``ValueError`` for an unknown resource type.
    """

    def __init__(self, resource_type: ConfigResourceType | str | int, name: str | int,
                 configs: Mapping[str, Any] | Iterable[str] | None = None) -> None:
        self.resource_type = enum_member(ConfigResourceType, resource_type,
                                         "config resource type")
        self.name = str(name)
        self.configs = configs

    def __repr__(self) -> str:
        return f"ConfigResource({self.resource_type}, {self.name}, {self.configs})"


def enum_member(enum: type[IntEnum], value: object, what: str) -> Any:
    """``value`` as a member of ``enum``: a member, its name in any case, or its number, as
    kafka-python takes them; ``ValueError`` naming the members otherwise."""
    try:
        if isinstance(value, str):
            return enum[value.upper()]
        if isinstance(value, int) and not isinstance(value, bool):
            return enum(value)
    except (KeyError, ValueError):
        pass
    names = ", ".join(member.name for member in enum)
    raise ValueError(f"unknown {what} {value!r}; one of {names}")


def repeated_resources(keys: Iterable[_Key]) -> set[_Key]:
    """The keys (each a resource's type and name) that ``keys`` holds more than once."""
    seen: set[_Key] = set()
    repeated: set[_Key] = set()
    for key in keys:
        (repeated if key in seen else seen).add(key)
    return repeated


def checked_operations(operations: Iterable[tuple[str, int | AlterConfigOp, Any]], *,
                       incremental: bool) -> list[tuple[str, AlterConfigOp, Any]]:
    """An alteration's ``(config name, operation, value)`` triples, each operation an
    :class:`AlterConfigOp`, checked as Kafka checks any resource's before its own configs':
    ``InvalidRequestError`` for a config named twice, an unknown operation, or an operation
    other than SET in a (non-``incremental``) AlterConfigs; ``TypeError``, before those, for
    ``operations`` that are not a list of such triples (a dict of config values, a bare str)."""
    checked = []
    seen: set[str] = set()
    for name, op, value in _check_tuples("operations", operations, 3,
                                         "(config name, AlterConfigOp, value)"):
        if name in seen:
            raise InvalidRequestError(f"Error due to duplicate config keys: {name}")
        seen.add(name)
        try:
            op = AlterConfigOp(op)
        except ValueError:
            raise InvalidRequestError(f"unknown config operation {op!r} for {name}") from None
        if not incremental and op is not AlterConfigOp.SET:
            raise InvalidRequestError(f"AlterConfigs only sets configs; {op.name} {name} needs "
                                      "IncrementalAlterConfigs")
        checked.append((name, op, value))
    return checked
