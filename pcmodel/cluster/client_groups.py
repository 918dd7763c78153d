"""Group requests of :class:`~pcmodel.cluster.client.ClusterConnection`: to the coordinator.

A group's coordinator is the leader of its partition of the replicated ``__consumer_offsets``
topic (:mod:`pcmodel.cluster.offsets`). Joins, syncs, heartbeats and leaves go to it; commits
are checked there (member, generation) and then written to the offsets topic with
``acks="all"``; offset fetches are answered from the topic's cache. The group's metadata
(generation, members and their assignments) is stored in the same topic when the leader's
SyncGroup completes a generation (before any member is answered: until then the group stays
``CompletingRebalance``) and when the group becomes empty, so a broker that becomes coordinator
loads it and the members carry on. A call that finds no coordinator, or one that dies under
it, waits for the next one, as Kafka clients rediscover their coordinator after
NOT_COORDINATOR. The offsets-retention check runs on the cluster's timer
(:mod:`pcmodel.cluster.offsets_retention`); a group or offsets request that finds it due runs
it too.

When the group's metadata cannot be stored (its partition of the offsets topic is short of
in-sync replicas, or its leader moved), the coordinator undoes what was not stored (a static
member's replacement, a generation: the group rebalances) and the join or sync is answered
COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR, retriable, as Kafka's ``GroupMetadataManager``
maps a failed ``storeGroup``; the member joins again.

:class:`GroupRequestsMixin` is one part of ``ClusterConnection``, which provides
``_cluster``, ``_offsets``, ``metadata_version()`` and the transactional
checks of :class:`~pcmodel.cluster.client_transactions.TransactionRequestsMixin`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pcmodel.cluster.client_consumer_groups import ConsumerGroupRequestsMixin, not_stored
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.topics.broker import HeartbeatResult, HeartbeatStatus, JoinResult
from pcmodel.topics.broker_checks import _check_flag, _check_int, _check_list, _check_mapping
from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
    UnstableOffsetCommitError,
)
from pcmodel.topics.group_offsets import checked_offset, metadata_too_large, oversized_metadata
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition, validate_topic_partition

__all__ = ["GroupRequestsMixin"]

#: How long a heartbeat or commit waits for a new coordinator (seconds) before giving up.
_COORDINATOR_WAIT = 5.0


class GroupRequestsMixin(ConsumerGroupRequestsMixin):
    """Consumer-group requests, sent to the group's coordinator (ClusterConnection part);
    Kafka 4's consumer groups are :mod:`pcmodel.cluster.client_consumer_groups`'."""

    def join_group(self, group_id: str, member_id: str, **settings: Any) -> JoinResult:
        """JoinGroup at the group's coordinator (waiting up to ``timeout`` for one to exist).

        Raises ``UnknownMemberIdError`` when no coordinator appeared in time or the member is
        unknown to the current one: the consumer joins again as a new member. A static member
        that took its place again in a ``Stable`` group is answered once the group's metadata,
        with its new member id, is stored, as Kafka's coordinator does.
        """
        result = self._at_coordinator(group_id, settings.get("timeout"), "join_group",
                                      member_id, **settings)
        if member_id == "" and settings.get("group_instance_id") is not None \
                and not result.pending:  # it may have taken a static member's place
            self._store_or_undo(group_id, result.member_id)
        return result

    def sync_group(self, group_id: str, member_id: str, generation: int,
                   **settings: Any) -> Any:
        """SyncGroup at the group's coordinator; ``UnknownMemberIdError`` without one.

        The leader's assignment is stored in the offsets topic (with ``acks="all"``) before
        any member is answered, the leader included, as Kafka's coordinator does; if it cannot
        be, the group rebalances and every member is told to join again. ``TypeError`` for
        ``assignments`` that are not a mapping, before the coordinator is looked for."""
        if settings.get("assignments") is not None:
            _check_mapping("assignments", settings["assignments"], "member id to bytes")
        result = self._at_coordinator(group_id, settings.get("timeout"), "sync_group",
                                      member_id, generation, store_first=True, **settings)
        if result.to_store:  # this sync handed in the generation's assignment
            self._store_or_undo(group_id, member_id)
            try:
                self._at_coordinator(group_id, 0, "group_stored", generation)
            except KafkaError:
                pass  # no coordinator: the next one loads the stored generation, Stable
            result = result._replace(to_store=False)
        return result

    def coordinator_id(self, group_id: str) -> int | None:
        """The broker coordinating ``group_id`` now (the leader of its offsets partition;
        ``None`` while it has none): the broker whose ListGroups lists the group. Returns at
        once."""
        return self._offsets.coordinator(group_id)

    def group_states(self) -> dict[str, Any]:
        """Every group a live broker coordinates, with its protocol type and state as its
        coordinator has them."""
        return self._coordinated_states(None)

    def heartbeat(self, group_id: str, member_id: str, generation: int,
                  group_instance_id: str | None = None) -> HeartbeatResult:
        """Heartbeat at the coordinator, waiting up to 5 s for one after a coordinator loss
        (the new one loaded the group: the member is known there); ``UNKNOWN_MEMBER`` if none
        appeared in that time, so the member rejoins."""
        try:
            result = self._at_coordinator(group_id, _COORDINATOR_WAIT, "heartbeat", member_id,
                                          generation, group_instance_id=group_instance_id)
        except UnknownMemberIdError:
            return HeartbeatResult(HeartbeatStatus.UNKNOWN_MEMBER, self.metadata_version())
        return result._replace(metadata_version=self.metadata_version())

    def leave_group(self, group_id: str, member_id: str,
                    group_instance_id: str | None = None) -> None:
        """Leave at the coordinator (nothing to do without one); a group left empty is
        stored so. The member has left whether or not that can be stored (Kafka answers
        LeaveGroup before it stores the group): a coordinator that loads an older state
        expires the member when its session runs out."""
        try:
            self._at_coordinator(group_id, 0, "leave_group", member_id,
                                 group_instance_id=group_instance_id)
        except _NoCoordinatorError:
            return  # the member's session expires at the next coordinator
        try:
            self._store_group_metadata(group_id)
        except (KafkaError, TimeoutError):
            pass  # the next change of the group stores it

    def commit_offsets(self, group_id: str, generation: int, member_id: str,
                       offsets: Mapping[TopicPartition, OffsetAndMetadata | int], *,
                       retention_time_ms: int = -1,
                       group_instance_id: str | None = None,
                       request_version: int | None = None) -> None:
        """Check the member's generation at the coordinator, then write the offsets (with their
        metadata and leader epochs) to the replicated offsets topic with ``acks="all"`` and
        wait for them to be committed. ``retention_time_ms`` as :meth:`Broker.commit_offsets
        <pcmodel.topics.broker_offsets.CommittedOffsetsMixin.commit_offsets>`, and so are the
        errors: ``OffsetMetadataTooLargeError`` names the partitions whose metadata is longer
        than the cluster's ``offset_metadata_max_bytes``, once the others are committed.
        A Kafka 4 consumer group's coordinator checks the member's epoch (``generation``) and
        ``request_version``, the OffsetCommit version a listener received, as the broker's
        ``commit_offsets`` does. ``TypeError`` for ``offsets`` that are not a mapping."""
        _check_mapping("offsets", offsets, "TopicPartition to OffsetAndMetadata or int")
        stored: dict[TopicPartition, OffsetAndMetadata] = {}
        given: dict[TopicPartition, object] = {}
        for tp, value in offsets.items():
            tp = validate_topic_partition(tp)
            stored[tp], given[tp] = checked_offset(tp, value), value
        limit = self._cluster.offset_metadata_max_bytes
        refused = oversized_metadata(given, limit)
        if refused:
            existing = self._cluster.metadata()
            for tp in refused:
                if tp not in existing:  # as the coordinator checks the others: before any
                    raise UnknownTopicOrPartitionError.no_partition(tp)
                del stored[tp]
        # The coordinator checks the member and generation (fencing) and the partitions, and
        # dates the commit: the records carry the same time, so no coordinator sees another.
        # It holds the metadata to the cluster's limit (its broker was made with the default).
        def check() -> int:
            return self._at_coordinator(group_id, 0, "commit_offsets", generation, member_id,
                                        stored, retention_time_ms=retention_time_ms,
                                        group_instance_id=group_instance_id,
                                        offset_metadata_max_bytes=limit,
                                        **({} if request_version is None else
                                           {"request_version": request_version}))

        clock = self._cluster.clock
        deadline = clock() + _COORDINATOR_WAIT
        while True:
            # Wait for a coordinator first: the commit then holds back the other groups'
            # writes only while the coordinator stores it and its records are sent.
            self._coordinator_broker(group_id, max(0.0, deadline - clock()))
            try:
                future = self._offsets.commit_checked(group_id, stored, check, timeout=10.0,
                                                      retention_time_ms=retention_time_ms)
                break
            except _NoCoordinatorError:
                if clock() >= deadline:
                    raise
            # It died or moved: wait for the controller to notice and elect the next one.
            self._cluster.await_change(self._cluster.change_count(), 0.05)
        if future is not None:
            try:
                future.get(timeout=15.0)
            except (KafkaError, TimeoutError) as exc:
                raise not_stored(f"the offsets of group {group_id!r}", exc) from exc
        if refused:
            raise metadata_too_large(refused, limit, others_committed=bool(stored))

    @property
    def offset_metadata_max_bytes(self) -> int:
        """The cluster's ``offset_metadata_max_bytes`` (Kafka's ``offset.metadata.max.bytes``),
        as a lone broker's attribute of that name: what the Kafka listener holds a
        TxnOffsetCommit's metadata to."""
        return self._cluster.offset_metadata_max_bytes

    def committed(self, group_id: str, partitions: Iterable[TopicPartition], *,
                  require_stable: bool = False,
                  ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """The group's committed offsets, from the replicated offsets topic.

        With ``require_stable`` (a ``read_committed`` consumer, KIP-447), raises
        ``UnstableOffsetCommitError`` (retriable) while a transaction not yet completed has
        staged an offset of one of the partitions for the group (see
        :mod:`pcmodel.cluster.client_transactions`). ``TypeError`` for a bare str given as
        ``partitions``, and unless ``require_stable`` is True or False."""
        _check_flag("require_stable", require_stable)
        tps = [TopicPartition._make(tp)
               for tp in _check_list("partitions", partitions, "TopicPartition")]
        self._offsets.expire_if_due()
        self._check_transactions_due()
        if require_stable:
            unstable = self._unstable_offsets(group_id, tps)
            if unstable:
                raise UnstableOffsetCommitError(
                    f"a transaction has staged offsets of {sorted(unstable)} for group "
                    f"{group_id!r} and has not completed yet; ask again")
        found: list[Any] = []
        errors: list[KafkaError] = []

        def answered() -> bool:
            try:
                found.append(self._offsets.committed(group_id, tps))
                return True
            except KafkaError as exc:
                errors.append(exc)
                return False

        if not self._cluster.wait_for(answered, 10.0):
            raise errors[-1]
        return found[-1]

    def describe_group(self, group_id: str) -> Any:
        """The group as its coordinator sees it, with the committed offsets (and the lag they
        give against each partition's high watermark) from the replicated offsets topic."""
        broker = self._coordinator_broker(group_id, 5.0)
        if broker is None:
            raise KafkaTimeoutError(f"no coordinator for group {group_id!r}")
        described = broker.describe_group(group_id)
        committed = self._offsets.all_committed(group_id)
        existing = self._cluster.metadata()
        tps = sorted(tp for tp in set(described.lag) | set(committed) if tp in existing)
        return described._replace(committed=committed, lag={
            tp: self._lag(tp, committed.get(tp), existing[tp].leader) for tp in tps})

    def _lag(self, tp: TopicPartition, committed: OffsetAndMetadata | None,
             leader: int | None) -> int | None:
        """How far ``committed`` is behind the high watermark at the partition's leader;
        ``None`` with no commit, or no leader alive to ask now. Never waits: describing a
        group (Kafka's DescribeGroups) does not depend on the partitions' leaders."""
        if committed is None or leader is None or not self._cluster.nodes[leader].alive:
            return None
        try:
            end = self._cluster.nodes[leader].broker.end_offsets([tp])[tp]
        except KafkaConnectionError:  # its process died meanwhile
            return None
        return max(0, end - committed.offset)

    def delete_group(self, group_id: str) -> None:
        """Delete the group at its coordinator, then its committed offsets and its stored
        metadata from the offsets topic (tombstones), as Kafka's DeleteGroups does."""
        broker = self._coordinator_broker(group_id, 5.0)
        if broker is None:
            raise KafkaTimeoutError(f"no coordinator for group {group_id!r}")
        broker.delete_group(group_id)
        self._wait_stored(self._offsets.remove_offsets(group_id, timeout=10.0))
        self._wait_stored(self._offsets.store_group(group_id, None, timeout=10.0))
        self._store_group_state(group_id)  # a consumer group's records get tombstones

    def delete_offsets(self, group_id: str, partitions: Iterable[TopicPartition]
                       ) -> dict[TopicPartition, KafkaError | None]:
        """OffsetDelete: the coordinator decides which offsets go (as
        :meth:`Broker.delete_offsets <pcmodel.topics.broker_offsets.CommittedOffsetsMixin.
        delete_offsets>`), then they are tombstoned in the offsets topic, waited for; a group
        the coordinator deleted (left empty with no offset) loses its stored metadata too.
        ``TypeError`` for a bare str given as ``partitions``, before anything is deleted.
        """
        tps = [TopicPartition._make(tp)
               for tp in _check_list("partitions", partitions, "TopicPartition")]
        broker = self._coordinator_broker(group_id, 5.0)
        if broker is None:
            raise KafkaTimeoutError(f"no coordinator for group {group_id!r}")
        results = broker.delete_offsets(group_id, tps)
        deleted = [tp for tp, error in results.items() if error is None]
        self._wait_stored(self._offsets.remove_offsets(group_id, deleted, timeout=10.0))
        if group_id not in broker.list_groups():
            self._wait_stored(self._offsets.store_group(group_id, None, timeout=10.0))
            self._store_group_state(group_id)
        return results

    def list_groups(self) -> list[str]:
        """Every group a live broker coordinates: classic groups and consumer groups."""
        return sorted(set(self._coordinated_states(None))
                      | set(self._coordinated_consumer_states(None)))

    def expire_offsets(self, now_ms: int | None = None) -> dict[str, Any]:
        """Run the offsets-retention check at every coordinator now, as at ``now_ms`` (epoch
        ms; default: the wall clock), and remove what expired from the offsets topic; return,
        per group, what went (:class:`~pcmodel.topics.group_answers.ExpiredOffsets`). Waits
        for the tombstones. See :meth:`OffsetsTopic.expire
        <pcmodel.cluster.offsets.OffsetsTopic.expire>`."""
        if now_ms is not None:
            _check_int("now_ms", now_ms, 0, IllegalArgumentError)
        return self._offsets.expire(now_ms)

    # --- internals ----------------------------------------------------------------------------

    def _coordinated_states(self, node_id: int | None) -> dict[str, Any]:
        """``{group: (protocol type, state)}`` of the groups each live broker (or broker
        ``node_id`` only) coordinates now. A broker that coordinated a group before keeps its
        copy of it, which may be stale, so only the coordinator's counts."""
        self._offsets.load_all()
        self._offsets.expire_if_due()
        states: dict[str, Any] = {}
        for node in self._cluster.nodes:
            if node.alive and node_id in (None, node.node_id):
                for group, state in node.broker.group_states().items():
                    if self._offsets.coordinator(group) == node.node_id:
                        states[group] = state
        return dict(sorted(states.items()))

    def _at_coordinator(self, group_id: str, wait: float | None, method: str, /,
                        *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` at the group's coordinator, once it has loaded the group.

        A coordinator that dies during the call is no error yet: the call goes to the next
        one (which loads the group from the offsets topic), within ``wait`` seconds (30 when
        ``None``). ``UnknownMemberIdError`` when no coordinator appeared in time.
        """
        clock = self._cluster.clock
        deadline = clock() + (30.0 if wait is None else wait)
        while True:
            broker = self._coordinator_broker(group_id, max(0.0, deadline - clock()))
            if broker is None:
                raise _NoCoordinatorError(f"no coordinator for group {group_id!r} right now; "
                                          "join again")
            try:
                return getattr(broker, method)(group_id, *args, **kwargs)
            except KafkaConnectionError as exc:
                if clock() >= deadline:
                    raise _NoCoordinatorError(f"the coordinator of group {group_id!r} died "
                                              "during the call; join again") from exc
            # Its process died: wait for the controller to notice and elect the next one.
            self._cluster.await_change(self._cluster.change_count(), 0.05)

    def _store_or_undo(self, group_id: str, member_id: str) -> None:
        """Store the group's metadata after ``member_id``'s JoinGroup or SyncGroup; if that
        fails, have the coordinator undo what was not stored and raise the retriable error
        Kafka answers then (see the module)."""
        try:
            self._store_group_metadata(group_id)
        except (KafkaError, TimeoutError) as exc:
            try:
                self._at_coordinator(group_id, 0, "group_not_stored", member_id)
            except KafkaError:
                pass  # no coordinator: the next one loads what was stored before
            raise not_stored(f"the metadata of group {group_id!r}", exc,
                             "; join again") from exc

    def _store_group_metadata(self, group_id: str) -> None:
        """Store the group's metadata if the coordinator has a new one (a generation was
        assigned, or the group became empty), with its consumer group records if a classic
        member's call changed a consumer group, and wait until it is committed (see
        :meth:`_store_group_state
        <pcmodel.cluster.client_consumer_groups.ConsumerGroupRequestsMixin._store_group_state>`).
        """
        self._store_group_state(group_id)

    @staticmethod
    def _wait_stored(future: Any) -> None:
        if future is not None:
            future.get(timeout=15.0)

    def _coordinator_broker(self, group_id: str, timeout: float | None) -> Any:
        """The broker coordinating ``group_id`` once it has loaded the group, waiting up to
        ``timeout`` seconds (30 for ``None``; a stepped cluster is driven meanwhile, in
        virtual time); ``None`` if none did."""
        self._offsets.expire_if_due()  # every group request may be the one that runs it
        p = self._offsets.partition_for(group_id)
        found: list[Any] = []

        def loaded() -> bool:
            state = self._cluster.metadata().get(TopicPartition(OFFSETS_TOPIC, p))
            if state is None or state.leader is None or \
                    not self._cluster.nodes[state.leader].alive:
                return False
            try:
                leader = self._offsets.load(group_id)  # a new coordinator loads first
            except KafkaError:
                return False  # it moved again meanwhile
            if leader is None or not self._cluster.nodes[leader].alive:
                return False
            found.append(self._cluster.nodes[leader].broker)
            return True

        if loaded():
            return found[-1]
        if timeout == 0 or not self._cluster.wait_for(loaded, 30.0 if timeout is None
                                                      else timeout):
            return None  # (a stepped cluster is not driven for a call that may not wait)
        return found[-1]


class _NoCoordinatorError(UnknownMemberIdError):
    """No coordinator answered in time: to the member, as good as being unknown (it rejoins)."""
