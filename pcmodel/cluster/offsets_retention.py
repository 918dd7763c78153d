"""Offsets retention on a cluster: the check runs on the cluster's own timer, as Kafka's does.

Kafka's group coordinator runs a retention check every ``offsets.retention.check.interval.ms``
whether or not any client calls (``GroupCoordinatorShard.cleanupGroupMetadata``): it removes
the committed offsets that outlived ``offsets.retention.minutes`` by the rules of
:mod:`pcmodel.topics.group_offsets`, then deletes every group left empty with no offset (a
classic group ``Empty``, a Kafka 4 consumer group with no member), writing tombstones for all
of it to ``__consumer_offsets``: the offsets, the group's metadata record, a consumer group's
records. A coordinator that loads the partition later (after a failover, or a restart from the
journal) finds none of it, so the group stays gone: ListGroups leaves it out and DescribeGroups
answers it ``Dead``.

A cluster does the same from its tick (:mod:`pcmodel.cluster.driving`): a stepped cluster at
the step that finds the check due; a cluster of threads or of broker processes on a
``pcmodel-offsets`` thread the controller's tick wakes. Each coordinator judges the groups it
coordinates (:meth:`OffsetsRetention.expire`); a group or offsets request that finds the check
due runs it too. If a tombstone cannot be written (the coordinator failed), that coordinator's
cache is dropped: the next request loads the offsets again from the log, and the next check
expires them again.

A commit is stored at its coordinator and its record sent with the writes of the other group
states held back (:meth:`OffsetsTopic.commit_checked
<pcmodel.cluster.offsets.OffsetsTopic.commit_checked>`), and the check judges and sends its
tombstones with them held back too: so it never finds at a coordinator an offset whose record
is still to be sent (the tombstone would come first, and a later coordinator would bring the
offset back), and a record sent but not yet acknowledged gets its tombstone as a stored one
does. The timer never waits for them: while a write is being sent it leaves the check to the
next tick.

Offsets a transaction holds pending (staged by TxnOffsetCommit, or committed and not yet
stored) are judged per group and per partition, as Kafka's
``OffsetMetadataManager.cleanupExpiredOffsets`` judges them: the offset of a partition with a
pending one is not expired, and a group with any pending is not deleted, while the group's
other offsets, and every other group, are judged as usual. The transaction coordinators tell
which those are (:meth:`TransactionLog.pending_offsets
<pcmodel.cluster.transaction_log.TransactionLog.pending_offsets>`), and each coordinator of
groups is handed its own groups' share
(:meth:`Broker.expire_offsets <pcmodel.topics.broker.Broker.expire_offsets>`, ``pending``).

The dates the check judges are the coordinators' wall clock, as Kafka's are: each commit
record carries its commit time and each group metadata record the time the group entered its
state, so a new coordinator expires the same offsets at the same moment. That clock, and the
check's own (:meth:`OffsetsRetention.now_ms`), is the cluster's wall clock
(:func:`~pcmodel.cluster.clock.wall_clock_on`): on a stepped cluster it moves with virtual
time, so that ``run_for`` past the retention ages offsets and empty groups with no client
call, the same way on every run.

:class:`OffsetsRetention` is one part of :class:`~pcmodel.cluster.offsets.OffsetsTopic`, which
provides ``cluster``, ``partitions``, ``partition_for()``, ``_lock``, ``_group_writes``,
``_caches``, ``_pending``, ``_partition_cache()`` and ``_write()``.

Prior art: Kafka's ``GroupCoordinatorShard.cleanupGroupMetadata`` (scheduled every
``offsets.retention.check.interval.ms``), ``OffsetMetadataManager.cleanupExpiredOffsets`` and
``GroupMetadataManager.maybeDeleteGroup``.
"""

from __future__ import annotations

import threading
from typing import Any

from pcmodel.cluster.consumer_group_records import (
    consumer_group_key_group,
    is_consumer_group_key,
)
from pcmodel.cluster.errors import LeaderNotAvailableError
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.group_answers import ExpiredOffsets
from pcmodel.topics.structs import TopicPartition

__all__ = ["OffsetsRetention"]

#: What one check sent: per group, what went; and each tombstone write (coordinator, offsets
#: partition, its future).
_Sent = tuple[dict[str, ExpiredOffsets], list[tuple[int, int, Any]]]


def offset_key(group: str, tp: TopicPartition) -> bytes:
    """A commit record's key: the group, the topic and the partition."""
    return f"{group}\x00{tp.topic}\x00{tp.partition}".encode()


def group_key(group: str) -> bytes:
    """A group metadata record's key: the group id alone (an offset's key has three parts)."""
    return group.encode()


class OffsetsRetention:
    """The offsets-retention check of a cluster's coordinators (OffsetsTopic part)."""

    cluster: Any
    partitions: int
    _lock: threading.Lock
    _group_writes: threading.Lock
    _caches: dict[tuple[int, int], tuple[int, dict[bytes, bytes]]]
    _pending: list[tuple[Any, dict[bytes, bytes | None]]]

    def _start_retention_clock(self) -> None:
        """Take the check's clock from the cluster's (see the module); the check counts as
        just run."""
        #: When the retention check last ran (:meth:`now_ms`); one caller at a time runs it.
        self._retention_checked_ms = self.now_ms()
        self._retention_lock = threading.Lock()

    def now_ms(self) -> int:
        """The retention check's time (epoch ms): the cluster's wall clock (see the module)."""
        return self.cluster.wall_clock_ms()

    def retention_due(self) -> bool:
        """Whether ``offsets_retention_check_interval_ms`` has passed since the last check: one
        comparison, without any lock (the cluster's tick asks it with the cluster's lock
        held)."""
        interval = self.cluster.offsets_retention_check_interval_ms
        return self.now_ms() - self._retention_checked_ms >= interval

    def expire_if_due(self) -> bool:
        """The cluster's timer, and any group or offsets request: run :meth:`expire` if it is
        due. Returns at once, False, when it is not due, when another caller runs it, or while
        a group's write is being sent (the next tick runs it then): so a stepped cluster
        driven from inside a call never waits for itself. Never call it with the cluster's
        lock held. Returns whether it ran the check."""
        if not self.retention_due() or not self._retention_lock.acquire(blocking=False):
            return False
        try:
            if not self.retention_due() or not self._group_writes.acquire(blocking=False):
                return False
            try:
                sent = self._expire_and_send(None, 30.0)
            finally:
                self._group_writes.release()
            self._await_tombstones(sent, 30.0)
            return True
        finally:
            self._retention_lock.release()

    def expire(self, now_ms: int | None = None, timeout: float = 30.0
               ) -> dict[str, ExpiredOffsets]:
        """Have every coordinator run the offsets-retention check now, as at ``now_ms`` (epoch
        ms; default: :meth:`now_ms`), and tombstone what it removed: the expired offsets, and
        every record of a group it deleted; return, per group, what went. Waits for a
        group's write being sent, then for the tombstones. A coordinator that fails meanwhile
        keeps its groups' offsets in the log: its successor loads them, and the next check
        expires them again. Offsets a transaction holds pending, and their groups, are kept
        (see the module).
        """
        with self._group_writes:
            sent = self._expire_and_send(now_ms, timeout)
        return self._await_tombstones(sent, timeout)

    def _expire_and_send(self, now_ms: int | None, timeout: float) -> _Sent:
        """Run the check at every coordinator and send the tombstones (with the writes of
        every other group state held back, so that a commit the coordinator holds has been
        sent before its tombstone is)."""
        self._retention_checked_ms = self.now_ms()
        if now_ms is None:
            now_ms = self._retention_checked_ms  # one clock judges every coordinator
        log = self.cluster.transaction_log(create=False)
        pending = {} if log is None else log.pending_offsets()
        led: dict[int, set[int]] = {}
        for p in range(self.partitions):
            try:
                leader, _, _ = self._partition_cache(p)  # a new coordinator loads first
            except LeaderNotAvailableError:
                continue
            led.setdefault(leader, set()).add(p)
        changed: dict[str, ExpiredOffsets] = {}
        writes = []
        for leader, partitions in led.items():
            node = self.cluster.nodes[leader]
            # The offsets pending in a transaction of the groups this broker coordinates.
            held = {group: tps for group, tps in pending.items()
                    if self.partition_for(group) in partitions}
            try:
                expired = node.broker.expire_offsets(now_ms, pending=held) if node.alive else {}
            except KafkaError:
                continue  # it died: its successor loads the offsets and checks them
            for group, what in expired.items():
                p = self.partition_for(group)
                if p not in partitions:
                    continue  # a broker's stale copy of a group another one coordinates now
                stored = self._tombstones(leader, p, group, what)
                if stored:
                    writes.append((leader, p, self._write(p, stored, timeout)))
                changed[group] = what
        return dict(sorted(changed.items())), writes

    def _await_tombstones(self, sent: _Sent, timeout: float) -> dict[str, ExpiredOffsets]:
        """Wait for the tombstones :meth:`_expire_and_send` sent; return what went."""
        changed, writes = sent
        for leader, p, future in writes:
            try:
                future.get(timeout=timeout + 5)
            except (KafkaError, TimeoutError):
                with self._lock:  # load again from the log: the next check removes them
                    self._caches.pop((leader, p), None)
        return changed

    def _tombstones(self, leader: int, p: int, group: str, what: ExpiredOffsets
                    ) -> list[tuple[bytes, None]]:
        """The tombstones for what the check removed of ``group``, for the keys coordinator
        ``leader`` has stored in offsets partition ``p``: its expired offsets and, if the
        group was deleted, its metadata record and its consumer group records (Kafka's
        ``createGroupTombstoneRecords``)."""
        keys = [offset_key(group, tp) for tp in what.partitions]
        with self._lock:
            _, cache = self._caches.get((leader, p), (-1, {}))
            # What is stored, or sent and not acknowledged yet (a commit just made).
            known = set(cache) | {key for _, values in self._pending
                                  for key, value in values.items() if value is not None}
            if what.group_deleted:
                keys.append(group_key(group))
                keys += [key for key in known if is_consumer_group_key(key)
                         and consumer_group_key_group(key) == group]
            return [(key, None) for key in keys if key in known]
