"""The clocks of a cluster's transaction coordinators: timed-out transactions and expired ids.

Kafka's transaction coordinator runs two checks on a timer, whether or not a client calls:
every ``transaction.abort.timed.out.transaction.cleanup.interval.ms`` (10 s) it aborts the
transactions open longer than their producer's ``transaction.timeout.ms``, fencing the producer
(the abort bumps its epoch, and the markers carry the new one, so a zombie's appends and calls
are refused); every ``transaction.remove.expired.transaction.cleanup.interval.ms`` (an hour) it
forgets the transactional ids silent for ``transactional.id.expiration.ms``, writing a tombstone
for each. A cluster runs the same checks from its own tick (:mod:`pcmodel.cluster.driving`): a
stepped cluster at each step, as its virtual clock advances; a cluster of threads or processes
on a thread woken by the controller's tick when a check is due. A transactional call, an
offsets lookup or a ``read_committed`` fetch that finds a check due runs it too.

The coordinators' times (a transaction's start, an id's last call) are the cluster's wall clock
(:func:`~pcmodel.cluster.clock.wall_clock_on`): the machine's on a cluster in real time, as
Kafka's; on a stepped cluster the wall clock when the cluster was made moved on by virtual
time, so that advancing virtual time ages transactions and ids, the same way on every run.

:class:`TransactionTimers` is one part of
:class:`~pcmodel.cluster.transaction_log.TransactionLog`, which provides ``cluster``, the
intervals and expirations, ``_lock``, ``_locked()``, ``_depth``, ``_load_all()``,
``_store()``, ``_write()``, ``_finish()``, ``_note_pending_offsets()``, ``_loaded``,
``_unfinished`` and ``partition_for()``.

Prior art: Kafka's ``TransactionCoordinator.startup`` (``abortTimedOutTransactions`` and
``removeExpiredTransactionalIds``, scheduled) and ``TransactionStateManager``
(``timedOutTransactions``).
"""

from __future__ import annotations

from typing import Any

from pcmodel.topics.errors import KafkaError

__all__ = ["TransactionTimers"]


class TransactionTimers:
    """Timed-out transactions and expired ids, on the cluster's clock (TransactionLog part)."""

    cluster: Any
    timed_out_check_interval_ms: int
    expired_id_check_interval_ms: int
    _lock: Any
    _depth: int
    _timed_out_checked_ms: int
    _ids_checked_ms: int

    def _start_clock(self) -> None:
        """Take the coordinators' clock from the cluster's (see the module); every check is
        counted as just run."""
        self._timed_out_checked_ms = self._ids_checked_ms = self.now_ms()

    def now_ms(self) -> int:
        """The coordinators' time (epoch ms), by which transactions time out and ids expire,
        and of the times in the log's records: the cluster's wall clock (see the module)."""
        return self.cluster.wall_clock_ms()

    def abort_timed_out(self, now_ms: int | None = None) -> list[str]:
        """Abort, fencing their producers, the transactions open longer than their timeout at
        ``now_ms`` (epoch ms; default: :meth:`now_ms`), at every coordinator that can answer;
        return their ids, sorted. Each abort is stored and its markers written."""
        with self._locked():
            now_ms = self.now_ms() if now_ms is None else now_ms
            self._timed_out_checked_ms = now_ms
            aborted = []
            loaded, _ = self._load_all()
            for entry in loaded:
                for ended in entry.coordinator.abort_timed_out(now_ms):
                    try:
                        self._store(entry, ended.transactional_id, ended)
                    except KafkaError:
                        continue  # reloaded from the log: the next check aborts it again
                    self._finish(entry, ended)
                    aborted.append(ended.transactional_id)
            return sorted(aborted)

    def expire_ids(self, now_ms: int | None = None) -> list[str]:
        """Forget, at every coordinator that can answer, the transactional ids with no
        transaction ongoing and no call for ``id_expiration_ms`` at ``now_ms`` (epoch ms;
        default: :meth:`now_ms`), writing a tombstone for each; return them, sorted."""
        with self._locked():
            now_ms = self.now_ms() if now_ms is None else now_ms
            self._ids_checked_ms = now_ms
            gone = []
            loaded, _ = self._load_all()
            for entry in loaded:
                expired = [tid for tid in entry.coordinator.expire_ids(now_ms)
                           if tid not in self._unfinished]
                if expired:
                    try:
                        self._write(entry, [(tid.encode(), None) for tid in expired])
                    except KafkaError:
                        self._loaded.pop(self.partition_for(expired[0]), None)
                        continue
                    gone.extend(expired)
            return sorted(gone)

    def check_if_due(self) -> None:
        """Run the timed-out transactions check and the id expiration if their intervals have
        passed (a cheap test otherwise); waits for a call under way."""
        if not self.due():
            return
        with self._locked():
            self._check_due()

    def due(self) -> bool:
        """Whether the timed-out transactions check or the id expiration is due: two
        comparisons, without the log's lock (the cluster's tick asks it with the cluster's
        lock held)."""
        now_ms = self.now_ms()
        return (now_ms - self._timed_out_checked_ms >= self.timed_out_check_interval_ms
                or now_ms - self._ids_checked_ms >= self.expired_id_check_interval_ms)

    def run_due_checks(self) -> bool:
        """The cluster's timer (Kafka's coordinator schedules the same two checks): run the
        checks that are due, unless a call holds the log now, in this thread (a stepped
        cluster driven from inside a call) or another, which then runs them itself or leaves
        them to the next tick. Never waits for the log's lock; call it without the
        cluster's lock. Returns whether it ran the checks."""
        if not self.due() or not self._lock.acquire(blocking=False):
            return False
        try:
            if self._depth:
                return False  # inside a call of this thread: it ran the checks at its start
            self._depth += 1
            try:
                self._check_due()
            finally:
                self._depth -= 1
                self._note_pending_offsets()
            return True
        finally:
            self._lock.release()

    def _check_due(self) -> None:
        now_ms = self.now_ms()
        if now_ms - self._timed_out_checked_ms >= self.timed_out_check_interval_ms:
            self.abort_timed_out(now_ms)
        if now_ms - self._ids_checked_ms >= self.expired_id_check_interval_ms:
            self.expire_ids(now_ms)
