"""The group coordinator: who is in a consumer group, which generation, who owns which partition.

One :class:`GroupCoordinator` per group id lives inside the broker. Members join, the coordinator
runs the chosen assignor over everyone's subscriptions, and each completed rebalance starts a new
*generation*. Generations fence stale members: a commit carrying an old generation, or from a
member that was removed, fails with ``CommitFailedError``.

The rebalance, step by step (Kafka's JoinGroup/SyncGroup folded into one call, because here the
coordinator runs the assignor itself instead of asking a group leader to):

1. A member joins (new, or with a changed subscription), a member leaves or is removed, or a
   subscribed topic changes: the group goes to ``PreparingRebalance``.
2. Every member learns it from its next heartbeat (``REBALANCE_IN_PROGRESS``) and calls
   :meth:`GroupCoordinator.join` again. With the *eager* protocol it first revokes all its
   partitions; with the *cooperative* protocol it keeps them.
3. When every member has joined, the assignor runs, the generation goes up by one and every join
   returns the member's assignment (group ``Stable``). A member that does not rejoin within its
   rebalance timeout (its ``max_poll_interval_ms``, as in Kafka) is removed.
4. Cooperative only: a partition moving from one member to another is *withheld* in this round
   (its old owner is told to revoke it, its new owner does not get it yet) and a second rebalance
   starts at once; in it the old owner no longer holds the partition, so the new owner gets it.
   A partition is therefore never owned by two members at the same time.

Liveness: a member whose heartbeats stop for ``session_timeout_ms`` is removed (a member blocked
inside a join call is alive: its request is in flight). Every call checks the deadlines first
(with the injected clock), and a join waiting for other members wakes up at the next deadline, so
no reaper thread is needed.

Thread safety: the coordinator shares the broker's lock; every public method is called with it
held, and :meth:`GroupCoordinator.join` waits on a condition of that lock.

Prior art: Kafka's ``GroupCoordinator`` / ``GroupMetadata`` (states ``Empty``,
``PreparingRebalance``, ``Stable``; generation fencing; rebalance timeout), KIP-429 (incremental
cooperative rebalancing) and kafka-python's ``kafka/coordinator/base.py``.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import NamedTuple

from pcmodel.topics.assignors import cooperative_plan, get_assignor
from pcmodel.topics.errors import (
    CommitFailedError,
    InconsistentGroupProtocolError,
    InvalidSessionTimeoutError,
    KafkaConfigurationError,
    UnknownMemberIdError,
)
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

__all__ = [
    "GroupCoordinator",
    "GroupDescription",
    "GroupState",
    "HeartbeatResult",
    "HeartbeatStatus",
    "JoinResult",
    "MemberDescription",
    "validate_group_id",
]

#: Session timeouts the coordinator accepts, in ms (Kafka's broker defaults are 6 s .. 30 min;
#: the lower bound is small here so that tests and notebooks can show expiry quickly).
MIN_SESSION_TIMEOUT_MS = 1
MAX_SESSION_TIMEOUT_MS = 1_800_000


class GroupState(str, enum.Enum):
    """Kafka's group states (``CompletingRebalance`` is folded into the join)."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    STABLE = "Stable"


class HeartbeatStatus(str, enum.Enum):
    """What a heartbeat tells the member to do."""

    OK = "ok"
    #: Call ``join_group`` again (a rebalance started, or a completed one is waiting for you).
    REBALANCE_IN_PROGRESS = "rebalance_in_progress"
    #: You were removed (session or poll interval expired, or you left): partitions are lost.
    UNKNOWN_MEMBER = "unknown_member"


class JoinResult(NamedTuple):
    """What ``join_group`` answers.

    ``pending`` is true when the rebalance did not complete within the call's timeout: call again
    with the same ``generation`` to keep waiting. Otherwise ``generation`` and ``assignment`` are
    the member's new ones, and ``rejoin`` says a further round already started (cooperative
    second round, or a change that came in meanwhile): revoke what must be revoked, then join
    again.
    """

    member_id: str
    generation: int
    assignment: tuple[TopicPartition, ...]
    pending: bool
    rejoin: bool
    protocol: str
    assignor: str


class HeartbeatResult(NamedTuple):
    """A heartbeat's answer, plus the broker's topic metadata version (to refresh patterns)."""

    status: HeartbeatStatus
    metadata_version: int


class MemberDescription(NamedTuple):
    """One member as ``describe_group`` shows it."""

    member_id: str
    client_id: str
    subscription: tuple[str, ...]
    assignment: tuple[TopicPartition, ...]
    joined: bool


class GroupDescription(NamedTuple):
    """A snapshot of one group: members, generation, assignment, committed offsets and lag.

    ``lag[tp]`` is ``end_offset - committed`` (``None`` when the group never committed ``tp``),
    for every partition of the subscribed topics and every partition with a committed offset.
    """

    group_id: str
    state: GroupState
    generation: int
    protocol: str | None
    assignor: str | None
    members: tuple[MemberDescription, ...]
    committed: dict[TopicPartition, OffsetAndMetadata]
    lag: dict[TopicPartition, int | None]


@dataclass
class _Member:
    member_id: str
    client_id: str
    topics: frozenset[str]
    assignors: tuple[str, ...]
    session_timeout: float
    rebalance_timeout: float
    last_seen: float
    joined: bool = False
    rebalance_deadline: float = 0.0
    assignment: tuple[TopicPartition, ...] = ()
    generation: int = -1
    protocol: str = "eager"
    assignor: str = ""
    #: How many join calls of this member are waiting right now.
    waiting: int = 0


@dataclass
class GroupCoordinator:
    """Membership, generations and committed offsets of one consumer group.

    ``partitions_per_topic`` returns the broker's current ``{topic: partition count}``.
    Every method must be called with ``lock`` (the broker's) held.
    """

    group_id: str
    lock: threading.Lock
    partitions_per_topic: Callable[[], dict[str, int]]
    clock: Callable[[], float] = time.monotonic
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    offsets: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)
    members: dict[str, _Member] = field(default_factory=dict)
    protocol: str | None = None
    assignor: str | None = None

    def __post_init__(self) -> None:
        # Notified whenever membership or the generation changes; joins wait on it.
        self._changed = threading.Condition(self.lock)
        self._ids = itertools.count(1)

    # --- membership ---------------------------------------------------------------------------

    def join(
        self,
        member_id: str,
        topics: Collection[str],
        *,
        assignors: Collection[str],
        generation: int,
        session_timeout_ms: int,
        max_poll_interval_ms: int,
        client_id: str,
        timeout: float | None,
    ) -> JoinResult:
        """Join (or rejoin) the group and wait up to ``timeout`` s for the rebalance to complete.

        ``member_id`` is ``""`` for a new member. ``generation`` is the last one the member saw
        (``-1`` if none): if a newer round already completed for this member its result comes
        back at once; otherwise the member joins the next round. Raises
        ``UnknownMemberIdError`` if the member was removed (rejoin with ``member_id=""``),
        ``InvalidSessionTimeoutError`` and ``KafkaConfigurationError`` for bad settings, and
        ``InconsistentGroupProtocolError`` if no assignor is shared with the other members.
        """
        names = tuple(assignors)
        if not names:
            raise KafkaConfigurationError("partition_assignment_strategy names no assignor")
        for name in names:
            get_assignor(name)  # KafkaConfigurationError naming the legal choices
        if not MIN_SESSION_TIMEOUT_MS <= session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            raise InvalidSessionTimeoutError(
                f"session_timeout_ms={session_timeout_ms} is outside "
                f"[{MIN_SESSION_TIMEOUT_MS}, {MAX_SESSION_TIMEOUT_MS}]"
            )
        if max_poll_interval_ms < 1:
            raise KafkaConfigurationError(
                f"max_poll_interval_ms must be >= 1, got {max_poll_interval_ms}"
            )
        now = self.clock()
        self.expire(now)
        others = [m for mid, m in self.members.items() if mid != member_id]
        if others and not set(names) & set.intersection(*(set(m.assignors) for m in others)):
            raise InconsistentGroupProtocolError(
                f"partition_assignment_strategy {list(names)} shares no assignor with the other "
                f"members of group {self.group_id!r}; give every member a common one"
            )
        topics = frozenset(topics)
        if member_id == "":
            member_id = f"{client_id or 'consumer'}-{next(self._ids)}"
            member = _Member(
                member_id, client_id, topics, names, session_timeout_ms / 1000,
                max_poll_interval_ms / 1000, now,
            )
            self.members[member_id] = member
            self._request_rebalance(now)
        elif member_id not in self.members:
            raise UnknownMemberIdError(
                f"member {member_id!r} is not in group {self.group_id!r} (it was removed or "
                "left); join again with member_id=''"
            )
        else:
            member = self.members[member_id]
            member.last_seen = now
            member.session_timeout = session_timeout_ms / 1000
            member.rebalance_timeout = max_poll_interval_ms / 1000
            if member.generation > generation:
                return self._result(member, pending=False)
            changed = topics != member.topics or names != member.assignors
            member.topics, member.assignors = topics, names
            if changed or self.state is not GroupState.PREPARING_REBALANCE:
                if not changed and self.state is GroupState.STABLE:
                    # Nothing new to decide: a stable member simply gets its assignment back.
                    return self._result(member, pending=False)
                self._request_rebalance(now)
        member.joined = True
        self._try_complete()
        deadline = None if timeout is None else time.monotonic() + timeout
        # A member blocked in join is alive (its request is in flight): no session expiry.
        member.waiting += 1
        try:
            while member.generation <= generation:
                if self.members.get(member_id) is not member:
                    raise UnknownMemberIdError(
                        f"member {member_id!r} was removed from group {self.group_id!r} while "
                        "it waited for the rebalance; join again with member_id=''"
                    )
                wait = self._seconds_to_next_deadline()
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return self._result(member, pending=True)
                    wait = remaining if wait is None else min(wait, remaining)
                self._changed.wait(wait)
                self.expire(self.clock())
            return self._result(member, pending=False)
        finally:
            member.waiting -= 1
            member.last_seen = self.clock()

    def heartbeat(self, member_id: str, generation: int) -> HeartbeatStatus:
        """Keep ``member_id`` alive; say whether it must rejoin or was removed."""
        now = self.clock()
        self.expire(now)
        member = self.members.get(member_id)
        if member is None:
            return HeartbeatStatus.UNKNOWN_MEMBER
        member.last_seen = now
        rebalancing = self.state is GroupState.PREPARING_REBALANCE and not member.joined
        if rebalancing or member.generation != generation:
            return HeartbeatStatus.REBALANCE_IN_PROGRESS
        return HeartbeatStatus.OK

    def leave(self, member_id: str) -> None:
        """Remove ``member_id`` now (``close()``); unknown members are ignored."""
        self.expire(self.clock())
        if member_id in self.members:
            self._remove([member_id])

    def topics_changed(self, topics: Collection[str]) -> None:
        """A topic was created, deleted or grew: rebalance if any member subscribes to it."""
        if any(m.topics & set(topics) for m in self.members.values()):
            self._request_rebalance(self.clock())
            self._try_complete()

    def expire(self, now: float) -> None:
        """Remove members whose session or rebalance deadline passed."""
        dead = [
            mid
            for mid, m in self.members.items()
            if (not m.waiting and now - m.last_seen > m.session_timeout)
            or (
                self.state is GroupState.PREPARING_REBALANCE
                and not m.joined
                and now > m.rebalance_deadline
            )
        ]
        if dead:
            self._remove(dead)

    # --- offsets ------------------------------------------------------------------------------

    def check_commit(self, member_id: str, generation: int) -> None:
        """Raise ``CommitFailedError`` unless this member may commit for the group now.

        A group member commits with its current generation; a commit is accepted while a
        rebalance is being prepared (that is how ``on_partitions_revoked`` commits, as in Kafka).
        A consumer outside the group (``assign()``) commits with ``member_id=""`` and
        ``generation=-1``, which Kafka allows only while the group has no members.
        """
        now = self.clock()
        self.expire(now)
        if member_id == "" and generation < 0:
            if self.members:
                raise CommitFailedError(
                    f"group {self.group_id!r} has active members, so a consumer using assign() "
                    "cannot commit for it; use another group_id"
                )
            return
        member = self.members.get(member_id)
        if member is None:
            raise CommitFailedError(
                f"member {member_id!r} is no longer in group {self.group_id!r} (session timeout, "
                "max_poll_interval_ms exceeded, or it left); its partitions may have moved. "
                "Call poll() to rejoin."
            )
        if generation != self.generation:
            raise CommitFailedError(
                f"commit from generation {generation}, but group {self.group_id!r} is at "
                f"generation {self.generation}: it rebalanced and the partitions may belong to "
                "another member. Call poll() to rejoin."
            )
        member.last_seen = now

    def describe(self, end_offsets: Callable[[TopicPartition], int | None]) -> GroupDescription:
        """A snapshot of the group; ``end_offsets(tp)`` gives the partition's end (or None)."""
        self.expire(self.clock())
        members = tuple(
            MemberDescription(m.member_id, m.client_id, tuple(sorted(m.topics)), m.assignment,
                              m.joined)
            for m in self.members.values()
        )
        counts = self.partitions_per_topic()
        subscribed = set().union(*(m.topics for m in self.members.values()))
        tps = {TopicPartition(t, p) for t in subscribed if t in counts for p in range(counts[t])}
        tps |= set(self.offsets)
        lag: dict[TopicPartition, int | None] = {}
        for tp in sorted(tps):
            end = end_offsets(tp)
            if end is None:
                continue
            committed = self.offsets.get(tp)
            lag[tp] = None if committed is None else max(0, end - committed.offset)
        return GroupDescription(
            self.group_id, self.state, self.generation, self.protocol, self.assignor, members,
            dict(self.offsets), lag,
        )

    # --- internals ----------------------------------------------------------------------------

    def _result(self, member: _Member, *, pending: bool) -> JoinResult:
        rejoin = self.state is GroupState.PREPARING_REBALANCE and not member.joined
        return JoinResult(
            member.member_id, member.generation, member.assignment, pending, rejoin,
            member.protocol, member.assignor,
        )

    def _request_rebalance(self, now: float) -> None:
        if self.state is GroupState.PREPARING_REBALANCE:
            return
        self.state = GroupState.PREPARING_REBALANCE
        for m in self.members.values():
            m.joined = False
            m.rebalance_deadline = now + m.rebalance_timeout
        self._changed.notify_all()

    def _remove(self, member_ids: Collection[str]) -> None:
        for mid in member_ids:
            del self.members[mid]
        if not self.members:
            # Kafka bumps the generation when a group empties, fencing late commits.
            self.state = GroupState.EMPTY
            self.generation += 1
            self.protocol = self.assignor = None
        else:
            self._request_rebalance(self.clock())
            self._try_complete()
        self._changed.notify_all()

    def _choose_assignor(self) -> str:
        first = next(iter(self.members.values()))
        common = set.intersection(*(set(m.assignors) for m in self.members.values()))
        return next(name for name in first.assignors if name in common)

    def _try_complete(self) -> None:
        if self.state is not GroupState.PREPARING_REBALANCE:
            return
        if not self.members or not all(m.joined for m in self.members.values()):
            return
        assignor = get_assignor(self._choose_assignor())
        protocol = assignor.protocol.value
        counts = self.partitions_per_topic()
        subscriptions = {mid: sorted(m.topics) for mid, m in self.members.items()}
        previous = {mid: list(m.assignment) for mid, m in self.members.items()}
        target = assignor.assign(subscriptions, counts, previous)
        if protocol == "cooperative":
            _revoke, result = cooperative_plan(previous, target)
        else:
            result = target
        second_round = any(sorted(result[m]) != sorted(target[m]) for m in target)
        self.generation += 1
        self.state = GroupState.STABLE
        self.protocol, self.assignor = protocol, assignor.name
        for mid, m in self.members.items():
            m.assignment = tuple(result.get(mid, ()))
            m.generation = self.generation
            m.joined = False
            m.protocol, m.assignor = protocol, assignor.name
        if second_round:
            self._request_rebalance(self.clock())
        self._changed.notify_all()

    def _seconds_to_next_deadline(self) -> float | None:
        now = self.clock()
        deadlines = [
            m.last_seen + m.session_timeout for m in self.members.values() if not m.waiting
        ]
        if self.state is GroupState.PREPARING_REBALANCE:
            deadlines += [m.rebalance_deadline for m in self.members.values() if not m.joined]
        if not deadlines:
            return None
        # A little past the deadline, so that expire() sees it passed.
        return max(0.001, min(deadlines) - now + 0.001)

    def close(self) -> None:
        """Wake every waiting join (the broker is shutting down)."""
        self.members.clear()
        self.state = GroupState.EMPTY
        self._changed.notify_all()


def validate_group_id(group_id: object) -> str:
    """Return ``group_id`` if it is a non-empty ``str``, else raise ``InvalidGroupIdError``."""
    from pcmodel.topics.errors import InvalidGroupIdError

    if not isinstance(group_id, str) or not group_id:
        raise InvalidGroupIdError(f"group_id must be a non-empty string, got {group_id!r}")
    return group_id

