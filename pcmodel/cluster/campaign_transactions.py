"""The fault campaign's transactional producer, and what every run checks of its transactions.

With ``--transactional`` the campaign's producer writes through a transaction coordinator
(:mod:`pcmodel.cluster.transaction_log`): each tick it sends one record per partition in the
open transaction, and every ``TICKS_PER_TRANSACTION`` ticks it ends it, committing two
transactions out of three and aborting the third. A call that fails (a dead leader, a
coordinator moving) makes it abort the transaction and start again with ``init_transactions``,
which fences its old epoch and aborts whatever the coordinator still holds open. So every
transaction ends up with a known fate, except one whose commit call itself failed: the
coordinator may have stored the decision before it failed, or not.

After the faults are undone and the cluster settled, every run checks, reading each partition
from its leader as a ``read_committed`` consumer does:

* no transaction hangs: each partition's last stable offset has reached its high watermark;
* every record of a committed transaction is visible, once;
* no record of an aborted transaction is visible;
* a transaction whose commit failed is visible whole or not at all, across its partitions
  (atomicity).

With ``--unclean`` none of these holds: an unclean election makes a leader of a replica that
may lack a transaction's records or its marker. A lost ABORT marker leaves the transaction open
in the partition with no coordinator to end it (it *hangs*), and the producer's next commit
there may then commit the aborted records with its own; a lost COMMIT loses committed records.
So there the checks *report* what the elections broke instead, and first mend what hangs as an
administrator does: ``find_hanging_transactions`` and ``abort_transaction``
(``kafka-transactions.sh find-hanging`` and ``abort``).

Prior art: Jepsen's Kafka analysis (``kafka.clj``: transactional producers under faults,
checked for aborted reads, lost writes and non-atomic visibility).
"""

from __future__ import annotations

from typing import Any

from pcmodel.topics.errors import KafkaError
from pcmodel.topics.log_transactions import visible_records
from pcmodel.topics.structs import TopicPartition

__all__ = ["TICKS_PER_TRANSACTION", "TransactionalWriter", "abort_hanging", "check_transactions"]

#: How many ticks one transaction lasts (one record per partition per tick).
TICKS_PER_TRANSACTION = 4
_TRANSACTIONAL_ID = "campaign"


class TransactionalWriter:
    """The campaign's transactional producer (see the module). ``outcomes`` lists every
    transaction that wrote something: ``(fate, [(partition, value), ...])`` with fate
    ``"committed"``, ``"aborted"`` or ``"unknown"`` (its commit call failed)."""

    def __init__(self, cluster: Any, tps: list[TopicPartition]) -> None:
        self.cluster = cluster
        self.tps = tps
        self.conn = cluster.connect()
        log = cluster.transaction_log()
        # A run lasts a few seconds: a call gives up after a fraction of one and the
        # transaction is aborted, instead of waiting out a fault the plan undoes later.
        log.call_wait = 0.5
        log.marker_wait = 0.5
        self.outcomes: list[tuple[str, list[tuple[TopicPartition, bytes]]]] = []
        self._ids: tuple[int, int] | None = None
        self._sequences: dict[TopicPartition, int] = {}
        self._added: set[TopicPartition] = set()
        self._open: list[tuple[TopicPartition, bytes]] = []

    def tick(self, tick: int) -> None:
        """Send this tick's records in the open transaction; end it when its ticks are up."""
        if self._ids is None and not self._init():
            return
        try:
            for tp in self.tps:
                self._send(tp, f"{tp.partition}:{tick}".encode())
        except KafkaError:
            self._abort()
            return
        if tick % TICKS_PER_TRANSACTION == TICKS_PER_TRANSACTION - 1:
            self._end(commit=(tick // TICKS_PER_TRANSACTION) % 3 != 2)

    def finish(self) -> None:
        """Commit the open transaction once the cluster is whole again (a few tries)."""
        for _ in range(20):
            if self._ids is not None or self._init():
                self._end(commit=True)
                return

    def _init(self) -> bool:
        try:
            self._ids = self.conn.init_producer_id(transactional_id=_TRANSACTIONAL_ID)
        except KafkaError:
            return False
        self._sequences = {}  # a new epoch numbers from 0
        self._added.clear()
        return True

    def _send(self, tp: TopicPartition, value: bytes) -> None:
        assert self._ids is not None
        producer_id, epoch = self._ids
        if tp not in self._added:
            self.conn.add_partitions_to_txn(_TRANSACTIONAL_ID, producer_id, epoch, [tp])
            self._added.add(tp)
        seq = self._sequences.get(tp, 0)
        self.conn.append_idempotent(tp.topic, tp.partition, [(None, value)],
                                    producer_id=producer_id, producer_epoch=epoch,
                                    first_sequence=seq, acks="all", timeout=1.0,
                                    transactional=True)
        self._sequences[tp] = seq + 1
        self._open.append((tp, value))

    def _end(self, commit: bool) -> None:
        assert self._ids is not None
        if not self._added:
            return  # nothing in it: no transaction began
        try:
            self.conn.end_txn(_TRANSACTIONAL_ID, *self._ids, commit)
        except KafkaError:
            if commit:
                self._close("unknown")
                self._ids = None  # the next init aborts it, unless it was committed
            else:
                self._abort()
            return
        self._close("committed" if commit else "aborted")
        self._added.clear()

    def _abort(self) -> None:
        """Give the transaction up: its records are aborted by an abort or, failing that, by
        the next ``init_transactions`` (which fences this epoch and aborts what is open)."""
        if self._ids is not None and self._added:
            try:
                self.conn.end_txn(_TRANSACTIONAL_ID, *self._ids, False)
            except KafkaError:
                pass
        self._close("aborted")
        self._ids = None

    def _close(self, fate: str) -> None:
        if self._open:
            self.outcomes.append((fate, self._open))
        self._open = []


def abort_hanging(cluster: Any, tps: list[TopicPartition]) -> list[str]:
    """End every transaction hanging in ``tps`` (see the module), as an administrator does;
    one line per transaction ended, or per search that failed."""
    from pcmodel.topics.admin import KafkaAdminClient
    from pcmodel.topics.admin_transactions import AbortTransactionSpec

    done = []
    with KafkaAdminClient(broker=cluster) as admin:
        try:
            found = admin.find_hanging_transactions(
                max_transaction_timeout_ms=0, topics=sorted({tp.topic for tp in tps}))
        except KafkaError as exc:
            return [f"find-hanging failed: {exc}"]
        for hanging in found:
            tp = hanging["topic_partition"]
            try:
                admin.abort_transaction(AbortTransactionSpec(
                    tp, hanging["producer_id"], hanging["producer_epoch"],
                    max(0, hanging["coordinator_epoch"])))
                done.append(f"{tp}: a transaction hung from offset {hanging['start_offset']} "
                            "(its marker was lost); abort ended it")
            except KafkaError as exc:
                done.append(f"{tp}: a transaction hung; abort failed: {exc}")
    return done


def check_transactions(cluster: Any, tps: list[TopicPartition], writer: TransactionalWriter,
                       violations: list[str]) -> None:
    """The checks of the module, appended to ``violations`` (with unclean elections, the
    caller's list of what they broke)."""
    visible: dict[TopicPartition, list[bytes]] = {}
    for tp in tps:
        leader = cluster.leader(tp.topic, tp.partition)
        if leader is None:
            violations.append(f"{tp}: no leader after the cluster settled")
            return
        result = cluster.fetch(leader, {tp: 0}, max_records=100_000,
                               isolation_level="read_committed")[tp]
        if result.last_stable_offset != result.high_watermark:
            violations.append(f"{tp}: a transaction hangs: last stable offset "
                              f"{result.last_stable_offset}, high watermark "
                              f"{result.high_watermark}")
        visible[tp] = [r.value for r in visible_records(
            result.records, result.transactional_batches, result.aborted_transactions or (),
            True)]
    seen = {(tp, value) for tp, values in visible.items() for value in values}
    for tp, values in visible.items():
        if len(values) != len(set(values)):
            violations.append(f"{tp}: a committed record is visible twice")
    for fate, records in writer.outcomes:
        shown = [record in seen for record in records]
        if fate == "committed" and not all(shown):
            violations.append(f"committed records not visible: "
                              f"{[r for r, s in zip(records, shown) if not s][:3]}")
        elif fate == "aborted" and any(shown):
            violations.append(f"aborted records visible: "
                              f"{[r for r, s in zip(records, shown) if s][:3]}")
        elif fate == "unknown" and any(shown) and not all(shown):
            violations.append(f"a transaction is visible in part: {records[:4]}")
