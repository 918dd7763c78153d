"""The live harness of exercise 08's checks: a broker, an input and an output topic, and the
student's exactly-once loop driven by transactional members of one group.

:class:`Transactions` runs in the check's child process (:func:`pcmodel.grading.replay.judge`
builds it there): it builds a :class:`~pcmodel.topics.Broker` with an input topic and an empty
output topic, and drives the student's ``transform(consumer, producer, convert,
output_topic, should_stop)`` with ``read_committed`` :class:`~pcmodel.topics.KafkaConsumer`
members of one group, each paired with a transactional :class:`~pcmodel.topics.KafkaProducer`,
each in a watched thread. The input was written by transactions, committed and aborted
(:data:`~pcmodel.grading.transaction_verdicts.INPUT_TRANSACTIONS`), as a stream processor's
input usually is: each transaction's marker takes an offset that poll() never returns, and a
read_committed consumer skips the aborted records, so the offsets it is handed have gaps. A loop
that takes the next offset for the first plus the number of records commits an offset before
records it converted. It can make ``convert`` crash or hold on a record, let a second
member join, and fence a member's producer with a successor's. It reports what it saw as plain
data: the committed outputs and offsets, what each call raised, which offsets a member
committed for partitions it did not own, the transactions a crashed member committed after
convert() raised, and a member's offset sends refused in a row (so many end the scenario: a
livelock). The verdicts are
:mod:`pcmodel.grading.transaction_checks`'s, made in the grader.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from pcmodel.grading.crew import Crew, Worker, WorkerState, patience
from pcmodel.grading.delivery_harness import HeartbeatTap
from pcmodel.grading.probes import load_impl
from pcmodel.grading.replay import shape
from pcmodel.grading.thread_harness import STALL
from pcmodel.grading.transaction_verdicts import (
    BATCH,
    GROUP,
    INPUT_END,
    INPUT_OFFSETS,
    INPUT_TRANSACTIONS,
    OUTPUT,
    PARTITIONS,
    REFUSED_IN_A_ROW,
    TOPIC,
    receipt,
)

# The topics library is imported here, in the grader, once: each check's child is forked from
# the grader and finds it imported. Imported in the child, it cost every check and every round
# a fresh import under the sandbox's audit hook (about a third of a second of CPU each).
from pcmodel.topics import Broker, KafkaConsumer, KafkaProducer, TopicPartition
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalGenerationError,
    ProducerFencedError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.log_transactions import visible_records
from pcmodel.topics.transaction_manager import TransactionState

__all__ = ["Transactions"]

_POLL_INTERVAL_MS = 300  # max_poll_interval_ms of the member that stalls in the rebalance check
_WRITER = "orders-writer"  # the transactional id that wrote the input topic
_OPEN = frozenset({TransactionState.IN_TRANSACTION, TransactionState.ABORTABLE_ERROR})


def _write_input(broker: Any, tps: list[Any]) -> None:
    """Write the input topic as one transactional producer does: each of
    :data:`INPUT_TRANSACTIONS` adds every partition to its transaction, appends its records
    there and ends with a COMMIT or ABORT marker on each. Through the broker's coordinator
    calls, without a producer's threads: a few milliseconds. Raises ``RuntimeError`` if the
    offsets differ from the layout the grader's verdicts count on."""
    producer_id, epoch = broker.init_producer_id(transactional_id=_WRITER)
    written: list[list[int]] = [[] for _ in tps]
    sequence = [0] * len(tps)
    for count, commit in INPUT_TRANSACTIONS:
        broker.add_partitions_to_txn(_WRITER, producer_id, epoch, tps)
        for p, tp in enumerate(tps):
            # The value says which input it is, for whoever reads the topic while debugging.
            values = [(None, f"order {p}-{sequence[p] + i}".encode()) for i in range(count)]
            base = broker.append_idempotent(
                tp.topic, p, values, producer_id=producer_id, producer_epoch=epoch,
                first_sequence=sequence[p], transactional=True).base_offset
            sequence[p] += count
            if commit:
                written[p].extend(range(base, base + count))
        broker.end_txn(_WRITER, producer_id, epoch, commit)
    ends = broker.end_offsets(tps)
    if any(offsets != list(INPUT_OFFSETS) for offsets in written) or \
            any(ends[tp] != INPUT_END for tp in tps):
        raise RuntimeError(f"the input topic's offsets are not those of the grader's layout: "
                           f"{written[0]}, end {ends[tps[0]]}")


class _Crash(Exception):
    """Raised by convert() on purpose: the member crashes here."""


def _graded_producer(**config: Any) -> Any:
    """A KafkaProducer that calls ``on_commit()`` as soon as commit_transaction() returned, so
    the check can look at the broker between the commit and the loop's next call, counts the
    offset sends and commits refused after a rebalance, and, once a transaction commits, calls
    ``on_foreign(partitions)`` with the partitions whose offsets it sent while
    ``graded_owner`` (the member's consumer) did not own them."""
    rebalanced = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
                  CommitFailedError)

    class GradedProducer(KafkaProducer):
        """A KafkaProducer whose commits, and offsets refused after a rebalance, the check
        observes."""

        on_commit: Any = None
        on_foreign: Any = None
        graded_owner: Any = None  # the consumer whose offsets this producer sends
        graded_refused = 0  # send_offsets/commit calls that raised a rebalance error
        graded_commits = 0  # commit_transaction() calls that returned
        graded_refused_in_a_row = 0  # refusals since the last commit
        graded_foreign: tuple[int, ...] = ()  # sent in the open transaction, not owned then

        @property
        def graded_open(self) -> bool:  # a transaction begun, not yet committed or aborted
            return self._transaction_manager.state in _OPEN

        def begin_transaction(self, *args: Any, **kwargs: Any) -> Any:
            self.graded_foreign = ()
            return super().begin_transaction(*args, **kwargs)

        def send_offsets_to_transaction(self, *args: Any, **kwargs: Any) -> Any:
            offsets = args[0] if args else kwargs.get("offsets") or {}
            try:
                result = super().send_offsets_to_transaction(*args, **kwargs)
            except rebalanced:
                self.graded_refused += 1
                self.graded_refused_in_a_row += 1
                raise
            if self.graded_owner is not None:
                # The assignment changes only inside the member's own poll(), so it is the one
                # these offsets were accepted for.
                owned = self.graded_owner.assignment()
                self.graded_foreign += tuple(sorted(
                    tp[1] for tp in offsets if tp not in owned))
            return result

        def abort_transaction(self, *args: Any, **kwargs: Any) -> Any:
            self.graded_foreign = ()
            return super().abort_transaction(*args, **kwargs)

        def commit_transaction(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().commit_transaction(*args, **kwargs)
            except rebalanced:
                self.graded_refused += 1
                self.graded_refused_in_a_row += 1
                raise
            self.graded_commits += 1
            self.graded_refused_in_a_row = 0
            foreign, self.graded_foreign = self.graded_foreign, ()
            if foreign and self.on_foreign is not None:
                self.on_foreign(foreign)
            if self.on_commit is not None:
                self.on_commit()

    return GradedProducer(**config)


class _GradedConsumer(KafkaConsumer):
    """A KafkaConsumer that counts its own commits made while its member's transaction is
    open: they commit at once, whatever becomes of the transaction (a race with a fencing)."""

    graded_producer: Any = None  # the member's producer
    graded_commits_in_transaction = 0

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        self.graded_commits_in_transaction += self.graded_producer.graded_open
        return super().commit(*args, **kwargs)

    def commit_async(self, *args: Any, **kwargs: Any) -> Any:
        self.graded_commits_in_transaction += self.graded_producer.graded_open
        return super().commit_async(*args, **kwargs)


class _Pipeline:
    """A broker with an input topic written by transactions, an empty output topic, and the
    student's loop."""

    def __init__(self, impl: str) -> None:
        self.transform = load_impl(impl, "transform").transform
        self.broker = Broker()
        self.broker.create_topic(TOPIC, PARTITIONS)
        self.broker.create_topic(OUTPUT, PARTITIONS)
        self.tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        self.out_tps = [TopicPartition(OUTPUT, p) for p in range(PARTITIONS)]
        _write_input(self.broker, self.tps)
        # A read_committed reader sees the committed records only: their outputs are wanted.
        self.wanted = {receipt(p, o) for p in range(PARTITIONS) for o in INPUT_OFFSETS}
        self.crew = Crew(None)
        self.consumers: list[Any] = []
        self.producers: list[Any] = []
        self.raised: dict[str, BaseException] = {}
        self.returned: dict[str, dict[str, Any]] = {}  # of each loop that returned normally
        self.crashed = False  # convert() raised on purpose
        # The crashed member's producer, and how many transactions it had committed then.
        self.crash_commits: tuple[Any, int] | None = None
        self.held = threading.Event()  # a member waits in convert() (hold_at)
        self.released = threading.Event()  # ... until this is set (hold "released")
        self.taken_over = threading.Event()  # a successor's producer fenced the running one
        # A member's offsets were refused REFUSED_IN_A_ROW times in a row: a livelock, which
        # should_stop() ends for every member (the verdict is known; see settle()).
        self.livelock = threading.Event()
        self.lock = threading.Lock()
        # Committed transactions' offsets of partitions the member did not own: (member, p).
        self.foreign: list[tuple[str, int]] = []
        self.taps: dict[int, HeartbeatTap] = {}  # id(consumer) -> its view of the broker

    def member(self, slow: bool, client_id: str | None = None,
               heartbeat_ms: int | None = None) -> Any:
        """A new consumer of the group. ``client_id`` starts its member id, which orders the
        members for the assignor; with ``heartbeat_ms`` (its heartbeat_interval_ms) it talks
        to the broker through a :class:`HeartbeatTap`, which sees when it heard of a
        rebalance."""
        extra: dict[str, Any] = {"max_poll_interval_ms": _POLL_INTERVAL_MS} if slow else {}
        if client_id is not None:
            extra["client_id"] = client_id
        broker: Any = self.broker
        if heartbeat_ms is not None:
            extra["heartbeat_interval_ms"] = heartbeat_ms
            broker = HeartbeatTap(self.broker)
        consumer = _GradedConsumer(TOPIC, broker=broker, group_id=GROUP,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 isolation_level="read_committed", max_poll_records=BATCH,
                                 fetch_max_wait_ms=20, **extra)
        if heartbeat_ms is not None:
            self.taps[id(consumer)] = broker
        self.consumers.append(consumer)
        return consumer

    def producer(self, transactional_id: str) -> Any:
        """A new instance of ``transactional_id``, initialised: it fences any older one."""
        producer = _graded_producer(broker=self.broker, transactional_id=transactional_id)
        self.producers.append(producer)
        producer.init_transactions()
        return producer

    def outputs(self) -> list[list[str]]:
        """What a read_committed reader of each output partition sees, from its start."""
        seen = []
        for tp in self.out_tps:
            fetched = self.broker.fetch({tp: 0}, max_records=100_000,
                                        isolation_level="read_committed")[tp]
            records = visible_records(fetched.records, fetched.transactional_batches,
                                      fetched.aborted_transactions or (), True)
            seen.append([_text(r.value) for r in records])
        return seen

    def committed(self) -> list[int]:
        offsets = self.broker.committed(GROUP, self.tps)
        return [offsets[tp].offset if offsets[tp] is not None else 0 for tp in self.tps]

    def done(self) -> bool:
        """Every input record's output is committed (visible to read_committed readers)."""
        return self.wanted <= {value for values in self.outputs() for value in values}

    def run(self, name: str, consumer: Any, producer: Any, crash_at: int | None,
            hold_at: int | None, hold: str) -> Worker:
        numbers = itertools.count(1)  # next() is atomic: parallel converts get their own
        producer.graded_owner = consumer

        def foreign(partitions: tuple[int, ...]) -> None:
            with self.lock:
                self.foreign.extend((name, p) for p in partitions)

        producer.on_foreign = foreign

        def convert(record: Any) -> bytes:
            number = next(numbers)
            if crash_at is not None and number == crash_at:
                self.crashed = True
                self.crash_commits = (producer, producer.graded_commits)
                raise _Crash(f"{name} crashed converting {record.partition}:{record.offset}")
            if hold_at is not None and number == hold_at:
                self.held.set()
                self._hold(hold)
            self.crew.tick()
            return receipt(record.partition, record.offset).encode()

        told = [False]  # should_stop() returned True to the loop

        def should_stop() -> bool:
            if producer.graded_refused_in_a_row >= REFUSED_IN_A_ROW:
                self.livelock.set()
            true = self.livelock.is_set() or self.done()
            told[0] = told[0] or true
            return true

        def body(w: Worker) -> None:
            w.step("transform(consumer, producer, convert, output_topic, should_stop)")
            try:
                self.transform(consumer, producer, convert, OUTPUT, should_stop)
            except BaseException as exc:  # noqa: BLE001 - what transform raised is the finding
                self.raised[name] = exc
            else:
                self.returned[name] = {"early": not told[0],
                                       "refused": producer.graded_refused}
            w.finished()

        return self.crew.start(name, body)

    def _hold(self, hold: str) -> None:
        """Keep the member in convert() until ``hold`` happened, or for a stall window.

        "committed": until the group committed the end of every input partition (another
        member took the partitions and converted everything, ``record`` too; waiting for all
        of it, not just ``record``, makes the state this member goes on in the same in every
        grading); "takeover": until a successor's producer took over; "released": until the
        check releases it."""
        window = STALL * 2 * patience()
        if hold == "takeover":
            self.taken_over.wait(window)
            return
        if hold == "released":
            self.released.wait(window)
            return
        deadline = time.monotonic() + window
        while time.monotonic() < deadline:
            if all(at > INPUT_OFFSETS[-1] for at in self.committed()):
                return
            threading.Event().wait(0.02)  # a look at the broker every 20 ms, not a pause

    def close(self) -> None:
        for consumer in self.consumers:
            try:
                consumer.close(autocommit=False)
            except Exception:
                pass
        for producer in self.producers:
            try:
                producer.close(timeout=1)
            except Exception:
                pass
        self.broker.close()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return repr(value)[:80]
    return repr(value)[:80]


class Transactions:
    """The live harness: one :class:`_Pipeline` and its members, observed as data."""

    SNAPSHOT = shape.record(committed=shape.list_of(shape.int),
                            outputs=shape.list_of(shape.list_of(shape.str)))
    SHAPES = {
        "run": shape.none, "wait_for": shape.bool, "wait_held": shape.bool,
        "take_over": shape.none, "close_member": shape.none, "release": shape.none,
        "wait_rebalancing": shape.bool, "foreign": shape.list_of(shape.list_of(shape.plain)),
        "settle": shape.record(stuck=shape.list_of(shape.str), missing=shape.int,
                               failed=shape.list_of(shape.str),
                               refused=shape.dict_of(shape.int)),
        "raised": shape.dict_of(shape.record(kind=shape.str, repr=shape.str)),
        "returned": shape.dict_of(shape.record(early=shape.bool, refused=shape.int)),
        "crashed": shape.bool, "commits_after_crash": shape.int,
        "commits_in_transaction": shape.int,
        "snapshot": SNAPSHOT,
        "commit_snapshots": shape.list_of(SNAPSHOT),
    }

    def __init__(self, impl: str) -> None:
        self.pipeline = _Pipeline(impl)
        self.members: dict[str, Any] = {}
        self.workers: dict[str, Worker] = {}
        self.producers: dict[str, Any] = {}  # each member's producer
        self.successor: Any = None
        self.after_commits: list[dict[str, Any]] = []

    def run(self, name: str, transactional_id: str, crash_at: int | None = None,
            hold_at: int | None = None, hold: str = "", slow: bool = False,
            watch: bool = False, client_id: str | None = None,
            heartbeat_ms: int | None = None) -> None:
        """A new member ``name`` runs the student's loop in a worker thread, with the producer
        a takeover made ready, else a new instance of ``transactional_id``. ``watch``: take a
        snapshot right after each of its commit_transaction() calls. ``client_id`` and
        ``heartbeat_ms``: see :meth:`_Pipeline.member`."""
        if self.successor is not None:
            producer, self.successor = self.successor, None
        else:
            producer = self.pipeline.producer(transactional_id)
        if watch:
            producer.on_commit = lambda: self.after_commits.append(self.snapshot())
        self.producers[name] = producer
        self.members[name] = self.pipeline.member(slow, client_id, heartbeat_ms)
        self.members[name].graded_producer = producer
        self.workers[name] = self.pipeline.run(name, self.members[name], producer, crash_at,
                                               hold_at, hold)

    def settle(self, names: list[str]) -> dict[str, Any]:
        """Wait for the named members' loops to end: who is stuck, how many inputs have no
        committed output, how the failed ones failed, and how many offset sends of each were
        refused since its last commit."""
        workers = [self.workers[n] for n in names]
        stuck = self.pipeline.crew.wait(STALL * 2 * patience(), workers)
        outputs = {value for values in self.pipeline.outputs() for value in values}
        return {"stuck": [w.name for w in stuck],
                "missing": len(self.pipeline.wanted - outputs),
                "failed": [w.describe() for w in workers if w.state is WorkerState.FAILED],
                "refused": {n: self.producers[n].graded_refused_in_a_row for n in names}}

    def wait_for(self, count: int) -> bool:
        """Whether ``count`` records were converted within a stall window."""
        return self._wait(lambda: self.pipeline.crew.progress >= count)

    def wait_held(self) -> bool:
        """Whether a member reached its hold in convert() within a stall window."""
        return self._wait(self.pipeline.held.is_set)

    def _wait(self, reached: Any) -> bool:
        """Look every 10 ms until ``reached()``, a stall window passed, or every member's loop
        ended (then it never will)."""
        deadline = time.monotonic() + STALL * 2 * patience()
        while not reached() and time.monotonic() < deadline:
            if all(w.state is not WorkerState.RUNNING for w in self.workers.values()):
                break
            threading.Event().wait(0.01)
        return bool(reached())

    def release(self) -> None:
        """The member held with hold "released" goes on."""
        self.pipeline.released.set()

    def wait_rebalancing(self, name: str) -> bool:
        """Wait (bounded) until the coordinator answered one of member ``name``'s heartbeats
        REBALANCE_IN_PROGRESS and the member sent its next heartbeat since, so its next poll()
        rejoins (the member must have been run with ``heartbeat_ms``). Whether that
        happened."""
        tap = self.pipeline.taps[id(self.members[name])]
        tap.forget()  # an answer is repeated while the rebalance waits for this member
        return tap.wait_heard(STALL * 2 * patience())

    def foreign(self) -> list[list[Any]]:
        """``[member, partition]`` for each partition whose offsets a member sent in a
        transaction that then committed, while it did not own the partition; in the order
        seen."""
        with self.pipeline.lock:
            return [list(entry) for entry in self.pipeline.foreign]

    def take_over(self, transactional_id: str) -> None:
        """A successor's producer with ``transactional_id`` initialises (fencing the running
        instance and aborting its open transaction); then the held member goes on."""
        self.successor = self.pipeline.producer(transactional_id)
        self.pipeline.taken_over.set()

    def raised(self) -> dict[str, Any]:
        def kind(exc: BaseException) -> str:
            if isinstance(exc, _Crash):
                return "crash"
            return "fenced" if isinstance(exc, ProducerFencedError) else "other"

        return {name: {"kind": kind(exc), "repr": repr(exc)[:300]}
                for name, exc in self.pipeline.raised.items()}

    def returned(self) -> dict[str, Any]:
        """For each member whose transform() returned normally: whether it returned before
        should_stop() ever returned True to it, and how many of its offset sends and commits
        were refused after a rebalance."""
        return {name: dict(seen) for name, seen in self.pipeline.returned.items()}

    def crashed(self) -> bool:
        return self.pipeline.crashed

    def commits_after_crash(self) -> int:
        """Transactions the crashed member committed after convert() raised (0 if none)."""
        if self.pipeline.crash_commits is None:
            return 0
        producer, then = self.pipeline.crash_commits
        return producer.graded_commits - then

    def commits_in_transaction(self) -> int:
        """How many times a member committed offsets with its consumer's own commit() while
        its transaction was open."""
        return sum(c.graded_commits_in_transaction for c in self.pipeline.consumers)

    def snapshot(self) -> dict[str, Any]:
        """The group's committed offsets and the committed outputs, as of now."""
        return {"committed": self.pipeline.committed(), "outputs": self.pipeline.outputs()}

    def commit_snapshots(self) -> list[dict[str, Any]]:
        return list(self.after_commits)

    def close_member(self, name: str) -> None:
        """The member's consumer leaves the group (its process is gone)."""
        self.members[name].close(autocommit=False)

    def close(self) -> None:
        self.pipeline.close()
