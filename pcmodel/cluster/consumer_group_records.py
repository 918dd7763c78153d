"""A Kafka 4 consumer group as records of ``__consumer_offsets``, as Kafka's coordinator writes it.

Kafka's group coordinator does not store a consumer group (KIP-848) as one blob: it writes one
record per fact, each with a key of its own, so that a heartbeat that changes one member writes
only that member's records, and compaction keeps each fact's latest value
(``GroupCoordinatorRecordHelpers``; the schemas are ``ConsumerGroup*Key.json`` /
``ConsumerGroup*Value.json`` in Kafka's group-coordinator). pcmodel writes the same six kinds,
with Kafka's names and fields, the values in JSON:

===================================== =========================== ==============================
record                                key                         value
===================================== =========================== ==============================
ConsumerGroupMetadata                 group                       ``Epoch`` (the group epoch)
ConsumerGroupPartitionMetadata        group                       ``Topics``: name, partitions
ConsumerGroupMemberMetadata           group, member               ``InstanceId``, ``RackId``,
                                                                  ``ClientId``, ``ClientHost``,
                                                                  subscription, assignor,
                                                                  ``RebalanceTimeoutMs``,
                                                                  ``ClassicMemberMetadata``
ConsumerGroupTargetAssignmentMetadata group                       ``AssignmentEpoch``
ConsumerGroupTargetAssignmentMember   group, member               ``TopicPartitions``
ConsumerGroupCurrentMemberAssignment  group, member               ``MemberEpoch``,
                                                                  ``PreviousMemberEpoch``,
                                                                  ``State``, assigned and
                                                                  pending-revocation partitions
===================================== =========================== ==============================

A member that leaves gets tombstones for its three records, a deleted group for all of them
(Kafka writes the member's tombstones, and at deletion the group's, the same way). Partitions
are named by topic *name* where Kafka writes topic ids: pcmodel's coordinator knows topics by
name (:mod:`pcmodel.topics.consumer_group`). A key starts with a zero byte, which no key of a
committed offset or of a classic group's metadata does (:mod:`pcmodel.cluster.offsets`), and
names its kind, the group and the member.

:func:`consumer_group_records` turns a coordinator's
:class:`~pcmodel.topics.broker_consumer_groups.ConsumerGroupSnapshot` into records;
:func:`consumer_groups_from_records` reads a partition's latest records back into snapshots,
which a new coordinator restores.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from pcmodel.topics.broker_consumer_groups import ConsumerGroupSnapshot
from pcmodel.topics.consumer_group_members import (
    Assignment,
    ClassicMetadata,
    ConsumerGroupMember,
    MemberState,
)

__all__ = [
    "consumer_group_key_group",
    "consumer_group_records",
    "consumer_groups_from_records",
    "is_consumer_group_key",
]

_METADATA = "ConsumerGroupMetadata"
_PARTITION_METADATA = "ConsumerGroupPartitionMetadata"
_MEMBER_METADATA = "ConsumerGroupMemberMetadata"
_TARGET_METADATA = "ConsumerGroupTargetAssignmentMetadata"
_TARGET_MEMBER = "ConsumerGroupTargetAssignmentMember"
_CURRENT_ASSIGNMENT = "ConsumerGroupCurrentMemberAssignment"

#: Kafka's ``MemberState`` codes (the ``State`` int8 of a current assignment record).
_STATE_CODES = {MemberState.STABLE: 0, MemberState.UNREVOKED_PARTITIONS: 1,
                MemberState.UNRELEASED_PARTITIONS: 2}
_STATES = {code: state for state, code in _STATE_CODES.items()}


def _key(kind: str, group: str, member: str | None = None) -> bytes:
    parts = ["", kind, group] + ([] if member is None else [member])
    return "\x00".join(parts).encode()


def is_consumer_group_key(key: bytes) -> bool:
    """Whether ``key`` is the key of one of a consumer group's records."""
    return key.startswith(b"\x00")


def consumer_group_key_group(key: bytes) -> str:
    """The group id in a consumer group record's key."""
    return key.decode().split("\x00")[2]


def _partitions(assignment: Assignment) -> list[dict]:
    return [{"Topic": topic, "Partitions": sorted(parts)}
            for topic, parts in sorted(assignment.items()) if parts]


def _assignment(entries: list[dict]) -> Assignment:
    return {e["Topic"]: frozenset(e["Partitions"]) for e in entries}


def _json(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True).encode()


def consumer_group_records(snapshot: ConsumerGroupSnapshot) -> dict[bytes, bytes]:
    """Every record (key -> value) that says what ``snapshot`` holds."""
    group = snapshot.group_id
    records = {
        _key(_METADATA, group): _json({"Epoch": snapshot.group_epoch}),
        _key(_PARTITION_METADATA, group): _json({"Topics": [
            {"TopicName": t, "NumPartitions": n}
            for t, n in sorted(snapshot.subscription_metadata.items())]}),
        _key(_TARGET_METADATA, group): _json({"AssignmentEpoch": snapshot.assignment_epoch}),
    }
    for member_id, target in snapshot.target.items():
        records[_key(_TARGET_MEMBER, group, member_id)] = _json(
            {"TopicPartitions": _partitions(target)})
    for m in snapshot.members:
        classic = None if m.classic is None else {
            "SessionTimeoutMs": m.classic.session_timeout_ms,
            "SupportedProtocols": [{"Name": name, "Metadata": base64.b64encode(data).decode()}
                                   for name, data in m.classic.protocols]}
        records[_key(_MEMBER_METADATA, group, m.member_id)] = _json({
            "InstanceId": m.instance_id, "RackId": m.rack_id, "ClientId": m.client_id,
            "ClientHost": m.client_host,
            "SubscribedTopicNames": list(m.subscribed_topic_names),
            "SubscribedTopicRegex": m.subscribed_topic_regex,
            "ServerAssignor": m.server_assignor,
            "RebalanceTimeoutMs": m.rebalance_timeout_ms, "ClassicMemberMetadata": classic})
        records[_key(_CURRENT_ASSIGNMENT, group, m.member_id)] = _json({
            "MemberEpoch": m.member_epoch, "PreviousMemberEpoch": m.previous_member_epoch,
            "State": _STATE_CODES[m.state], "AssignedPartitions": _partitions(m.assigned),
            "PartitionsPendingRevocation": _partitions(m.pending_revocation)})
    return records


def consumer_groups_from_records(records: Mapping[bytes, bytes]
                                 ) -> dict[str, ConsumerGroupSnapshot]:
    """The consumer groups the latest ``records`` of a partition describe (other keys are
    ignored), each as a snapshot. A group needs its ``ConsumerGroupMetadata`` record; a
    member needs both its metadata and its current assignment (Kafka's coordinator drops a
    member it half knows when it loads, and so does this)."""
    groups: dict[str, dict] = {}
    for key, value in records.items():
        if not is_consumer_group_key(key):
            continue
        _, kind, group, *member = key.decode().split("\x00")
        found = groups.setdefault(group, {"members": {}, "current": {}, "target": {}})
        fields = json.loads(value)
        if kind in (_MEMBER_METADATA, _CURRENT_ASSIGNMENT, _TARGET_MEMBER):
            place = {_MEMBER_METADATA: "members", _CURRENT_ASSIGNMENT: "current",
                     _TARGET_MEMBER: "target"}[kind]
            found[place][member[0]] = fields
        else:
            found[kind] = fields
    snapshots = {}
    for group, found in groups.items():
        if _METADATA not in found:
            continue
        members = tuple(_member(member_id, fields, found["current"][member_id])
                        for member_id, fields in found["members"].items()
                        if member_id in found["current"])
        snapshots[group] = ConsumerGroupSnapshot(
            group, found[_METADATA]["Epoch"],
            {t["TopicName"]: t["NumPartitions"]
             for t in found.get(_PARTITION_METADATA, {"Topics": []})["Topics"]},
            found.get(_TARGET_METADATA, {"AssignmentEpoch": 0})["AssignmentEpoch"],
            members,
            {m: _assignment(f["TopicPartitions"]) for m, f in found["target"].items()})
    return snapshots


def _member(member_id: str, metadata: dict, current: dict) -> ConsumerGroupMember:
    classic = metadata["ClassicMemberMetadata"]
    return ConsumerGroupMember(
        member_id, instance_id=metadata["InstanceId"], rack_id=metadata["RackId"],
        client_id=metadata["ClientId"], client_host=metadata["ClientHost"],
        rebalance_timeout_ms=metadata["RebalanceTimeoutMs"],
        subscribed_topic_names=tuple(metadata["SubscribedTopicNames"]),
        subscribed_topic_regex=metadata["SubscribedTopicRegex"],
        server_assignor=metadata["ServerAssignor"],
        state=_STATES[current["State"]], member_epoch=current["MemberEpoch"],
        previous_member_epoch=current["PreviousMemberEpoch"],
        assigned=_assignment(current["AssignedPartitions"]),
        pending_revocation=_assignment(current["PartitionsPendingRevocation"]),
        classic=None if classic is None else ClassicMetadata(
            classic["SessionTimeoutMs"],
            tuple((p["Name"], base64.b64decode(p["Metadata"]))
                  for p in classic["SupportedProtocols"])))
