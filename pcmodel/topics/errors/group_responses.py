"""Errors a group coordinator answers with, each with Kafka's protocol error code in ``errno``.

As :mod:`~pcmodel.topics.errors.broker_responses`: kafka-python's names, Kafka's ``message`` and
``description``; each docstring says when pcmodel answers it. See :mod:`pcmodel.topics.errors`.
"""

from __future__ import annotations

from pcmodel.topics.errors.base import BrokerResponseError

__all__ = [
    "FencedInstanceIdError",
    "GroupIdNotFoundError",
    "GroupNotEmptyError",
    "GroupSubscribedToTopicError",
    "IllegalGenerationError",
    "InconsistentGroupProtocolError",
    "InvalidGroupIdError",
    "InvalidSessionTimeoutError",
    "MemberIdRequiredError",
    "NonEmptyGroupError",
    "RebalanceInProgressError",
    "UnknownMemberIdError",
]


class IllegalGenerationError(BrokerResponseError):
    """A group request (heartbeat, sync, commit) carried an old generation id.

    The group rebalanced since this member last joined. The consumer handles it by rejoining; a
    commit that fails this way reaches the application as ``CommitFailedError``.
    """

    errno = 22
    message = "ILLEGAL_GENERATION"
    description = "The generation id in the request is not the group's current generation."


class InconsistentGroupProtocolError(BrokerResponseError):
    """A joining member shares no partition assignor with the members already in the group.

    Raised by ``join_group()`` (so by a consumer's ``poll()``) when the member's
    ``partition_assignment_strategy`` names no assignor that every other member also names: the
    group could not agree on how to assign partitions. Give every member a common assignor.
    """

    errno = 23
    message = "INCONSISTENT_GROUP_PROTOCOL"
    description = (
        "The member's set of assignors is not compatible with the other members of the group."
    )


class InvalidGroupIdError(BrokerResponseError):
    """A group id is empty or not a string; raised by the coordinator when a member joins."""

    errno = 24
    message = "INVALID_GROUP_ID"
    description = "The group id is empty or not a string."


class UnknownMemberIdError(BrokerResponseError):
    """A group request came from a member id the coordinator does not know (any more).

    The member was removed after missing ``session_timeout_ms`` or ``max_poll_interval_ms``, or
    left. The consumer handles it by calling ``on_partitions_lost`` and rejoining; a commit that
    fails this way reaches the application as ``CommitFailedError``.
    """

    errno = 25
    message = "UNKNOWN_MEMBER_ID"
    description = "The member id is not in the current generation of the group."


class InvalidSessionTimeoutError(BrokerResponseError):
    """``session_timeout_ms`` is outside the range the broker allows; raised on join."""

    errno = 26
    message = "INVALID_SESSION_TIMEOUT"
    description = "The requested session timeout is outside the range the broker allows."


class RebalanceInProgressError(BrokerResponseError):
    """The group is rebalancing; the member must rejoin before its request can succeed.

    Raised by ``sync_group()`` when a new rebalance started before the member synced, and by
    ``commit_offsets()`` while the group waits for its leader's assignment
    (``CompletingRebalance``). A heartbeat during a rebalance answers with
    ``HeartbeatStatus.REBALANCE_IN_PROGRESS`` instead. A commit carrying the group's current
    generation is accepted while a rebalance is being prepared, as in Kafka, which is how
    ``on_partitions_revoked`` commits. A consumer's ``commit()`` reports it as
    ``CommitFailedError``, as kafka-python does.
    """

    errno = 27
    message = "REBALANCE_IN_PROGRESS"
    description = "The group is rebalancing, so the member should rejoin."


class GroupNotEmptyError(BrokerResponseError):
    """``delete_group()`` named a group that still has members; nothing was deleted.

    Close (or wait out the session timeout of) every consumer of the group first. Kafka calls
    the code ``NON_EMPTY_GROUP`` (Java: ``GroupNotEmptyException``).
    """

    errno = 68
    message = "NON_EMPTY_GROUP"
    description = "The group is not empty."


#: kafka-python's name for the same error; one class with both names, so ``except`` with either
#: catches it.
NonEmptyGroupError = GroupNotEmptyError


class GroupIdNotFoundError(BrokerResponseError):
    """``describe_group()`` or an offsets query named a group the broker has never seen."""

    errno = 69
    message = "GROUP_ID_NOT_FOUND"
    description = "The group id does not exist."


class GroupSubscribedToTopicError(BrokerResponseError):
    """``delete_group_offsets`` named a partition of a topic the group's members subscribe to.

    The group is consuming that topic, so its offsets there stay: stop (or unsubscribe) its
    consumers first. The other partitions of the call are deleted.
    """

    errno = 86
    message = "GROUP_SUBSCRIBED_TO_TOPIC"
    description = (
        "Deleting offsets of a topic is forbidden while the consumer group is actively "
        "subscribed to it."
    )


class FencedInstanceIdError(BrokerResponseError):
    """Another consumer joined with this consumer's ``group_instance_id`` and took its place.

    A static member (KIP-345) is known by its ``group_instance_id``: when a consumer joins
    with an instance id the group already has, the coordinator gives that place to the new
    member id, and every later request of the old one is refused with this error. Two running
    consumers configured with the same ``group_instance_id`` are a mistake of the
    deployment; like the Java client, pcmodel's consumer treats it as fatal and raises it
    from ``poll()`` and ``commit()``.
    """

    errno = 82
    message = "FENCED_INSTANCE_ID"
    description = ("The broker rejected this static consumer since another consumer with the "
                   "same group.instance.id has registered with a different member.id.")


class MemberIdRequiredError(BrokerResponseError):
    """A new member must join again with the member id the coordinator just gave it.

    Kafka's JoinGroup v4+ handshake: a member joining with ``member_id=""`` (and
    ``require_known_member_id=True``) is given an id in ``member_id`` and must send its join
    again with it, so that a member whose first response was lost is not counted twice.
    """

    errno = 79
    message = "MEMBER_ID_REQUIRED"
    description = (
        "The group member needs to have a valid member id before actually entering a consumer "
        "group."
    )

    def __init__(self, text: str = "", member_id: str = "") -> None:
        super().__init__(text)
        #: The id to join again with.
        self.member_id = member_id
