"""A new topic's settings, checked before any broker changes: its name, partitions, retention.

Every way of making a topic asks the same of its settings: ``Broker.create_topic`` (and, through
it, the admin client, the Kafka listener and auto-creation) and a replicated cluster's
``Cluster.create_topic``, which checks them here before its controller places any replica.
:func:`check_new_topic` raises on the first bad setting and changes nothing; what it returns is
what a broker keeps of the topic.

Which names are Kafka's internal topics is decided here too, once for every layer
(:func:`is_internal_topic`): an exact set of names, as Kafka's, not a ``__`` prefix.

Prior art: Kafka's ``Topic.validate`` (legal names), ``Topic.isInternal`` (internal topics) and
``LogConfig.validate``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from pcmodel.buffers import VARIANTS
from pcmodel.topics.broker_checks import _check_int
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidPartitionsError,
    InvalidRequestError,
    InvalidTopicError,
    PolicyViolationError,
    TopicAlreadyExistsError,
)
from pcmodel.topics.log import RetentionPolicy
from pcmodel.topics.topic_configs import check_topic_configs, topic_options

__all__ = [
    "INSTRUMENT_LEVELS",
    "INTERNAL_TOPICS",
    "MAX_RECORDS_PER_OPERATION",
    "METADATA_TOPIC",
    "TopicSettings",
    "block_policy_conflict",
    "check_new_topic",
    "check_new_topic_name",
    "check_new_topic_size",
    "check_operation_size",
    "check_topic_name",
    "is_internal_topic",
]

_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
_MAX_TOPIC_LENGTH = 249
#: How much a ``"block"`` topic's waiting for space is recorded (layer 1's levels).
INSTRUMENT_LEVELS = ("off", "counters", "timeline")
#: A KRaft cluster's own metadata log, which Kafka's CreateTopics never creates.
METADATA_TOPIC = "__cluster_metadata"
#: Kafka's internal topics, exactly (``Topic.INTERNAL_TOPICS``): where its group, transaction
#: and share-group coordinators keep their state. Any other name is an ordinary topic, one
#: that starts with ``__`` too. :data:`METADATA_TOPIC` is not among them: it is no topic a
#: client ever sees, and creating it is refused (:func:`check_new_topic_name`).
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})


class TopicSettings(NamedTuple):
    """A new topic's checked settings: its retention and, for ``"block"``, its token buffer,
    and its Kafka configs (overrides, in Kafka's text; ``retention.ms`` included when it was
    given as ``retention_ms``)."""

    policy: RetentionPolicy
    retention_records: int | None
    retention_ms: int | None
    retention_bytes: int | None
    variant: str
    instrument: str
    configs: dict[str, str]


def check_topic_name(name: object) -> str:
    """Return ``name`` if it is a legal Kafka topic name, else raise ``InvalidTopicError``
    saying why in the words of Kafka's ``Topic.validate`` (what its controller answers):
    "Topic name is invalid: " and the first rule broken, in Kafka's order (empty, ``.`` or
    ``..``, longer than 249, a character other than ASCII letters, digits, ``.``, ``_``,
    ``-``). ``TypeError`` unless ``name`` is a str."""
    if not isinstance(name, str):
        raise TypeError(f"topic name must be a str, got {name!r}")
    reason = None
    if not name:
        reason = "the empty string is not allowed"
    elif name in (".", ".."):
        reason = f"'{name}' is not allowed"
    elif len(name) > _MAX_TOPIC_LENGTH:
        reason = (f"the length of '{name}' is longer than the max allowed length "
                  f"{_MAX_TOPIC_LENGTH}")
    elif not _LEGAL_TOPIC.fullmatch(name):
        reason = (f"'{name}' contains one or more characters other than ASCII alphanumerics, "
                  "'.', '_' and '-'")
    if reason is not None:
        raise InvalidTopicError(f"Topic name is invalid: {reason}")
    return name


def is_internal_topic(name: str) -> bool:
    """Whether ``name`` is one of Kafka's internal topics (:data:`INTERNAL_TOPICS`), as Kafka's
    ``Topic.isInternal`` answers: an exact name, never a prefix, so a user's ``__audit`` is an
    ordinary topic (listed, not internal, deletable, matched by a pattern subscription).
    Never raises for a str."""
    return name in INTERNAL_TOPICS


def check_new_topic_name(name: str, existing: Collection[str],
                         created_with: Collection[str] = ()) -> None:
    """Raise what Kafka answers a new topic ``name`` among the ``existing`` topics, in its words:
    ``InvalidRequestError`` for :data:`METADATA_TOPIC`, ``TopicAlreadyExistsError`` if a topic
    has that name, ``InvalidTopicError`` if one differs from it only by a ``.`` against a ``_``
    (Kafka names a topic's metrics with its ``.`` turned into ``_``: they would share them).

    ``created_with`` are the topics created earlier by the same CreateTopics request: ``name``
    may collide with those, for Kafka's controller checks collisions only against the topics
    that existed before the request (``ReplicationControlManager.validateNewTopicNames`` reads
    ``topicsWithCollisionChars``, which only ``replay`` of a committed ``TopicRecord`` fills, once
    the whole request is done), so ``a.b`` and ``a_b`` in one request are both created."""
    if name == METADATA_TOPIC:
        raise InvalidRequestError(f"Creation of internal topic {name} is prohibited.")
    if name in existing:
        raise TopicAlreadyExistsError(f"Topic '{name}' already exists.")
    if "." in name or "_" in name:
        unified = name.replace(".", "_")
        for other in sorted(existing):
            if other.replace(".", "_") == unified and other not in created_with:
                raise InvalidTopicError(f"Topic '{name}' collides with existing topic: {other}")


def block_policy_conflict(options: Mapping[str, Any], overrides: Mapping[str, str]) -> str | None:
    """Why a ``"block"`` topic cannot have these configs (``options`` as
    :func:`~pcmodel.topics.topic_configs.topic_options` gives them for ``overrides``), or
    ``None``: its records leave when every group has committed them, so it takes no age or size
    limit, and no compaction."""
    if options.get("retention_ms") is not None or options.get("retention_bytes") is not None:
        return ("records leave when every group has committed them, not by age or size "
                "(retention.ms and retention.bytes cannot be set)")
    if "compact" in overrides.get("cleanup.policy", "").split(","):
        return ("records leave when every group has committed them, not by compaction "
                "(cleanup.policy=compact cannot be set)")
    return None


#: The most metadata records Kafka's controller writes for one operation
#: (``QuorumController.MAX_RECORDS_PER_USER_OP``): a topic's record, one per partition and one
#: per config set on it; one per partition added.
MAX_RECORDS_PER_OPERATION = 10_000


def check_operation_size(records: int) -> None:
    """Refuse an operation that would write more than :data:`MAX_RECORDS_PER_OPERATION`
    metadata records, as Kafka's controller does: ``PolicyViolationError`` in its words."""
    if records > MAX_RECORDS_PER_OPERATION:
        raise PolicyViolationError("Unable to perform excessively large batch operation.")


def check_new_topic_size(partitions: int, configs: Mapping[str, Any]) -> None:
    """:func:`check_operation_size` for a new topic: its own record, one per partition and one
    per config set on it."""
    check_operation_size(1 + partitions + len(configs))


def check_new_topic(
    name: str,
    partitions: int,
    *,
    retention_records: int | None = None,
    retention_ms: int | None = None,
    retention_policy: str = "delete",
    variant: str = "condition",
    instrument: str = "off",
    configs: Mapping[str, Any] | None = None,
) -> TopicSettings:
    """Check the settings ``Broker.create_topic`` takes (it says what each means) and return
    them as a broker keeps them. Raises ``InvalidTopicError``, ``InvalidPartitionsError``,
    ``InvalidConfigurationError`` for a config, ``PolicyViolationError`` for a topic of more
    records than :data:`MAX_RECORDS_PER_OPERATION`, ``IllegalArgumentError`` / ``TypeError`` for
    the other settings (``retention_ms`` and ``retention.ms`` both given, a ``"block"`` topic
    without a capacity or with an age or size limit); touches nothing."""
    check_topic_name(name)
    _check_int("partitions", partitions, 1, InvalidPartitionsError)
    if retention_records is not None:
        _check_int("retention_records", retention_records, 1, IllegalArgumentError)
    overrides = check_topic_configs(configs)
    if retention_ms is not None:
        _check_int("retention_ms", retention_ms, 0, IllegalArgumentError)
        if "retention.ms" in overrides:
            raise IllegalArgumentError("give retention_ms or configs['retention.ms'], not both")
        overrides["retention.ms"] = str(retention_ms)
    options = topic_options(overrides, replicates=False)
    retention_ms, retention_bytes = options.get("retention_ms"), options.get("retention_bytes")
    try:
        policy = RetentionPolicy(retention_policy)
    except ValueError:
        raise IllegalArgumentError(
            f"retention_policy must be 'delete' or 'block', got {retention_policy!r}"
        ) from None
    if policy is RetentionPolicy.BLOCK:
        if retention_records is None:
            raise IllegalArgumentError(
                "retention_policy='block' needs retention_records (the capacity)")
        conflict = block_policy_conflict(options, overrides)
        if conflict is not None:
            raise IllegalArgumentError(f"retention_policy='block': {conflict}")
    if variant not in VARIANTS:
        raise IllegalArgumentError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if instrument not in INSTRUMENT_LEVELS:
        raise IllegalArgumentError(
            f"instrument must be one of {INSTRUMENT_LEVELS}, got {instrument!r}"
        )
    # Last, as Kafka's controller finds it only once it writes the topic's records.
    check_new_topic_size(partitions, overrides)
    return TopicSettings(policy, retention_records, retention_ms, retention_bytes, variant,
                         instrument, overrides)
