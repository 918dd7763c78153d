"""Transaction markers on a replicated partition: how a transaction ends in each partition it
wrote to (mixins of ``Cluster`` and ``ClusterNode``).

A transactional producer's batches go to each partition's leader like any others (with
``transactional=True``): the leader's log remembers them as the producer's open transaction,
and its *last stable offset* stops at the transaction's first record, so ``read_committed``
consumers wait (:mod:`pcmodel.topics.log_transactions`). When the transaction ends, its
coordinator writes a *marker* to every partition in it, COMMIT or ABORT
(:meth:`ClusterMarkers.write_marker`, Kafka's WriteTxnMarkers): the leader appends it as a
record of its own, and the partition's last stable offset moves past the transaction once the
marker is committed (below the high watermark).

A marker is written as an ``acks="all"`` produce is: answered once every in-sync replica has
it, refused while the ISR is below ``min.insync.replicas``, and failed with a retriable error
(``NotLeaderForPartitionError``, ``KafkaConnectionError``...) if the leader is gone; the
coordinator retries it at the new leader, as Kafka's marker channel retries until every marker
is written. Followers copy the markers with the records, so a new leader knows which
transactions are still open; a follower that truncates a marker away has that transaction
open again until it copies the new leader's marker. A marker also fences its producer's older
epochs in the partition (:mod:`pcmodel.cluster.producers`). Which markers to write, and when,
is the coordinator's business (:mod:`pcmodel.cluster.transaction_markers`); this module is
what a partition does with one.

Prior art: Kafka's ``TransactionMarkerChannelManager`` (the coordinator's side, retrying) and
``ReplicaManager.appendRecords`` for WriteTxnMarkers (``requiredAcks = -1``,
``AppendOrigin.COORDINATOR``).
"""

from __future__ import annotations

from pcmodel.cluster.errors import NotEnoughReplicasError
from pcmodel.cluster.purgatory import ProduceFuture, ProduceResult
from pcmodel.topics.broker_checks import _check_flag, _check_marker, _check_producer_batch
from pcmodel.topics.errors import IllegalArgumentError, KafkaError
from pcmodel.topics.structs import TopicPartition

__all__ = ["ClusterMarkers", "NodeMarkers", "check_marker", "check_transactional"]


def check_transactional(producer: object, transactional: object) -> None:
    """Raise ``TypeError`` unless ``transactional`` is a bool and ``producer`` ``None`` or a
    ``(producer_id, producer_epoch, first_sequence)`` triple of ints, ``IllegalArgumentError``
    for one outside its field of Kafka's record batch as :func:`~pcmodel.topics.broker_checks.
    _check_producer_batch` checks it (an id or a sequence below 0; any int16 epoch is taken)
    and for a transactional batch without its ``producer``."""
    _check_flag("transactional", transactional)
    if producer is not None:
        if not isinstance(producer, (tuple, list)) or len(producer) != 3:
            raise TypeError("producer must be (producer_id, producer_epoch, first_sequence), "
                            f"got {producer!r}")
        _check_producer_batch(*producer)
    if transactional and producer is None:
        raise IllegalArgumentError("a transactional batch needs producer=(producer_id, "
                                   "producer_epoch, first_sequence)")


def check_marker(producer_id: object, producer_epoch: object, commit: object,
                 coordinator_epoch: object, timeout: object) -> None:
    """Raise ``IllegalArgumentError`` (``TypeError`` for ``commit``) unless these are the
    arguments of a marker: the producer's id and epoch ints ``>= 0``, the coordinator epoch
    an int ``>= -1`` (an administrator's abort may send ``-1``, older than any coordinator's),
    ``commit`` a bool (the lone broker's check), ``timeout`` a positive number of seconds."""
    _check_marker(producer_id, producer_epoch, commit, coordinator_epoch)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise IllegalArgumentError(f"timeout must be a number of seconds > 0, got {timeout!r}")


class NodeMarkers:
    """A node's part: the leader appends the marker and answers once it is committed."""

    def write_marker(self, tp: TopicPartition, producer_id: int, producer_epoch: int,
                     commit: bool, coordinator_epoch: int, timeout: float,
                     future: ProduceFuture) -> None:
        """Append the marker as leader; answer ``future`` once the high watermark passes it,
        with its offset as ``base_offset`` (as an ``acks="all"`` produce of one record).

        Raises ``NotLeaderForPartitionError``, ``NotEnoughReplicasError`` (the ISR is smaller
        than ``min_insync_replicas``: nothing appended), ``InvalidProducerEpochError`` (an
        epoch older than the producer's newest here: nothing appended),
        ``TransactionCoordinatorFencedError`` (a coordinator epoch older than its last
        marker's here: nothing appended); later, on ``future``,
        ``NotEnoughReplicasAfterAppendError`` or ``RequestTimedOutError``.
        """
        replica = self._leader_replica(tp)
        state = replica.state
        min_isr = replica.min_isr
        if len(state.isr) < min_isr:
            raise NotEnoughReplicasError(
                f"{tp}: the ISR {sorted(state.isr)} has fewer than min_insync_replicas="
                f"{min_isr} replicas; the marker was not written")
        appended = replica.write_marker(producer_id, producer_epoch, commit, coordinator_epoch)
        result = ProduceResult(tp.topic, tp.partition, appended.base_offset, 1, self.node_id,
                               state.leader_epoch)
        self._answer(replica, appended.base_offset, result, True, timeout, future)


class ClusterMarkers:
    """The cluster's part: :meth:`write_marker`, sent to the partition's current leader."""

    def write_marker(self, topic: str, partition: int, producer_id: int, producer_epoch: int,
                     commit: bool, *, coordinator_epoch: int = 0,
                     timeout: float = 30.0, broker: int | None = None) -> ProduceFuture:
        """Write the COMMIT (``commit=True``) or ABORT marker of ``producer_id``'s transaction
        to the partition, at its current leader, or at ``broker`` (which refuses unless it
        leads the partition), as Kafka's WriteTxnMarkers; return the future.

        Answered like an ``acks="all"`` produce: once every in-sync replica has the marker,
        with its offset as the result's ``base_offset``; then the partition's last stable
        offset has passed the transaction, for ``read_committed`` consumers. Errors arrive on
        the future: ``NotEnoughReplicasError`` (the ISR is below ``min_insync_replicas``:
        nothing written), ``LeaderNotAvailableError``, ``KafkaConnectionError`` (the leader is
        dead, or died before answering), ``NotLeaderForPartitionError`` (``broker`` does not
        lead it), ``NotEnoughReplicasAfterAppendError``, ``RequestTimedOutError`` after
        ``timeout`` seconds — all retriable: the coordinator writes the marker again, before
        the producer may begin another transaction — ``InvalidProducerEpochError`` for an
        epoch older than the producer's newest in the partition and
        ``TransactionCoordinatorFencedError`` for a ``coordinator_epoch`` older than its last
        marker's there. A marker fences the producer's older epochs there. Raises
        ``IllegalArgumentError`` / ``TypeError`` for malformed arguments.
        """
        check_marker(producer_id, producer_epoch, commit, coordinator_epoch, timeout)
        tp = TopicPartition(topic, partition)
        future = ProduceFuture(self._drive_until_done if self.mode == "steps" else None)
        with self._lock:
            self._check_open()
            try:
                node = self._produce_target(tp, broker)
                node.write_marker(tp, producer_id, producer_epoch, commit, coordinator_epoch,
                                  timeout, future)
                self._notify()
            except KafkaError as e:
                future.set_exception(e)
        return future
