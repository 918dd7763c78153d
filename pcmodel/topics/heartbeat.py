"""The consumer's heartbeat thread: keeps the group membership alive, and tells ``poll()``.

Every ``heartbeat_interval_ms`` the thread sends a Heartbeat for the member's current id and
generation. The answer is news for ``poll()``'s thread, passed on as flags under the
consumer's lock (:meth:`HeartbeatMixin._flag`): REBALANCE_IN_PROGRESS sets
``_rejoin_needed``; UNKNOWN_MEMBER_ID sets ``_lost = "member"`` (removed from the group);
ILLEGAL_GENERATION ``_lost = "generation"`` (the generation is over, the member id still
good); FENCED_INSTANCE_ID is raised to the caller of ``poll()``. The thread also leaves the
group when ``poll()`` has not been called for ``max_poll_interval_ms`` (the Java client's
rule, so that a stuck application loses its partitions), and wakes ``poll()`` when the
metadata of a watched topic changed. What the flags then make ``poll()`` do is
:mod:`~pcmodel.topics.membership`'s part.

:class:`HeartbeatMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`
(through :class:`~pcmodel.topics.membership.GroupMemberMixin`).

Prior art: the Java client's ``AbstractCoordinator.HeartbeatThread``; kafka-python's
``kafka/coordinator/base.py`` (``HeartbeatThread``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pcmodel.topics.errors import FencedInstanceIdError, UnknownMemberIdError
from pcmodel.topics.group_answers import HeartbeatStatus

__all__ = ["HeartbeatMixin"]

# Named after the consumer, which is what a user configures logging for.
logger = logging.getLogger("pcmodel.topics.consumer")


class HeartbeatMixin:
    """The heartbeat thread's loop, and the flags through which it tells ``poll()``."""

    def _heartbeat_loop(self, conn: Any) -> None:
        """Heartbeat thread: keep the membership alive; leave if poll() stopped being called.

        Like the Java client's, it wakes for whichever comes first: the next heartbeat, or the
        moment ``max_poll_interval_ms`` runs out, so a stuck application leaves on time.
        """
        interval = self.config["heartbeat_interval_ms"] / 1000
        max_poll = self.config["max_poll_interval_ms"] / 1000
        next_beat = time.monotonic() + interval
        try:
            while True:
                with self._lock:
                    poll_left = max_poll
                    active = bool(self._member_id) and not self._lost and self._generation >= 0
                    if active and not self._in_poll:
                        poll_left -= self._clock() - self._last_poll
                wait = min(max(0.0, next_beat - time.monotonic()), max(0.001, poll_left))
                if self._stop.wait(wait):
                    break
                with self._lock:
                    member_id, generation = self._member_id, self._generation
                    # No generation yet, or a JoinGroup in flight (it keeps the member alive).
                    awaiting_join = self._join_pending and self._pending_sync is None
                    if not member_id or self._lost or generation < 0 or awaiting_join:
                        continue
                    expired = not self._in_poll and self._clock() - self._last_poll > max_poll
                if expired:
                    logger.warning(
                        "poll() not called for max_poll_interval_ms=%d; leaving group %s",
                        self.config["max_poll_interval_ms"], self._group_id,
                    )
                    if self.config["group_instance_id"] is None:  # a static member stays
                        try:
                            conn.leave_group(self._group_id, member_id)
                        except UnknownMemberIdError:
                            pass  # removed already
                    self._flag(member_id, generation, lost="member")
                    continue
                if time.monotonic() < next_beat:
                    continue
                next_beat = time.monotonic() + interval
                result = conn.heartbeat(self._group_id, member_id, generation,
                                        group_instance_id=self.config["group_instance_id"])
                with self._lock:
                    self._metadata_version_seen = max(
                        self._metadata_version_seen, result.metadata_version
                    )
                    watched = []
                    if self._pattern is not None:
                        watched.append(self._pattern_version)
                    if self._assignment_snapshot is not None:
                        watched.append(self._snapshot_version)
                    metadata_changed = any(self._metadata_version_seen > v for v in watched)
                if result.status is HeartbeatStatus.FENCED_INSTANCE_ID:
                    raise FencedInstanceIdError(
                        f"member {member_id} of group {self._group_id} was fenced: another "
                        "consumer joined with its group_instance_id "
                        f"{self.config['group_instance_id']!r}; close this one")
                if result.status is HeartbeatStatus.UNKNOWN_MEMBER:
                    self._flag(member_id, generation, lost="member", answer=result.status)
                elif result.status is HeartbeatStatus.ILLEGAL_GENERATION:
                    self._flag(member_id, generation, lost="generation", answer=result.status)
                elif result.status is HeartbeatStatus.REBALANCE_IN_PROGRESS:
                    self._flag(member_id, generation, answer=result.status)
                elif metadata_changed:
                    self._wakeup()  # poll() re-reads the topics and rejoins if they changed
        except BaseException as exc:  # never lost: poll() re-raises it
            self._fail(exc)

    def _flag(
        self, member_id: str, generation: int, *, lost: str | None = None,
        answer: HeartbeatStatus | None = None,
    ) -> None:
        """Tell poll() that the member lost its membership (``lost``) or must rejoin.

        An answer about an older membership or generation than the current one is stale (the
        poll thread completed a rebalance while the heartbeat was under way) and is dropped:
        acting on it would make an eager member revoke everything for nothing. A heartbeat's
        ``answer`` that arrives while poll() is rejoining is dropped too, as the Java client
        drops it outside its stable state: the JoinGroup and SyncGroup under way report the same
        news, and a flag raised now would start one more round as soon as this one completes.
        (News of a later round is repeated by the next heartbeat, once this one is over.)
        """
        with self._lock:
            if self._member_id != member_id or self._generation != generation:
                return
            if answer is not None and self._join_pending:
                logger.debug("heartbeat answer %s ignored: member %s is already rejoining "
                             "group %s", answer.name, member_id, self._group_id)
                return
            if lost is not None:
                self._lost = lost
            else:
                self._rejoin_needed = True
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
