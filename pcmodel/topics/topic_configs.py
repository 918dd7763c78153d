"""A topic's settings in Kafka's words: its configs, described, altered and checked.

Kafka names a topic's settings with *topic configs* (``retention.ms``, ``min.insync.replicas``,
...): a topic keeps the ones set on it (its *overrides*) and takes every other from its broker's
settings or Kafka's default. :data:`TOPIC_CONFIGS` lists the configs pcmodel knows, with their
types, defaults and what pcmodel does with each:

- ``retention.ms`` (``-1``: keep for ever), ``retention.bytes`` (``-1``: no limit; both as
  :mod:`pcmodel.topics.retention` tells), ``cleanup.policy`` (``delete``, ``compact``, both,
  or neither: empty, which keeps every record, as Kafka 4.2 takes it)
  and, for a compacted topic, the configs of compaction (``segment.bytes``, ``segment.ms``,
  ``min.cleanable.dirty.ratio``, ``min.compaction.lag.ms``, ``max.compaction.lag.ms``,
  ``delete.retention.ms``, as :mod:`pcmodel.topics.compaction` tells),
  ``message.timestamp.type`` and the window of create times it takes
  (``message.timestamp.before.max.ms``, ``message.timestamp.after.max.ms``),
  ``max.message.bytes``, ``compression.type`` and the level of its codec
  (``compression.gzip.level``, ``compression.lz4.level``, ``compression.zstd.level``) are
  honoured anywhere; a change of ``retention.ms``, ``retention.bytes`` or the cleanup policy
  applies at once to the records already in the topic, the others to the appends that follow;
- on a replicated cluster (a broker object whose ``replicates`` is true) also
  ``min.insync.replicas`` and ``unclean.leader.election.enable``;
- Kafka's common configs that tune storage an in-memory broker does not have (flushing,
  indexes, tiered storage, ...) are accepted with no effect, as are the segment configs on a
  topic that is not compacted
  (:data:`IGNORED_TOPIC_CONFIGS`; ``remote.storage.enable`` only as ``false``, as a Kafka
  broker without tiered storage takes it), as are the replication ones on a lone broker, which
  has one replica: their values are checked, kept and described;
- anything else is ``InvalidConfigurationError`` naming what is supported.

pcmodel's broker keeps records for ever unless a topic says otherwise: its ``log.retention.ms``
is ``-1`` (Kafka's default is seven days), so a topic without ``retention.ms`` describes it as
``-1`` from the broker's static configuration.

``KafkaAdminClient`` and the Kafka listener share these rules, so both ask the same of a
broker: :func:`topic_options` turns a new topic's configs into ``create_topic`` keywords,
:func:`describe_topic_configs` answers DescribeConfigs from a topic's overrides, and
:func:`altered_overrides` applies AlterConfigs (replace every override) or
IncrementalAlterConfigs (``AlterConfigOp`` operations) to them. A broker's own configs are
described by :mod:`~pcmodel.topics.broker_static_configs`.

A new topic's replication factor and replica assignment are checked by
:mod:`~pcmodel.topics.replica_placement`.

Prior art: Kafka's ``LogConfig`` (topic config names, types, defaults and their broker
synonyms) and ``ConfigAdminManager`` (incremental operations).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from pcmodel.topics.broker_checks import INT16_MAX, INT32_MAX, INT64_MAX
from pcmodel.topics.compression import CODEC_NAMES, COMPRESSION_LEVELS, get_codec
from pcmodel.topics.config_resources import (
    AlterConfigOp,
    ConfigEntry,
    ConfigSource,
    ConfigSynonym,
    ConfigType,
    checked_operations,
)
from pcmodel.topics.errors import (
    InvalidConfigurationError,
    KafkaConfigurationError,
)

__all__ = [
    "BROKER_RETENTION_MS",
    "IGNORED_TOPIC_CONFIGS",
    "TOPIC_CONFIGS",
    "TopicConfigSpec",
    "altered_overrides",
    "check_topic_configs",
    "describe_topic_configs",
    "topic_options",
]

#: The broker's ``log.retention.ms``: pcmodel keeps records for ever unless a topic says not.
BROKER_RETENTION_MS = "-1"

_NO_EFFECT = ("Accepted and kept, without effect: pcmodel's broker keeps records in memory, "
              "in no segments or files.")
_REPLICATION = " On a lone broker (one replica) accepted and kept, without effect."
_COMPACTION = " Honoured on a compacted topic (cleanup.policy=compact); else without effect."
_NO_TIERED_STORAGE = "Accepted and kept, without effect: there is no remote (tiered) storage."
_NO_THROTTLING = ("Accepted and kept, without effect: replication is not throttled "
                  "('*' or partitionId:brokerId pairs).")
#: The default of the LONG configs Kafka leaves unbounded (``flush.messages``, ``flush.ms``,
#: ``max.compaction.lag.ms``, ``message.timestamp.before.max.ms``): ``Long.MAX_VALUE``.
_LONG_MAX_TEXT = str(INT64_MAX)
#: Kafka's ``ThrottledReplicaListValidator``: one pattern for each item of the list.
_THROTTLED_REPLICA = re.compile(r"([0-9]+:[0-9]+)?")


class TopicConfigSpec(NamedTuple):
    """A topic config pcmodel knows: its type, Kafka's default, the broker setting a topic
    without an override takes it from (Kafka's synonym; ``""`` for a config only topics have),
    what pcmodel does with it, and the values Kafka accepts."""

    config_type: ConfigType
    default: str
    broker_config: str
    documentation: str
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    maximum: float | None = None


def _level_spec(codec: str) -> TopicConfigSpec:
    lowest, highest, default = COMPRESSION_LEVELS[codec]
    return TopicConfigSpec(
        ConfigType.INT, str(default), f"compression.{codec}.level",
        f"The level at which the broker compresses a topic whose compression.type is {codec} "
        f"(a batch the producer compressed with {codec} is kept as it is).",
        min(lowest, default), maximum=highest)


_T = ConfigType
#: Every topic config pcmodel accepts, by name (Kafka's ``LogConfig``).
TOPIC_CONFIGS: dict[str, TopicConfigSpec] = {
    "cleanup.policy": TopicConfigSpec(
        _T.LIST, "delete", "log.cleanup.policy",
        "'delete': records leave by retention (retention.ms, retention.bytes); 'compact': the "
        "log keeps the latest record of each key, and refuses records without one; "
        "'compact,delete': both; empty: neither, every record is kept (Kafka 4.2).",
        choices=("delete", "compact")),
    "compression.type": TopicConfigSpec(
        _T.STRING, "producer", "compression.type",
        "How the broker stores the topic's batches: 'producer' with the codec their producer "
        "compressed them with, 'uncompressed', or compressed with the codec named (then a "
        "batch is weighed against max.message.bytes as stored).",
        choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")),
    "delete.retention.ms": TopicConfigSpec(
        _T.LONG, "86400000", "log.cleaner.delete.retention.ms",
        "How long a tombstone (a record whose value is null) stays after the first cleaning "
        "that keeps it, in milliseconds: consumers have that long to see that its key was "
        "deleted." + _COMPACTION, 0),
    "file.delete.delay.ms": TopicConfigSpec(
        _T.LONG, "60000", "log.segment.delete.delay.ms", _NO_EFFECT, 0),
    "flush.messages": TopicConfigSpec(
        _T.LONG, _LONG_MAX_TEXT, "log.flush.interval.messages", _NO_EFFECT, 1),
    "flush.ms": TopicConfigSpec(
        _T.LONG, _LONG_MAX_TEXT, "log.flush.interval.ms", _NO_EFFECT, 0),
    "index.interval.bytes": TopicConfigSpec(
        _T.INT, "4096", "log.index.interval.bytes", _NO_EFFECT, 0),
    "follower.replication.throttled.replicas": TopicConfigSpec(
        _T.LIST, "", "", _NO_THROTTLING),
    "leader.replication.throttled.replicas": TopicConfigSpec(
        _T.LIST, "", "", _NO_THROTTLING),
    "local.retention.bytes": TopicConfigSpec(
        _T.LONG, "-2", "log.local.retention.bytes", _NO_TIERED_STORAGE, -2),
    "local.retention.ms": TopicConfigSpec(
        _T.LONG, "-2", "log.local.retention.ms", _NO_TIERED_STORAGE, -2),
    "max.compaction.lag.ms": TopicConfigSpec(
        _T.LONG, _LONG_MAX_TEXT, "log.cleaner.max.compaction.lag.ms",
        "The longest a record stays uncleaned: the active segment rolls this long after its "
        "first record, and a log whose first dirty record is older is cleaned whatever its "
        "dirty ratio." + _COMPACTION, 1),
    "max.message.bytes": TopicConfigSpec(
        _T.INT, "1048588", "message.max.bytes",
        "The largest record batch the topic takes, in bytes of Kafka's record format (a "
        "compressed batch by its compressed size); a larger one is refused whole with "
        "MESSAGE_TOO_LARGE. pcmodel's producer then sends it again in halves, as the Java "
        "client splits it.", 0),
    "message.downconversion.enable": TopicConfigSpec(
        _T.BOOLEAN, "true", "log.message.downconversion.enable", _NO_EFFECT),
    "message.timestamp.after.max.ms": TopicConfigSpec(
        _T.LONG, "3600000", "log.message.timestamp.after.max.ms",
        "How far ahead of the broker's clock a record's create time may be, in milliseconds; "
        "a batch with a later one is refused whole (INVALID_TIMESTAMP). Not checked when the "
        "topic stamps append times.", 0),
    "message.timestamp.before.max.ms": TopicConfigSpec(
        _T.LONG, _LONG_MAX_TEXT, "log.message.timestamp.before.max.ms",
        "How far behind the broker's clock a record's create time may be, in milliseconds; "
        "a batch with an earlier one is refused whole (INVALID_TIMESTAMP). Not checked when "
        "the topic stamps append times.", 0),
    "message.timestamp.type": TopicConfigSpec(
        _T.STRING, "CreateTime", "log.message.timestamp.type",
        "CreateTime: a record keeps the timestamp its producer gave it. LogAppendTime: the "
        "broker stamps every record it appends with its own clock, and the producer learns "
        "that time with the offset.", choices=("CreateTime", "LogAppendTime")),
    "min.cleanable.dirty.ratio": TopicConfigSpec(
        _T.DOUBLE, "0.5", "log.cleaner.min.cleanable.ratio",
        "The log is cleaned once the bytes not yet cleaned are more than this share of the "
        "bytes that may be." + _COMPACTION, 0),
    "min.compaction.lag.ms": TopicConfigSpec(
        _T.LONG, "0", "log.cleaner.min.compaction.lag.ms",
        "The shortest a record stays uncleaned, counted from its timestamp."
        + _COMPACTION, 0),
    "min.insync.replicas": TopicConfigSpec(
        _T.INT, "1", "min.insync.replicas",
        "How many in-sync replicas a produce with acks=all needs, at most the replication "
        "factor." + _REPLICATION, 1),
    "preallocate": TopicConfigSpec(_T.BOOLEAN, "false", "log.preallocate", _NO_EFFECT),
    "remote.log.copy.disable": TopicConfigSpec(
        _T.BOOLEAN, "false", "", _NO_TIERED_STORAGE),
    "remote.log.delete.on.disable": TopicConfigSpec(
        _T.BOOLEAN, "false", "", _NO_TIERED_STORAGE),
    "remote.storage.enable": TopicConfigSpec(
        _T.BOOLEAN, "false", "",
        "Only false: this broker has no remote (tiered) storage, as a Kafka broker without "
        "remote.log.storage.system.enable refuses true."),
    "retention.ms": TopicConfigSpec(
        _T.LONG, "604800000", "log.retention.ms",
        "Records whose timestamp is more than this many milliseconds behind the broker's "
        "clock are deleted, from the oldest offset on (-1: kept for ever); a change applies "
        "at once to the records already there.", -1),
    "retention.bytes": TopicConfigSpec(
        _T.LONG, "-1", "log.retention.bytes",
        "The bytes a partition keeps (keys, values and headers, or compressed batches, as "
        "log_stats() counts them; a negative value: no limit): past it, records are deleted "
        "from the oldest offset on while what stays is still at least this size. A change "
        "applies at once to the records already there."),
    "segment.bytes": TopicConfigSpec(
        _T.INT, "1073741824", "log.segment.bytes",
        "The bytes of a segment (keys, values and headers, as log_stats() weighs them): an "
        "append that would take the active segment past it starts a new one, and the "
        "cleaner never touches the active segment. At least 1 MiB, as in Kafka 4 (KIP-1030)."
        + _COMPACTION, 1048576),
    "segment.index.bytes": TopicConfigSpec(
        _T.INT, "10485760", "log.index.size.max.bytes", _NO_EFFECT, 4),
    "segment.jitter.ms": TopicConfigSpec(_T.LONG, "0", "log.roll.jitter.ms", _NO_EFFECT, 0),
    "segment.ms": TopicConfigSpec(
        _T.LONG, "604800000", "log.roll.ms",
        "An append whose records are more than this many milliseconds newer than the first "
        "of the active segment starts a new one; the cleaner never touches the active "
        "segment." + _COMPACTION, 1),
    "unclean.leader.election.enable": TopicConfigSpec(
        _T.BOOLEAN, "false", "unclean.leader.election.enable",
        "Whether a partition whose in-sync replicas are all down may elect an out-of-sync "
        "replica, losing the records it lacks." + _REPLICATION),
}

TOPIC_CONFIGS.update({f"compression.{codec}.level": _level_spec(codec)
                      for codec in COMPRESSION_LEVELS})

#: The topic configs a replicated cluster honours and a lone broker (one replica) ignores.
_REPLICATION_CONFIGS = ("min.insync.replicas", "unclean.leader.election.enable")

#: Topic configs accepted and ignored: they tune storage or replication this broker has not.
IGNORED_TOPIC_CONFIGS = frozenset({
    "min.insync.replicas", "segment.index.bytes",
    "segment.jitter.ms", "flush.messages", "flush.ms", "index.interval.bytes",
    "unclean.leader.election.enable", "preallocate", "message.downconversion.enable",
    "file.delete.delay.ms", "local.retention.ms",
    "local.retention.bytes", "remote.log.copy.disable", "remote.log.delete.on.disable",
    "remote.storage.enable", "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
})

#: The largest value of each integer type; the smallest is ``-largest - 1`` (Java's ranges).
_INT_MAXES = {_T.SHORT: INT16_MAX, _T.INT: INT32_MAX, _T.LONG: INT64_MAX}


def _invalid(name: str, value: object, why: str) -> InvalidConfigurationError:
    return InvalidConfigurationError(f"Invalid value {value} for configuration {name}: {why}")


def _checked_value(name: str, value: object) -> str:
    """``value`` of topic config ``name`` as Kafka's text, after Kafka's type and range checks
    (``InvalidConfigurationError`` otherwise); ``name`` is in :data:`TOPIC_CONFIGS`."""
    spec = TOPIC_CONFIGS[name]
    kind = spec.config_type
    if value is None:
        raise _invalid(name, value, "a value is required (delete the config to reset it)")
    text = ("true" if value else "false") if isinstance(value, bool) else str(value).strip()
    if kind is _T.BOOLEAN:
        if text.lower() not in ("true", "false"):
            raise _invalid(name, value, "Expected value to be either true or false")
        return text.lower()
    if kind in _INT_MAXES:
        try:
            number = int(text)
        except ValueError:
            raise _invalid(name, value, f"Not a number of type {kind.name}") from None
        if not -_INT_MAXES[kind] - 1 <= number <= _INT_MAXES[kind]:
            raise _invalid(name, value, f"Not a number of type {kind.name}")
    elif kind is _T.DOUBLE:
        try:
            number = float(text)
        except ValueError:
            raise _invalid(name, value, "Not a number of type DOUBLE") from None
        if number > 1:
            raise _invalid(name, value, "Value must be no more than 1")
    elif name.endswith(".replication.throttled.replicas"):
        items = [item.strip() for item in text.split(",")]
        if not (all(_THROTTLED_REPLICA.fullmatch(item) for item in items) or items == ["*"]):
            raise _invalid(name, value, f"{name} must be the literal '*' or a list of replicas "
                           "in the following format: [partitionId]:[brokerId],"
                           "[partitionId]:[brokerId],...")
        return ",".join(items)
    else:
        items = [item.strip() for item in text.split(",")] if kind is _T.LIST else [text]
        if name == "cleanup.policy" and items == [""]:
            return ""  # no cleanup at all: Kafka 4.2's infinite retention (KIP-1161)
        bad = [item for item in items if item not in spec.choices]
        if bad:
            raise _invalid(name, value, f"String must be one of: {', '.join(spec.choices)}")
        return ",".join(items)
    if name == "compression.gzip.level" and number == 0:
        raise _invalid(name, value, "Value must be between 1 and 9 or equal to -1")
    if spec.minimum is not None and number < spec.minimum:
        raise _invalid(name, value, f"Value must be at least {spec.minimum:.15g}")
    if spec.maximum is not None and number > spec.maximum:
        raise _invalid(name, value, f"Value must be no more than {spec.maximum:.15g}")
    return text


def check_topic_configs(configs: Mapping[str, Any] | None) -> dict[str, str]:
    """A topic's overrides ``{config name: value}`` checked and in Kafka's text (``True``
    becomes ``"true"``, ``100`` ``"100"``). Raises ``InvalidConfigurationError`` for a config
    pcmodel does not know or does not support, or a value of the wrong type or range."""
    checked: dict[str, str] = {}
    for name, value in (configs or {}).items():
        if name not in TOPIC_CONFIGS:
            raise InvalidConfigurationError(
                f"unknown or unsupported topic config {name!r}; supported: retention.ms, "
                "retention.bytes, cleanup.policy, message.timestamp.type, "
                "message.timestamp.before.max.ms, message.timestamp.after.max.ms, "
                "max.message.bytes, compression.type, compression.gzip.level, "
                "compression.lz4.level, compression.zstd.level, and for compaction "
                "segment.bytes, segment.ms, min.cleanable.dirty.ratio, min.compaction.lag.ms, "
                "max.compaction.lag.ms, delete.retention.ms, on a replicated cluster "
                f"{' and '.join(_REPLICATION_CONFIGS)} (and, with no effect: "
                f"{', '.join(sorted(IGNORED_TOPIC_CONFIGS - set(_REPLICATION_CONFIGS)))}, "
                "and the replication configs on a lone broker)"
            )
        checked[name] = text = _checked_value(name, value)
        if name == "remote.storage.enable" and text == "true":
            raise InvalidConfigurationError(  # Kafka's words
                "Tiered Storage functionality is disabled in the broker. Topic cannot be "
                "configured with remote log storage.")
        if name == "compression.type" and text in CODEC_NAMES:
            try:
                get_codec(text)
            except KafkaConfigurationError as exc:  # its package is not installed here
                raise InvalidConfigurationError(f"compression.type={text}: {exc}") from None
    lags = [int(checked.get(name, TOPIC_CONFIGS[name].default))
            for name in ("min.compaction.lag.ms", "max.compaction.lag.ms")]
    if lags[0] > lags[1]:
        raise InvalidConfigurationError(  # Kafka's words (LogConfig.validateValues)
            f"conflict topic config setting min.compaction.lag.ms ({lags[0]}) > "
            f"max.compaction.lag.ms ({lags[1]})")
    return checked


def topic_options(configs: Mapping[str, Any] | None, *, replicates: bool) -> dict[str, Any]:
    """The settings that a topic's ``configs`` (Kafka's names) ask, by the broker's names
    (``retention_ms``, ``retention_bytes``, ``min_insync_replicas``, ...).

    ``replicates``: the broker is a replicated cluster, which honours the replication configs.
    Raises ``InvalidConfigurationError`` as :func:`check_topic_configs`; returns without side
    effects. Configs without effect give no keyword.
    """
    checked = check_topic_configs(configs)
    options: dict[str, Any] = {}
    if "retention.ms" in checked:
        ms = int(checked["retention.ms"])
        options["retention_ms"] = None if ms < 0 else ms
    if "retention.bytes" in checked:
        size = int(checked["retention.bytes"])
        options["retention_bytes"] = None if size < 0 else size
    if replicates and "min.insync.replicas" in checked:
        options["min_insync_replicas"] = int(checked["min.insync.replicas"])
    if replicates and "unclean.leader.election.enable" in checked:
        options["unclean_leader_election_enable"] = \
            checked["unclean.leader.election.enable"] == "true"
    return options


def _broker_value(name: str) -> tuple[str, ConfigSource]:
    """The value a topic without an override takes, and where it comes from."""
    if name == "retention.ms":
        return BROKER_RETENTION_MS, ConfigSource.STATIC_BROKER_CONFIG
    return TOPIC_CONFIGS[name].default, ConfigSource.DEFAULT_CONFIG


def describe_topic_configs(overrides: Mapping[str, str]) -> list[ConfigEntry]:
    """Every topic config of a topic with these ``overrides``, in name order: its value in
    force, where it comes from, its synonyms (the override, then the broker setting it
    defaults to) and what pcmodel does with it. Every one can be altered."""
    entries = []
    for name, spec in sorted(TOPIC_CONFIGS.items()):
        broker_value, broker_source = _broker_value(name)
        synonyms = (ConfigSynonym(spec.broker_config, broker_value, broker_source),) \
            if spec.broker_config else ()
        value, source = broker_value, broker_source
        if name in overrides:
            value, source = overrides[name], ConfigSource.DYNAMIC_TOPIC_CONFIG
            synonyms = (ConfigSynonym(name, value, source), *synonyms)
        entries.append(ConfigEntry(name, value, source, False, False, spec.config_type,
                                   synonyms, spec.documentation))
    return entries


def altered_overrides(overrides: Mapping[str, str],
                      operations: Iterable[tuple[str, int, Any]], *,
                      incremental: bool) -> dict[str, str]:
    """A topic's new overrides after an alteration, checked (nothing is changed in place).

    ``operations`` are ``(config name, AlterConfigOp, value)``. Incremental (Kafka's
    IncrementalAlterConfigs) applies them to ``overrides``: SET a value, DELETE the override
    (back to the default), APPEND to / SUBTRACT from a list (``cleanup.policy``). Otherwise
    (AlterConfigs) they must all be SET and replace every override: a config not named goes
    back to its default. Raises ``InvalidRequestError`` for a config named twice, an unknown
    operation, an operation other than SET without ``incremental``;
    ``InvalidConfigurationError`` for APPEND/SUBTRACT on a config that is not a list, and as
    :func:`check_topic_configs`; ``TypeError``, before any of those, for ``operations`` that
    are not a list of such triples (a dict of config values, a bare str).
    """
    new = dict(overrides) if incremental else {}
    for name, op, value in checked_operations(operations, incremental=incremental):
        if op is AlterConfigOp.DELETE:
            new.pop(name, None)
            continue
        if name not in TOPIC_CONFIGS:
            check_topic_configs({name: value})  # the unknown-config error
        if op is AlterConfigOp.SET:
            new[name] = value
            continue
        if TOPIC_CONFIGS[name].config_type is not _T.LIST:
            raise InvalidConfigurationError(  # Kafka's INVALID_CONFIG, as its controller says
                f"Can't {op.name} to key {name} because its type is not LIST.")
        current = new.get(name, _broker_value(name)[0]).split(",")
        items = [item.strip() for item in str(value or "").split(",") if item.strip()]
        if op is AlterConfigOp.APPEND:
            new[name] = ",".join(current + [i for i in items if i not in current])
        else:
            new[name] = ",".join(i for i in current if i not in items)
    return check_topic_configs(new)
