"""The errors of Kafka 4's consumer group protocol (KIP-848), with Kafka's codes.

They are answered to a ConsumerGroupHeartbeat (and STALE_MEMBER_EPOCH to an OffsetCommit or
OffsetFetch) by :mod:`pcmodel.topics.consumer_group`; each says what the member should do.
"""

from __future__ import annotations

from pcmodel.topics.errors import BrokerResponseError

__all__ = [
    "FencedMemberEpochError",
    "GroupMaxSizeReachedError",
    "InvalidRegularExpressionError",
    "StaleMemberEpochError",
    "UnreleasedInstanceIdError",
    "UnsupportedAssignorError",
]


class GroupMaxSizeReachedError(BrokerResponseError):
    """The group already has ``group_consumer_max_size`` members; a new one may not join."""

    errno = 81
    message = "GROUP_MAX_SIZE_REACHED"
    description = "The consumer group has reached its max size."


class FencedMemberEpochError(BrokerResponseError):
    """The member's epoch is not the one the coordinator knows (a lost answer, or the member
    was replaced): it must give up all its partitions and rejoin with epoch 0."""

    errno = 110
    message = "FENCED_MEMBER_EPOCH"
    description = "The member epoch is fenced by the group coordinator."


class UnreleasedInstanceIdError(BrokerResponseError):
    """A static member joined with an instance id that another member still holds (it did
    not leave with epoch -2 first)."""

    errno = 111
    message = "UNRELEASED_INSTANCE_ID"
    description = "The instance ID is still used by another member in the consumer group."


class UnsupportedAssignorError(BrokerResponseError):
    """The member named a server-side assignor the broker does not have."""

    errno = 112
    message = "UNSUPPORTED_ASSIGNOR"
    description = "The assignor or its version range is not supported by the consumer group."


class StaleMemberEpochError(BrokerResponseError):
    """An offset commit or fetch carried a member epoch that is not the member's current one:
    the member moved on (or was fenced) since; it retries with its new epoch."""

    errno = 113
    message = "STALE_MEMBER_EPOCH"
    description = "The member epoch is stale."


class InvalidRegularExpressionError(BrokerResponseError):
    """A member subscribed with a regular expression that does not compile."""

    errno = 128
    message = "INVALID_REGULAR_EXPRESSION"
    description = "The regular expression is not valid."
