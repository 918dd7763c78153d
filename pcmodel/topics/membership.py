"""The consumer's group membership: JoinGroup, the leader's assignment, SyncGroup, heartbeats.

A subscribed consumer is a *member* of its group and speaks Kafka's classic group protocol
with the coordinator (:mod:`pcmodel.topics.coordinator`), exactly as the Java client does:

1. **Prepare.** Eager protocol: revoke every partition (``on_partitions_revoked``) first.
   Cooperative: keep them. Either way, describe the subscription (topics, plus the partitions
   held) once per assignor in ``partition_assignment_strategy``
   (:mod:`pcmodel.topics.consumer_protocol`).
2. **JoinGroup**, with ``require_known_member_id`` (a new member is given its id and joins
   again with it). The answer names the generation, the chosen assignor and the leader.
3. **If this member is the leader**, it runs the assignor over every member's subscription.
   Cooperative: a partition still owned by another member is withheld from its new owner.
4. **SyncGroup** (the leader's carries every assignment), then: revoke what is no longer
   assigned, take what is new (``on_partitions_assigned``). Cooperative: a member that had to
   revoke something rejoins at once, and that second round hands the withheld partitions over.

A consumer with a ``group_instance_id`` is a *static* member (KIP-345): it joins without the
member id round trip, and a restarted one takes its old place and assignment again, without a
rebalance (:mod:`pcmodel.topics.group_static`). It never sends LeaveGroup, neither on
``close()`` nor when ``max_poll_interval_ms`` runs out (then it only forgets its member id
and joins again as its instance): only its session timeout removes it. Another consumer
taking its instance id fences it, and ``poll()`` raises ``FencedInstanceIdError``, as the Java
client does: two consumers must not share an instance id.

``poll()``'s thread does all of this; a join or sync that is not answered before ``poll()``'s
timeout stays registered and is picked up by the next ``poll()``. A **heartbeat thread** keeps
the membership alive every ``heartbeat_interval_ms``, learns that a rebalance started, and
leaves the group when ``poll()`` has not been called for ``max_poll_interval_ms`` (the Java
client's rule, so a stuck application loses its partitions); it lives in
:mod:`~pcmodel.topics.heartbeat`. The leader also watches the
topic metadata: when the partitions of the group's topics change, it rejoins (in Kafka the
broker does not follow subscriptions; the leader does).

The threads talk through flags under the consumer's lock: ``_rejoin_needed`` (a rebalance
started), ``_lost`` (``"member"``: removed from the group; ``"generation"``: its generation is
over, the member id still good) and ``_join_pending`` (a rebalance is under way). An answer
about an older member id or generation is stale and ignored, and so is a heartbeat's answer
that arrives while a rebalance is under way. Every user callback (the listener) runs on
``poll()``'s thread, never under the lock.

Leaving (``close()``, ``unsubscribe()``) is the Java client's ``onLeavePrepare``: a member
in good standing revokes its partitions (``on_partitions_revoked``, after an auto-commit on
``close()``); one whose membership or generation is gone, or that is in the middle of a
rebalance (its JoinGroup or SyncGroup not answered yet), has lost them
(``on_partitions_lost``, nothing committed: the commit would be refused), and still sends
LeaveGroup if it has a member id.

:class:`GroupMemberMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`.

A JoinGroup or SyncGroup answered COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR (on a cluster:
the coordinator could not store the group's state in ``__consumer_offsets``) is tried again
after ``retry_backoff_ms``, within the same ``poll()`` while its time lasts, as the Java client
finds its coordinator again and rejoins; ``poll()`` does not raise it.

Deviation, documented: an *eager* member reports the partitions it held before revoking as
its owned partitions, so that the sticky assignor stays sticky (the Java client carries the same
in the sticky assignor's user data instead).

Prior art: the Java client's ``ConsumerCoordinator`` / ``AbstractCoordinator`` (``onJoinPrepare``,
``performAssignment``, ``adjustAssignment``, ``onJoinComplete``) and its ``HeartbeatThread``;
kafka-python's ``kafka/coordinator/base.py`` and ``consumer.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from pcmodel.topics.assignors import RebalanceProtocol, cooperative_plan, get_assignor
from pcmodel.topics.consumer_protocol import (
    PROTOCOL_TYPE,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from pcmodel.topics.errors import (
    CoordinatorNotAvailableError,
    IllegalGenerationError,
    MemberIdRequiredError,
    NotCoordinatorError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_answers import JoinResult
from pcmodel.topics.heartbeat import HeartbeatMixin
from pcmodel.topics.structs import (
    ConsumerGroupMetadata,
    MemberState,
    TopicPartition,
)

__all__ = ["GroupMemberMixin"]

# Named after the consumer, which is what a user configures logging for.
logger = logging.getLogger("pcmodel.topics.consumer")


class GroupMemberMixin(HeartbeatMixin):
    """Join, rejoin and leave a consumer group; the leader's assignment; the heartbeat thread."""

    # Rebalance progress, written by poll()'s thread (under the lock where the heartbeat reads).
    #: This round's JoinGroup protocols, sent again unchanged if the join must be repeated.
    _join_protocols: tuple[tuple[str, bytes], ...] = ()
    #: After the JoinGroup answer: (generation, assignor, leader's assignments or None).
    _pending_sync: tuple[int, str, dict[str, bytes] | None] | None = None
    #: Leader only: {topic: partition count} the assignment was computed from, and the broker's
    #: metadata version then; a change makes the leader rejoin.
    _assignment_snapshot: dict[str, int] | None = None
    _snapshot_version = -1

    def group_metadata(self) -> ConsumerGroupMetadata:
        """A snapshot of this consumer's group membership: group id, generation, member id and
        :class:`~pcmodel.topics.structs.MemberState`.

        The generation and member id are the current ones even while a rebalance is under way
        (``REBALANCING``); ``STABLE`` once the member has its generation's assignment;
        ``UNJOINED`` before the first join, after leaving, with ``assign()``, and with no
        ``group_id`` (then ``group_id`` is ``None``). Returns at once, from any thread.
        """
        with self._lock:
            if self._join_pending:
                state = MemberState.REBALANCING
            elif self._member_id and self._generation >= 0 and not self._lost:
                state = MemberState.STABLE
            else:
                state = MemberState.UNJOINED
            return ConsumerGroupMetadata(self._group_id, self._generation, self._member_id,
                                         self.config["group_instance_id"], state)

    # --- joining and rebalancing (poll()'s thread) --------------------------------------------

    def _ensure_group(self, deadline: float) -> bool:
        """Handle loss, metadata changes and rebalances until stable or out of time; True if
        the coordinator was not available, so that ``poll()`` asks again after
        ``retry_backoff_ms``."""
        listener_error: BaseException | None = None
        unavailable = False
        while True:
            with self._lock:
                lost = self._lost
            if lost:
                listener_error = listener_error or self._handle_lost()
            self._refresh_pattern()
            self._check_assigned_metadata()
            with self._lock:
                if not (self._rejoin_needed or self._join_pending):
                    break
                starting = not self._join_pending
                self._join_pending = True
                self._rejoin_needed = False
            if starting:
                listener_error = listener_error or self._prepare_join()
            try:
                assigned = self._join_and_sync(deadline)
            except (UnknownMemberIdError, IllegalGenerationError) as exc:
                with self._lock:
                    self._lost = "member" if isinstance(exc, UnknownMemberIdError) else "generation"
                continue
            except RebalanceInProgressError:
                continue  # a new round started before ours was assigned: join it
            except BaseException as exc:
                with self._lock:  # join again: at the next poll(), or after retry_backoff_ms
                    self._join_pending, self._rejoin_needed = False, True
                    self._pending_sync = None
                if not isinstance(exc, (CoordinatorNotAvailableError, NotCoordinatorError)):
                    raise  # e.g. InconsistentGroupProtocolError, for the caller of poll()
                unavailable = True
                break
            if assigned is None:
                break
            listener_error = listener_error or self._complete_rebalance(*assigned)
            if time.monotonic() >= deadline:
                break
        if listener_error is not None:
            raise listener_error
        return unavailable

    def _prepare_join(self) -> BaseException | None:
        """Kafka's ``onJoinPrepare``: auto-commit every position, then eager members revoke
        everything, cooperative ones what the subscription no longer names; describe the
        member."""
        owned = sorted(self.assignment())
        if self.config["enable_auto_commit"]:
            # Every position, kept partitions' too, as the Java client: whatever the new
            # assignment, no consumed record is read again because of the rebalance.
            with self._lock:
                offsets = self._consumed_offsets(owned)
            self._commit_quietly(offsets)
        if self._protocol == "eager":
            error = self._revoke(owned, commit=False)
        else:
            # Before joining, as the Java client: the partitions of a dropped topic are neither
            # claimed in the join nor left to a second round of revocation.
            wanted = self._subscribed_topics or set()
            error = self._revoke((tp for tp in owned if tp.topic not in wanted), commit=False)
        owned = sorted(self.assignment())
        metadata = encode_subscription(sorted(self._subscribed_topics or ()), owned)
        with self._lock:
            self._join_protocols = tuple(
                (name, metadata) for name in self.config["partition_assignment_strategy"]
            )
            self._pending_sync = None
        return error

    def _join_and_sync(self, deadline: float) -> tuple[int, str, set[TopicPartition]] | None:
        """Send JoinGroup (if not answered yet), then SyncGroup; ``None`` if not done in time."""
        if self._pending_sync is None:
            while True:
                try:
                    joined = self._conn.join_group(
                        self._group_id, self._member_id, protocols=self._join_protocols,
                        protocol_type=PROTOCOL_TYPE,
                        session_timeout_ms=self.config["session_timeout_ms"],
                        rebalance_timeout_ms=self.config["max_poll_interval_ms"],
                        client_id=self.config["client_id"],
                        group_instance_id=self.config["group_instance_id"],
                        require_known_member_id=True, supports_skip_assignment=True,
                        timeout=max(0.0, deadline - time.monotonic()),
                    )
                except MemberIdRequiredError as exc:
                    with self._lock:
                        self._member_id = exc.member_id
                    continue
                break
            with self._lock:
                self._member_id = joined.member_id
            if joined.pending:
                return None
            assignments = None
            if joined.leader == joined.member_id:
                # A static leader back in a Stable group keeps the group's assignment (KIP-814)
                # and only watches the metadata, as a leader does.
                assignments = self._assign(joined, skip=joined.skip_assignment)
            with self._lock:
                # Heartbeats now speak for the new generation (the Java client does the same).
                self._generation = joined.generation
                self._pending_sync = (joined.generation, joined.protocol, assignments)
        generation, assignor, assignments = self._pending_sync
        try:
            synced = self._conn.sync_group(
                self._group_id, self._member_id, generation, assignments=assignments,
                protocol_type=PROTOCOL_TYPE, protocol=assignor,
                group_instance_id=self.config["group_instance_id"],
                timeout=max(0.0, deadline - time.monotonic()),
            )
        except (RebalanceInProgressError, UnknownMemberIdError, IllegalGenerationError):
            with self._lock:
                self._pending_sync = None
            raise
        if synced.pending:
            return None
        with self._lock:
            self._pending_sync = None
        return generation, assignor, set(decode_assignment(synced.assignment))

    def _assign(self, joined: JoinResult, *, skip: bool = False) -> dict[str, bytes] | None:
        """The leader's step: run the chosen assignor over every member's subscription
        (``skip``: only note the topics' partitions, to watch them; answer ``None``)."""
        subscriptions: dict[str, tuple[str, ...]] = {}
        owned: dict[str, tuple[TopicPartition, ...]] = {}
        for member in joined.members:
            try:
                subscription = decode_subscription(member.metadata)
            except ValueError:
                logger.warning("member %s sent unreadable metadata; it gets nothing",
                               member.member_id)
                subscriptions[member.member_id], owned[member.member_id] = (), ()
                continue
            subscriptions[member.member_id] = subscription.topics
            owned[member.member_id] = subscription.owned_partitions
        wanted = set().union(*subscriptions.values())
        version = self._conn.metadata_version()
        counts = {t: n for t, n in self._conn.list_topics().items() if t in wanted}
        with self._lock:
            self._assignment_snapshot = {t: counts.get(t, 0) for t in wanted}
            self._snapshot_version = version
        if skip:
            return None
        assignor = get_assignor(joined.protocol)
        plan = assignor.assign(subscriptions, counts, owned)
        if assignor.protocol is RebalanceProtocol.COOPERATIVE:
            # Kafka's adjustAssignment: what another member still owns waits for a second round.
            _revoke, plan = cooperative_plan(owned, plan)
        return {member: encode_assignment(plan.get(member, ())) for member in subscriptions}

    def _complete_rebalance(
        self, generation: int, assignor: str, assigned: set[TopicPartition]
    ) -> BaseException | None:
        """Kafka's ``onJoinComplete``: revoke what left, take what is new, maybe rejoin."""
        protocol = get_assignor(assignor).protocol.value
        with self._lock:
            self._join_pending = False
            self._generation = generation
            self._protocol = protocol
            self._tally("rebalances")
            revoked = set(self._states) - assigned
        error = self._revoke(revoked)
        with self._lock:
            added = sorted(assigned - set(self._states))
            for tp in added:
                self._states[tp] = self._new_state()
            if revoked and protocol == "cooperative":
                self._rejoin_needed = True  # the second round gives the revoked ones out
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
                offsets = self._consumed_offsets(revoked)
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
        """Removed, or the generation is over: the partitions are gone; join again."""
        with self._lock:
            lost = sorted(self._states)
            self._states.clear()
            if self._lost != "generation":
                self._member_id = ""
            self._generation = -1
            self._lost = self._join_pending = False
            self._pending_sync = self._assignment_snapshot = None
            self._rejoin_needed = self._subscribed_topics is not None
        return self._tell_lost(lost)

    def _drop_lost(self) -> BaseException | None:
        """Drop every partition as lost, keeping the membership as it is: a member leaving in
        the middle of a rebalance."""
        with self._lock:
            lost = sorted(self._states)
            self._states.clear()
        return self._tell_lost(lost)

    def _tell_lost(self, lost: list[TopicPartition]) -> BaseException | None:
        """``on_partitions_lost(lost)`` unless ``lost`` is empty; what it raised, or None."""
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

    def _check_assigned_metadata(self) -> None:
        """Leader: rejoin when a topic of the group was created, deleted or grew."""
        with self._lock:
            snapshot = self._assignment_snapshot
            if snapshot is None or self._metadata_version_seen <= self._snapshot_version:
                return
            self._snapshot_version = self._metadata_version_seen
        counts = self._conn.list_topics()
        if {t: counts.get(t, 0) for t in snapshot} != snapshot:
            with self._lock:
                self._rejoin_needed = True

    def _leave_group(self, *, commit: bool = True) -> None:
        """Revoke, after an auto-commit unless ``commit`` is False, and leave: close() commits,
        unsubscribe() does not (as the Java client's). A member that is not in good standing
        loses its partitions instead (see the module)."""
        with self._lock:
            lost = self._lost
            # The Java client's test in onLeavePrepare: no generation, or a rebalance under way.
            unsettled = self._join_pending or self._generation < 0 or not self._member_id
        if lost:
            error = self._handle_lost()
        elif unsettled:
            error = self._drop_lost()
        else:
            error = self._revoke(self.assignment(), commit=commit)
        if self._member_id and self.config["group_instance_id"] is None:
            try:
                self._conn.leave_group(self._group_id, self._member_id)
            except UnknownMemberIdError:
                pass  # already removed: nothing to leave
        with self._lock:
            self._member_id, self._generation = "", -1
            self._join_pending = self._rejoin_needed = False
            self._pending_sync = self._assignment_snapshot = None
        if error is not None:
            raise error
