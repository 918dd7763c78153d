"""Kafka 4's group configs (KIP-848): settings an admin gives one group, over the broker's.

A broker's ``group.consumer.session.timeout.ms`` and ``group.consumer.heartbeat.interval.ms``
apply to every consumer group (:mod:`pcmodel.topics.consumer_group`). Kafka 4 lets an admin
set them for one group: the config resource of type GROUP (32), named by the group id, takes
``consumer.session.timeout.ms`` and ``consumer.heartbeat.interval.ms``. The group's
coordinator tells its members the group's heartbeat interval in their heartbeat answers and
removes a member silent for the group's session timeout, from each member's next heartbeat on
(a session already running keeps the deadline it was given).

As on Kafka, a group's configs do not need the group: they may be described and set for a
group id that has no group (yet), and they stay when the group is deleted. DescribeConfigs of
a group answers every group config, each with the value in force, its source
(``DYNAMIC_GROUP_CONFIG`` when set on the group, otherwise ``DEFAULT_CONFIG`` with the
broker's setting as its value, as Kafka's ``ConfigHelper`` reports it), read-write, type INT.

Kafka's ``GroupConfig`` also lists the share groups' ``share.session.timeout.ms``,
``share.heartbeat.interval.ms`` and ``share.record.lock.duration.ms`` (KIP-932), and Kafka's
DescribeConfigs answers them for every group. pcmodel serves no share groups: it describes
them too, with Kafka's defaults, and checks and keeps a value set on them as Kafka does, but
nothing reads them.

An alteration is checked whole, as Kafka's controller checks it (``GroupConfig.validate``),
before anything changes; a refusal is INVALID_CONFIG (``InvalidConfigurationError``) with
Kafka's message: an unknown config name, a value that is not an int or is below 1 (1000 for
the lock duration), a value outside the broker's bounds, a session timeout not greater than
the heartbeat interval (the group's values, a config not set counting as the broker's).
APPEND and SUBTRACT are refused (no group config is a list). A group id of ``""`` is
INVALID_REQUEST.

The bounds: Kafka's broker has ``group.consumer.min.session.timeout.ms`` (45 s) and
``group.consumer.max.session.timeout.ms`` (60 s), ``group.consumer.min.heartbeat.interval.ms``
(5 s) and ``group.consumer.max.heartbeat.interval.ms`` (15 s), and refuses to start with
settings outside them. pcmodel's brokers take any positive session timeout, so that a test
sees a session end in a second; they have no bound settings, and use Kafka's defaults
widened to take in the broker's own settings (a broker with a 1 s session timeout takes a
group's of 1 s to 60 s). The share configs' bounds are Kafka's defaults.

Prior art: Kafka's ``GroupConfig``, ``GroupConfigManager``,
``ControllerConfigurationValidator`` (type GROUP) and ``ConfigHelper.createGroupConfigEntry``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from pcmodel.topics.broker_checks import INT32_MAX
from pcmodel.topics.config_resources import (
    AlterConfigOp,
    ConfigEntry,
    ConfigSource,
    ConfigSynonym,
    ConfigType,
    checked_operations,
)
from pcmodel.topics.errors import InvalidConfigurationError, InvalidRequestError

__all__ = [
    "CONSUMER_HEARTBEAT_INTERVAL_MS",
    "CONSUMER_SESSION_TIMEOUT_MS",
    "GROUP_CONFIG_NAMES",
    "altered_group_overrides",
    "check_group_resource",
    "consumer_group_bounds",
    "consumer_group_timeouts",
    "describe_group_configs",
    "with_group_overrides",
]

CONSUMER_SESSION_TIMEOUT_MS = "consumer.session.timeout.ms"
CONSUMER_HEARTBEAT_INTERVAL_MS = "consumer.heartbeat.interval.ms"
_SHARE_SESSION_TIMEOUT_MS = "share.session.timeout.ms"
_SHARE_HEARTBEAT_INTERVAL_MS = "share.heartbeat.interval.ms"
_SHARE_RECORD_LOCK_DURATION_MS = "share.record.lock.duration.ms"


class _GroupConfig(NamedTuple):
    """One group config as Kafka's ``GroupConfig`` defines it."""

    #: ConfigDef's ``atLeast``: below it the value is not a valid value at all.
    least: int
    #: Kafka's default broker bounds, and the broker settings that hold them.
    bounds: tuple[int, int]
    bound_names: tuple[str, str]
    documentation: str


#: Every group config, in Kafka's order (which is the order its checks run in).
_CONFIGS: dict[str, _GroupConfig] = {
    CONSUMER_SESSION_TIMEOUT_MS: _GroupConfig(
        1, (45_000, 60_000),
        ("group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"),
        "The timeout to detect client failures when using the consumer group protocol."),
    CONSUMER_HEARTBEAT_INTERVAL_MS: _GroupConfig(
        1, (5_000, 15_000),
        ("group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"),
        "The heartbeat interval given to the members of a consumer group."),
    _SHARE_SESSION_TIMEOUT_MS: _GroupConfig(
        1, (45_000, 60_000),
        ("group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"),
        "The timeout to detect client failures when using the share group protocol. "
        "pcmodel serves no share groups: kept, not used."),
    _SHARE_HEARTBEAT_INTERVAL_MS: _GroupConfig(
        1, (5_000, 15_000),
        ("group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"),
        "The heartbeat interval given to the members of a share group. pcmodel serves no "
        "share groups: kept, not used."),
    _SHARE_RECORD_LOCK_DURATION_MS: _GroupConfig(
        1000, (15_000, 60_000),
        ("group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"),
        "The record acquisition lock duration in milliseconds for share groups. pcmodel "
        "serves no share groups: kept, not used."),
}

#: The group configs' names, in name order (as DescribeConfigs lists them).
GROUP_CONFIG_NAMES: tuple[str, ...] = tuple(sorted(_CONFIGS))

#: Kafka's defaults of the share groups' settings (pcmodel's brokers have none).
_SHARE_DEFAULTS = {_SHARE_SESSION_TIMEOUT_MS: 45_000, _SHARE_HEARTBEAT_INTERVAL_MS: 5_000,
                   _SHARE_RECORD_LOCK_DURATION_MS: 30_000}

#: What Java's ``Integer.parseInt`` takes, once ConfigDef has trimmed the value.
_JAVA_INT = re.compile(r"[+-]?[0-9]+")


def _defaults(session_ms: int, heartbeat_ms: int) -> dict[str, int]:
    """Each group config's value when the group does not set it: the broker's settings."""
    return {CONSUMER_SESSION_TIMEOUT_MS: session_ms,
            CONSUMER_HEARTBEAT_INTERVAL_MS: heartbeat_ms, **_SHARE_DEFAULTS}


def _bounds(name: str, default: int) -> tuple[int, int]:
    """A config's broker bounds: Kafka's defaults, widened to take in the broker's setting."""
    low, high = _CONFIGS[name].bounds
    return min(low, default), max(high, default)


def consumer_group_bounds(session_ms: int, heartbeat_ms: int) -> dict[str, int]:
    """The broker settings that bound a consumer group's configs, by Kafka's names
    (``group.consumer.min.session.timeout.ms``, ``...max.session.timeout.ms``,
    ``...min.heartbeat.interval.ms``, ``...max.heartbeat.interval.ms``), as a broker with the
    session timeout ``session_ms`` and heartbeat interval ``heartbeat_ms`` applies them."""
    bounds = {}
    for name, default in ((CONSUMER_SESSION_TIMEOUT_MS, session_ms),
                          (CONSUMER_HEARTBEAT_INTERVAL_MS, heartbeat_ms)):
        low_name, high_name = _CONFIGS[name].bound_names
        bounds[low_name], bounds[high_name] = _bounds(name, default)
    return bounds


def check_group_resource(group_id: str, *, altered: bool = False) -> str:
    """``group_id`` as a GROUP config resource's name; ``InvalidRequestError`` with Kafka's
    words for ``""`` (DescribeConfigs: ``ConfigHelper``; an alteration:
    ``ControllerConfigurationValidator``). Any other string names a group, existing or not."""
    if not isinstance(group_id, str):
        raise TypeError(f"a group id must be a str, not {type(group_id).__name__}")
    if not group_id:
        raise InvalidRequestError("Default group resources are not allowed." if altered
                                  else "Group name must not be empty")
    return group_id


def _parse(name: str, raw: Any) -> int:
    """Kafka's ``ConfigDef.parse`` of one INT group config: the value, or
    ``InvalidConfigurationError`` with ConfigDef's message."""
    text = str(raw).strip(" \t\n\r\f\v\0")  # Java's trim()
    value = int(text) if _JAVA_INT.fullmatch(text) else None
    if value is None or not -INT32_MAX - 1 <= value <= INT32_MAX:
        raise InvalidConfigurationError(
            f"Invalid value {raw} for configuration {name}: Not a number of type INT")
    if value < _CONFIGS[name].least:
        raise InvalidConfigurationError(f"Invalid value {value} for configuration {name}: "
                                        f"Value must be at least {_CONFIGS[name].least}")
    return value


def _checked(overrides: Mapping[str, Any], defaults: Mapping[str, int]) -> dict[str, str]:
    """Kafka's ``GroupConfigManager.validate`` of a group's whole set of overrides: the
    overrides with their values in Kafka's form (``" +6000"`` is ``"6000"``)."""
    for name in sorted(overrides):
        if name not in _CONFIGS:
            raise InvalidConfigurationError(f"Unknown group config name: {name}")
    values = dict(defaults)
    for name in _CONFIGS:  # ConfigDef parses in its own order
        if name in overrides:
            values[name] = _parse(name, overrides[name])
    for name, config in _CONFIGS.items():
        low, high = _bounds(name, defaults[name])
        if values[name] < low:
            raise InvalidConfigurationError(
                f"{name} must be greater than or equal to {config.bound_names[0]}")
        if values[name] > high:
            raise InvalidConfigurationError(
                f"{name} must be less than or equal to {config.bound_names[1]}")
    for session, heartbeat in ((CONSUMER_SESSION_TIMEOUT_MS, CONSUMER_HEARTBEAT_INTERVAL_MS),
                               (_SHARE_SESSION_TIMEOUT_MS, _SHARE_HEARTBEAT_INTERVAL_MS)):
        if values[session] <= values[heartbeat]:
            raise InvalidConfigurationError(f"{session} must be greater than {heartbeat}")
    return {name: str(values[name]) for name in sorted(overrides)}


def altered_group_overrides(group_id: str, overrides: Mapping[str, str],
                            operations: Iterable[tuple[str, int | AlterConfigOp, Any]], *,
                            incremental: bool, session_ms: int,
                            heartbeat_ms: int) -> dict[str, str]:
    """Group ``group_id``'s new overrides after an alteration, checked whole (nothing changes
    in place), in the order of Kafka's controller.

    ``operations`` are ``(config, AlterConfigOp, value)``; ``session_ms`` and ``heartbeat_ms``
    the broker's settings (the defaults, and the bounds as the module docstring says).
    Incremental (IncrementalAlterConfigs) applies SET and DELETE to ``overrides`` (a DELETE of
    a config not set changes nothing, whatever its name, as on Kafka); otherwise
    (AlterConfigs) the SETs given replace every override. Raises ``InvalidRequestError`` for
    a config named twice, an unknown operation, an operation other than SET without
    ``incremental``, the group id ``""``; ``InvalidConfigurationError`` (INVALID_CONFIG) for
    APPEND or SUBTRACT and every check of the module docstring, with Kafka's message.
    """
    new = dict(overrides) if incremental else {}
    for name, op, value in checked_operations(operations, incremental=incremental):
        if op in (AlterConfigOp.APPEND, AlterConfigOp.SUBTRACT):
            raise InvalidConfigurationError(  # Kafka's controller: no GROUP config is a list
                f"Can't {op.name} to key {name} because its type is not LIST.")
        if op is AlterConfigOp.DELETE:
            new.pop(name, None)
        elif value is None:
            raise InvalidConfigurationError(
                f"Null value not supported for group configs: {name}")
        else:
            new[name] = value
    check_group_resource(group_id, altered=True)
    return _checked(new, _defaults(session_ms, heartbeat_ms))


def describe_group_configs(overrides: Mapping[str, str], *, session_ms: int,
                           heartbeat_ms: int) -> list[ConfigEntry]:
    """Every group config of a group whose overrides are ``overrides``, in name order, as
    Kafka's DescribeConfigs answers them (see the module docstring); ``session_ms`` and
    ``heartbeat_ms`` are the broker's settings."""
    defaults = _defaults(session_ms, heartbeat_ms)
    entries = []
    for name in GROUP_CONFIG_NAMES:
        value = overrides.get(name)
        source = ConfigSource.DEFAULT_CONFIG if value is None \
            else ConfigSource.DYNAMIC_GROUP_CONFIG
        value = str(defaults[name]) if value is None else value
        entries.append(ConfigEntry(name, value, source, False, False, ConfigType.INT,
                                   (ConfigSynonym(name, value, source),),
                                   _CONFIGS[name].documentation))
    return entries


def consumer_group_timeouts(overrides: Mapping[str, str] | None, *, session_ms: int,
                            heartbeat_ms: int) -> tuple[int, int]:
    """A consumer group's session timeout and heartbeat interval (ms): its overrides
    (checked when they were set), or the broker's ``session_ms`` and ``heartbeat_ms``."""
    overrides = overrides or {}
    return (int(overrides.get(CONSUMER_SESSION_TIMEOUT_MS, session_ms)),
            int(overrides.get(CONSUMER_HEARTBEAT_INTERVAL_MS, heartbeat_ms)))


def with_group_overrides(table: Mapping[str, Mapping[str, str]], group_id: str,
                         overrides: Mapping[str, str]) -> dict[str, Mapping[str, str]]:
    """A new table of every group's configs: ``table`` with group ``group_id``'s replaced by
    ``overrides``, or left out when there are none. ``table`` itself is not changed, so a
    reader holding it sees every group's configs before or after, never half-way."""
    changed = {**table, group_id: overrides}
    if not overrides:
        del changed[group_id]
    return changed
