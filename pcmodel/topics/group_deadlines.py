"""The group coordinator's deadlines: expiring what is due, and waiting until the next one.

A group has no reaper thread (see "Liveness without a reaper thread" in
:mod:`pcmodel.topics.coordinator`). Instead every call first applies the deadlines that passed,
with the injected clock: a member silent for its session timeout is removed, a member told
``MEMBER_ID_REQUIRED`` that never came back is forgotten, a round whose rebalance timeout passed
completes without the members that did not rejoin, one that waits for SyncGroups past the sync
deadline drops the late members, and the initial rebalance delay ends or is extended. A call
that waits for other members waits on the group's condition only until the next of these
deadlines, applies it, and checks again; ``timeout`` bounds the whole wait in real seconds.

:class:`GroupDeadlinesMixin` is one part of :class:`~pcmodel.topics.coordinator.GroupCoordinator`
and, like it, is called with the broker's lock held.

Prior art: Kafka's ``DelayedJoin``, ``DelayedHeartbeat``, ``InitialDelayedJoin`` and the
pending-sync expiry of ``GroupCoordinator.scala``, here applied lazily.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pcmodel.topics.errors import RebalanceInProgressError, UnknownMemberIdError
from pcmodel.topics.group_answers import GroupState, JoinResult
from pcmodel.topics.group_metadata import _Member

__all__ = ["GroupDeadlinesMixin"]


class GroupDeadlinesMixin:
    """Session, rebalance, sync and initial-delay deadlines, and waiting (coordinator part)."""

    def expire(self, now: float) -> None:
        """Apply every deadline that passed: session, rebalance, pending member and sync."""
        for mid, deadline in list(self.pending_members.items()):
            if now >= deadline:
                del self.pending_members[mid]
        for mid, m in list(self.members.items()):
            alive = m.awaiting_join or m.awaiting_sync
            if not alive and now - m.last_heartbeat > m.session_timeout and mid in self.members:
                self._remove(mid)
        self._expire_initial_delay(now)
        if self.state is GroupState.PREPARING_REBALANCE and self.delay_deadline is None:
            if now >= self.rebalance_deadline:
                self._complete_join(now)
            else:
                self._maybe_complete_join(now)
        if (
            self.state in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE)
            and self.pending_sync
            and now >= self.sync_deadline
        ):
            late, self.pending_sync = self.pending_sync, set()
            for mid in late:
                if mid in self.members:
                    self._remove(mid)

    def _expire_initial_delay(self, now: float) -> None:
        """End the initial delay once it passed, or extend it if a new member came meanwhile."""
        while self.delay_deadline is not None and now >= self.delay_deadline:
            if self.new_member_added and self.delay_remaining > 0:
                # Kafka chains a further delay from where this one ended, not from the join.
                extension = min(self.initial_rebalance_delay_ms / 1000, self.delay_remaining)
                self.delay_deadline += extension
                self.delay_remaining -= extension
                self.new_member_added = False
            else:
                self.delay_deadline = None
                self.new_member_added = False

    def _wait(self, answered: Callable[[], bool], timeout: float | None) -> None:
        """Wait until ``answered()`` or ``timeout`` (real s), applying deadlines as they pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not answered() and self.state is not GroupState.DEAD:
            wait = self._seconds_to_next_deadline()
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                wait = remaining if wait is None else min(wait, remaining)
            self._changed.wait(wait)
            self.expire(self.clock())
        self._check_alive()

    def _await_join(self, member: _Member, timeout: float | None) -> JoinResult:
        """Wait up to ``timeout`` s for ``member``'s join to be answered."""
        self._wait(lambda: not member.awaiting_join, timeout)
        self._check_not_moved(member)
        self._check_not_fenced(member)
        if self.members.get(member.member_id) is not member:
            raise UnknownMemberIdError(
                f"member {member.member_id!r} was removed from group {self.group_id!r} while it "
                "waited for the rebalance; join again with member_id=''"
            )
        if member.awaiting_join:
            return JoinResult(member.member_id, -1, None, None, "", (), pending=True)
        assert member.join_response is not None
        return member.join_response

    def _check_not_moved(self, member: _Member) -> None:
        if member.moved:
            raise RebalanceInProgressError(
                f"group {self.group_id!r} became a consumer group while member "
                f"{member.member_id!r} waited; join again")

    def _seconds_to_next_deadline(self) -> float | None:
        deadlines = list(self.pending_members.values())
        deadlines += [
            m.last_heartbeat + m.session_timeout
            for m in self.members.values()
            if not (m.awaiting_join or m.awaiting_sync)
        ]
        if self.delay_deadline is not None:
            deadlines.append(self.delay_deadline)
        elif self.state is GroupState.PREPARING_REBALANCE:
            deadlines.append(self.rebalance_deadline)
        if self.pending_sync:
            deadlines.append(self.sync_deadline)
        if not deadlines:
            return None
        # A little past the deadline, so that expire() sees it passed.
        return max(0.001, min(deadlines) - self.clock() + 0.001)
