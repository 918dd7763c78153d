"""The partition half of :class:`~pcmodel.topics.admin.KafkaAdminClient`: growing topics,
deleting records, looking offsets up, electing leaders and moving replicas.

``create_partitions`` (Kafka's CreatePartitions), ``delete_records`` (DeleteRecords),
``list_partition_offsets`` (ListOffsets), ``elect_leaders`` (ElectLeaders),
``alter_partition_reassignments`` and ``list_partition_reassignments``
(AlterPartitionReassignments, ListPartitionReassignments), with kafka-python 3's arguments,
results and errors.
On a cluster each partition's answer comes from its leader, with the leader epoch Kafka gives
(the current one for the latest offset, the one that wrote the record for the others), and a
deletion waits for the followers to delete too.

Prior art: kafka-python's ``kafka/admin/_partitions.py`` and the Java ``Admin`` interface
(``createPartitions``, ``deleteRecords``, ``listOffsets``, ``electLeaders``,
``alterPartitionReassignments``, ``listPartitionReassignments``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pcmodel.topics.broker_checks import (
    _check_election_type,
    _check_entries,
    _check_list,
    _check_mapping,
    _check_partitions,
)
from pcmodel.topics.errors import (
    BrokerResponseError,
    ElectionNotNeededError,
    IllegalArgumentError,
    UnknownTopicOrPartitionError,
    UnsupportedVersionError,
)
from pcmodel.topics.errors.base import error_detail
from pcmodel.topics.replica_placement import add_partitions_placed
from pcmodel.topics.structs import (
    ElectionType,
    OffsetAndTimestamp,
    OffsetSpec,
    TopicPartition,
    validate_topic_partition,
)

__all__ = ["NewPartitions", "PartitionAdminMixin", "error_fields"]


class NewPartitions:
    """The new total partition count of a topic: kafka-python's ``NewPartitions``.

    ``new_assignments`` places the new partitions' replicas by hand: a list of broker ids per
    new partition, each as long as partition 0's replica list (Kafka's rule)."""

    def __init__(self, total_count: int, new_assignments: list[list[int]] | None = None) -> None:
        self.total_count = total_count
        self.new_assignments = new_assignments

    def __repr__(self) -> str:
        return f"NewPartitions(total_count={self.total_count})"


def error_fields(error: BrokerResponseError | None) -> dict[str, Any]:
    """A result's ``error_code`` and ``error_message``, as Kafka's responses carry them (the
    message without the ``[Error N] ClassName:`` a raised error's text starts with)."""
    if error is None:
        return {"error_code": 0, "error_message": None}
    return {"error_code": error.errno,
            "error_message": str(error.args[0]) if error.args else None}


class PartitionAdminMixin:
    """Partition administration (KafkaAdminClient part: the client provides ``_conn``,
    ``config``, ``_check_open()``, ``_check_assignments()``, ``_missing_partitions()`` and
    ``_partition_replicas()``)."""

    def create_partitions(
        self,
        topic_partitions: Mapping[str, NewPartitions | int | Mapping[str, Any]],
        timeout_ms: float | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> dict[str, Any]:
        """Grow topics to a new total of partitions: ``{name: NewPartitions(n) | n}``.

        Returns ``{"throttle_time_ms": 0, "results": [{"name", "error_code",
        "error_message"}]}``: the fields of kafka-python 3's answer, which is the
        CreatePartitions response object itself (``response.results[0].error_code`` there,
        ``result["results"][0]["error_code"]`` here). With ``raise_errors`` the first failure
        (``InvalidPartitionsError`` for a total not above the current count,
        ``UnknownTopicOrPartitionError``, ``InvalidReplicationAssignmentError``) is raised.
        The checks are :func:`pcmodel.topics.replica_placement.add_partitions_placed`'s.
        Raises ``TypeError`` unless ``topic_partitions`` is a dict (a bare str, say).
        """
        self._check_open()
        _check_mapping("topic_partitions", topic_partitions, "topic to NewPartitions(total)")
        results, first_error = [], None
        for name, spec in topic_partitions.items():
            total, assignments = _total_count(spec)
            error = None
            try:
                add_partitions_placed(self._conn, name, total, assignments, node_id=0,
                                      validate_only=validate_only)
            except BrokerResponseError as exc:
                error = exc
            results.append({"name": name, **error_fields(error)})
            first_error = first_error or error
        if raise_errors and first_error is not None:
            raise first_error
        return {"throttle_time_ms": 0, "results": results}

    def delete_records(
        self, records_to_delete: Mapping[TopicPartition, int], timeout_ms: float | None = None,
        partition_leader_id: Any = None,
    ) -> dict[TopicPartition, dict[str, int]]:
        """Delete each partition's records below the offset given (``-1``: below the high
        watermark): Kafka's DeleteRecords, which moves the partition's log start.

        Returns ``{TopicPartition: {"partition_index", "low_watermark", "error_code"}}`` as
        kafka-python 3 does; ``low_watermark`` is the new first offset of every live replica
        (on a cluster the call waits, up to ``timeout_ms`` or ``request_timeout_ms``, for the
        followers to delete too). Raises as kafka-python does: ``UnknownTopicOrPartitionError``
        before anything is deleted if a partition does not exist; else, once every partition
        was tried, one failed partition's error (``OffsetOutOfRangeError`` for an offset beyond
        the high watermark, ...), or ``BrokerResponseError`` naming each failure when several
        failed. Consumers positioned below the new start reset by their
        ``auto_offset_reset``; committed offsets are kept. ``TypeError`` for
        ``records_to_delete`` that are not a mapping, before anything is deleted.
        """
        self._check_open()
        _check_mapping("records_to_delete", records_to_delete, "TopicPartition to int")
        wanted = {validate_topic_partition(tp): offset
                  for tp, offset in records_to_delete.items()}
        unknown = self._missing_partitions(wanted)
        if unknown:  # as kafka-python, which finds no leader for them: nothing is deleted
            raise UnknownTopicOrPartitionError(
                "The following partitions are not known: "
                + ", ".join(f"{tp.topic}-{tp.partition}" for tp in unknown))
        timeout = self.config["request_timeout_ms"] if timeout_ms is None else timeout_ms
        done = self._conn.delete_records(wanted, timeout=timeout / 1000)
        failed = {tp: result.error for tp, result in done.items() if result.error is not None}
        if len(failed) == 1:
            (tp, error), = failed.items()
            raise type(error)(f"Error deleting records from topic {tp.topic} partition "
                              f"{tp.partition}: {error_detail(error)}")
        if failed:
            raise BrokerResponseError(
                "The following errors occurred when trying to delete records: " + ", ".join(
                    f"{tp.topic}(partition={tp.partition}): {type(error).__name__}"
                    for tp, error in failed.items()))
        return {tp: {"partition_index": tp.partition, "low_watermark": result.low_watermark,
                     "error_code": 0}
                for tp, result in done.items()}

    def list_partition_offsets(
        self, topic_partition_specs: Mapping[TopicPartition, OffsetSpec | int],
        isolation_level: int = 0, timeout_ms: float | None = None,
    ) -> dict[TopicPartition, OffsetAndTimestamp]:
        """Look up one offset per partition (Kafka's ListOffsets): ``OffsetSpec.EARLIEST``,
        ``OffsetSpec.LATEST``, ``OffsetSpec.MAX_TIMESTAMP`` (the first record with the largest
        timestamp), or a timestamp in ms (an ``int`` or :class:`OffsetTimestamp`) for the first
        record at or after it. There is no tiered storage, so ``EARLIEST_LOCAL`` is the same as
        ``EARLIEST``, and ``LATEST_TIERED`` and ``EARLIEST_PENDING_UPLOAD`` find no offset, as
        a Kafka broker without it answers.

        Returns ``{TopicPartition: OffsetAndTimestamp}``; earliest and latest have timestamp
        ``-1``, and a timestamp after the last record gives offset and timestamp ``-1``, as
        Kafka answers; ``leader_epoch`` is, where an offset was found, the partition leader's
        current epoch for LATEST and the epoch in which the record there was written for the
        others (0 on a lone broker), ``None`` where none was (Kafka answers ``-1``, which
        kafka-python's admin turns into ``None``, as the Java client's is empty).
        ``isolation_level`` 1 (read committed) looks as a ``read_committed`` consumer sees the
        partition, as Kafka does: LATEST is its last stable offset, and a record found by
        timestamp (or as the largest) at or beyond it is not found. Raises
        ``UnknownTopicOrPartitionError`` for a partition that does not exist,
        ``UnsupportedVersionError`` for a negative spec Kafka does not have,
        ``TypeError`` for a spec that is not an int or specs that are not a mapping.
        """
        self._check_open()
        _check_mapping("topic_partition_specs", topic_partition_specs,
                       "TopicPartition to OffsetSpec or timestamp")
        specs = {validate_topic_partition(tp): spec
                 for tp, spec in topic_partition_specs.items()}
        for tp, spec in specs.items():
            if isinstance(spec, bool) or not isinstance(spec, int):
                raise TypeError(f"unsupported offset spec for {tp}: {spec!r} (expected "
                                "OffsetSpec or a timestamp in ms)")
            if spec < 0 and spec not in OffsetSpec._value2member_map_:
                raise UnsupportedVersionError(f"offset spec {spec} for {tp}: Kafka has "
                                              "EARLIEST, LATEST, MAX_TIMESTAMP, EARLIEST_LOCAL, "
                                              "LATEST_TIERED, EARLIEST_PENDING_UPLOAD and "
                                              "timestamps")
        if isolation_level not in (0, 1):
            raise IllegalArgumentError(f"isolation_level must be 0 or 1, not {isolation_level!r}")
        level = "read_committed" if isolation_level == 1 else "read_uncommitted"
        found = self._conn.list_offsets({tp: int(spec) for tp, spec in specs.items()},
                                        isolation_level=level)
        # Kafka answers a missing offset and an unknown epoch as -1; kafka-python's admin
        # turns such an epoch into None, as the Java client's is an empty Optional.
        return {tp: OffsetAndTimestamp(-1, -1, None) if hit is None
                else hit._replace(leader_epoch=hit.leader_epoch if hit.leader_epoch >= 0 else None)
                for tp, hit in found.items()}

    def elect_leaders(
        self, election_type: ElectionType | int,
        topic_partitions: Mapping[str, Iterable[int]] | Iterable[str] | None = None,
        timeout_ms: float | None = None, raise_errors: bool = True,
    ) -> dict[str, Any]:
        """Ask the controller for leader elections (Kafka's ElectLeaders, KIP-460).

        ``election_type``: :class:`~pcmodel.topics.structs.ElectionType` ``PREFERRED`` (0) moves
        each partition's leadership back to its preferred replica, the first of its replicas,
        if that one is alive and in the ISR; ``UNCLEAN`` (1) elects a leader for a partition
        that has none, outside the ISR if need be (records may be lost).
        ``topic_partitions``: ``{topic: [partition ids]}``, a list of topics (all their
        partitions), or ``None`` for every partition of every topic, as in kafka-python.

        Returns ``{"throttle_time_ms": 0, "error_code": 0, "replica_election_results":
        [{"topic", "partition_result": [{"partition_id", "error_code",
        "error_message"}]}]}``: the fields of kafka-python 3's answer, the ElectLeaders response
        itself. Each partition's ``error_code`` is 0 where a leader was elected,
        ELECTION_NOT_NEEDED (84) where the leader is already the one asked for,
        PREFERRED_LEADER_NOT_AVAILABLE (80), ELIGIBLE_LEADERS_NOT_AVAILABLE (83) or
        UNKNOWN_TOPIC_OR_PARTITION (3). With ``raise_errors`` the first failure other than
        ``ElectionNotNeededError`` is raised once every partition was tried, as kafka-python
        does. Raises ``InvalidRequestError`` for an unknown election type (``TypeError`` for
        one given as a float or a bool),
        ``UnknownTopicOrPartitionError`` for an unknown topic in a list of topics, and
        ``TypeError`` for ``topic_partitions`` of none of those forms (a bare str, a single
        ``TopicPartition``, an int) or with an entry of the wrong type, before anything is
        elected. A lone broker leads every partition it has: no election is ever
        needed there. ``timeout_ms`` is accepted for kafka-python's signature: elections are
        decided at once.
        """
        self._check_open()
        kind = _check_election_type(election_type)
        asked = self._partitions_named(topic_partitions)
        elected = self._conn.elect_leaders(kind, asked)
        by_topic: dict[str, list[dict[str, Any]]] = {}
        first_error = None
        for tp in asked:
            error = elected[tp]
            by_topic.setdefault(tp.topic, []).append(
                {"partition_id": tp.partition, **error_fields(error)})
            if not isinstance(error, ElectionNotNeededError):
                first_error = first_error or error
        if raise_errors and first_error is not None:
            raise first_error
        return {"throttle_time_ms": 0, "error_code": 0, "replica_election_results": [
            {"topic": topic, "partition_result": results} for topic, results in by_topic.items()]}

    def alter_partition_reassignments(
        self, reassignments: Mapping[TopicPartition, Sequence[int] | None],
        timeout_ms: float | None = None,
    ) -> dict[TopicPartition, BrokerResponseError | None]:
        """Move partitions' replicas to other brokers (Kafka's AlterPartitionReassignments).

        ``reassignments`` maps each :class:`~pcmodel.topics.structs.TopicPartition` to its
        target replica list (broker ids, the new preferred leader first), or to ``None`` to
        cancel its reassignment in progress, as in kafka-python. Returns ``{partition: None}``
        where the reassignment started (or completed at once) or was cancelled, else the
        reason: ``InvalidReplicationAssignmentError`` (an empty or repeated list, an unknown
        broker, a cancellation that would need an unclean election),
        ``NoReassignmentInProgressError``, ``UnknownTopicOrPartitionError``. Each partition is
        decided alone; the replicas then move as the new ones catch up, which
        :meth:`list_partition_reassignments` follows. kafka-python answers each partition with
        the error's class and refuses an empty or non-int list itself; this client answers
        with the controller's error, an instance that says what was wrong (``is None`` tests
        success in both). A lone broker holds each partition's only replica: only its own id
        (0) is a valid target. Raises ``TypeError`` unless ``reassignments`` is a mapping, and
        ``IllegalArgumentError`` for a key that is not a topic partition. ``timeout_ms`` is
        accepted for kafka-python's signature: the controller decides at once.
        """
        self._check_open()
        return self._conn.alter_partition_reassignments(reassignments)

    def list_partition_reassignments(
        self, topic_partitions: Mapping[str, Iterable[int]] | Iterable[TopicPartition] | None
        = None, timeout_ms: float | None = None,
    ) -> dict[TopicPartition, dict[str, list[int]]]:
        """The reassignments in progress (Kafka's ListPartitionReassignments).

        ``topic_partitions``: ``{topic: [partition ids]}``, a list of
        :class:`~pcmodel.topics.structs.TopicPartition`, or ``None`` for every partition, as
        in kafka-python. Returns ``{partition: {"replicas", "adding_replicas",
        "removing_replicas"}}`` (lists of broker ids: every replica now, target first; those
        catching up; those that leave once they have), kafka-python 3's answer. Partitions
        without a reassignment in progress, or unknown, are left out. ``timeout_ms`` is
        accepted for kafka-python's signature. Raises ``TypeError`` for ``topic_partitions``
        of none of those forms (a bare str, a single ``TopicPartition``, an int) or with an
        entry of the wrong type.
        """
        self._check_open()
        asked: list[TopicPartition] | None = None
        if isinstance(topic_partitions, Mapping):
            asked = _mapped_partitions(topic_partitions)
        elif isinstance(topic_partitions, (str, bytes, bytearray)):
            raise TypeError(f"topic_partitions must be {{topic: [partitions]}}, a list of "
                            f"TopicPartition or None, not the {type(topic_partitions).__name__} "
                            f"{topic_partitions!r}")
        elif topic_partitions is not None:
            asked = _check_partitions("topic_partitions", topic_partitions)
        return {tp: {"replicas": list(moving.replicas),
                     "adding_replicas": list(moving.adding_replicas),
                     "removing_replicas": list(moving.removing_replicas)}
                for tp, moving in self._conn.list_partition_reassignments(asked).items()}

    def _partitions_named(
        self, topic_partitions: Mapping[str, Iterable[int]] | Iterable[str] | None,
    ) -> list[TopicPartition]:
        """The partitions of kafka-python's ``topic_partitions`` argument: ``{topic:
        [partition ids]}``, a list of topics (all their partitions, each topic checked), or
        ``None`` (every partition of every topic). ``TypeError`` for a value of none of these
        forms or an entry of the wrong type; ``UnknownTopicOrPartitionError`` for a topic of
        the list that does not exist."""
        if isinstance(topic_partitions, Mapping):
            return _mapped_partitions(topic_partitions)
        if isinstance(topic_partitions, (str, bytes, bytearray, TopicPartition)):
            # A TopicPartition is a tuple: it would be taken as the topics "t" and 0.
            hint = (f": pass {{{topic_partitions.topic!r}: [{topic_partitions.partition}]}}"
                    if isinstance(topic_partitions, TopicPartition) else "")
            raise TypeError(f"topic_partitions must be {{topic: [partitions]}}, a list of "
                            f"topics or None, not the {type(topic_partitions).__name__} "
                            f"{topic_partitions!r}{hint}")
        counts = self._conn.list_topics()
        topics = (sorted(counts) if topic_partitions is None
                  else _check_entries("topic_partitions", topic_partitions, str))
        for topic in topics:
            if topic not in counts:
                raise UnknownTopicOrPartitionError(f"unknown topic {topic!r}; existing "
                                                   f"topics: {sorted(counts)}")
        return [TopicPartition(topic, p) for topic in topics for p in range(counts[topic])]


def _mapped_partitions(topic_partitions: Mapping[str, Iterable[int]]) -> list[TopicPartition]:
    """The partitions of ``{topic: [partition ids]}``, in its order. ``TypeError`` for a
    topic's ids that are not a list (``{"t": 0}``, as :func:`_check_list` says it) and, from
    ``validate_topic_partition``, for a topic or an id of the wrong type."""
    return [validate_topic_partition((topic, p))
            for topic, partitions in topic_partitions.items()
            for p in _check_list(f"topic_partitions[{topic!r}]", partitions, "int")]


def _total_count(spec: NewPartitions | int | Mapping[str, Any]) -> tuple[int, list[list[int]]]:
    """The new total and the replica assignments of the new partitions (``[]``: none)."""
    if isinstance(spec, NewPartitions):
        return spec.total_count, list(spec.new_assignments or ())
    if isinstance(spec, Mapping):
        return spec["count"], list(spec.get("assignments") or ())
    return spec, []
