"""The consumer's group membership: joining, rebalances, heartbeats and generations.

A subscribed consumer is a *member* of its group. ``poll()``'s thread joins (and rejoins) the
group, calls the rebalance listener and takes or gives up partitions; a **heartbeat thread**
keeps the membership alive every ``heartbeat_interval_ms``, learns that a rebalance started, and
leaves the group when ``poll()`` has not been called for ``max_poll_interval_ms`` (the Java
client's rule, so a stuck application loses its partitions).

The two threads talk through flags under the consumer's lock: ``_rejoin_needed`` (a rebalance
started), ``_lost`` (the coordinator removed this member) and ``_join_pending`` (a join was sent
and the round is not complete yet). An answer about an older member id or generation is stale
and ignored. Every user callback (the listener) runs on ``poll()``'s thread, never under the lock.

:class:`GroupMemberMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`.

Prior art: the Java client's ``ConsumerCoordinator`` / ``AbstractCoordinator`` and its
``HeartbeatThread``; kafka-python's ``kafka/coordinator/base.py`` and ``consumer.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from pcmodel.topics.broker import HeartbeatStatus, JoinResult
from pcmodel.topics.errors import UnknownMemberIdError
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

__all__ = ["GroupMemberMixin"]

# Named after the consumer, which is what a user configures logging for.
logger = logging.getLogger("pcmodel.topics.consumer")


class GroupMemberMixin:
    """Join, rejoin and leave a consumer group; the heartbeat thread."""

    # --- joining and rebalancing (poll()'s thread) --------------------------------------------

    def _ensure_group(self, deadline: float) -> None:
        """Handle loss, pattern changes and rebalances until stable or out of time."""
        listener_error: BaseException | None = None
        while True:
            with self._lock:
                lost = self._lost
            if lost:
                listener_error = listener_error or self._handle_lost()
            self._refresh_pattern()
            with self._lock:
                if not (self._rejoin_needed or self._join_pending):
                    break
                starting = not self._join_pending
                self._join_pending = True
                self._rejoin_needed = False
            if starting and self._protocol == "eager":
                listener_error = listener_error or self._revoke(self.assignment())
            try:
                result = self._conn.join_group(
                    self._group_id, self._member_id, sorted(self._subscribed_topics or ()),
                    assignors=self.config["partition_assignment_strategy"],
                    generation=self._generation,
                    session_timeout_ms=self.config["session_timeout_ms"],
                    max_poll_interval_ms=self.config["max_poll_interval_ms"],
                    client_id=self.config["client_id"],
                    timeout=max(0.0, deadline - time.monotonic()),
                )
            except UnknownMemberIdError:
                with self._lock:
                    self._lost = True
                continue
            with self._lock:
                self._member_id = result.member_id
            if result.pending:
                break
            listener_error = listener_error or self._complete_join(result)
            if time.monotonic() >= deadline:
                break
        if listener_error is not None:
            raise listener_error

    def _complete_join(self, result: JoinResult) -> BaseException | None:
        new = set(result.assignment)
        with self._lock:
            self._join_pending = False
            self._generation = result.generation
            self._protocol = result.protocol
            # Requests to rejoin seen before this result were about the round it completes;
            # the coordinator says in ``rejoin`` whether another round is already under way.
            self._rejoin_needed = result.rejoin
            revoked = set(self._states) - new
        error = self._revoke(revoked)
        with self._lock:
            added = sorted(new - set(self._states))
            for tp in added:
                self._states[tp] = self._new_state()
            self._work.notify_all()
        if self._listener is not None:
            try:
                self._listener.on_partitions_assigned(added)
            except Exception as exc:
                error = error or exc
        return error

    def _revoke(
        self, revoked: Iterable[TopicPartition], *, commit: bool = True
    ) -> BaseException | None:
        """Commit (with auto-commit), tell the listener, then drop ``revoked``."""
        revoked = sorted(revoked)
        if not revoked:
            return None
        if commit and self.config["enable_auto_commit"]:
            with self._lock:
                offsets = {
                    tp: OffsetAndMetadata(self._states[tp].position)
                    for tp in revoked
                    if self._states[tp].position is not None
                }
            self._commit_quietly(offsets)
        error = None
        if self._listener is not None:
            try:
                self._listener.on_partitions_revoked(revoked)
            except Exception as exc:
                error = exc
        with self._lock:
            for tp in revoked:
                self._states.pop(tp, None)
        return error

    def _handle_lost(self) -> BaseException | None:
        """The member was removed: its partitions are gone; start over as a new member."""
        with self._lock:
            lost = sorted(self._states)
            self._states.clear()
            self._member_id, self._generation = "", -1
            self._lost = self._join_pending = False
            self._rejoin_needed = self._subscribed_topics is not None
        if lost and self._listener is not None:
            try:
                self._listener.on_partitions_lost(lost)
            except Exception as exc:
                return exc
        return None

    def _refresh_pattern(self) -> None:
        with self._lock:
            if self._pattern is None or self._metadata_version_seen <= self._pattern_version:
                return
            pattern, self._pattern_version = self._pattern, self._metadata_version_seen
        topics = {t for t in self._conn.list_topics() if pattern.fullmatch(t)}
        with self._lock:
            if topics != self._subscribed_topics:
                self._subscribed_topics = topics
                self._rejoin_needed = True

    def _leave_group(self, *, commit: bool = True) -> None:
        """Commit (auto-commit), revoke and leave; used by unsubscribe() and close()."""
        if self._lost:
            error = self._handle_lost()
        else:
            error = self._revoke(self.assignment(), commit=commit)
        if self._member_id:
            self._conn.leave_group(self._group_id, self._member_id)
        with self._lock:
            self._member_id, self._generation = "", -1
            self._join_pending = self._rejoin_needed = False
        if error is not None:
            raise error

    # --- the heartbeat thread -----------------------------------------------------------------

    def _heartbeat_loop(self, conn: Any) -> None:
        """Heartbeat thread: keep the membership alive; leave if poll() stopped being called."""
        interval = self.config["heartbeat_interval_ms"] / 1000
        max_poll = self.config["max_poll_interval_ms"] / 1000
        try:
            while not self._stop.wait(interval):
                with self._lock:
                    member_id, generation = self._member_id, self._generation
                    if not member_id or self._lost:
                        continue
                    expired = not self._in_poll and self._clock() - self._last_poll > max_poll
                if expired:
                    logger.warning(
                        "poll() not called for max_poll_interval_ms=%d; leaving group %s",
                        self.config["max_poll_interval_ms"], self._group_id,
                    )
                    conn.leave_group(self._group_id, member_id)
                    self._flag(member_id, lost=True)
                    continue
                result = conn.heartbeat(self._group_id, member_id, generation)
                with self._lock:
                    self._metadata_version_seen = max(
                        self._metadata_version_seen, result.metadata_version
                    )
                    pattern_changed = (
                        self._pattern is not None
                        and self._metadata_version_seen > self._pattern_version
                    )
                if result.status is HeartbeatStatus.UNKNOWN_MEMBER:
                    self._flag(member_id, lost=True)
                elif result.status is HeartbeatStatus.REBALANCE_IN_PROGRESS:
                    self._flag(member_id, generation=generation)
                elif pattern_changed:
                    self._wakeup()  # poll() re-reads the topics and rejoins if they changed
        except BaseException as exc:  # never lost: poll() re-raises it
            self._fail(exc)

    def _flag(self, member_id: str, *, lost: bool = False, generation: int | None = None) -> None:
        """Tell poll() that the member was removed (``lost``) or must rejoin.

        An answer about an older membership or generation than the current one is stale (the
        poll thread completed a rebalance while the heartbeat was under way) and is dropped:
        acting on it would make an eager member revoke everything for nothing.
        """
        with self._lock:
            if self._member_id != member_id:
                return
            if lost:
                self._lost = True
            elif generation == self._generation:
                self._rejoin_needed = True
            else:
                return
        self._wakeup()

    def _start_heartbeat(self) -> None:
        if self._heartbeat is not None:
            return
        conn = self._broker.connect()
        self._connections.append(conn)
        self._heartbeat = threading.Thread(
            target=self._heartbeat_loop, args=(conn,), name="pcmodel-heartbeat", daemon=True
        )
        self._heartbeat.start()
