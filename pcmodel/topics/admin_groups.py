"""The consumer-group half of :class:`~pcmodel.topics.admin.KafkaAdminClient`.

Listing, describing and deleting groups, removing members, and reading, altering, resetting
and deleting their committed offsets, with kafka-python 3's names and results (and kafka-python
2's names for the first four, because most tutorials still use them). Altering and resetting
commit as a client outside the group does (generation -1, no member id), which Kafka accepts
only while the group has no members; deleting is Kafka's OffsetDelete
(:meth:`~pcmodel.topics.broker_offsets.CommittedOffsetsMixin.delete_offsets`).

Prior art: kafka-python's ``kafka/admin/_groups.py`` and the Java ``Admin`` interface
(``alterConsumerGroupOffsets``, ``deleteConsumerGroupOffsets``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcmodel.topics.authorization import GROUP_OPERATIONS, operation_names
from pcmodel.topics.broker_checks import _check_list, _check_mapping, _check_partitions
from pcmodel.topics.consumer_protocol import decode_full_assignment, decode_subscription
from pcmodel.topics.errors import (
    BrokerResponseError,
    GroupIdNotFoundError,
    IllegalArgumentError,
    NoError,
    OffsetMetadataTooLargeError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import (
    MemberToRemove,
    OffsetAndMetadata,
    OffsetSpec,
    OffsetTimestamp,
    TopicPartition,
    validate_topic_partition,
)

__all__ = ["GroupAdminMixin"]


class GroupAdminMixin:
    """Consumer-group administration (KafkaAdminClient part: the client provides ``_conn``, its
    broker connection, ``_check_open()``, ``_replicated()``, ``_check_broker_ids()``,
    ``_missing_partitions()`` and ``list_partition_offsets()``)."""

    def list_groups(
        self, broker_ids: Iterable[int] | None = None,
        states_filter: Iterable[str] | None = None, types_filter: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every group: ``[{"group_id", "protocol_type", "group_state", "group_type"}]``.

        As Kafka's ListGroups, in group id order: ``protocol_type`` is the one the group's
        members joined with (``"consumer"`` for consumers), ``""`` for a group that only ever
        committed offsets; ``group_type`` is ``"classic"`` (Kafka's first group protocol), or
        ``"consumer"`` for a Kafka 4 consumer group (KIP-848, whose members heartbeat with
        ConsumerGroupHeartbeat), listed with protocol type ``"consumer"`` and its own states
        (``"Empty"``, ``"Assigning"``, ``"Reconciling"``, ``"Stable"``).
        ``states_filter`` and ``types_filter`` keep the groups in one of the states (``"Stable"``,
        ``"Empty"``, ...) or of one of the types named, ignoring case. ``broker_ids`` asks
        those brokers only, as kafka-python does: each lists the groups it coordinates now (a
        broker that is down coordinates none; a lone broker is broker 0, which coordinates
        every group); ``None`` asks every live broker, ``[]`` none. Returns at once. Raises
        ``TypeError`` for a bare str given as a filter (pass ``["Stable"]``) or as
        ``broker_ids`` (pass ``[0]``), ``IllegalArgumentError`` for an id that is not one of
        the brokers, before any broker is asked.
        """
        self._check_open()
        asked = None if broker_ids is None else set(self._check_broker_ids(broker_ids))
        states = None if states_filter is None else {
            s.lower() for s in _check_list("states_filter", states_filter)}
        types = None if types_filter is None else {
            t.lower() for t in _check_list("types_filter", types_filter)}
        every = [(group_id, protocol_type or "", getattr(state, "value", state), "classic")
                 for group_id, (protocol_type, state) in self._conn.group_states().items()]
        every += [(group_id, "consumer", state, "consumer")
                  for group_id, state in self._conn.consumer_group_states().items()]
        return [{"group_id": group_id, "protocol_type": protocol_type, "group_state": state,
                 "group_type": group_type}
                for group_id, protocol_type, state, group_type in sorted(every)
                if (asked is None or self._coordinator_of_group(group_id) in asked)
                and (states is None or state.lower() in states)
                and (types is None or group_type in types)]

    def describe_groups(
        self, group_ids: Iterable[str], group_coordinator_id: Any = None,
        include_authorized_operations: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """``{group_id: {"group_id", "group_state", "protocol_type", "protocol_data",
        "members": [...], "authorized_operations", "error"}}``; ``"error"`` is ``None``, or
        for an unknown group (in state ``"Dead"``) the text of its ``GroupIdNotFoundError``,
        as kafka-python 3 reports Kafka 4's answer (KIP-1043). ``authorized_operations`` is
        ``None`` unless
        ``include_authorized_operations``: then it names every operation on a group, as a
        Kafka broker without an authorizer answers (there are no ACLs here). kafka-python
        3.0.12 asks for them whatever its argument says; pcmodel follows the argument, as
        Kafka's Java client (``includeAuthorizedOperations``) does.

        Each member, as kafka-python 3 decodes DescribeGroups: ``{"member_id",
        "group_instance_id", "client_id", "client_host", "member_metadata": {"topics": [...],
        "user_data": ..., "owned_partitions": [{"topic", "partitions"}, ...]},
        "member_assignment": {"assigned_partitions": [{"topic": "t", "partitions": [0, 1]},
        ...], "user_data": ...}}``. The subscription's fields are those of the version the
        member wrote (``owned_partitions`` from version 1, ``generation_id`` 2, ``rack_id``
        3); user data is ``None`` or text; the metadata and assignment are ``""`` outside
        ``Stable``, and the raw bytes as text when they are not the consumer protocol's.

        Raises ``TypeError`` for a bare str (pass ``["my-group"]``).
        """
        self._check_open()
        group_ids = _check_list("group_ids", group_ids)
        operations = operation_names(GROUP_OPERATIONS) if include_authorized_operations \
            else None
        described = {group_id: self._describe(group_id) for group_id in group_ids}
        return {group_id: {**desc, "authorized_operations": operations}
                if desc["error"] is None else desc  # Kafka tells no operations with an error
                for group_id, desc in described.items()}

    def list_group_offsets(
        self, group_specs: Mapping[str, Iterable[TopicPartition] | None] | str | Iterable[str]
    ) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
        """Committed offsets: ``{group_id: {TopicPartition: OffsetAndMetadata}}``.

        ``group_specs`` maps a group to the partitions wanted (``None``: all it committed), or
        is a group id or a list of them (all). A partition asked for by name that the group
        never committed maps to ``None``, as the Java ``Admin.listConsumerGroupOffsets``
        answers (kafka-python 3: an ``OffsetAndMetadata`` with offset ``-1``); asking for all
        leaves such partitions out. Raises ``TypeError`` for ``bytes``.
        """
        self._check_open()
        if isinstance(group_specs, str):
            group_specs = {group_specs: None}
        elif not isinstance(group_specs, Mapping):
            group_specs = dict.fromkeys(_check_list("group_specs", group_specs))
        return {
            group_id: self._group_offsets(group_id, partitions)
            for group_id, partitions in group_specs.items()
        }

    def delete_groups(
        self, group_ids: Iterable[str], group_coordinator_id: Any = None
    ) -> dict[str, str]:
        """Delete empty groups and their offsets: ``{group_id: "OK" | error class name}``.

        ``"GroupNotEmptyError"`` for a group with members, ``"GroupIdNotFoundError"`` for an
        unknown one (kafka-python reports them, it does not raise). Raises ``TypeError`` for
        a bare str (pass ``["my-group"]``), before any group is deleted.
        """
        return {group_id: "OK" if error is None else type(error).__name__
                for group_id, error in self.delete_consumer_groups(group_ids)}

    def alter_group_offsets(
        self, group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata],
        group_coordinator_id: Any = None,
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Commit ``offsets`` for a group that has no members (an admin's OffsetCommit).

        Returns ``{TopicPartition: error class}``, :class:`~pcmodel.topics.errors.NoError` for
        each partition committed, as kafka-python does: ``UnknownTopicOrPartitionError`` for a
        partition that does not exist, and for the others the group's refusal
        (``UnknownMemberIdError`` while the group has members, ``RebalanceInProgressError``
        while it forms); ``OffsetMetadataTooLargeError`` for a partition whose metadata is
        longer than the broker's ``offset_metadata_max_bytes``, the others being committed.
        Each ``OffsetAndMetadata``'s metadata and leader epoch are stored with its offset.
        Raises ``TypeError`` / ``IllegalArgumentError`` before anything is
        committed when a value is not an :class:`OffsetAndMetadata` with an offset >= 0, and
        ``TypeError`` for ``offsets`` that are not a mapping.
        """
        self._check_open()
        wanted = {}
        for tp, value in _check_mapping("offsets", offsets,
                                        "TopicPartition to OffsetAndMetadata").items():
            tp = validate_topic_partition(tp)
            if not isinstance(value, OffsetAndMetadata):
                raise TypeError(f"offsets must map TopicPartition to OffsetAndMetadata; {tp} "
                                f"maps to {value!r}")
            if isinstance(value.offset, bool) or not isinstance(value.offset, int) \
                    or value.offset < 0:
                raise IllegalArgumentError(f"the offset of {tp} must be an int >= 0, not "
                                           f"{value.offset!r}")
            wanted[tp] = value
        return self._commit_as_admin(group_id, wanted)

    def reset_group_offsets(
        self, group_id: str,
        offset_specs: Mapping[TopicPartition, OffsetSpec | OffsetTimestamp | int],
        group_coordinator_id: Any = None,
    ) -> dict[TopicPartition, dict[str, Any]]:
        """Move a memberless group's committed offsets: to ``OffsetSpec.EARLIEST`` or
        ``LATEST`` (or another spec :meth:`list_partition_offsets` takes), to the first record
        at or after an :class:`OffsetTimestamp`, or to a plain ``int`` offset. Kafka's
        ``kafka-consumer-groups --reset-offsets``.

        Every target is clamped to the partition's ``[earliest, latest]``; a timestamp after
        the last record resolves to ``latest``. A partition's committed metadata is kept.
        Returns ``{TopicPartition: {"error": error class, "offset": offset committed}}``,
        errors as :meth:`alter_group_offsets`. Raises ``TypeError`` for another kind of target,
        ``UnknownTopicOrPartitionError`` for a partition that does not exist and
        ``UnsupportedVersionError`` for a negative spec Kafka does not have, before anything
        is committed; ``TypeError`` for ``offset_specs`` that are not a mapping.
        """
        self._check_open()
        _check_mapping("offset_specs", offset_specs,
                       "TopicPartition to OffsetSpec, OffsetTimestamp or int")
        specs = {validate_topic_partition(tp): spec for tp, spec in offset_specs.items()}
        for tp, spec in specs.items():
            if isinstance(spec, bool) or not isinstance(spec, int):
                raise TypeError(f"unsupported reset target for {tp}: {spec!r} (expected "
                                "OffsetSpec, OffsetTimestamp, or an int offset)")
        if not specs:
            return {}
        tps = list(specs)
        earliest = self._conn.beginning_offsets(tps)
        latest = self._conn.end_offsets(tps)
        asked = {tp: spec for tp, spec in specs.items()
                 if isinstance(spec, (OffsetSpec, OffsetTimestamp))}
        found = self.list_partition_offsets(asked) if asked else {}
        current = self._conn.committed(group_id, tps)
        targets = {}
        for tp, spec in specs.items():
            raw = found[tp].offset if tp in found else int(spec)
            if raw < 0 or raw > latest[tp]:
                raw = latest[tp]
            offset = max(raw, earliest[tp])
            kept = current.get(tp)
            targets[tp] = OffsetAndMetadata(offset, "" if kept is None else kept.metadata)
        errors = self._commit_as_admin(group_id, targets)
        return {tp: {"error": errors[tp], "offset": targets[tp].offset} for tp in targets}

    def delete_group_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition],
        group_coordinator_id: Any = None,
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Delete a group's committed offsets of ``partitions`` (Kafka's OffsetDelete).

        Returns ``{TopicPartition: error class}``: :class:`~pcmodel.topics.errors.NoError` where
        the offset is gone (or there was none), ``GroupSubscribedToTopicError`` for a topic the
        group's members consume, ``UnknownTopicOrPartitionError`` for a partition that does not
        exist. Raises ``GroupIdNotFoundError`` for an unknown group and ``GroupNotEmptyError``
        (``NonEmptyGroupError``) for a group with members that is not a consumer group. A
        group left empty with no offset is deleted, as Kafka's coordinator does. Raises
        ``TypeError`` for a bare str or another entry that is not a ``TopicPartition``.
        """
        self._check_open()
        tps = _check_partitions("partitions", partitions)
        if not tps:
            return {}
        results = self._conn.delete_offsets(group_id, tps)
        return {tp: NoError if error is None else type(error) for tp, error in results.items()}

    def remove_group_members(
        self, group_id: str, members: Iterable[MemberToRemove], group_coordinator_id: Any = None,
    ) -> dict[str, type[BrokerResponseError]]:
        """Remove members from a group now, as if each had left (Kafka's LeaveGroup v3+): a
        dynamic member named by its ``member_id``, a static one by its ``group_instance_id``
        alone (how a static member that will not come back is removed before its session
        timeout). The group rebalances without them.

        Returns ``{member_id or group_instance_id: error class}``, as kafka-python does:
        :class:`~pcmodel.topics.errors.NoError` for a member removed,
        ``UnknownMemberIdError`` for one the group does not have (or an unknown group),
        ``FencedInstanceIdError`` when both ids are given and another member holds the
        instance id. Raises ``TypeError`` for a bare str or an entry that is not a
        :class:`MemberToRemove`, and ``IllegalArgumentError`` for one with neither id, before
        removing anyone.
        """
        self._check_open()
        members = _check_list("members", members, "MemberToRemove")
        for member in members:
            if not isinstance(member, MemberToRemove):
                raise TypeError(f"members must be MemberToRemove entries, got {member!r}")
            if not member.member_id and member.group_instance_id is None:
                raise IllegalArgumentError(f"{member!r} names no member: give its member_id "
                                           "or its group_instance_id")
        results: dict[str, type[BrokerResponseError]] = {}
        for member in members:
            try:
                self._conn.leave_group(group_id, member.member_id or "",
                                       group_instance_id=member.group_instance_id)
                outcome: type[BrokerResponseError] = NoError
            except BrokerResponseError as exc:
                outcome = type(exc)
            results[member.member_id or member.group_instance_id] = outcome
        return results

    # --- the same, under kafka-python 2's names and results ----------------------------------

    def list_consumer_groups(self, broker_ids: Iterable[int] | None = None,
                             ) -> list[tuple[str, str]]:
        """kafka-python 2: ``[(group_id, protocol_type)]`` of the groups ``broker_ids``
        coordinate (``None``: every live broker), raising as :meth:`list_groups`."""
        return [(g["group_id"], g["protocol_type"]) for g in self.list_groups(broker_ids)]

    def describe_consumer_groups(
        self, group_ids: Iterable[str], group_coordinator_id: Any = None,
        include_authorized_operations: bool = False,
    ) -> list[dict[str, Any]]:
        """kafka-python 2's name: a list of the descriptions :meth:`describe_groups` maps
        (``TypeError`` for a bare str, as there)."""
        return list(self.describe_groups(
            group_ids, include_authorized_operations=include_authorized_operations).values())

    def list_consumer_group_offsets(
        self, group_id: str, group_coordinator_id: Any = None,
        partitions: Iterable[TopicPartition] | None = None,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """kafka-python 2: ``{TopicPartition: OffsetAndMetadata}`` of one group; ``None`` for
        a partition of ``partitions`` never committed, as :meth:`list_group_offsets`.
        ``TypeError`` for a bare str or another entry that is not a ``TopicPartition``."""
        self._check_open()
        return self._group_offsets(group_id, partitions)

    def delete_consumer_groups(
        self, group_ids: Iterable[str], group_coordinator_id: Any = None
    ) -> list[tuple[str, BrokerResponseError | None]]:
        """kafka-python 2: ``[(group_id, error or None)]``. Raises ``TypeError`` for a bare
        str (pass ``["my-group"]``), before any group is deleted."""
        self._check_open()
        results: list[tuple[str, BrokerResponseError | None]] = []
        for group_id in _check_list("group_ids", group_ids):
            try:
                self._conn.delete_group(group_id)
                results.append((group_id, None))
            except BrokerResponseError as exc:
                results.append((group_id, exc))
        return results

    # --- helpers ------------------------------------------------------------------------------

    def _coordinator_of_group(self, group_id: str) -> int | None:
        """The broker coordinating ``group_id``: broker 0 alone, on a cluster the leader of
        its ``__consumer_offsets`` partition (``None`` while it has none)."""
        return self._conn.coordinator_id(group_id) if self._replicated() else 0

    def _describe(self, group_id: str) -> dict[str, Any]:
        try:
            desc = self._conn.describe_group(group_id)
        except GroupIdNotFoundError:
            return {"group_id": group_id, "group_state": "Dead", "protocol_type": "",
                    "protocol_data": "", "members": [], "authorized_operations": None,
                    "error": str(GroupIdNotFoundError(f"Group {group_id} not found."))}
        return {
            "group_id": group_id,
            "group_state": getattr(desc.state, "value", desc.state),
            "protocol_type": desc.protocol_type or "",
            "protocol_data": desc.protocol or "",
            "members": [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "member_metadata": _as_kafka_python_decodes(m.member_metadata,
                                                                _subscription_dict),
                    "member_assignment": _as_kafka_python_decodes(m.member_assignment,
                                                                  _assignment_dict),
                }
                for m in desc.members
            ],
            "authorized_operations": None,
            "error": None,
        }

    def _group_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition] | None
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        if partitions is None:
            try:
                return dict(sorted(self._conn.describe_group(group_id).committed.items()))
            except GroupIdNotFoundError:
                return {}
        # Each partition asked for is answered, None where nothing is committed: the Java
        # Admin's null (kafka-python 3 answers an OffsetAndMetadata of offset -1 there).
        return dict(self._conn.committed(group_id, _check_partitions("partitions", partitions)))

    def _commit_as_admin(
        self, group_id: str, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Commit as a client outside the group (generation -1, no member id); per partition
        the error class, as Kafka answers an OffsetCommit."""
        results: dict[TopicPartition, type[BrokerResponseError]] = dict.fromkeys(
            self._missing_partitions(offsets), UnknownTopicOrPartitionError)
        known = {tp: value for tp, value in offsets.items() if tp not in results}
        if known:
            try:
                self._conn.commit_offsets(group_id, -1, "", known)
                outcome: type[BrokerResponseError] = NoError
            except OffsetMetadataTooLargeError as exc:
                outcome = NoError  # the others were committed
                results.update(dict.fromkeys(exc.partitions, OffsetMetadataTooLargeError))
            except BrokerResponseError as exc:
                outcome = type(exc)  # the group's refusal holds for every partition
            results.update({tp: outcome for tp in known if tp not in results})
        return {tp: results[tp] for tp in offsets}


def _as_kafka_python_decodes(raw: bytes, to_dict: Callable[[bytes], dict[str, Any]]
                             ) -> dict[str, Any] | str:
    """Member bytes as kafka-python 3's describe_groups shows them: decoded with the consumer
    protocol when there are any and they decode, else the bytes as text."""
    if raw:
        try:
            return to_dict(raw)
        except ValueError:
            pass
    return _text(raw)


def _text(raw: bytes | None) -> str | None:
    """Bytes as kafka-python's ``to_dict`` renders them: text, undecodable bytes escaped."""
    return None if raw is None else bytes(raw).decode(errors="backslashreplace")


def _by_topic(partitions: Iterable[TopicPartition]) -> list[dict[str, Any]]:
    grouped: dict[str, list[int]] = {}
    for tp in partitions:
        grouped.setdefault(tp.topic, []).append(tp.partition)
    return [{"topic": topic, "partitions": numbers} for topic, numbers in grouped.items()]


def _subscription_dict(raw: bytes) -> dict[str, Any]:
    sub = decode_subscription(raw)
    fields: dict[str, Any] = {"topics": list(sub.topics), "user_data": _text(sub.user_data)}
    if sub.version >= 1:
        fields["owned_partitions"] = _by_topic(sub.owned_partitions)
    if sub.version >= 2:
        fields["generation_id"] = sub.generation_id
    if sub.version >= 3:
        fields["rack_id"] = sub.rack_id
    return fields


def _assignment_dict(raw: bytes) -> dict[str, Any]:
    assignment = decode_full_assignment(raw)
    return {"assigned_partitions": _by_topic(assignment.partitions),
            "user_data": _text(assignment.user_data)}
