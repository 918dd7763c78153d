"""A rebalance round of the group coordinator: how it starts, how its join phase ends, and
what removing a member does to it.

A round starts (:meth:`GroupRoundsMixin._prepare_rebalance`) when a member joins a group
that is ``Empty``, ``Stable`` or waiting for its leader's assignment, or when a member of a
``Stable`` or ``CompletingRebalance`` group is removed. Its join phase ends
(:meth:`GroupRoundsMixin._complete_join`) when every known member has joined again, or at the
rebalance timeout: the members that did not rejoin are dropped, the generation goes up by one,
a protocol is chosen and every join is answered. A group moves between its states only along
Kafka's legal transitions (:meth:`GroupRoundsMixin._transition`), and every move wakes the
calls waiting on the group.

A generation's topics are taken when it starts (Kafka's ``subscribedTopics``, set by
``ClassicGroup.initNextGeneration``) and kept until the next one: OffsetDelete and offsets
retention judge the group by them (:meth:`GroupRoundsMixin.is_subscribed_to_topic`), not by
what its members say now, which may differ while a round is prepared or after a static member
was replaced in a ``Stable`` group (:mod:`pcmodel.topics.group_static`). A member whose
subscription does not parse leaves them unknown, and then a consumer group counts as
subscribed to every topic, as Kafka's ``isSubscribedToTopic`` does.

:class:`GroupRoundsMixin` is one part of :class:`~pcmodel.topics.coordinator.GroupCoordinator`
and, like it, is called with the broker's lock held.

Prior art: Kafka's ``GroupCoordinator.scala`` (``prepareRebalance``, ``onCompleteJoin``,
``removeMemberAndUpdateGroup``), ``GroupMetadata.scala`` (``validPreviousStates``) and Kafka 4's
``ClassicGroup`` (``computeSubscribedTopics``, ``isSubscribedToTopic``).
"""

from __future__ import annotations

from pcmodel.topics.consumer_protocol import PROTOCOL_TYPE, decode_subscription
from pcmodel.topics.group_answers import GroupState
from pcmodel.topics.group_metadata import _Member

__all__ = ["GroupRoundsMixin"]

#: The states a group may come from, per state (Kafka's ``validPreviousStates``).
_VALID_PREVIOUS: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset(
        {GroupState.EMPTY, GroupState.STABLE, GroupState.COMPLETING_REBALANCE}
    ),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
}


class GroupRoundsMixin:
    """Starting a rebalance round, ending its join phase, removing a member (coordinator
    part)."""

    def _transition(self, target: GroupState) -> None:
        if self.state not in _VALID_PREVIOUS[target]:
            raise AssertionError(f"group {self.group_id!r}: no transition {self.state} -> {target}")
        self.state = target
        self.state_since_ms = self.timestamp_clock()
        self._changed.notify_all()

    def _register_join(self, member: _Member, now: float) -> None:
        member.awaiting_join = True
        if self.state in (GroupState.EMPTY, GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(now)
        self._maybe_complete_join(now)

    def _prepare_rebalance(self, now: float) -> None:
        if self.state is GroupState.COMPLETING_REBALANCE:
            for m in self.members.values():
                m.awaiting_sync = False  # their SyncGroup fails: REBALANCE_IN_PROGRESS
            self.storing = False
        self.pending_sync.clear()
        rebalance_timeout = max((m.rebalance_timeout for m in self.members.values()), default=0.0)
        self.rebalance_deadline = now + rebalance_timeout
        if self.state is GroupState.EMPTY and self.initial_rebalance_delay_ms > 0:
            delay = self.initial_rebalance_delay_ms / 1000
            self.delay_deadline = now + delay
            self.delay_remaining = max(rebalance_timeout - delay, 0.0)
            self.new_member_added = False
        self._transition(GroupState.PREPARING_REBALANCE)

    def _maybe_complete_join(self, now: float) -> None:
        if (
            self.delay_deadline is None
            and self.state is GroupState.PREPARING_REBALANCE
            and not self.pending_members
            and all(m.awaiting_join for m in self.members.values())
        ):
            self._complete_join(now)

    def _complete_join(self, now: float) -> None:
        """End the join phase: drop who did not rejoin, start the next generation, answer."""
        for mid in [mid for mid, m in self.members.items() if not m.awaiting_join]:
            del self.members[mid]
        self.pending_members.clear()
        if self.leader not in self.members:
            self.leader = next(iter(self.members), None)
        self.generation += 1
        self.protocol = self._select_protocol() if self.members else None
        # Kafka's ClassicGroup.initNextGeneration computes the subscribed topics here, once a
        # generation, and keeps them until the next (see is_subscribed_to_topic).
        self.generation_topics = (self.generation, self._compute_subscribed_topics())
        if not self.members:
            self._transition(GroupState.EMPTY)
            return
        self._transition(GroupState.COMPLETING_REBALANCE)
        self.pending_sync = set(self.members)
        self.sync_deadline = now + max(m.rebalance_timeout for m in self.members.values())
        for m in self.members.values():
            m.awaiting_join = False
            # Its session starts again now, as Kafka reschedules every member's heartbeat when
            # it answers the joins: a member may have waited in its JoinGroup longer than its
            # session timeout (the rebalance timeout is what bounds that wait).
            m.last_heartbeat = now
            m.join_response = self._join_response(m)

    def _remove(self, member_id: str) -> None:
        del self.members[member_id]
        self.pending_sync.discard(member_id)
        if self.leader == member_id:
            joined = [mid for mid, m in self.members.items() if m.awaiting_join]
            self.leader = (joined or list(self.members) or [None])[0]
        if self.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(self.clock())
        self._maybe_complete_join(self.clock())
        self._changed.notify_all()

    def _compute_subscribed_topics(self) -> frozenset[str] | None:
        """The topics the members subscribe to in their metadata for the group's protocol
        (Kafka's ``ClassicGroup.computeSubscribedTopics``): none for a member-less consumer
        group; ``None`` (not known) for another protocol type, before a protocol is chosen, or
        when a member's subscription does not parse."""
        if self.protocol_type != PROTOCOL_TYPE:
            return None
        if not self.members:
            return frozenset()
        if self.protocol is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            try:
                topics.update(decode_subscription(self._metadata_of(member)).topics)
            except ValueError:
                return None  # Kafka's SchemaException: the group does not know its topics
        return frozenset(topics)

    def generation_subscription(self) -> frozenset[str] | None:
        """The topics of the current generation, as taken when it started (``None``: not
        known); a group that did not start its generation here (restored from its stored
        record, or turned back into a classic group) computes them from its members, as
        Kafka's coordinator does when it loads or converts one."""
        taken = self.generation_topics
        if taken is not None and taken[0] == self.generation:
            return taken[1]
        return self._compute_subscribed_topics()

    def is_subscribed_to_topic(self, topic: str) -> bool:
        """Whether the group counts as subscribed to ``topic`` (Kafka's
        ``ClassicGroup.isSubscribedToTopic``): by the generation's topics; when they are not
        known, a consumer group counts as subscribed to every topic, any other to none."""
        topics = self.generation_subscription()
        if topics is None:
            return self.protocol_type == PROTOCOL_TYPE
        return topic in topics
