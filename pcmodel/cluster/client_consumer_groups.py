"""Kafka 4's consumer groups (KIP-848) on a replicated cluster: requests to the coordinator.

A consumer group's coordinator is the same broker as a classic group's: the leader of the
group's partition of ``__consumer_offsets`` (:mod:`pcmodel.cluster.client_groups`). Its
:class:`~pcmodel.topics.broker.Broker` runs the group's state machine
(:mod:`pcmodel.topics.consumer_group`) as a lone broker's does; what the cluster adds is
durability, as Kafka's group coordinator provides it:

- A ConsumerGroupHeartbeat is answered only once what it changed is stored in the offsets
  partition, with ``acks="all"``, as the records Kafka writes
  (:mod:`pcmodel.cluster.consumer_group_records`): so no member is ever told an epoch or an
  assignment a new coordinator would not know. If they cannot be stored, the coordinator goes
  back to the stored state (Kafka reverts its in-memory state to the last committed offset)
  and the heartbeat is answered NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE, retriable: the
  member finds the coordinator again and sends it again.
- A broker that becomes coordinator restores each consumer group from those records
  (:mod:`pcmodel.cluster.offsets`): members keep their epochs and assignments, and their
  sessions start afresh, so a member that died meanwhile is fenced once its session runs out,
  and its partitions go to the others.
- Group migration (a ConsumerGroupHeartbeat joining a classic group with members, the last
  consumer-protocol member leaving a group of classic members) runs as on a lone broker
  (:mod:`pcmodel.topics.group_migration`): the classic group's metadata record and the
  consumer group's records are written in one batch, so a new coordinator finds the group of
  one type or the other, never both. A group that turned back into a classic one is
  rebalancing, so its classic record is stored at the end of that rebalance: a coordinator
  lost meanwhile has its members join again, as for any classic group mid-rebalance.

pcmodel's :class:`~pcmodel.cluster.client.ClusterConnection` routes these calls to the
coordinator and waits for one after a failover. A cluster broker's Kafka listener instead
answers them only as the coordinator (:class:`~pcmodel.wire.node_connection.NodeConnection`
overrides :meth:`ConsumerGroupRequestsMixin._consumer_group_coordinator`): NOT_COORDINATOR
elsewhere, COORDINATOR_NOT_AVAILABLE while the partition has no leader, and
COORDINATOR_LOAD_IN_PROGRESS while the new leader has not caught up, as Kafka answers, so the
client asks FindCoordinator again. A cluster of broker *processes* serves them too: its
coordinator is a broker process, asked across its connection.

:class:`ConsumerGroupRequestsMixin` is a part of
:class:`~pcmodel.cluster.client_groups.GroupRequestsMixin`, which provides ``_cluster``,
``_offsets``, ``_at_coordinator`` and ``_coordinator_broker``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcmodel.cluster.consumer_group_records import (
    consumer_group_records,
    consumer_groups_from_records,
)
from pcmodel.cluster.errors import NotLeaderForPartitionError
from pcmodel.topics.broker_checks import _check_list
from pcmodel.topics.broker_consumer_groups import ConsumerGroupDescription
from pcmodel.topics.consumer_group import HeartbeatAnswer
from pcmodel.topics.errors import (
    CoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    NotCoordinatorError,
)

__all__ = ["ConsumerGroupRequestsMixin", "not_stored"]

#: How long pcmodel's cluster client waits for a group's coordinator (seconds).
_COORDINATOR_WAIT = 5.0


class ConsumerGroupRequestsMixin:
    """ConsumerGroupHeartbeat, ConsumerGroupDescribe and their companions at a cluster's
    group coordinator (a ``GroupRequestsMixin`` part; see the module docstring)."""

    def consumer_group_heartbeat(self, group_id: str, member_id: str, member_epoch: int,
                                 **fields: Any) -> HeartbeatAnswer:
        """:meth:`Broker.consumer_group_heartbeat <pcmodel.topics.broker_consumer_groups.
        ConsumerGroupsMixin.consumer_group_heartbeat>` at the group's coordinator, answered
        once what it changed is stored (see the module docstring). Raises what the broker
        raises, and, retriable, ``NotCoordinatorError`` / ``CoordinatorNotAvailableError``
        when the coordinator moved, is being elected or could not store the change.
        ``TypeError`` for a bare str given as ``subscribed_topic_names``, before the
        coordinator is looked for."""
        if fields.get("subscribed_topic_names") is not None:
            _check_list("subscribed_topic_names", fields["subscribed_topic_names"])
        answer = self._consumer_group_call(group_id, "consumer_group_heartbeat", member_id,
                                           member_epoch, **fields)
        self._store_or_restore(group_id)
        return answer

    def describe_consumer_group(self, group_id: str) -> ConsumerGroupDescription:
        """The consumer group as its coordinator has it (ConsumerGroupDescribe);
        ``GroupIdNotFoundError`` when it is no consumer group, coordinator errors as
        :meth:`consumer_group_heartbeat`."""
        return self._consumer_group_call(group_id, "describe_consumer_group")

    def consumer_group_states(self) -> dict[str, str]:
        """``{group id: state}`` of the consumer groups every live coordinator has (ListGroups
        shows them with type ``consumer``)."""
        return self._coordinated_consumer_states(None)

    def check_offset_fetch(self, group_id: str, member_id: str | None,
                           member_epoch: int) -> None:
        """OffsetFetch v9+'s check of a consumer group's member, at the coordinator (see
        :meth:`Broker.check_offset_fetch <pcmodel.topics.broker_consumer_groups.
        ConsumerGroupsMixin.check_offset_fetch>`)."""
        self._consumer_group_call(group_id, "check_offset_fetch", member_id, member_epoch)

    # --- internals ------------------------------------------------------------------------

    def _consumer_group_coordinator(self, group_id: str) -> Any:
        """The broker coordinating ``group_id``, once it has loaded the group, waiting up to
        5 s for one; ``CoordinatorNotAvailableError`` if none did. (A cluster broker's
        listener overrides this: see the module docstring.)"""
        broker = self._coordinator_broker(group_id, _COORDINATOR_WAIT)
        if broker is None:
            raise CoordinatorNotAvailableError(
                f"no coordinator for group {group_id!r} right now; find it again and retry")
        return broker

    def _consumer_group_call(self, group_id: str, method: str, /, *args: Any,
                             **kwargs: Any) -> Any:
        broker = self._consumer_group_coordinator(group_id)
        try:
            return getattr(broker, method)(group_id, *args, **kwargs)
        except KafkaConnectionError as exc:  # its process died during the call
            raise NotCoordinatorError(f"the coordinator of group {group_id!r} died during "
                                      "the call; find it again and retry") from exc

    def _coordinated_consumer_states(self, node_id: int | None) -> dict[str, str]:
        """``{group: state}`` of the consumer groups each live broker (or broker ``node_id``
        only) coordinates now (a former coordinator's stale copy does not count)."""
        self._offsets.load_all()
        states: dict[str, str] = {}
        for node in self._cluster.nodes:
            if not node.alive or node_id not in (None, node.node_id):
                continue
            try:
                found = node.broker.consumer_group_states()
            except KafkaConnectionError:
                continue
            states.update({group: state for group, state in found.items()
                           if self._offsets.coordinator(group) == node.node_id})
        return dict(sorted(states.items()))

    def _store_group_state(self, group_id: str, *, required: bool = False) -> None:
        """Store the group as its coordinator has it now: its classic metadata record, if it
        has a new one, and its consumer group records (tombstones for those of a consumer
        group it no longer has), in one batch, and wait until they are committed.

        Returns at once when the coordinator is gone (the next one has what was stored),
        unless ``required``: then ``NotCoordinatorError``. Raises the write's errors
        (``KafkaError``, ``TimeoutError``) when it fails."""
        broker = self._coordinator_broker(group_id, 0)
        if broker is None:
            if required:
                raise NotCoordinatorError(f"group {group_id!r} lost its coordinator")
            return
        try:
            snapshot = broker.consumer_group_snapshot(group_id)
            if snapshot is None and not self._offsets.stored_consumer_group(group_id):
                # A classic group, and no consumer group of that id stored: its record alone.
                record = broker.group_metadata(group_id)
                if record is not None:
                    future = self._offsets.store_group(group_id, record, timeout=10.0)
                    if future is not None:
                        future.get(timeout=15.0)
                return
        except KafkaConnectionError:
            if required:
                raise
            return  # it died: the next coordinator has what was stored

        def read() -> tuple[bytes | None, Mapping[bytes, bytes] | None]:
            snapshot = broker.consumer_group_snapshot(group_id)
            return (broker.group_metadata(group_id),
                    None if snapshot is None else consumer_group_records(snapshot))

        try:
            future = self._offsets.store_consumer_group(group_id, read, timeout=10.0)
        except KafkaConnectionError:
            if required:
                raise
            return  # it died: the next coordinator has what was stored
        if future is not None:
            future.get(timeout=15.0)

    def _store_or_restore(self, group_id: str) -> None:
        """:meth:`_store_group_state` (``required``) after a ConsumerGroupHeartbeat; if that
        fails, the coordinator goes back to the stored consumer group (Kafka reverts its
        in-memory state to the last committed offset) and the retriable error Kafka answers
        is raised."""
        try:
            self._store_group_state(group_id, required=True)
        except (KafkaError, TimeoutError) as exc:
            broker = self._coordinator_broker(group_id, 0)
            if broker is not None:
                self._restore_stored(broker, group_id)
            raise not_stored(f"the state of group {group_id!r}", exc, "; retry") from exc

    def _restore_stored(self, broker: Any, group_id: str) -> None:
        """Put the coordinator's consumer group back as it is stored (nothing: none)."""
        try:
            stored = self._offsets.stored_consumer_group(group_id)
            snapshot = consumer_groups_from_records(stored).get(group_id)
            broker.restore_consumer_group(snapshot, group_id)
        except KafkaError:
            pass  # no coordinator, or it died: the next one loads what was stored



def not_stored(what: str, exc: BaseException, advice: str = "") -> KafkaError:
    """The error a coordinator answers when ``what`` could not be written to the offsets
    topic (``exc``), as Kafka's ``GroupMetadataManager`` maps it: NOT_COORDINATOR if the
    partition's leader moved or died, COORDINATOR_NOT_AVAILABLE otherwise (too few in-sync
    replicas, a timeout); both retriable."""
    moved = isinstance(exc, (NotLeaderForPartitionError, KafkaConnectionError,
                             NotCoordinatorError))
    error = NotCoordinatorError if moved else CoordinatorNotAvailableError
    return error(f"{what} could not be stored ({type(exc).__name__}){advice}")
