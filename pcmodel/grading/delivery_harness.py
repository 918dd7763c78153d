"""The live harness of exercise 06's checks: a broker, a filled topic, and the student's
at-least-once loop driven by real consumers of one group.

:class:`Deliveries` runs in the check's child process (:func:`pcmodel.grading.replay.judge`
builds it there): it builds a :class:`~pcmodel.topics.Broker`, fills a topic, and drives the
student's ``consume(consumer, process, should_stop)`` with
:class:`~pcmodel.topics.KafkaConsumer` members of one group, each in a watched thread. It can make
``process`` crash or hold on a record, stop a member in the middle of a batch, and let a second
member join. It reports what it saw as plain data: which member processed which record, what
each call raised, what the group committed. The verdicts are
:mod:`pcmodel.grading.delivery_checks`'s, made in the grader.
"""

from __future__ import annotations

import threading
from typing import Any

from pcmodel.grading.crew import Crew, Worker, WorkerState, patience
from pcmodel.grading.probes import load_impl
from pcmodel.grading.replay import shape
from pcmodel.grading.thread_harness import STALL

# The topics library is imported here, in the grader, once: each check's child is forked from
# the grader and finds it imported. Imported in the child, it cost every check and every round
# a fresh import under the sandbox's audit hook (about a third of a second of CPU each).
from pcmodel.topics import Broker, KafkaConsumer, TopicPartition
from pcmodel.topics.broker import CLIENT_METHODS
from pcmodel.topics.errors import CommitFailedError
from pcmodel.topics.group_answers import HeartbeatStatus

__all__ = ["BATCH", "PARTITIONS", "PER_PARTITION", "TOPIC", "Deliveries", "HeartbeatTap"]

TOPIC = "orders"
PARTITIONS = 3
PER_PARTITION = 20
BATCH = 7  # max_poll_records: polls then often return two partitions at once (e.g. 6 + 1)
_POLL_INTERVAL_MS = 300  # max_poll_interval_ms of the member that is slow on one record
_SLOW_RECORD = 0.7  # seconds that member spends on that record


_STOP_AFTER = 3  # the "stop" check requests a stop once a member processed this many records


class _Crash(Exception):
    """Raised by process() on purpose: the member crashes here."""


def _graded_consumer(on_commit: Any = None, **config: Any) -> Any:
    """A KafkaConsumer of TOPIC whose polls and refused commits the check observes;
    ``on_commit(consumer, offsets)`` is called after each commit that succeeded, with the
    offsets it was given (None: the positions)."""
    class GradedConsumer(KafkaConsumer):
        """A KafkaConsumer that notes what its last poll() returned and which commits failed."""

        graded_refused = 0  # commits that raised CommitFailedError
        graded_batch: tuple[tuple[int, int], ...] = ()  # what the last poll() returned
        graded_polls = 0  # polls that returned records
        graded_refused_polled = 0  # refused commits followed by a poll

        def poll(self, *args: Any, **kwargs: Any) -> Any:
            self.graded_refused_polled = self.graded_refused
            batches = super().poll(*args, **kwargs)
            self.graded_batch = tuple((r.partition, r.offset)
                                      for records in batches.values() for r in records)
            self.graded_polls += bool(self.graded_batch)
            return batches

        def commit(self, *args: Any, **kwargs: Any) -> Any:
            try:
                result = super().commit(*args, **kwargs)
            except CommitFailedError:
                self.graded_refused += 1
                raise
            if on_commit is not None:
                on_commit(self, args[0] if args else kwargs.get("offsets"))
            return result

    return GradedConsumer(TOPIC, **config)


class HeartbeatTap:
    """A member's view of the broker that also notes how its heartbeats were answered.

    The consumer is given this tap as its broker; each of its connections forwards every call
    of the broker's client interface (:data:`~pcmodel.topics.broker.CLIENT_METHODS`) unchanged
    and watches Kafka's Heartbeat API go by, as a capture of the network would: the
    coordinator's answer REBALANCE_IN_PROGRESS tells a member to rejoin at its next poll(). A
    heartbeat sent after that answer shows the member has acted on it, since a member sends its
    heartbeats one after the other. Nothing here reads the consumer's own state.
    """

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.changed = threading.Condition()
        self.told = False  # a heartbeat was answered REBALANCE_IN_PROGRESS since forget()
        self.heard = False  # ... and the member has sent a heartbeat after that answer

    def connect(self) -> _TappedConnection:
        """A connection for one client thread: the broker's calls, heartbeats watched."""
        return _TappedConnection(self)

    def forget(self) -> None:
        """Start watching afresh: answers seen so far no longer count."""
        with self.changed:
            self.told = self.heard = False

    def wait_heard(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until the member sent a heartbeat after one was
        answered REBALANCE_IN_PROGRESS (since :meth:`forget`); whether it did."""
        with self.changed:
            return self.changed.wait_for(lambda: self.heard, timeout)

    def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        """The broker's Heartbeat, its answer noted; a heartbeat that follows an answer
        REBALANCE_IN_PROGRESS marks the news as heard."""
        with self.changed:
            if self.told and not self.heard:
                self.heard = True
                self.changed.notify_all()
        result = self.broker.heartbeat(*args, **kwargs)
        if result.status is HeartbeatStatus.REBALANCE_IN_PROGRESS:
            with self.changed:
                self.told = True
        return result


class _TappedConnection:
    """One connection through a :class:`HeartbeatTap`: the broker's client calls, nothing
    else (so a client sees no ``close()``: the broker is not its to close)."""

    def __init__(self, tap: HeartbeatTap) -> None:
        self._tap = tap
        self._conn = tap.broker.connect()

    def __getattr__(self, name: str) -> Any:
        if name not in CLIENT_METHODS:
            raise AttributeError(name)
        if name == "heartbeat":
            return self._tap.heartbeat
        return getattr(self._conn, name)


class _Group:
    """A broker with one filled topic, and consumers of group "g" running the student's loop."""

    def __init__(self, impl: str, partitions: int = PARTITIONS) -> None:
        self.consume = load_impl(impl, "consume").consume
        self.broker = Broker()
        self.broker.create_topic(TOPIC, partitions)
        self.tps = [TopicPartition(TOPIC, p) for p in range(partitions)]
        for p in range(partitions):
            records = [(None, f"{p}-{i}".encode()) for i in range(PER_PARTITION)]
            self.broker.append(TOPIC, p, records)
        self.all = {(p, i) for p in range(partitions) for i in range(PER_PARTITION)}
        self.lock = threading.Lock()
        self.processed: list[tuple[str, int, int]] = []  # (member, partition, offset)
        self.crew = Crew(None)
        self.consumers: list[Any] = []
        self.raised: dict[str, BaseException] = {}
        self.early: dict[str, bool] = {}  # consume() returned before should_stop() said so
        self.crashed = False  # process() raised on purpose
        self.crash_batch: tuple[tuple[int, int], ...] = ()  # the batch it raised in
        self.held = threading.Event()  # a member waits in process() (hold_at)
        self.noticed = threading.Event()  # a member reached its hold, or its loop ended
        self.released = threading.Event()  # ... until this is set
        self.stop_requested = threading.Event()  # the "stop" check's should_stop()
        self.left_in_batch: list[tuple[int, int]] = []  # unprocessed when the stop came
        self.stop_index = -1  # len(processed) when the stop came (-1: it never did)
        self.names: dict[int, str] = {}  # id(consumer) -> member name
        self.taps: dict[int, HeartbeatTap] = {}  # id(consumer) -> its view of the broker
        # Commits that succeeded for a partition the member did not own: (member, partition).
        self.foreign: list[tuple[str, int]] = []

    def member(self, **extra: Any) -> Any:
        tap = HeartbeatTap(self.broker)
        consumer = _graded_consumer(on_commit=self._note_commit, broker=tap,
                                    group_id="g",
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    max_poll_records=BATCH, fetch_max_wait_ms=20, **extra)
        self.consumers.append(consumer)
        self.taps[id(consumer)] = tap
        return consumer

    def seen(self) -> set[tuple[int, int]]:
        with self.lock:
            return {(p, o) for _, p, o in self.processed}

    def run(self, name: str, consumer: Any, crash_at: int | None = None,
            stall_at: int | None = None, hold_at: int | None = None, stop: str = "all",
            crash_after_refused: bool = False, crash_in_poll: int | None = None) -> Worker:
        """Run the student's loop as member ``name``. ``crash_at``: process() raises on that record,
        or earlier on the first record of a batch that is not in the batch's first partition (polls
        here return 7, 7, then 6 + 1: the 21st record), so that a commit made after one partition of
        a batch is tested too. ``crash_in_poll``: process() raises on the third record of the
        member's poll of that number (counting the polls that returned records; of a later one if
        that poll returned fewer). ``stop`` is when its should_stop() turns true: "all" once every
        record is processed, "requested" once the member processed _STOP_AFTER records and some of
        the batch it is in are still unprocessed (or every record is processed), "partition_end"
        once it processed the last record of a partition in a batch that holds records of another
        partition after it, "first" once it processed one record, "already" from the start.
        With "all", a member whose commit was refused polls once more before should_stop()
        turns true."""
        count = [0]
        told = [False]  # should_stop() returned True to the loop
        self.names[id(consumer)] = name

        def should_stop() -> bool:
            if stop in ("requested", "partition_end"):
                true = self.stop_requested.is_set() or self.seen() >= self.all
            elif stop == "first":
                true = count[0] >= 1
            elif stop == "already":
                true = True
            else:
                # After a refused commit the loop polls once more (and rejoins) before it
                # may stop, so that what it commits after rejoining is observed too.
                true = (self.seen() >= self.all
                        and consumer.graded_refused_polled >= consumer.graded_refused)
            told[0] = told[0] or true
            return true

        def process(record: Any) -> None:
            count[0] += 1
            where = f"{record.partition}:{record.offset}"
            batch = consumer.graded_batch
            later_partition = bool(batch) and record.partition != batch[0][0]
            if crash_at is not None and not self.crashed and (count[0] == crash_at
                                                              or later_partition):
                self.crashed = True
                self.crash_batch = batch
                raise _Crash(f"{name} crashed processing {where}")
            if (crash_in_poll is not None and not self.crashed
                    and consumer.graded_polls >= crash_in_poll
                    and (record.partition, record.offset) in batch[2:3]):
                self.crashed = True
                self.crash_batch = batch
                raise _Crash(f"{name} crashed processing {where}")
            if crash_after_refused and consumer.graded_refused and not self.crashed:
                self.crashed = True
                raise _Crash(f"{name} crashed processing {where}, after a refused commit")
            if stall_at is not None and count[0] == stall_at:
                # Longer than max_poll_interval_ms: the group moves on without this member,
                # so its next commit belongs to an old generation and fails.
                threading.Event().wait(_SLOW_RECORD)
            if hold_at is not None and count[0] == hold_at:
                self.held.set()
                self.noticed.set()
                self.released.wait(STALL * 2 * patience())
            with self.lock:
                self.processed.append((name, record.partition, record.offset))
                if stop == "requested" and count[0] >= _STOP_AFTER:
                    self._request_stop(name, consumer.graded_batch)
                if stop == "partition_end" and _ends_a_partition(record, consumer.graded_batch):
                    self._request_stop(name, consumer.graded_batch)
            self.crew.tick()

        def body(w: Worker) -> None:
            w.step("consume(consumer, process, should_stop)")
            try:
                self.consume(consumer, process, should_stop)
            except BaseException as exc:  # noqa: BLE001 - what consume raised is the finding
                self.raised[name] = exc
            else:
                self.early[name] = not told[0]
            self.noticed.set()
            w.finished()

        return self.crew.start(name, body)

    def _request_stop(self, name: str, batch: tuple[tuple[int, int], ...]) -> None:
        """Make should_stop() true if records of ``batch`` (the last poll's) are still
        unprocessed by ``name``; called with ``lock`` held."""
        if self.stop_requested.is_set():
            return
        mine = {(p, o) for m, p, o in self.processed if m == name}
        left = [r for r in batch if r not in mine]
        if left:
            self.left_in_batch = left
            self.stop_index = len(self.processed)
            self.stop_requested.set()

    def _note_commit(self, consumer: Any, offsets: Any) -> None:
        """After a commit succeeded: the partitions it named that the member does not own.
        Its assignment changes only inside its own poll(), so it is the one the commit was
        accepted for; a refused commit (an old generation) is never noted."""
        if not offsets:
            return
        owned = consumer.assignment()
        foreign = sorted(tp.partition for tp in offsets if tp not in owned)
        with self.lock:
            name = self.names.get(id(consumer), "?")
            self.foreign.extend((name, p) for p in foreign)

    def committed(self) -> dict[int, int]:
        offsets = self.broker.committed("g", self.tps)
        return {tp.partition: (om.offset if om is not None else 0) for tp, om in offsets.items()}

    def wait_held(self) -> bool:
        """Whether a member reached its hold in process() within a stall window (not if its
        loop ended first)."""
        self.noticed.wait(STALL * 2 * patience())
        return self.held.is_set()

    def close(self) -> None:
        for consumer in self.consumers:
            try:
                consumer.close(autocommit=False)
            except Exception:
                pass
        self.broker.close()


class Deliveries:
    """The live harness: one :class:`_Group` and its members, observed as data."""

    SHAPES = {
        "run": shape.none, "wait_for": shape.bool, "close_member": shape.none,
        "settle": shape.record(stuck=shape.list_of(shape.str), missing=shape.int,
                               failed=shape.list_of(shape.str)),
        "raised": shape.dict_of(shape.record(crash=shape.bool, repr=shape.str)),
        "returned": shape.dict_of(shape.record(early=shape.bool, refused=shape.int)),
        "wait_held": shape.bool, "release": shape.none,
        "left_in_batch": shape.list_of(shape.list_of(shape.int)),
        "stop_index": shape.int,
        "crashed": shape.bool, "crash_batch": shape.list_of(shape.list_of(shape.int)),
        "processed": shape.list_of(shape.list_of(shape.plain)),
        "committed": shape.list_of(shape.int),
        "foreign": shape.list_of(shape.list_of(shape.plain)), "wait_rebalancing": shape.bool,
    }

    def __init__(self, impl: str, partitions: int = PARTITIONS) -> None:
        self.group = _Group(impl, partitions)
        self.members: dict[str, Any] = {}
        self.workers: dict[str, Worker] = {}

    def run(self, name: str, crash_at: int | None = None, stall_at: int | None = None,
            slow: bool = False, hold_at: int | None = None, stop: str = "all",
            crash_after_refused: bool = False, client_id: str | None = None,
            heartbeat_ms: int | None = None, crash_in_poll: int | None = None) -> None:
        """A new member ``name`` of the group runs the student's loop in a worker thread (see
        :meth:`_Group.run`). ``client_id`` starts its member id, which orders the members for
        the assignor; ``heartbeat_ms`` is its heartbeat_interval_ms."""
        extra: dict[str, Any] = {"max_poll_interval_ms": _POLL_INTERVAL_MS} if slow else {}
        if client_id is not None:
            extra["client_id"] = client_id
        if heartbeat_ms is not None:
            extra["heartbeat_interval_ms"] = heartbeat_ms
        self.members[name] = self.group.member(**extra)
        self.workers[name] = self.group.run(name, self.members[name], crash_at, stall_at,
                                            hold_at, stop, crash_after_refused,
                                            crash_in_poll)

    def wait_held(self) -> bool:
        return self.group.wait_held()

    def release(self) -> None:
        """The held member goes on."""
        self.group.released.set()

    def returned(self) -> dict[str, Any]:
        """For each member whose consume() returned normally: whether it returned before
        should_stop() ever returned True to it, and how many of its commits were refused
        (CommitFailedError)."""
        return {name: {"early": early, "refused": self.members[name].graded_refused}
                for name, early in self.group.early.items()}

    def left_in_batch(self) -> list[list[int]]:
        """The records of the polled batch not yet processed when should_stop() turned true
        ("requested" stop); empty if it never did."""
        return [list(r) for r in self.group.left_in_batch]

    def stop_index(self) -> int:
        """How many records had been processed when should_stop() turned true ("requested"
        stop): the ones processed after it are ``processed()[stop_index:]``; -1 if it never
        did."""
        return self.group.stop_index

    def settle(self, names: list[str]) -> dict[str, Any]:
        """Wait for the named members' loops to end: who is stuck, how many records were never
        processed, and how the failed ones failed."""
        workers = [self.workers[n] for n in names]
        stuck = self.group.crew.wait(STALL * 2 * patience(), workers)
        return {"stuck": [w.name for w in stuck],
                "missing": len(self.group.all - self.group.seen()),
                "failed": [w.describe() for w in workers if w.state is WorkerState.FAILED]}

    def wait_for(self, count: int) -> bool:
        return _wait_for(self.group, count)

    def raised(self) -> dict[str, Any]:
        return {name: {"crash": isinstance(exc, _Crash), "repr": repr(exc)[:300]}
                for name, exc in self.group.raised.items()}

    def crashed(self) -> bool:
        return self.group.crashed

    def crash_batch(self) -> list[list[int]]:
        """The records ``[partition, offset]`` of the poll in which process() raised on
        purpose; empty if it never did."""
        return [list(r) for r in self.group.crash_batch]

    def processed(self) -> list[list[Any]]:
        with self.group.lock:
            return [list(entry) for entry in self.group.processed]

    def committed(self) -> list[int]:
        """The group's committed offset of each partition (0 where none)."""
        offsets = self.group.committed()
        return [offsets[p] for p in range(len(offsets))]

    def foreign(self) -> list[list[Any]]:
        """``[member, partition]`` for each partition a commit that succeeded named while the
        member did not own it, in the order seen."""
        with self.group.lock:
            return [list(entry) for entry in self.group.foreign]

    def wait_rebalancing(self, name: str) -> bool:
        """Wait (bounded) until the group prepares a rebalance (a member asked to join, and the
        coordinator waits for the others to rejoin) and member ``name`` has heard of it: the
        coordinator answered one of its heartbeats REBALANCE_IN_PROGRESS, and the member has
        sent its next heartbeat since, so its next poll() rejoins. Whether that happened."""
        tap = self.group.taps[id(self.members[name])]
        tap.forget()  # an answer is repeated while the rebalance waits for this member
        return tap.wait_heard(STALL * 2 * patience())

    def close_member(self, name: str) -> None:
        self.members[name].close(autocommit=False)

    def close(self) -> None:
        self.group.close()


def _ends_a_partition(record: Any, batch: tuple[tuple[int, int], ...]) -> bool:
    """Whether ``record`` is the last of its partition in ``batch`` and records of another
    partition follow it there."""
    at = batch.index((record.partition, record.offset)) if (
        (record.partition, record.offset) in batch) else -1
    return 0 <= at < len(batch) - 1 and batch[at + 1][0] != record.partition


def _wait_for(group: _Group, count: int) -> bool:
    done = threading.Event()

    def watch() -> None:
        with group.lock:
            if len(group.processed) >= count:
                done.set()

    deadline = STALL * 2 * patience()
    previous = group.crew.on_tick
    group.crew.on_tick = watch
    watch()
    reached = done.wait(deadline)
    group.crew.on_tick = previous
    return reached
