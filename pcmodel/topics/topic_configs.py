"""A new topic's settings in Kafka's words: its configs and its replication factor, checked.

``KafkaAdminClient.create_topics`` and the Kafka listener's CreateTopics both turn a request's
``{config name: value}`` and replication factor into the keyword arguments of the broker's
``create_topic``, with the same rules and Kafka's errors, so a topic asks the same of both:

- ``retention.ms`` (``-1``: keep for ever) and ``cleanup.policy=delete`` are honoured anywhere;
- on a replicated cluster (a broker object whose ``replicates`` is true) also
  ``min.insync.replicas`` and ``unclean.leader.election.enable``;
- Kafka's common configs that tune storage an in-memory broker does not have (segments,
  flushing, ...) are accepted with no effect (:data:`IGNORED_TOPIC_CONFIGS`), as are the
  replication ones on a lone broker, which has one replica;
- anything else is ``InvalidConfigurationError`` naming what is supported.

The replication factor may be ``-1`` (the broker's default) or 1 up to the live brokers, as
Kafka's controller answers (``InvalidReplicationFactorError`` with Kafka's message otherwise).
Replicas are placed by the broker (a cluster's controller): an explicit assignment is accepted
only where it is the only possible one, a lone broker's own id
(``InvalidReplicationAssignmentError`` otherwise).

Prior art: Kafka's ``LogConfig`` (topic config names) and ``ReplicationControlManager.createTopic``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcmodel.topics.errors import (
    InvalidConfigurationError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
)

__all__ = [
    "IGNORED_TOPIC_CONFIGS",
    "check_replica_assignment",
    "check_replication_factor",
    "topic_options",
]

#: Topic configs accepted and ignored: they tune storage or replication this broker has not.
IGNORED_TOPIC_CONFIGS = frozenset({
    "min.insync.replicas", "segment.bytes", "segment.ms", "segment.index.bytes",
    "segment.jitter.ms", "flush.messages", "flush.ms", "index.interval.bytes",
    "unclean.leader.election.enable", "preallocate", "message.downconversion.enable",
    "compression.type", "max.message.bytes", "message.timestamp.type",
    "file.delete.delay.ms", "delete.retention.ms", "min.cleanable.dirty.ratio",
})


def _boolean(value: object) -> bool:
    return {"true": True, "false": False}[str(value).strip().lower()]


#: Topic configs a replicated cluster honours: name -> (``create_topic`` keyword, parser).
_REPLICATION_CONFIGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "min.insync.replicas": ("min_insync_replicas", int),
    "unclean.leader.election.enable": ("unclean_leader_election_enable", _boolean),
}


def topic_options(configs: Mapping[str, Any] | None, *, replicates: bool) -> dict[str, Any]:
    """The ``create_topic`` keyword arguments for a new topic's ``configs`` (Kafka's names).

    ``replicates``: the broker is a replicated cluster, which honours the replication configs.
    Raises ``InvalidConfigurationError`` for a value that does not parse or a config that is
    neither honoured nor in :data:`IGNORED_TOPIC_CONFIGS`; returns without side effects.
    """
    options: dict[str, Any] = {}
    for name, value in (configs or {}).items():
        if replicates and name in _REPLICATION_CONFIGS:
            keyword, parse = _REPLICATION_CONFIGS[name]
            try:
                options[keyword] = parse(value)
            except (KeyError, TypeError, ValueError):
                raise InvalidConfigurationError(
                    f"{name} has an invalid value {value!r}") from None
        elif name == "retention.ms":
            try:
                ms = int(value)
            except (TypeError, ValueError):
                raise InvalidConfigurationError(
                    f"retention.ms must be an integer, got {value!r}") from None
            options["retention_ms"] = None if ms < 0 else ms
        elif name == "cleanup.policy":
            if value != "delete":
                raise InvalidConfigurationError(
                    f"cleanup.policy={value!r} is not supported; only 'delete' (there is no "
                    "compaction)")
        elif name not in IGNORED_TOPIC_CONFIGS:
            raise InvalidConfigurationError(
                f"unknown or unsupported topic config {name!r}; supported: retention.ms, "
                "cleanup.policy=delete (and, with no effect here: "
                f"{', '.join(sorted(IGNORED_TOPIC_CONFIGS))})"
            )
    return options


def check_replication_factor(replication_factor: object, live_brokers: int) -> int | None:
    """Check a requested replication factor against the brokers alive; return it, or
    ``None`` for ``-1`` (the broker's default).

    Raises ``InvalidReplicationFactorError`` with Kafka's message for a factor above the live
    brokers or below 1 (other than ``-1``), and for one that is not an int.
    """
    rf = replication_factor
    if isinstance(rf, bool) or not isinstance(rf, int):
        raise InvalidReplicationFactorError(
            f"Replication factor must be an int (or -1 for the default), got {rf!r}.")
    if rf == -1:
        return None
    if rf > live_brokers:
        raise InvalidReplicationFactorError(
            f"Replication factor: {rf} larger than available brokers: {live_brokers}.")
    if rf < 1:
        raise InvalidReplicationFactorError(
            f"Replication factor must be larger than 0 (or -1 for the default), got {rf}.")
    return rf


def check_replica_assignment(what: str, broker_ids: Iterable[int], *, replicates: bool,
                             node_id: int) -> None:
    """Refuse replicas placed on ``broker_ids`` by hand for ``what`` (a partition), unless it
    is the only possible placement: ``[node_id]`` on a lone broker. A replicated cluster's
    controller places replicas itself. Raises ``InvalidReplicationAssignmentError``."""
    brokers = list(broker_ids)
    if replicates:
        raise InvalidReplicationAssignmentError(
            f"{what} is assigned to brokers {brokers}; this cluster's controller places "
            "replicas itself: ask for a replication factor instead of an assignment")
    if brokers != [node_id]:
        raise InvalidReplicationAssignmentError(
            f"{what} is assigned to brokers {brokers}; the only broker is {node_id}")
