"""The errors of Kafka 4's consumer group protocol (KIP-848), with Kafka's codes.

They are answered to a ConsumerGroupHeartbeat (and STALE_MEMBER_EPOCH to an OffsetCommit or
OffsetFetch) by :mod:`pcmodel.topics.consumer_group`, and COORDINATOR_LOAD_IN_PROGRESS by a
cluster broker that has just become the group's coordinator
(:mod:`pcmodel.wire.node_connection`); each says what the member should do.
"""

from __future__ import annotations

from pcmodel.topics.errors import BrokerResponseError

__all__ = [
    "CoordinatorLoadInProgressError",
    "FencedMemberEpochError",
    "GroupMaxSizeReachedError",
    "InvalidRegularExpressionError",
    "StaleMemberEpochError",
    "UnreleasedInstanceIdError",
    "UnsupportedAssignorError",
]


class CoordinatorLoadInProgressError(BrokerResponseError):
    """The broker that coordinates the group is still loading its state from the offsets
    topic (it has just become coordinator); retriable: ask again in a moment."""

    errno = 14
    message = "COORDINATOR_LOAD_IN_PROGRESS"
    description = "The coordinator is loading and hence can't process requests."
    retriable = True


class GroupMaxSizeReachedError(BrokerResponseError):
    """The group already has as many members as its bound allows, and a new one may not join:
    ``group_consumer_max_size`` (Kafka's ``group.consumer.max.size``) for a consumer group,
    ``group_classic_max_size`` (``group.max.size``) for a classic one."""

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
