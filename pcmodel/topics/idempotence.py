"""Idempotent producers: a producer id and per-partition sequence numbers, so retries never
duplicate a record.

Kafka's idempotent producer (``enable.idempotence``, the default of Kafka's Java client since
3.0 and of kafka-python 3) gets a *producer id* and an *epoch* from the broker once, then numbers
the records it sends to each partition 0, 1, 2, ... A batch carries its first sequence number.
The broker remembers, per producer and partition, the last few batches it appended:

- a batch whose sequence follows the last one is appended;
- a batch equal to one of the last :data:`BATCHES_REMEMBERED` (a retry after a lost
  acknowledgement) is *not* appended again: the broker answers with its original offset;
- any other sequence is OUT_OF_ORDER_SEQUENCE_NUMBER (records were lost in between);
- an epoch older than the newest the partition saw from the producer (or than the one its
  transaction coordinator holds it to) is INVALID_PRODUCER_EPOCH: a newer instance of the
  producer took over, or the producer bumped its epoch itself after a batch failed for good
  (KIP-360); a newer epoch starts again at sequence 0. Every InitProducerId without a
  transactional id gets a new producer id at epoch 0, as from Kafka's coordinator;
- a batch may carry a producer id with epoch -1 (``NO_PRODUCER_EPOCH``), as Kafka's broker
  lets it: retries are still answered, but any sequence is taken, as Kafka's check of the
  sequence needs an epoch.

The memory has a horizon. A producer that wrote nothing to a partition for
``producer.id.expiration.ms`` (a day by default; measured from the largest timestamp of its
newest batch there, as Kafka measures it) is forgotten by that partition. A partition that does
not know a producer takes its next batch *whatever its sequence number*, as Kafka does (KIP-360):
it cannot tell a gap from a producer it forgot. So a producer that falls silent for longer
than the horizon loses its guarantee there: a retry of its last batch is stored again.

Prior art: Kafka's ``ProducerStateManager`` (``removeExpiredProducers``) /
``ProducerAppendInfo.checkSequence`` (five batches per producer and partition, matching
``max.in.flight.requests.per.connection <= 5``), KIP-98 and KIP-360.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pcmodel.topics.broker_checks import INT32_MAX, _check_producer_batch
from pcmodel.topics.errors import (
    InvalidProducerEpochError,
    OutOfOrderSequenceNumberError,
    TransactionCoordinatorFencedError,
)
from pcmodel.topics.structs import ActiveProducer

__all__ = [
    "BATCHES_REMEMBERED",
    "NO_PRODUCER_EPOCH",
    "DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS",
    "DEFAULT_PRODUCER_ID_EXPIRATION_MS",
    "ProducerSequences",
    "fence_older_coordinator",
    "producer_expired",
]

#: Batches remembered per producer and partition (Kafka's, for up to 5 requests in flight).
BATCHES_REMEMBERED = 5
#: Kafka's ``producer.id.expiration.ms``: a day.
DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000
#: Kafka's ``producer.id.expiration.check.interval.ms``: ten minutes.
DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS = 600_000
_MAX_SEQUENCE = INT32_MAX  # sequences wrap to 0 past it, as Kafka's do
#: Kafka's ``RecordBatch.NO_PRODUCER_EPOCH``: a batch may carry it with a producer id; a
#: partition then takes any sequence from that producer, as Kafka's ``checkSequence`` does.
NO_PRODUCER_EPOCH = -1


def producer_expired(last_timestamp_ms: int, now_ms: int, expiration_ms: int) -> bool:
    """Whether a producer whose newest batch in a partition has ``last_timestamp_ms`` is
    forgotten there at ``now_ms`` (Kafka's ``ProducerStateManager.isProducerExpired``)."""
    return now_ms - last_timestamp_ms >= expiration_ms


@dataclass
class _PartitionState:
    epoch: int
    #: Whether the partition knew the producer (at an older epoch) when this state began: a
    #: new epoch of a known producer starts at sequence 0, an unknown producer anywhere.
    known: bool
    #: (first sequence, last sequence, result of the append) of the newest batches.
    batches: deque = field(default_factory=lambda: deque(maxlen=BATCHES_REMEMBERED))
    #: Serialises check-and-append for this producer and partition.
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set (under ``lock``) when the state expired: an append that was about to use it
    #: starts again with the state that replaced it.
    expired: bool = False
    #: The state of the producer's older epoch that this one replaced, put back if this one's
    #: first batch is refused: a refused batch changes nothing, as in Kafka.
    replaced: _PartitionState | None = None


def fence_older_coordinator(producer_id: int, last: int | None, coordinator_epoch: int,
                            where: str) -> None:
    """Raise ``TransactionCoordinatorFencedError`` if a marker's ``coordinator_epoch`` is older
    than ``last``, that of the producer's last marker in the partition (``where``; ``None``:
    it has none there): the marker comes from a deposed coordinator (Kafka's
    ``ProducerAppendInfo.checkCoordinatorEpoch``)."""
    if last is not None and coordinator_epoch < last:
        raise TransactionCoordinatorFencedError(
            f"producer {producer_id}'s last marker {where} came from coordinator epoch {last}; "
            f"a marker of coordinator epoch {coordinator_epoch} is from an older coordinator")


class ProducerSequences:
    """Producer ids, epochs and the recent batches of each (producer, partition).

    Thread-safe. :meth:`append` runs the actual append (a callable) only for a batch in
    sequence, holding a lock of that producer and partition only, so other producers and
    partitions are never held up by it. :meth:`expire` forgets the producers silent for
    ``expiration_ms`` (Kafka's ``producer.id.expiration.ms``); it is the owner's to call.
    """

    def __init__(self, expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS) -> None:
        self.expiration_ms = expiration_ms
        self._lock = threading.Lock()
        self._next_id = 0
        self._epochs: dict[int, int] = {}
        self._partitions: dict[tuple[int, Any], _PartitionState] = {}
        # (producer epoch, coordinator epoch) of each producer's last marker per partition.
        self._markers: dict[tuple[int, Any], tuple[int, int]] = {}

    def init_producer_id(self) -> tuple[int, int]:
        """A new ``(producer id, epoch 0)``: what Kafka's coordinator answers any
        InitProducerId without a transactional id (``TransactionCoordinator.
        handleInitProducerId``). An idempotent producer bumps its epoch itself (KIP-360), so
        only its partitions know its epoch: each refuses an epoch older than its newest."""
        with self._lock:
            producer_id, self._next_id = self._next_id, self._next_id + 1
            return producer_id, 0

    def new_producer_id(self) -> int:
        """A producer id never given out before, at epoch 0, the epoch its transaction
        coordinator holds it to everywhere (see :meth:`set_epoch`)."""
        with self._lock:
            producer_id, self._next_id = self._next_id, self._next_id + 1
            self._epochs[producer_id] = 0
            return producer_id

    def set_epoch(self, producer_id: int, producer_epoch: int) -> None:
        """Make ``producer_epoch`` the producer's current epoch: a transaction coordinator
        fenced its older instances, whose appends now fail with INVALID_PRODUCER_EPOCH."""
        with self._lock:
            self._epochs[producer_id] = producer_epoch

    def append(self, key: Any, producer_id: int, producer_epoch: int, first_sequence: int,
               count: int, do_append: Callable[[], Any]) -> Any:
        """Run ``do_append()`` unless the batch is a duplicate; return its (original) result.

        ``key`` names the partition. Raises ``OutOfOrderSequenceNumberError`` or
        ``InvalidProducerEpochError`` (nothing appended), ``IllegalArgumentError`` for an id,
        epoch or sequence out of its field of Kafka's record batch (``TypeError``: not an int),
        or what ``do_append`` raised.
        """
        _check_producer_batch(producer_id, producer_epoch, first_sequence)
        last_sequence = (first_sequence + count - 1) % (_MAX_SEQUENCE + 1)
        while True:
            state = self._state_for(key, producer_id, producer_epoch)
            with state.lock:
                if state.expired:
                    continue  # forgotten while this append waited for the lock
                for first, last, result in state.batches:
                    if (first, last) == (first_sequence, last_sequence):
                        return result  # a retry of a batch already appended
                if state.epoch == NO_PRODUCER_EPOCH:
                    expected = first_sequence  # Kafka's check needs an epoch: any sequence
                elif state.batches:
                    expected = (state.batches[-1][1] + 1) % (_MAX_SEQUENCE + 1)
                else:
                    expected = 0 if state.known else first_sequence
                try:
                    if first_sequence != expected:
                        raise OutOfOrderSequenceNumberError(
                            f"producer {producer_id} sent sequence {first_sequence} to {key}; "
                            f"expected {expected}"
                        )
                    result = do_append()
                except BaseException:
                    if not state.batches:
                        self._undo_new_state(key, producer_id, state)
                    raise
                state.batches.append((first_sequence, last_sequence, result))
                state.replaced = None
                return result

    def _undo_new_state(self, key: Any, producer_id: int, state: _PartitionState) -> None:
        """The first batch of ``state`` (held, under its lock) was refused: put back the
        state it replaced, or none, so that a refused batch leaves nothing behind (an empty
        state would never expire). An append waiting for ``state`` starts again."""
        with self._lock:
            if self._partitions.get((producer_id, key)) is state:
                if state.replaced is None:
                    del self._partitions[producer_id, key]
                else:
                    self._partitions[producer_id, key] = state.replaced
            state.expired = True

    def _state_for(self, key: Any, producer_id: int, producer_epoch: int) -> _PartitionState:
        """The producer's state in partition ``key`` at ``producer_epoch``, made if new.
        Raises ``InvalidProducerEpochError`` for an epoch older than the producer's."""
        with self._lock:
            current_epoch = self._epochs.get(producer_id)
            marker = self._markers.get((producer_id, key))
            if marker is not None and (current_epoch is None or marker[0] > current_epoch):
                current_epoch = marker[0]  # an administrator's marker fenced it here
            if current_epoch is not None and producer_epoch < current_epoch:
                raise InvalidProducerEpochError(
                    f"producer {producer_id} wrote with epoch {producer_epoch}; its current "
                    f"epoch is {current_epoch} (a newer instance took over)"
                )
            state = self._partitions.get((producer_id, key))
            # Kafka's ProducerAppendInfo.checkProducerEpoch: a partition refuses an epoch older
            # than the newest it saw (a producer bumps its epoch itself, KIP-360: the older
            # one is a zombie's); one that never saw the producer holds it at -1.
            newest = NO_PRODUCER_EPOCH if state is None else state.epoch
            if producer_epoch < newest:
                raise InvalidProducerEpochError(
                    f"producer {producer_id} wrote with epoch {producer_epoch} to {key}, which "
                    f"has seen epoch {newest} (an older instance of the producer)"
                )
            if state is None or state.epoch != producer_epoch:
                known = state is not None and state.epoch != NO_PRODUCER_EPOCH
                state = _PartitionState(producer_epoch, known=known, replaced=state)
                self._partitions[(producer_id, key)] = state
            return state

    def check_marker(self, key: Any, producer_id: int, producer_epoch: int,
                     coordinator_epoch: int) -> None:
        """Decide about a transaction marker for partition ``key`` (Kafka's
        ``ProducerAppendInfo.appendEndTxnMarker``): raise ``InvalidProducerEpochError`` if
        ``producer_epoch`` is older than the producer's newest there (its batches' and its
        last marker's), ``TransactionCoordinatorFencedError`` if ``coordinator_epoch`` is
        older than its last marker's there. Returns if the marker may be written."""
        with self._lock:
            state = self._partitions.get((producer_id, key))
            marker = self._markers.get((producer_id, key))
        newest = max(-1 if state is None else state.epoch, -1 if marker is None else marker[0])
        if producer_epoch < newest:
            raise InvalidProducerEpochError(
                f"producer {producer_id} has epoch {newest} in {key}; a marker of epoch "
                f"{producer_epoch} is too old")
        fence_older_coordinator(producer_id, None if marker is None else marker[1],
                                coordinator_epoch, f"in {key}")

    def record_marker(self, key: Any, producer_id: int, producer_epoch: int,
                      coordinator_epoch: int) -> None:
        """Note a marker written to partition ``key``: its epochs are the producer's there."""
        with self._lock:
            self._markers[producer_id, key] = (producer_epoch, coordinator_epoch)

    def active(self, key: Any) -> tuple[ActiveProducer, ...]:
        """The producers with a batch appended to partition ``key``, by producer id: the epoch,
        last sequence number and largest timestamp of each one's newest batch there (what
        DescribeProducers answers), with the coordinator epoch of its last marker there."""
        with self._lock:
            states = sorted(((producer_id, state) for (producer_id, k), state
                             in self._partitions.items() if k == key), key=lambda ps: ps[0])
            markers = {producer_id: epochs for (producer_id, k), epochs
                       in self._markers.items() if k == key}
        found = []
        for producer_id, state in states:
            # No state.lock: it is held through a whole append, which may wait for space on a
            # "block" topic. Batches are only ever added (the oldest falling off a full deque),
            # so a deque that has one keeps one, and [-1] is read in one step.
            if state.batches:
                _, last_sequence, result = state.batches[-1]
                found.append(ActiveProducer(producer_id, state.epoch, last_sequence,
                                            result.max_timestamp_ms,
                                            markers.get(producer_id, (0, -1))[1]))
        return tuple(found)

    def expire(self, now_ms: int,
               in_transaction: Callable[[int, Any], bool] | None = None,
               ) -> tuple[tuple[int, Any], ...]:
        """Forget each producer whose newest batch in a partition is ``expiration_ms`` old at
        ``now_ms`` (epoch ms) there; return the ``(producer_id, key)`` pairs forgotten.

        A state an append is using is left for the next check, and so is a producer whose
        transaction is open in the partition (``in_transaction(producer_id, key)``), as Kafka
        keeps it. Returns at once.
        """
        forgotten = []
        with self._lock:
            # A marker is remembered with its producer's batches; one without any (an
            # administrator's, for a producer the partition never knew) until this check.
            for pair in [pair for pair in self._markers if pair not in self._partitions]:
                del self._markers[pair]
            for pair, state in list(self._partitions.items()):
                if in_transaction is not None and in_transaction(*pair):
                    continue
                if not state.batches or not state.lock.acquire(blocking=False):
                    continue  # nothing appended yet, or an append is under way
                try:
                    last_timestamp = state.batches[-1][2].max_timestamp_ms
                    if producer_expired(last_timestamp, now_ms, self.expiration_ms):
                        state.expired = True
                        del self._partitions[pair]
                        self._markers.pop(pair, None)
                        forgotten.append(pair)
                finally:
                    state.lock.release()
        return tuple(forgotten)

    def forget_topic(self, topic: str) -> None:
        """Drop every producer's state in ``topic``'s partitions (it was deleted: a topic made
        again under its name starts with new, empty logs)."""
        with self._lock:
            for producer_id, key in [k for k in self._partitions if k[1][0] == topic]:
                del self._partitions[producer_id, key]
            for producer_id, key in [k for k in self._markers if k[1][0] == topic]:
                del self._markers[producer_id, key]
