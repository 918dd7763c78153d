"""Who may commit and fetch a Kafka 4 consumer group's offsets.

A consumer group's committed offsets are stored by the broker as a classic group's are
(:mod:`pcmodel.topics.broker_consumer_groups`); the group only decides who may touch them.
Kafka's rule is the member *epoch* where the classic protocol uses the generation: a commit
carries the member's id and epoch, and a stale epoch is refused, so a member that lost its
partitions in a rebalance cannot overwrite the offsets of their new owner. A classic member
inside a consumer group (:mod:`pcmodel.topics.consumer_group_classic`) commits as a classic
client does, with its generation, which is its member epoch.

:class:`ConsumerGroupOffsetsMixin` is one part of
:class:`~pcmodel.topics.consumer_group.ConsumerGroup`, called with the broker's lock held.

Prior art: Kafka's ``ConsumerGroup.validateOffsetCommit``, ``validateOffsetFetch`` and
``validateMemberEpoch``.
"""

from __future__ import annotations

from pcmodel.topics.consumer_group_errors import StaleMemberEpochError
from pcmodel.topics.consumer_group_members import ConsumerGroupMember
from pcmodel.topics.errors import (
    IllegalGenerationError,
    UnknownMemberIdError,
    UnsupportedVersionError,
)

__all__ = ["ConsumerGroupOffsetsMixin"]


class ConsumerGroupOffsetsMixin:
    """The checks of OffsetCommit, TxnOffsetCommit and OffsetFetch (ConsumerGroup part)."""

    def check_offset_commit(self, member_id: str, epoch: int, api_version: int | None = None,
                            transactional: bool = False) -> None:
        """Kafka's ``ConsumerGroup.validateOffsetCommit``: epoch ``< 0`` is accepted while
        the group has no member; otherwise ``UnknownMemberIdError``, then
        ``UnsupportedVersionError`` (a consumer-protocol member must use OffsetCommit v9+),
        then ``StaleMemberEpochError`` unless ``epoch`` is the member's. A classic member
        commits with any version and its generation, the member epoch it was given:
        ``IllegalGenerationError`` otherwise. Once the group became a classic group again
        (a commit that expired its last consumer-protocol member), that group judges."""
        if self.classic_group is not None:
            check = self.classic_group.check_txn_commit if transactional else \
                self.classic_group.check_commit
            check(member_id, epoch)
            return
        if epoch < 0 and not self.members:
            return
        member = self.members.get(member_id)
        if member is None:
            raise UnknownMemberIdError(
                f"Member {member_id} is not a member of group {self.group_id}.")
        if not transactional and api_version is not None and api_version < 9 and \
                not member.uses_classic_protocol:
            raise UnsupportedVersionError("OffsetCommit version 9 or above must be used by "
                                          "members using the modern group protocol")
        self._check_member_epoch(member, epoch)

    def check_offset_fetch(self, member_id: str | None, epoch: int) -> None:
        """Kafka's ``ConsumerGroup.validateOffsetFetch``: no member id and epoch ``< 0``
        (an admin, or an older client) is accepted; otherwise ``UnknownMemberIdError`` or
        ``StaleMemberEpochError``."""
        if member_id is None and epoch < 0:
            return
        member = self.members.get(member_id or "")
        if member is None:
            raise UnknownMemberIdError(
                f"Member {member_id} is not a member of group {self.group_id}.")
        self._check_member_epoch(member, epoch)

    @staticmethod
    def _check_member_epoch(member: ConsumerGroupMember, epoch: int) -> None:
        if epoch != member.member_epoch and member.uses_classic_protocol:
            raise IllegalGenerationError(
                f"The received generation id {epoch} does not match the expected member epoch "
                f"{member.member_epoch}.")
        if epoch != member.member_epoch:
            raise StaleMemberEpochError(
                f"The received member epoch {epoch} does not match the expected member epoch "
                f"{member.member_epoch}.")
