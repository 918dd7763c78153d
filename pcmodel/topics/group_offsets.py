"""A group's committed offsets: who may commit, when each was committed, and when they expire.

**Who may commit** (:meth:`GroupOffsetsMixin.check_commit`): a member of the current
generation, or a consumer outside group management (generation ``-1``) while the group has no
members; the checks are Kafka's, in Kafka's order. A transactional producer staging offsets
for the group (:meth:`GroupOffsetsMixin.check_txn_commit`) passes if the consumer it names is
still the group's member at that generation, or if it names none.

**Offsets retention** (Kafka's ``offsets.retention.minutes``). A committed offset is not kept
for ever. Kafka's coordinator runs a retention check every
``offsets.retention.check.interval.ms`` (10 minutes by default) and removes the offsets that
have outlived ``offsets.retention.minutes`` (7 days by default), counted from a moment that
depends on the group (KIP-211):

* a group that had members and is now ``Empty``: from the moment it became ``Empty`` (its
  *state timestamp*), for all its offsets at once. While a consumer group has members its
  offsets cannot expire, however old the last commit;
* a consumer group that is ``Stable``: only the offsets of topics no member subscribes to
  expire, each counted from its own commit;
* a group that never had members (consumers that only commit, outside group management, with
  ``generation=-1``): each offset counted from its own commit;
* any other group (rebalancing, or ``Stable`` with a protocol type other than ``consumer``):
  nothing expires.

An offset committed with its own retention (OffsetCommit v2 to v4's ``retention_time_ms``, the
rule before KIP-211) expires that long after its commit instead, whatever the moment above,
but still only in the groups and topics the rules above judge.

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

from pcmodel.topics.consumer_protocol import PROTOCOL_TYPE
from pcmodel.topics.errors import (
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_answers import GroupState
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

__all__ = ["DEFAULT_OFFSETS_RETENTION_MINUTES", "DEFAULT_RETENTION_CHECK_INTERVAL_MS",
           "GroupOffsetsMixin", "offsets_retention_ms"]

#: Kafka's ``offsets.retention.minutes`` default: seven days.
DEFAULT_OFFSETS_RETENTION_MINUTES = 7 * 24 * 60
#: Kafka's ``offsets.retention.check.interval.ms`` default: ten minutes.
DEFAULT_RETENTION_CHECK_INTERVAL_MS = 600_000


def offsets_retention_ms(minutes: int) -> int:
    """``offsets.retention.minutes`` in milliseconds, as the retention check compares them."""
    return minutes * 60_000


class GroupOffsetsMixin:
    """Checking commits, storing offsets with their commit times, expiring them (coordinator
    part)."""

    def check_commit(self, member_id: str, generation: int,
                     group_instance_id: str | None = None) -> None:
        """Raise unless this member may commit for the group now (Kafka's checks, in order).

        Generation ``-1`` is a consumer without group management: accepted while the group is
        ``Empty``. Otherwise ``FencedInstanceIdError`` when another member holds
        ``group_instance_id``, ``RebalanceInProgressError`` while the group waits for its leader's
        assignment, ``UnknownMemberIdError`` for an unknown member, ``IllegalGenerationError``
        for another generation. A commit is accepted while a rebalance is being prepared (that
        is how ``on_partitions_revoked`` commits). Which partitions are committed is not checked.
        """
        now = self.clock()
        self.expire(now)
        self._check_alive()
        if generation < 0 and self.state is GroupState.EMPTY:
            return
        self._check_instance(member_id, group_instance_id)
        if self.state is GroupState.COMPLETING_REBALANCE:
            raise RebalanceInProgressError(
                f"group {self.group_id!r} is waiting for its leader's assignment; commit after "
                "the rebalance completes"
            )
        member = self.members.get(member_id)
        if member is None:
            detail = (
                "it has active members, so a consumer without group management cannot commit "
                "for it; use another group_id"
                if generation < 0
                else "the member was removed (session timeout, max_poll_interval_ms exceeded, "
                "or it left); rejoin"
            )
            raise UnknownMemberIdError(
                f"member {member_id!r} is not in group {self.group_id!r}: {detail}"
            )
        if generation != self.generation:
            raise IllegalGenerationError(
                f"commit from generation {generation}, but group {self.group_id!r} is at "
                f"generation {self.generation}: it rebalanced; rejoin"
            )
        member.last_heartbeat = now

    def check_txn_commit(self, member_id: str, generation: int,
                         group_instance_id: str | None = None) -> None:
        """Raise unless a transactional producer may stage offsets for this group as the
        consumer it names (Kafka's TxnOffsetCommit checks, KIP-447, in order).

        A producer that names no member (``""``, generation ``-1``: it gave
        ``send_offsets_to_transaction`` a bare group id) is always accepted. Otherwise
        ``FencedInstanceIdError`` when another member holds ``group_instance_id``,
        ``UnknownMemberIdError`` for a member not in the group, ``IllegalGenerationError`` for
        another generation: the consumer whose records were processed was replaced (a
        zombie), so its offsets must not be committed.
        """
        self.expire(self.clock())
        self._check_alive()
        if group_instance_id is not None:
            self._check_instance(member_id, group_instance_id)
        if member_id and member_id not in self.members:
            raise UnknownMemberIdError(
                f"member {member_id!r} is not in group {self.group_id!r} any more: its "
                "partitions were given to another consumer; abort the transaction")
        if generation >= 0 and generation != self.generation:
            raise IllegalGenerationError(
                f"offsets from generation {generation}, but group {self.group_id!r} is at "
                f"generation {self.generation}: it rebalanced; abort the transaction")

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

    def expire_offsets(self, now_ms: int, retention_ms: int) -> list[TopicPartition]:
        """Remove the offsets whose retention has passed at ``now_ms`` (the rules of the
        module docstring) and return their partitions."""
        if self.protocol_type is not None and self.state is GroupState.EMPTY:
            kept_topics, from_empty = set(), True  # all count from when the last member left
        elif self.protocol_type is None:
            kept_topics, from_empty = set(), False  # it never had members: each from its commit
        elif self.protocol_type == PROTOCOL_TYPE and self.state is GroupState.STABLE:
            kept_topics, from_empty = self.subscribed_topics(), False
        else:
            return []  # rebalancing, or not a consumer group: nothing is judged
        expired = []
        for tp in self.offsets:
            if tp.topic in kept_topics:
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
