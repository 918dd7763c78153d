"""A group's committed offsets: who may commit, when each was committed, and when they expire.

**Who may commit** (:meth:`GroupOffsetsMixin.check_commit`): a member of the current
generation, or a consumer outside group management (generation ``-1``) while the group has no
members; the checks are Kafka's, in Kafka's order. A transactional producer staging offsets
for the group (:meth:`GroupOffsetsMixin.check_txn_commit`) passes if the consumer it names is
still the group's member at that generation, or if it names none.

**What a commit may carry** (Kafka's ``offset.metadata.max.bytes``, 4096 by default): a
committed offset's metadata string may be at most that long, counted as Kafka's
``String.length()`` counts it: in UTF-16 code units (one per character of the Basic
Multilingual Plane, two for any other, such as an emoji), not in bytes of UTF-8, whatever the
setting's name says (:func:`metadata_length`). A longer one is refused for its partition
alone, with OFFSET_METADATA_TOO_LARGE; the other partitions of the commit are committed
(Kafka's ``OffsetMetadataManager.isMetadataInvalid``, checked per partition by OffsetCommit
and TxnOffsetCommit after the group's checks). ``None`` (a null on the wire) is always
accepted, and stored as ``""``. The committed *leader epoch* (OffsetCommit v6+, KIP-320: the
epoch of the leader that served the last record consumed) is stored with the offset and
returned by OffsetFetch (v5+); ``-1`` means none was committed.

**Offsets retention** (Kafka's ``offsets.retention.minutes``). A committed offset is not kept
for ever. Kafka's coordinator runs a retention check every
``offsets.retention.check.interval.ms`` (10 minutes by default) and removes the offsets that
have outlived ``offsets.retention.minutes`` (7 days by default), counted from a moment that
depends on the group (KIP-211):

* a group that had members and is now ``Empty``: from the moment it became ``Empty`` (its
  *state timestamp*), for all its offsets at once. While a consumer group has members its
  offsets cannot expire, however old the last commit;
* a consumer group that is ``Stable``: only the offsets of topics its generation did not
  subscribe to when it started expire, each counted from its own commit (Kafka's
  ``ClassicGroup.isSubscribedToTopic``; if a member's subscription does not parse, the group's
  topics are not known and nothing expires, as Kafka's ``offsetExpirationCondition`` wants
  them known);
* a group that never had members (consumers that only commit, outside group management, with
  ``generation=-1``): each offset counted from its own commit;
* any other group (rebalancing, or ``Stable`` with a protocol type other than ``consumer``):
  nothing expires.

An offset committed with its own retention (OffsetCommit v2 to v4's ``retention_time_ms``, the
rule before KIP-211) expires that long after its commit instead, whatever the moment above,
but still only in the groups and topics the rules above judge.

**Offsets pending in a transaction** (staged by TxnOffsetCommit, not yet committed or
aborted) hold back the check, as in Kafka's ``OffsetMetadataManager.cleanupExpiredOffsets``:
the committed offset of a partition with a pending one does not expire (the transaction's
outcome is still to be applied to it), while the group's other offsets expire as usual; and a
group with any offset pending is not deleted, however empty. Once the transaction ends, the
next check judges the group as any other. (Kafka 4's coordinator skips that second rule for a
group with no committed offset at all, an early return before it; here such a group is kept
too, as Kafka's earlier coordinator kept it, so that the transaction's commit does not land in
a group deleted under it.)

A group left ``Empty`` without any offset is then deleted, as after DeleteGroups: a new commit
or join starts a fresh group. The times are the broker's wall clock (epoch milliseconds), as
Kafka's are: they are stored with each commit and in the group's metadata record, so a new
coordinator expires the same offsets at the same moment.

:class:`GroupOffsetsMixin` is one part of
:class:`~pcmodel.topics.coordinator.GroupCoordinator` and, like it, is called with the broker's
lock held; the broker decides when to run the check (see
:mod:`pcmodel.topics.broker_offsets`).

Prior art: Kafka's ``GroupCoordinator.handleCommitOffsets`` (the checks),
``GroupMetadata.removeExpiredOffsets`` and ``GroupMetadataManager.cleanupGroupMetadata``
(KIP-211).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import NoReturn

from pcmodel.topics.broker_checks import INT32_MAX, INT64_MAX
from pcmodel.topics.consumer_protocol import PROTOCOL_TYPE
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalGenerationError,
    OffsetMetadataTooLargeError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_answers import GroupState
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

__all__ = ["DEFAULT_OFFSETS_RETENTION_MINUTES", "DEFAULT_OFFSET_METADATA_MAX_BYTES",
           "DEFAULT_RETENTION_CHECK_INTERVAL_MS", "GroupOffsetsMixin", "checked_offset",
           "metadata_length", "metadata_too_large", "metadata_too_long", "offsets_retention_ms",
           "oversized_metadata", "pending_by_group"]

#: Kafka's ``offsets.retention.minutes`` default: seven days.
DEFAULT_OFFSETS_RETENTION_MINUTES = 7 * 24 * 60
#: Kafka's ``offsets.retention.check.interval.ms`` default: ten minutes.
DEFAULT_RETENTION_CHECK_INTERVAL_MS = 600_000
#: Kafka's ``offset.metadata.max.bytes`` default (counted in UTF-16 code units: see the module).
DEFAULT_OFFSET_METADATA_MAX_BYTES = 4096


def metadata_length(metadata: str | None) -> int:
    """How long ``metadata`` is for ``offset.metadata.max.bytes``: Java's ``String.length()``,
    the number of UTF-16 code units (a character above U+FFFF counts two); ``None`` is 0."""
    if not metadata:
        return 0
    if metadata.isascii():
        return len(metadata)
    return len(metadata.encode("utf-16-le", "surrogatepass")) // 2


def checked_offset(tp: TopicPartition, value: object) -> OffsetAndMetadata:
    """``value`` (an ``int`` offset or an ``OffsetAndMetadata``) as the ``OffsetAndMetadata``
    a commit stores: the offset an int from 0 to ``2**63 - 1`` (an int64 in OffsetCommit and
    OffsetFetch), the metadata a string (``None``: ``""``), the leader epoch an int from -1
    to ``2**31 - 1`` (an int32; ``None``: -1, none). Raises ``TypeError`` for a value of
    another type and ``IllegalArgumentError`` for one out of range."""
    if not isinstance(value, OffsetAndMetadata):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"the offset of {tp} must be an int or OffsetAndMetadata, got "
                            f"{value!r}")
        if not 0 <= value <= INT64_MAX:
            _out_of_range(tp, value)
        return OffsetAndMetadata(value)
    offset, metadata, epoch = value
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"the offset of {tp} must be an int, got {offset!r}")
    if not 0 <= offset <= INT64_MAX:
        _out_of_range(tp, offset)
    if metadata is None:
        metadata = ""
    elif not isinstance(metadata, str):
        raise TypeError(f"the metadata of {tp}'s offset must be a str, got {metadata!r}")
    if epoch is None:
        epoch = -1
    elif isinstance(epoch, bool) or not isinstance(epoch, int):
        raise TypeError(f"the leader epoch of {tp}'s offset must be an int, got {epoch!r}")
    elif not -1 <= epoch <= INT32_MAX:
        raise IllegalArgumentError(f"the leader epoch of {tp}'s offset must be from -1 (none) "
                                   f"to {INT32_MAX} (an int32), got {epoch}")
    return OffsetAndMetadata(offset, metadata, epoch)


def _out_of_range(tp: TopicPartition, offset: int) -> NoReturn:
    if offset < 0:
        raise IllegalArgumentError(f"offset of {tp} must be >= 0, got {offset}")
    raise IllegalArgumentError(f"offset of {tp} must be <= {INT64_MAX} (an int64, as Kafka "
                               f"carries offsets), got {offset}")


def metadata_too_long(metadata: str | None, max_bytes: int) -> bool:
    """Whether a commit's ``metadata`` is refused under ``offset.metadata.max.bytes`` =
    ``max_bytes``: Kafka's ``metadata != null && metadata.length() > max`` (a null one never
    is, even under a negative limit; an empty one is then)."""
    return metadata is not None and metadata_length(metadata) > max_bytes


def oversized_metadata(offsets: Mapping[TopicPartition, object],
                       max_bytes: int) -> list[TopicPartition]:
    """The partitions of ``offsets`` (as a commit gives them: ``OffsetAndMetadata``, whose
    metadata may be ``None``, or an ``int``, whose metadata is ``""``) whose metadata
    :func:`metadata_too_long` refuses, in their order."""
    return [tp for tp, value in offsets.items() if metadata_too_long(
        value.metadata if isinstance(value, OffsetAndMetadata) else "", max_bytes)]


def metadata_too_large(refused: Sequence[TopicPartition], max_bytes: int, *,
                       others_committed: bool) -> OffsetMetadataTooLargeError:
    """The error of a commit whose ``refused`` partitions carried metadata longer than
    ``max_bytes``; ``others_committed``: the commit's other partitions were committed."""
    names = ", ".join(map(str, refused))
    return OffsetMetadataTooLargeError(
        f"the metadata of the offset{'s' if len(refused) > 1 else ''} committed for {names} is "
        f"longer than offset.metadata.max.bytes ({max_bytes}, counted in UTF-16 code units), "
        f"so {'they were' if len(refused) > 1 else 'it was'} not committed"
        + ("; the commit's other partitions were" if others_committed else ""), refused)


def offsets_retention_ms(minutes: int) -> int:
    """``offsets.retention.minutes`` in milliseconds, as the retention check compares them."""
    return minutes * 60_000


def pending_by_group(
    pairs: Iterable[tuple[str, Iterable[TopicPartition]]],
) -> dict[str, frozenset[TopicPartition]]:
    """Per group, the union of the partitions of every ``(group, partitions)`` pair: the
    offsets pending in transactions, gathered from several transactions or coordinators. A
    group named only with no partition is kept, with none."""
    pending: dict[str, frozenset[TopicPartition]] = {}
    for group_id, tps in pairs:
        pending[group_id] = pending.get(group_id, frozenset()).union(tps)
    return pending


class GroupOffsetsMixin:
    """Checking commits, storing offsets with their commit times, expiring them (coordinator
    part)."""

    def check_commit(self, member_id: str, generation: int,
                     group_instance_id: str | None = None) -> None:
        """Raise unless this member may commit for the group now (Kafka's checks, in order).

        Generation ``-1`` is a consumer without group management: accepted while the group is
        ``Empty``. Otherwise ``FencedInstanceIdError`` when another member holds
        ``group_instance_id``, ``UnknownMemberIdError`` for an unknown member,
        ``IllegalGenerationError`` for another generation, then ``RebalanceInProgressError``
        while the group waits for its leader's assignment. A commit is accepted while a
        rebalance is being prepared (that is how ``on_partitions_revoked`` commits). Which
        partitions are committed is not checked.
        """
        now = self.clock()
        self.expire(now)
        self._check_alive()
        self._check_committer(member_id, generation, group_instance_id, transactional=False)
        member = self.members.get(member_id)
        if member is not None:
            member.last_heartbeat = now

    def check_txn_commit(self, member_id: str, generation: int,
                         group_instance_id: str | None = None) -> None:
        """Raise unless a transactional producer may stage offsets for this group as the
        consumer it names (Kafka's TxnOffsetCommit checks, KIP-447, in order).

        A producer that names no member (``""``, generation ``-1``, no instance id: it gave
        ``send_offsets_to_transaction`` a bare group id, or its consumer had not joined) is
        always accepted, and so is generation ``-1`` while the group is ``Empty``. Otherwise
        ``FencedInstanceIdError`` when another member holds ``group_instance_id``,
        ``UnknownMemberIdError`` for a member not in the group, ``IllegalGenerationError`` for
        another generation (``-1`` included): the consumer whose records were processed was
        replaced (a zombie), so its offsets must not be committed. The group's state is not
        checked: offsets may be staged during a rebalance.
        """
        self.expire(self.clock())
        self._check_alive()
        self._check_committer(member_id, generation, group_instance_id, transactional=True)

    def _check_committer(self, member_id: str, generation: int, group_instance_id: str | None,
                         *, transactional: bool) -> None:
        """The checks commits and transactional commits share, in Kafka's order (Kafka's
        ``ClassicGroup.validateOffsetCommit``)."""
        if generation < 0 and self.state is GroupState.EMPTY:
            return  # the group only stores offsets: no member to check
        then = "abort the transaction" if transactional else "rejoin"
        if generation >= 0 or member_id or group_instance_id is not None:
            self._check_instance(member_id, group_instance_id)
            if member_id not in self.members:
                raise UnknownMemberIdError(
                    f"member {member_id!r} is not in group {self.group_id!r}: the member was "
                    "removed (session timeout, max_poll_interval_ms exceeded, or it left) and "
                    f"its partitions given to another consumer; {then}")
            if generation != self.generation:
                raise IllegalGenerationError(
                    f"{'offsets' if transactional else 'commit'} from generation {generation}, "
                    f"but group {self.group_id!r} is at generation {self.generation}: it "
                    f"rebalanced; {then}")
        elif not transactional:
            raise UnknownMemberIdError(
                f"group {self.group_id!r} has active members, so a consumer without group "
                "management cannot commit for it; use another group_id")
        if not transactional and self.state is GroupState.COMPLETING_REBALANCE:
            raise RebalanceInProgressError(
                f"group {self.group_id!r} is waiting for its leader's assignment; commit after "
                "the rebalance completes")

    def store_offset(self, tp: TopicPartition, value: OffsetAndMetadata, now_ms: int,
                     expires_ms: int | None = None) -> None:
        """Keep ``value`` as the group's committed offset of ``tp``, committed at ``now_ms``;
        ``expires_ms``: the moment it expires, if it was committed with its own retention."""
        self.offsets[tp] = value
        self.commit_times[tp] = now_ms
        if expires_ms is None:
            self.expire_times.pop(tp, None)
        else:
            self.expire_times[tp] = expires_ms

    def forget_offset(self, tp: TopicPartition) -> None:
        """Drop the group's committed offset of ``tp`` (none: nothing happens)."""
        self.offsets.pop(tp, None)
        self.commit_times.pop(tp, None)
        self.expire_times.pop(tp, None)

    def forget_all_offsets(self) -> None:
        """Drop every committed offset of the group, with their times."""
        self.offsets.clear()
        self.commit_times.clear()
        self.expire_times.clear()

    def expire_offsets(self, now_ms: int, retention_ms: int,
                       consumer_group_topics: set[str] | None = None,
                       pending: Collection[TopicPartition] = ()) -> list[TopicPartition]:
        """Remove the offsets whose retention has passed at ``now_ms`` (the rules of the
        module docstring) and return their partitions. ``consumer_group_topics``: this group
        only holds the offsets of a Kafka 4 consumer group whose members subscribe to these
        topics; Kafka's ``ConsumerGroup`` rule applies then (each offset counted from its
        commit, those of the subscribed topics kept). ``pending``: the partitions of which a
        transaction has staged an offset for this group; their offsets are kept (Kafka's
        ``hasPendingTransactionalOffsets``)."""
        if consumer_group_topics is not None:
            kept_topics, from_empty = consumer_group_topics, False
        elif self.protocol_type is not None and self.state is GroupState.EMPTY:
            kept_topics, from_empty = set(), True  # all count from when the last member left
        elif self.protocol_type is None:
            kept_topics, from_empty = set(), False  # it never had members: each from its commit
        elif self.protocol_type == PROTOCOL_TYPE and self.state is GroupState.STABLE \
                and (known := self.generation_subscription()) is not None:
            kept_topics, from_empty = known, False
        else:
            return []  # rebalancing, or not a consumer group: nothing is judged
        expired = []
        for tp in self.offsets:
            if tp.topic in kept_topics or tp in pending:
                continue
            own = self.expire_times.get(tp)
            if own is not None:
                due = now_ms >= own
            else:
                since = self.state_since_ms if from_empty else self.commit_times.get(tp, now_ms)
                due = now_ms - since >= retention_ms
            if due:
                expired.append(tp)
        for tp in expired:
            self.forget_offset(tp)
        return expired
