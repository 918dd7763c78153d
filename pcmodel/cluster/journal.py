"""A replica's log on disk: an append-only file per replica that survives a SIGKILL.

A broker process keeps each replica's records in memory (an ordinary partition log) *and*
writes every change of the replica to its journal file before it answers the request that
caused it: appended records (with the leader epochs, idempotent-producer batches and
transactional batches and markers they carry), truncations, a restart at a new log start, a
log start moved by DeleteRecords, high-watermark moves. A restarted broker
replays the journal and has the log it had when it died, as a crashed Kafka broker recovers
its segments from disk; then the leader-epoch rule truncates what it must.

What "written" means here: handed to the kernel (``os.write`` returned) before the produce is
acknowledged or the follower fetches again. The page cache survives the death of the process
(``kill -9``), not the loss of the machine; nothing is ``fsync``-ed. That is Kafka's default
too (``log.flush.interval.messages`` is unbounded): Kafka relies on replication, not on the
disk, for durability, and so does the lesson — an acknowledged ``acks="all"`` record is safe
because several brokers have it, not because one of them flushed it.

Records are journaled decoded, so a recovered log is stored uncompressed (as a follower's copy
always is here): only ``log_stats`` can tell. An append entry is ``("append", records, epochs,
producer batches, transactional batches)``; one written before transactions had no fifth
element, and is read as having none. The producers' batches the records came in (their base
and last offsets, codec, producer id, epoch and first sequence number:
:class:`~pcmodel.topics.log_batches.StoredBatch`) follow in a ``("batches", batches)`` entry,
so that a restarted broker answers a fetch with the batches it answered before, as a Kafka
broker's segments hold them; a journal written before it kept batches has none, and its
records are batched when fetched, by kind. Each entry is ``length, crc32, pickle``. A torn
or corrupt tail (a write cut short) is dropped on recovery and the file cut back to the last
whole entry, as Kafka's log recovery truncates at the first invalid batch. Journals live in a
directory the cluster owns and removes.

Prior art: Kafka ``LogLoader`` / ``LogSegment.recover``, the leader-epoch checkpoint file
(``leader-epoch-checkpoint``) and the high-watermark checkpoint
(``replication-offset-checkpoint``), here folded into one file per replica.
"""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

from pcmodel.cluster.controller import PartitionState, TopicConfig
from pcmodel.cluster.epochs import EpochEntry
from pcmodel.cluster.producers import BatchInfo, appended_batch
from pcmodel.cluster.replica import Replica
from pcmodel.topics.broker import AppendResult, Broker
from pcmodel.topics.log import LogRecord
from pcmodel.topics.log_batches import StoredBatch
from pcmodel.topics.log_transactions import TransactionalBatch
from pcmodel.topics.structs import TopicPartition

__all__ = ["DurableReplica", "durable_replicas", "journal_path", "read_journal", "replay_log"]

_HEADER = struct.Struct(">II")  # payload length, crc32 of the payload


def journal_path(directory: str | os.PathLike, tp: TopicPartition) -> Path:
    """The journal file of ``tp`` in a broker's directory (topic names are file-safe)."""
    return Path(directory) / f"{tp.topic}-{tp.partition}.journal"


def read_journal(path: str | os.PathLike) -> tuple[list[tuple], int]:
    """The whole entries of a journal and the byte length they take (a torn tail excluded).

    A missing file is an empty journal.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    entries, pos = [], 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        payload = data[pos + _HEADER.size: pos + _HEADER.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        entries.append(pickle.loads(payload))
        pos += _HEADER.size + length
    return entries, pos


def replay_log(entries: list[tuple]) -> tuple[list[LogRecord], int, int]:
    """The records, log start offset and high watermark a journal describes.

    This is how the cluster reads the log of a broker that is down: from its file.
    Retention is not replayed (a dead broker's log may show records retention removed).
    """
    records: list[LogRecord] = []
    start = hw = 0
    for entry in entries:
        kind = entry[0]
        if kind == "append":
            records += entry[1]
        elif kind == "truncate":
            records = [r for r in records if r.offset < entry[1]]
        elif kind == "restart":
            records, start = [], entry[1]
        elif kind == "start":
            records = [r for r in records if r.offset >= entry[1]]
            start = max(start, entry[1])
        elif kind == "hw":
            hw = entry[1]
    leo = records[-1].offset + 1 if records else start
    return records, start, min(hw, leo)


class _Journal:
    """One replica's journal file, open for appending."""

    def __init__(self, path: Path, valid_length: int) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.ftruncate(self._fd, valid_length)  # drop a torn tail before appending after it
        os.lseek(self._fd, 0, os.SEEK_END)

    def write(self, entry: tuple) -> None:
        payload = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        data = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        while data:  # a regular file takes it all at once; loop for the rule's sake
            data = data[os.write(self._fd, data):]

    def close(self) -> None:
        os.close(self._fd)


class DurableReplica(Replica):
    """A :class:`~pcmodel.cluster.replica.Replica` that journals every change of its log.

    Built like a ``Replica`` plus the broker's ``directory``; if the replica's journal exists
    there, the replica is recovered from it first (records, leader epochs, producer batches,
    the producers' batches as the log kept them, transactions and markers, high watermark).
    Its role is not recovered: a restarted broker learns it from the controller, as a Kafka
    broker does.
    """

    def __init__(self, node_id: int, broker: Broker, tp: TopicPartition, config: TopicConfig,
                 *, directory: str | os.PathLike) -> None:
        super().__init__(node_id, broker, tp, config)
        path = self._path = journal_path(directory, tp)
        entries, valid = read_journal(path)
        self._journal: _Journal | None = None
        self._journaled_epochs: tuple[EpochEntry, ...] = ()
        self._recover(entries)
        self._journal = _Journal(path, valid)
        self._journaled_epochs = self.epochs.entries

    def close(self) -> None:
        """Close the journal file (the broker process is stopping)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def delete(self) -> None:
        """Close and remove the journal file, and empty the local log (the replica was
        reassigned away, or its topic deleted)."""
        self.close()
        self._path.unlink(missing_ok=True)
        super().delete()  # the journal is closed: nothing more is written

    # --- every change of the log goes to the journal too -----------------------------------------

    def apply_state(self, state: PartitionState, now: float) -> bool:
        changed = super().apply_state(state, now)
        self._write_epochs()  # a new leader's epoch starts at its log end
        return changed

    def append_as_leader(self, records: list, compression: str | None,
                         producer: tuple[int, int, int] | None,
                         batch_bytes: int | None = None,
                         transactional: bool = False) -> AppendResult:
        appended = super().append_as_leader(records, compression, producer, batch_bytes,
                                            transactional)
        batches = () if producer is None else (appended_batch(producer, appended, len(records)),)
        self._write_stored(appended.base_offset, len(records), batches)
        return appended

    def write_marker(self, producer_id: int, producer_epoch: int, commit: bool,
                     coordinator_epoch: int = 0) -> AppendResult:
        appended = super().write_marker(producer_id, producer_epoch, commit, coordinator_epoch)
        self._write_stored(appended.base_offset, 1, ())
        return appended

    def append_copy(self, records: tuple[LogRecord, ...], leader_hw: int, leader_epochs: tuple,
                    batches: tuple[BatchInfo, ...] = (),
                    transactional_batches: tuple[TransactionalBatch, ...] = ()) -> None:
        if records:
            end = records[-1].offset + 1
            kept = tuple(b for b in batches if b.base_offset + b.count <= end)
            super().append_copy(records, leader_hw, leader_epochs, batches,
                                transactional_batches)
            self._write(("append", records, self.epochs.entries, kept,
                         tuple(transactional_batches)))
            self._journaled_epochs = self.epochs.entries
        else:
            super().append_copy(records, leader_hw, leader_epochs, batches)

    def copy_batches(self, stored_batches: tuple[StoredBatch, ...]) -> None:
        super().copy_batches(stored_batches)
        self._write_batches(stored_batches)

    def truncate(self, offset: int) -> tuple[LogRecord, ...]:
        gone = super().truncate(offset)
        if gone:
            self._write(("truncate", offset))
        self._write_epochs()
        return gone

    def restart_at(self, offset: int) -> None:
        super().restart_at(offset)
        self._write(("restart", offset))
        self._journaled_epochs = self.epochs.entries

    def advance_start(self, offset: int) -> bool:
        moved = super().advance_start(offset)
        if moved:
            self._write(("start", self.offsets[0]))
        return moved

    def trim_epochs(self, start: int | None = None) -> None:
        super().trim_epochs(start)
        self._write_epochs()

    def _set_hw(self, offset: int) -> None:
        if offset != self.high_watermark:
            self._write(("hw", offset))
        super()._set_hw(offset)

    # --- internals -------------------------------------------------------------------------------

    def _write_stored(self, base: int, count: int, batches: tuple[BatchInfo, ...]) -> None:
        """Journal the ``count`` records the leader just appended at ``base``, as the log
        stores them (timestamps, markers), with their transactional batches, then the batch
        they make (the log's :class:`~pcmodel.topics.log_batches.StoredBatch`)."""
        stored = self.broker.fetch({self.tp: base}, max_records=count,
                                   replica_id=self.node_id, whole_batches=True)[self.tp]
        self._write(("append", stored.records, self.epochs.entries, batches,
                     stored.transactional_batches))
        self._journaled_epochs = self.epochs.entries
        self._write_batches(stored.batches)

    def _write_batches(self, stored_batches: tuple[StoredBatch, ...]) -> None:
        """Journal the producers' batches the log keeps over records just journaled (their
        compressed bytes left out: the records are journaled decoded)."""
        if stored_batches:
            self._write(("batches", tuple(b.portable() for b in stored_batches)))

    def _write(self, entry: tuple) -> None:
        if self._journal is not None:  # None while recovering: replaying writes nothing
            self._journal.write(entry)

    def _write_epochs(self) -> None:
        if self.epochs.entries != self._journaled_epochs:
            self._write(("epochs", self.epochs.entries))
            self._journaled_epochs = self.epochs.entries

    def _recover(self, entries: list[tuple]) -> None:
        hw = 0
        for entry in entries:
            kind = entry[0]
            if kind == "append":
                _, records, epochs, batches, *transactional = entry  # older: no transactions
                self.copy_records(records, batches, transactional[0] if transactional else ())
                self._set_epochs(epochs)
            elif kind == "truncate":
                Replica.truncate(self, entry[1])
            elif kind == "restart":
                Replica.restart_at(self, entry[1])
            elif kind == "start":
                Replica.advance_start(self, entry[1])
            elif kind == "batches":  # a journal written before batches were kept has none
                Replica.copy_batches(self, entry[1])
            elif kind == "epochs":
                self._set_epochs(entry[1])
            elif kind == "hw":
                hw = entry[1]
        Replica._set_hw(self, min(hw, self.leo))

    def _set_epochs(self, entries: tuple[EpochEntry, ...]) -> None:
        self.epochs.truncate_from_end(0)
        for entry in entries:
            self.epochs.assign(*entry)


def durable_replicas(directory: str | os.PathLike) -> Any:
    """A ``replica_factory`` for :class:`~pcmodel.cluster.node.ClusterNode` that keeps every
    replica's journal in ``directory``."""
    def factory(node_id: int, broker: Broker, tp: TopicPartition,
                config: TopicConfig) -> DurableReplica:
        return DurableReplica(node_id, broker, tp, config, directory=directory)
    return factory
