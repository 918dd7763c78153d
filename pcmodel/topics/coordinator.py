"""The group coordinator: Kafka's classic group protocol, one state machine per group.

One :class:`GroupCoordinator` per group id lives inside the broker. It decides *who is in the
group* and *which generation it is*; it never decides who owns which partition. That is the
group **leader**'s job, and the leader is one of the members (a client):

1. **JoinGroup.** Each member sends the protocols it supports, as ``(name, metadata bytes)``
   pairs in order of preference (for consumers: one pair per assignor, the metadata being the
   subscription of :mod:`~pcmodel.topics.consumer_protocol`). The coordinator holds every join
   until all known members have joined, or until the rebalance timeout, when the members that
   did not rejoin are removed. Then the generation goes up by one, a protocol every member
   supports is chosen (each member votes for its first choice among them; most votes wins, a tie
   goes to the leader's preference), and every join is answered. Only the leader's answer lists
   the members with their metadata.
2. **SyncGroup.** The leader runs the chosen assignor over the members' metadata and sends the
   result, one assignment (bytes) per member. Every other member's SyncGroup waits for it; then
   all of them get their own assignment and the group is ``Stable``.
3. **Heartbeat.** Members heartbeat every ``heartbeat_interval_ms``. The answer tells a member
   to rejoin (``REBALANCE_IN_PROGRESS``), that it was removed (``UNKNOWN_MEMBER_ID``), or that
   its generation is over (``ILLEGAL_GENERATION``). A member silent for its session timeout is
   removed; so is a member that does not send its SyncGroup within the rebalance timeout.

States (Kafka's names) and what moves the group between them::

                   first member joins                    every member joined
         Empty ──────────────────────▶ PreparingRebalance ────────────────────▶ CompletingRebalance
           ▲   ◀──────────────────────    ▲       ▲        (or rebalance timeout)    │
           │    last member gone at       │       │  join / leave / expiry           │ leader's
           │    the end of the round      │       └──────────────────────────────────┤ SyncGroup
           │                              │  a new member, a leader's join, a        ▼
           │                              └─────────── changed member, leave ──── Stable
           └──(DeleteGroups on an empty group: Dead; a dead group is forgotten)

**Generations fence stale members.** A commit must carry a known member id and the current
generation (``UnknownMemberIdError`` / ``IllegalGenerationError``); from such a member, while
the group waits for its leader's assignment, commits fail with ``RebalanceInProgressError``.
A consumer outside group management commits with generation ``-1``, which is accepted only
while the group has no members. Offsets may be committed for any partition, assigned or not.

**Eager and cooperative rebalances are the clients' business.** With the eager protocol a
member gives up every partition before it rejoins. With the cooperative one it keeps them and
says in its metadata what it owns; the leader withholds a partition that moves between members,
its old owner revokes it and rejoins at once, and a second round hands it over. The coordinator
sees only joins and syncs either way.

**pcmodel's own consumer runs the leader side too** (:mod:`pcmodel.topics.membership`): the
broker never assigns partitions, so there is one state machine and one code path for every
client, and a student can read the leader's assignment step in Python next to the wire protocol
real clients speak.

**Static members** (KIP-345): a member that joins with a ``group_instance_id`` keeps its place
and assignment across restarts; see :mod:`pcmodel.topics.group_static`.

**The initial rebalance delay** (Kafka's ``group.initial.rebalance.delay.ms``, its
``InitialDelayedJoin``): when a group leaves ``Empty``, the first round completes no earlier
than ``initial_rebalance_delay_ms`` after it started, even if every member has joined, so that
members started together land in one generation instead of one rebalance each. A new member
that joins during the delay extends it by the delay again, when the current delay ends; the
extensions stop at the group's rebalance timeout (counted from the start of the round). When
the delay is over the round completes as any other: at once if every member has joined. A round
that does not start from ``Empty`` is never delayed, and a delay of 0 turns the feature off.

Liveness without a reaper thread: every call first expires what is due (with the injected
clock), and a call waiting for other members wakes at the next deadline. A member whose join or
sync is registered (in flight) is alive. ``timeout`` arguments bound how long a *call* waits
(real seconds): a join or sync not answered in time returns ``pending=True`` and stays
registered, like a request still in flight; calling again picks up the answer.

Thread safety: the coordinator shares the broker's lock; every public method is called with it
held, and waiting calls wait on a condition of that lock.

This module is the state machine; its parts: :mod:`~pcmodel.topics.group_metadata` (members,
protocol vote, answers), :mod:`~pcmodel.topics.group_rounds` (a rebalance round: starting it,
ending its join phase, removing a member), :mod:`~pcmodel.topics.group_deadlines` (expiry and
waiting), :mod:`~pcmodel.topics.group_offsets` (who may commit, and when committed offsets
expire), :mod:`~pcmodel.topics.group_static` (static members taking their place again),
:mod:`~pcmodel.topics.group_snapshot` (the stored record a new coordinator restores a group
from, and what a store that succeeded or failed does to the group),
:mod:`~pcmodel.topics.group_migration` (becoming a Kafka 4 consumer group and back) and
:mod:`~pcmodel.topics.group_answers` (the answers' value types).

Prior art: Kafka's ``GroupCoordinator.scala`` and ``GroupMetadata.scala`` (states and their
legal transitions, ``MEMBER_ID_REQUIRED``, pending-sync expiry, protocol votes), KIP-345 and
KIP-394, KIP-429 (cooperative rebalancing), kafka-python's ``kafka/coordinator/base.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pcmodel.topics.broker_checks import (
    DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
    DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
    INT32_MAX,
)
from pcmodel.topics.errors import (
    FencedInstanceIdError,
    IllegalGenerationError,
    IllegalStateError,
    InconsistentGroupProtocolError,
    InvalidSessionTimeoutError,
    MemberIdRequiredError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_answers import (
    GroupDescription,
    GroupState,
    HeartbeatResult,
    HeartbeatStatus,
    JoinedMember,
    JoinResult,
    MemberDescription,
    SyncResult,
    validate_group_id,
)
from pcmodel.topics.group_deadlines import GroupDeadlinesMixin
from pcmodel.topics.group_metadata import GroupMetadataMixin, _Member
from pcmodel.topics.group_migration import GroupMigrationMixin
from pcmodel.topics.group_offsets import GroupOffsetsMixin
from pcmodel.topics.group_rounds import GroupRoundsMixin
from pcmodel.topics.group_snapshot import GroupSnapshotMixin
from pcmodel.topics.group_static import GroupStaticMixin
from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

__all__ = [
    "GroupCoordinator",
    "check_session_timeout",
    "GroupDescription",
    "GroupState",
    "HeartbeatResult",
    "HeartbeatStatus",
    "JoinResult",
    "JoinedMember",
    "MemberDescription",
    "SyncResult",
    "validate_group_id",
]

def check_session_timeout(session_timeout_ms: int,
                          minimum: int = DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
                          maximum: int = DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS) -> None:
    """``InvalidSessionTimeoutError`` unless ``minimum <= session_timeout_ms <= maximum``: a
    broker's ``group_min_session_timeout_ms`` and ``group_max_session_timeout_ms`` (Kafka's
    ``group.min.session.timeout.ms`` / ``group.max.session.timeout.ms``, as
    ``GroupCoordinatorService.joinGroup`` checks them), by default the broker's defaults."""
    if not minimum <= session_timeout_ms <= maximum:
        raise InvalidSessionTimeoutError(
            f"session_timeout_ms={session_timeout_ms} is outside [{minimum}, {maximum}], the "
            "session timeouts the broker accepts (its group_min_session_timeout_ms and "
            "group_max_session_timeout_ms); ask for one within them"
        )


@dataclass
class GroupCoordinator(GroupMetadataMixin, GroupDeadlinesMixin, GroupRoundsMixin,
                       GroupSnapshotMixin, GroupOffsetsMixin, GroupStaticMixin,
                       GroupMigrationMixin):
    """Membership, generations and committed offsets of one group (see the module docstring).

    Every method must be called with ``lock`` (the broker's) held. ``clock`` (monotonic seconds)
    drives session, rebalance and sync deadlines; ``timestamp_clock`` (epoch milliseconds)
    dates commits and state changes, from which offsets expire
    (:mod:`~pcmodel.topics.group_offsets`).
    """

    group_id: str
    lock: threading.Lock
    clock: Callable[[], float] = time.monotonic
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol: str | None = None
    leader: str | None = None
    offsets: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)
    #: When each offset was committed (epoch ms), for offsets retention.
    commit_times: dict[TopicPartition, int] = field(default_factory=dict)
    #: When the offsets committed with a retention of their own expire (epoch ms).
    expire_times: dict[TopicPartition, int] = field(default_factory=dict)
    timestamp_clock: Callable[[], int] = wall_clock_ms
    #: When the group entered its current state (epoch ms; Kafka's currentStateTimestamp).
    state_since_ms: int = -1
    members: dict[str, _Member] = field(default_factory=dict)
    #: Members told MEMBER_ID_REQUIRED, until they join with their id: id -> deadline.
    pending_members: dict[str, float] = field(default_factory=dict)
    #: Members that have not sent SyncGroup for this generation yet.
    pending_sync: set[str] = field(default_factory=set)
    rebalance_deadline: float = 0.0
    sync_deadline: float = 0.0
    #: Kafka's ``group.initial.rebalance.delay.ms`` (see the module docstring); 0: no delay.
    initial_rebalance_delay_ms: int = 0
    #: End of the current initial delay, or None when no round is being delayed.
    delay_deadline: float | None = None
    #: How much the initial delay may still be extended (s), and whether it should be.
    delay_remaining: float = 0.0
    new_member_added: bool = False
    #: The last replacement of each static member in a ``Stable`` group: instance id ->
    #: (new member id, old member, the generation it happened in); see
    #: :meth:`~pcmodel.topics.group_static.GroupStaticMixin._revert_static_member`.
    static_replacements: dict[str, tuple[str, _Member, int]] = field(default_factory=dict)
    #: ``(generation, the topics its members subscribed to)``, taken when the generation
    #: started (Kafka's ``subscribedTopics``, set by ``initNextGeneration``; ``None`` for the
    #: topics when they are not known): what OffsetDelete and offsets retention judge the
    #: group by until the next generation (see :mod:`~pcmodel.topics.group_rounds`).
    generation_topics: tuple[int, frozenset[str] | None] | None = None
    #: The leader's assignment is being stored (a cluster's coordinator): the group stays
    #: ``CompletingRebalance`` and the followers wait until :meth:`assignment_stored`.
    storing: bool = False

    def __post_init__(self) -> None:
        # Notified whenever a join or sync is answered or the group changes state.
        self._changed = threading.Condition(self.lock)
        if self.state_since_ms < 0:
            self.state_since_ms = self.timestamp_clock()

    def __repr__(self) -> str:
        return (
            f"<GroupCoordinator {self.group_id!r} {self.state.value} gen={self.generation} "
            f"members={len(self.members)} leader={self.leader!r}>"
        )

    # --- JoinGroup ----------------------------------------------------------------------------

    def join(
        self,
        member_id: str,
        *,
        protocol_type: str,
        protocols: Sequence[tuple[str, bytes]],
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        client_id: str = "",
        client_host: str = "",
        group_instance_id: str | None = None,
        require_known_member_id: bool = False,
        supports_skip_assignment: bool = False,
        timeout: float | None = None,
    ) -> JoinResult:
        """Join (or rejoin) and wait up to ``timeout`` s for the round to complete.

        ``member_id=""`` is a new member: with ``require_known_member_id`` a dynamic one gets
        ``MemberIdRequiredError`` carrying its id and must join again with it (JoinGroup v4+).
        A static one (``group_instance_id``) takes the place of the member holding its instance
        id, if any (:mod:`pcmodel.topics.group_static`; ``supports_skip_assignment`` is
        JoinGroup v9's). A member that rejoins a ``Stable`` group (a follower) or a
        ``CompletingRebalance`` one with the protocols it has is answered at once and keeps its
        session and rebalance timeouts; any other join takes the new ones (Kafka's
        ``classicGroupJoinExistingMember``, which calls ``updateMember`` only on the paths that
        rebalance). Raises ``InvalidSessionTimeoutError`` for a session timeout below 1 ms (the
        broker checks it against its own bounds first, see :func:`check_session_timeout`),
        ``InconsistentGroupProtocolError`` (no protocol shared with the members, the joiner
        as it was before this join included, or another protocol type: Kafka's
        ``classicGroupJoinExistingMember``), ``UnknownMemberIdError`` (the member was removed:
        join again with ``member_id=""``), ``FencedInstanceIdError`` (another member holds the
        instance id).
        """
        check_session_timeout(session_timeout_ms, 1, INT32_MAX)
        protocols = tuple((str(name), bytes(metadata)) for name, metadata in protocols)
        now = self.clock()
        self.expire(now)
        self._check_alive()
        # Kafka's ClassicGroup.supportsProtocols counts every member as it is now, the joiner's
        # current protocols included: a member of a group that has members must share the
        # group's protocol type, and a protocol every member supports *before* it rejoins (a
        # sole member cannot switch to another type or assignor by rejoining).
        if not self._supports(protocol_type, protocols, ""):
            raise InconsistentGroupProtocolError(
                f"protocols {[name for name, _ in protocols]} (type {protocol_type!r}) share "
                f"none with the members of group {self.group_id!r} (type "
                f"{self.protocol_type!r}), a rejoining member's current ones included; give "
                "every member a common assignor"
            )
        if group_instance_id is not None:
            if member_id == "":
                holder = self._static_member_id(group_instance_id)
                if holder is not None:
                    return self._replace_static_member(
                        holder, protocols, session_timeout_ms, rebalance_timeout_ms, client_id,
                        client_host, supports_skip_assignment, now, timeout)
            else:
                self._check_instance(member_id, group_instance_id)
        if member_id == "" or member_id in self.pending_members:
            if member_id == "":
                member_id = f"{group_instance_id or client_id or 'member'}-{uuid.uuid4()}"
                if require_known_member_id and group_instance_id is None:
                    self.pending_members[member_id] = now + session_timeout_ms / 1000
                    raise MemberIdRequiredError(
                        "join again with the member id this error carries", member_id=member_id
                    )
            self.pending_members.pop(member_id, None)
            member = _Member(
                member_id, client_id, client_host, protocol_type, protocols,
                session_timeout_ms / 1000, rebalance_timeout_ms / 1000, now,
                group_instance_id=group_instance_id,
            )
            if not self.members:
                self.protocol_type = protocol_type
            self.members[member_id] = member
            if self.delay_deadline is not None:
                self.new_member_added = True
            if self.leader is None:
                self.leader = member_id
            self._register_join(member, now)
        else:
            member = self.members.get(member_id)
            if member is None:
                raise UnknownMemberIdError(
                    f"member {member_id!r} is not in group {self.group_id!r} (it was removed "
                    "or left); join again with member_id=''"
                )
            member.last_heartbeat = now
            unchanged = member.protocols == protocols
            if self.state is GroupState.COMPLETING_REBALANCE and unchanged:
                return self._join_response(member)  # it missed the answer: here it is again
            if self.state is GroupState.STABLE and unchanged and member_id != self.leader:
                return self._join_response(member)  # nothing new: no rebalance for a follower
            # Kafka's updateMember, called only here, where the join rebalances: a member
            # answered at once above keeps its session and rebalance timeouts.
            member.session_timeout = session_timeout_ms / 1000
            member.rebalance_timeout = rebalance_timeout_ms / 1000
            member.protocols = protocols
            self._register_join(member, now)
        return self._await_join(member, timeout)

    # --- SyncGroup ----------------------------------------------------------------------------

    def sync(
        self,
        member_id: str,
        generation: int,
        *,
        protocol_type: str | None = None,
        protocol: str | None = None,
        assignments: Mapping[str, bytes] | None = None,
        group_instance_id: str | None = None,
        timeout: float | None = None,
        store_first: bool = False,
    ) -> SyncResult:
        """Send (leader) or wait for (follower) the assignment of ``generation``.

        The leader's ``assignments`` maps member ids to assignment bytes (missing members get
        ``b""``) and completes the round; a follower's are ignored. A follower waits up to
        ``timeout`` s for the leader. With ``store_first`` (a cluster's coordinator, which
        stores the group's metadata before anyone acts on it, as Kafka's ``storeGroup``), the
        leader's sync only hands the assignment in: the leader is answered at once, to store
        it, and the followers once :meth:`assignment_stored` says it is stored. Raises
        ``UnknownMemberIdError``, ``IllegalGenerationError``, ``InconsistentGroupProtocolError``
        (type or protocol not the group's), ``RebalanceInProgressError`` (a new round started:
        join again) and ``FencedInstanceIdError`` (another member holds
        ``group_instance_id``).
        """
        now = self.clock()
        self.expire(now)
        self._check_alive()
        self._check_instance(member_id, group_instance_id)
        member = self._known_member(member_id, generation)
        if (protocol_type is not None and protocol_type != self.protocol_type) or (
            protocol is not None and protocol != self.protocol
        ):
            raise InconsistentGroupProtocolError(
                f"sync for protocol {protocol_type}/{protocol}, but group {self.group_id!r} "
                f"uses {self.protocol_type}/{self.protocol}"
            )
        member.last_heartbeat = now
        if self.state is GroupState.PREPARING_REBALANCE:
            raise RebalanceInProgressError(
                f"group {self.group_id!r} started a new rebalance; join again"
            )
        self.pending_sync.discard(member_id)
        handed_in = False
        if self.state is GroupState.COMPLETING_REBALANCE:
            member.awaiting_sync = True
            if member_id == self.leader:
                for mid, m in self.members.items():
                    m.assignment = bytes((assignments or {}).get(mid, b""))
                if store_first:  # the followers wait until the cluster has stored it
                    member.awaiting_sync, self.storing, handed_in = False, True, True
                else:
                    self.assignment_stored(generation)
            else:
                self._wait(lambda: not member.awaiting_sync, timeout)
        self._check_not_moved(member)
        self._check_not_fenced(member)
        if self.members.get(member_id) is not member:
            raise UnknownMemberIdError(
                f"member {member_id!r} was removed from group {self.group_id!r} while it waited "
                "for the assignment; join again with member_id=''"
            )
        if self.generation != generation or self.state is GroupState.PREPARING_REBALANCE:
            raise RebalanceInProgressError(
                f"group {self.group_id!r} started a new rebalance before generation "
                f"{generation} was assigned; join again"
            )
        if member.awaiting_sync:
            return SyncResult(None, None, b"", pending=True)
        return SyncResult(self.protocol_type, self.protocol, member.assignment,
                          to_store=handed_in)

    # --- Heartbeat, LeaveGroup ----------------------------------------------------------------

    def heartbeat(self, member_id: str, generation: int,
                  group_instance_id: str | None = None) -> HeartbeatStatus:
        """Keep ``member_id`` alive; say whether it must rejoin or is out of the group."""
        now = self.clock()
        self.expire(now)
        member = self.members.get(member_id)
        try:
            self._check_instance(member_id, group_instance_id)
        except FencedInstanceIdError:
            return HeartbeatStatus.FENCED_INSTANCE_ID
        except UnknownMemberIdError:
            return HeartbeatStatus.UNKNOWN_MEMBER
        if member is None or self.state is GroupState.DEAD:
            return HeartbeatStatus.UNKNOWN_MEMBER
        if generation != self.generation:
            return HeartbeatStatus.ILLEGAL_GENERATION
        member.last_heartbeat = now
        if self.state is GroupState.PREPARING_REBALANCE:
            return HeartbeatStatus.REBALANCE_IN_PROGRESS
        return HeartbeatStatus.OK

    def leave(self, member_id: str, group_instance_id: str | None = None) -> None:
        """Remove ``member_id`` now; its partitions move in the next round.

        ``member_id=""`` with a ``group_instance_id`` removes whichever member holds that
        instance id (how an administrator removes a static member). Raises
        ``UnknownMemberIdError`` for a member the group does not have, and
        ``FencedInstanceIdError`` when another member holds ``group_instance_id``.
        """
        self.expire(self.clock())
        # Kafka's order (GroupMetadataManager.classicGroupLeaveToClassicGroup): a member named
        # by its instance id alone, then a member told MEMBER_ID_REQUIRED (whatever instance id
        # the request names), then validateMember's instance id and member id checks.
        if member_id == "" and group_instance_id is not None:
            holder = self._static_member_id(group_instance_id)
            if holder is None:
                raise UnknownMemberIdError(
                    f"no member of group {self.group_id!r} has group_instance_id "
                    f"{group_instance_id!r}")
            member_id = holder
        elif self.pending_members.pop(member_id, None) is not None:
            self._maybe_complete_join(self.clock())
            return
        self._check_instance(member_id, group_instance_id)
        if member_id not in self.members:
            raise UnknownMemberIdError(f"member {member_id!r} is not in group {self.group_id!r}")
        self._remove(member_id)

    # --- lifecycle ----------------------------------------------------------------------------

    def mark_dead(self) -> None:
        """Deletion (of an empty group) or shutdown: the group is ``Dead``; waiting calls fail."""
        self._transition(GroupState.DEAD)
        self.delay_deadline = None
        self.members.clear()
        self.pending_members.clear()
        self.forget_all_offsets()
        self._changed.notify_all()

    close = mark_dead

    # --- internals ----------------------------------------------------------------------------

    def _check_alive(self) -> None:
        if self.state is GroupState.DEAD:
            raise IllegalStateError(f"group {self.group_id!r} was deleted or the broker closed")

    def _known_member(self, member_id: str, generation: int) -> _Member:
        member = self.members.get(member_id)
        if member is None:
            raise UnknownMemberIdError(f"member {member_id!r} is not in group {self.group_id!r}")
        if generation != self.generation:
            raise IllegalGenerationError(
                f"generation {generation} is over: group {self.group_id!r} is at generation "
                f"{self.generation}; join again"
            )
        return member
