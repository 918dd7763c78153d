"""Offset lookups on a cluster: each partition's leader answers Kafka's ListOffsets, with the
leader epochs of its epoch cache, once its high watermark can be trusted.

:class:`OffsetLookupsMixin` is the part of :class:`~pcmodel.cluster.client.ClusterConnection`
behind ``beginning_offsets``, ``end_offsets``, ``offsets_for_times`` and ``list_offsets``. The
algorithm is a lone broker's (:mod:`pcmodel.topics.list_offsets`); a cluster adds two things:

* **epochs.** A record found carries the epoch its leader wrote it in, and "latest" the
  leader's current epoch (Kafka's ``UnifiedLog.fetchOffsetByTimestamp``); a fetch's records
  are told theirs by :meth:`OffsetLookupsMixin.written_epochs`.
* **a new leader's lagging watermark.** A new leader learns where its followers' logs end
  only from their fetches, so for a moment its high watermark may be behind what the old
  leader had committed. Kafka answers "latest", and a lookup that finds nothing,
  OFFSET_NOT_AVAILABLE then, and clients retry; pcmodel's clients wait for the watermark to
  catch up (:meth:`OffsetLookupsMixin._caught_up_leader`), so an end offset never moves
  backwards.

Prior art: Kafka's ``Partition.fetchOffsetForTimestamp`` and ``ListOffsetsHandler``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from pcmodel.cluster.epochs import high_watermark_behind_epoch, written_epochs
from pcmodel.cluster.errors import (
    LeaderNotAvailableError,
    NotLeaderForPartitionError,
    OffsetNotAvailableError,
)
from pcmodel.topics.broker_checks import _check_mapping, _check_partitions
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.list_offsets import answer_list_offsets
from pcmodel.topics.log_transactions import check_isolation_level
from pcmodel.topics.structs import OffsetAndTimestamp, TopicPartition

__all__ = ["OffsetLookupsMixin"]


class OffsetLookupsMixin:
    """Offset lookups and the leader epochs they answer with (ClusterConnection part)."""

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict:
        """Each partition's log start offset, from its leader. Raises ``TypeError`` for a
        bare str or another entry that is not a ``TopicPartition``, before asking any
        leader."""
        tps = _check_partitions("partitions", partitions)
        return {tp: self._leader_node(tp).broker.beginning_offsets([tp])[tp] for tp in tps}

    def end_offsets(self, partitions: Iterable[TopicPartition], *,
                    isolation_level: str = "read_uncommitted") -> dict:
        """Each partition's high watermark from its leader, or with
        ``isolation_level="read_committed"`` its last stable offset (ListOffsets ``LATEST``).
        A new leader is asked once its high watermark has caught up (see
        :meth:`_caught_up_leader`), so an end offset never moves backwards. ``TypeError``
        for a bare str or another entry that is not a ``TopicPartition``, before any
        wait."""
        check_isolation_level(isolation_level)
        tps = _check_partitions("partitions", partitions)
        return {tp: self._caught_up_leader(tp).broker.end_offsets(
                    [tp], isolation_level=isolation_level)[tp]
                for tp in tps}

    def offsets_for_times(self, timestamps: Mapping[TopicPartition, int]
                          ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """For each partition, the first record at or after the time below the high
        watermark, from its leader, with the epoch its leader wrote it in (see
        :meth:`list_offsets`); ``None`` where there is none, said once a new leader's high
        watermark has caught up (see :meth:`_caught_up_leader`). ``TypeError`` for
        ``timestamps`` that are not a mapping, before asking any leader."""
        _check_mapping("timestamps", timestamps, "TopicPartition to int")
        out = {}
        for tp, ts in timestamps.items():
            tp = TopicPartition._make(tp)
            hit = self._leader_node(tp).broker.offsets_for_times({tp: ts})[tp]
            if hit is None:  # perhaps only because a new leader's watermark lags: wait
                hit = self._caught_up_leader(tp).broker.offsets_for_times({tp: ts})[tp]
            out[tp] = self._with_written_epoch(tp, hit)
        return out

    def max_timestamp_offsets(self, partitions: Iterable[TopicPartition]
                              ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """For each partition, the first record with the largest timestamp, from its leader
        (``None`` if that record is not below the high watermark); its epoch is
        :meth:`list_offsets`'s to answer, as on a lone broker. ``TypeError`` for a bare str
        or another entry that is not a ``TopicPartition``, before asking any leader."""
        tps = _check_partitions("partitions", partitions)
        return {tp: self._leader_node(tp).broker.max_timestamp_offsets([tp])[tp] for tp in tps}

    def list_offsets(self, specs: Mapping[TopicPartition, int], *,
                     isolation_level: str = "read_uncommitted",
                     ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """Kafka's ListOffsets, as each partition's leader answers it (see
        :meth:`Broker.list_offsets <pcmodel.topics.broker.Broker.list_offsets>`), with the
        leader epochs of its epoch cache, as Kafka's ``UnifiedLog.fetchOffsetByTimestamp``
        gives them: the epoch that wrote the record found (for ``EARLIEST``, the one at the
        log start), the leader's current epoch for ``LATEST``; ``-1`` where the cluster cannot
        say (the leadership moved meanwhile). Built on this connection's own lookups, so that a
        connection that answers them as one broker answers this as that broker; one that does
        not wait for a new leader's high watermark answers ``OffsetNotAvailableError`` meanwhile
        (see :meth:`_check_available`). ``TypeError`` for ``specs`` that are not a mapping."""
        _check_mapping("specs", specs, "TopicPartition to OffsetSpec or timestamp")
        return answer_list_offsets(
            self, {TopicPartition._make(tp): spec for tp, spec in specs.items()},
            isolation_level, self._written_epoch, self._current_epoch, self._check_available)

    def epoch_of_offset(self, tp: TopicPartition, offset: int) -> int:
        """The leader epoch in which the partition's leader wrote the record at ``offset``
        (see ``Cluster.epoch_of_offset``): what ListOffsets answers with an offset found."""
        tp = TopicPartition._make(tp)
        leader = self._leader_node(tp).node_id
        return self._cluster.epoch_of_offset(leader, tp.topic, tp.partition, offset)

    def _check_available(self, tp: TopicPartition) -> None:
        """Raise ``OffsetNotAvailableError`` while ``tp``'s leader's high watermark is below
        the start of its epoch, as Kafka's ``Partition.fetchOffsetForTimestamp`` does: a new
        leader learns where its followers' logs end only from their next fetches, and until
        then its watermark may be behind what the old leader had committed."""
        leader, epoch = self._epochs_source(tp)
        behind = high_watermark_behind_epoch(self._cluster, tp.topic, tp.partition, leader,
                                             epoch)
        if behind is not None:
            raise OffsetNotAvailableError(
                f"{tp}: the new leader's high watermark ({behind[0]}) is behind the start of "
                f"its epoch {epoch} ({behind[1]}); retry once its followers have fetched")

    def _caught_up_leader(self, tp: TopicPartition) -> Any:
        """``tp``'s leader node, once it can say where its readable records end
        (:meth:`_check_available`): pcmodel's clients wait for it, up to 10 s, where Kafka's
        are answered OFFSET_NOT_AVAILABLE and retry. Raises ``OffsetNotAvailableError`` after
        that (at once in a stepped cluster), and as :meth:`_leader_node`."""
        deadline = time.monotonic() + 10.0
        while True:
            count = self._cluster.change_count()
            node = self._leader_node(tp)
            try:
                self._check_available(tp)
                return node
            except (OffsetNotAvailableError, NotLeaderForPartitionError):
                if self._cluster.mode == "steps" or time.monotonic() > deadline:
                    raise  # a stepped cluster does not move while its caller waits
            self._cluster.await_change(count, 0.05)

    def _written_epoch(self, tp: TopicPartition, offset: int) -> int:
        """The epoch the leader wrote ``offset`` in, ``-1`` if the cluster cannot say now."""
        try:
            return self.epoch_of_offset(tp, offset)
        except KafkaError:
            return -1

    def _current_epoch(self, tp: TopicPartition) -> int:
        """The leader epoch of ``tp`` now, ``-1`` while it has no leader."""
        try:
            return self._epochs_source(tp)[1]
        except KafkaError:
            return -1

    def _with_written_epoch(self, tp: TopicPartition, hit: OffsetAndTimestamp | None
                            ) -> OffsetAndTimestamp | None:
        """``hit`` with the epoch its record was written in (a node's broker answers 0)."""
        return None if hit is None else hit._replace(
            leader_epoch=self._written_epoch(tp, hit.offset))

    def written_epochs(self, tp: TopicPartition, first_offset: int,
                       last_offset: int) -> list[tuple[int, int]]:
        """The leader epochs in which ``tp``'s leader wrote the records ``first_offset`` to
        ``last_offset`` (a fetch's), from its epoch cache: ``(epoch, first offset written in
        it)`` pairs, oldest first (see :func:`pcmodel.cluster.epochs.written_epochs`). Does
        not wait for a leader, as a fetch does not: raises ``LeaderNotAvailableError`` while
        ``tp`` has none, and ``NotLeaderForPartitionError`` if the leadership moved meanwhile.
        """
        tp = TopicPartition._make(tp)
        leader, leader_epoch = self._epochs_source(tp)
        topic, partition = tp
        return written_epochs(
            lambda offset: self._cluster.epoch_of_offset(leader, topic, partition, offset),
            lambda epoch: self._cluster.end_offset_for_epoch(leader, topic, partition, epoch),
            leader_epoch, first_offset, last_offset)

    def _epochs_source(self, tp: TopicPartition) -> tuple[int, int]:
        """The broker :meth:`written_epochs` asks (``tp``'s leader) and its leader epoch;
        ``LeaderNotAvailableError`` while there is none."""
        state = self._cluster.metadata().get(tp)
        if state is None or state.leader is None:
            raise LeaderNotAvailableError(f"{tp} has no leader to ask for its epochs")
        return state.leader, state.leader_epoch
