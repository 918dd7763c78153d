"""Graded checks for exercise 08: an exactly-once consume-transform-produce loop.

The student writes ``transform(consumer, producer, convert, output_topic, should_stop)``. The
live harness :class:`Transactions` builds a :class:`~pcmodel.topics.Broker` in the check's
child process with an input topic and an output topic, and drives the student's loop with
``read_committed`` :class:`~pcmodel.topics.KafkaConsumer` members of one group, each paired with
a transactional :class:`~pcmodel.topics.KafkaProducer`: to the end, into a crash (``convert``
raising), through a rebalance (a second member, with its own transactional id, takes the
partitions of a first one that stalled), and past a takeover (a new producer with the same
transactional id fences the running one, a zombie). Each check is a scenario over it, replayed
in the grader on what the child observed (:func:`pcmodel.grading.replay.judge`): what a
``read_committed`` reader of the output topic sees, what the group committed (also right after
each ``commit_transaction()``), and what transform() raised. The grader then holds the loop to
the invariant of exactly-once processing: at every moment no transaction is open, the committed
outputs of each partition are the conversions of exactly the input records before the group's
committed offset, once each and in order.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

from pcmodel.grading.checks import fail_on, problem
from pcmodel.grading.crew import Crew, Worker, WorkerState, patience
from pcmodel.grading.probes import load_impl
from pcmodel.grading.replay import judge, shape
from pcmodel.grading.thread_harness import STALL
from pcmodel.grading.transaction_verdicts import (
    BATCH,
    GROUP,
    OUTPUT,
    PARTITIONS,
    PER_PARTITION,
    TOPIC,
    exactly_once,
    in_step,
    receipt,
    stuck_or_failed,
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

__all__ = ["check"]

_POLL_INTERVAL_MS = 300  # max_poll_interval_ms of the member that stalls in the rebalance check


class _Crash(Exception):
    """Raised by convert() on purpose: the member crashes here."""


def _graded_producer(**config: Any) -> Any:
    """A KafkaProducer that calls ``on_commit()`` as soon as commit_transaction() returned, so
    the check can look at the broker between the commit and the loop's next call, and counts
    the offset sends and commits refused after a rebalance."""
    rebalanced = (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
                  CommitFailedError)

    class GradedProducer(KafkaProducer):
        """A KafkaProducer whose commits, and offsets refused after a rebalance, the check
        observes."""

        on_commit: Any = None
        graded_refused = 0  # send_offsets/commit calls that raised a rebalance error

        def send_offsets_to_transaction(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().send_offsets_to_transaction(*args, **kwargs)
            except rebalanced:
                self.graded_refused += 1
                raise

        def commit_transaction(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().commit_transaction(*args, **kwargs)
            except rebalanced:
                self.graded_refused += 1
                raise
            if self.on_commit is not None:
                self.on_commit()

    return GradedProducer(**config)


class _Pipeline:
    """A broker with a filled input topic, an empty output topic, and the student's loop."""

    def __init__(self, impl: str) -> None:
        self.transform = load_impl(impl, "transform").transform
        self.broker = Broker()
        self.broker.create_topic(TOPIC, PARTITIONS)
        self.broker.create_topic(OUTPUT, PARTITIONS)
        self.tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        self.out_tps = [TopicPartition(OUTPUT, p) for p in range(PARTITIONS)]
        for p in range(PARTITIONS):
            self.broker.append(TOPIC, p, [(None, f"order {p}-{i}".encode())
                                          for i in range(PER_PARTITION)])
        self.wanted = {receipt(p, i) for p in range(PARTITIONS) for i in range(PER_PARTITION)}
        self.crew = Crew(None)
        self.consumers: list[Any] = []
        self.producers: list[Any] = []
        self.raised: dict[str, BaseException] = {}
        self.returned: dict[str, dict[str, Any]] = {}  # of each loop that returned normally
        self.crashed = False  # convert() raised on purpose
        self.held = threading.Event()  # a member waits in convert() (hold_at)
        self.taken_over = threading.Event()  # a successor's producer fenced the running one

    def member(self, slow: bool) -> Any:
        extra = {"max_poll_interval_ms": _POLL_INTERVAL_MS} if slow else {}
        consumer = KafkaConsumer(TOPIC, broker=self.broker, group_id=GROUP,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 isolation_level="read_committed", max_poll_records=BATCH,
                                 fetch_max_wait_ms=20, **extra)
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
        count = [0]

        def convert(record: Any) -> bytes:
            count[0] += 1
            if crash_at is not None and count[0] == crash_at:
                self.crashed = True
                raise _Crash(f"{name} crashed converting {record.partition}:{record.offset}")
            if hold_at is not None and count[0] == hold_at:
                self.held.set()
                self._hold(hold)
            self.crew.tick()
            return receipt(record.partition, record.offset).encode()

        told = [False]  # should_stop() returned True to the loop

        def should_stop() -> bool:
            true = self.done()
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
        grading); "takeover": until a successor's producer took over."""
        window = STALL * 2 * patience()
        if hold == "takeover":
            self.taken_over.wait(window)
            return
        deadline = time.monotonic() + window
        while time.monotonic() < deadline:
            if all(at == PER_PARTITION for at in self.committed()):
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
        "take_over": shape.none, "close_member": shape.none,
        "settle": shape.record(stuck=shape.list_of(shape.str), missing=shape.int,
                               failed=shape.list_of(shape.str)),
        "raised": shape.dict_of(shape.record(kind=shape.str, repr=shape.str)),
        "returned": shape.dict_of(shape.record(early=shape.bool, refused=shape.int)),
        "crashed": shape.bool,
        "snapshot": SNAPSHOT,
        "commit_snapshots": shape.list_of(SNAPSHOT),
    }

    def __init__(self, impl: str) -> None:
        self.pipeline = _Pipeline(impl)
        self.members: dict[str, Any] = {}
        self.workers: dict[str, Worker] = {}
        self.successor: Any = None
        self.after_commits: list[dict[str, Any]] = []

    def run(self, name: str, transactional_id: str, crash_at: int | None = None,
            hold_at: int | None = None, hold: str = "", slow: bool = False,
            watch: bool = False) -> None:
        """A new member ``name`` runs the student's loop in a worker thread, with the producer
        a takeover made ready, else a new instance of ``transactional_id``. ``watch``: take a
        snapshot right after each of its commit_transaction() calls."""
        if self.successor is not None:
            producer, self.successor = self.successor, None
        else:
            producer = self.pipeline.producer(transactional_id)
        if watch:
            producer.on_commit = lambda: self.after_commits.append(self.snapshot())
        self.members[name] = self.pipeline.member(slow)
        self.workers[name] = self.pipeline.run(name, self.members[name], producer, crash_at,
                                               hold_at, hold)

    def settle(self, names: list[str]) -> dict[str, Any]:
        """Wait for the named members' loops to end: who is stuck, how many inputs have no
        committed output, and how the failed ones failed."""
        workers = [self.workers[n] for n in names]
        stuck = self.pipeline.crew.wait(STALL * 2 * patience(), workers)
        outputs = {value for values in self.pipeline.outputs() for value in values}
        return {"stuck": [w.name for w in stuck],
                "missing": len(self.pipeline.wanted - outputs),
                "failed": [w.describe() for w in workers if w.state is WorkerState.FAILED]}

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


# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------

def _stuck_or_raised(h: Any, name: str, expected: str) -> dict[str, str] | None:
    """What went wrong with member ``name``'s loop, which should have done ``expected``: it
    is stuck, failed, or raised; ``None`` if none of these."""
    found = stuck_or_failed(h, [name])
    if found:
        return found
    raised = h.raised()
    if name in raised:
        return problem(expected, f"it raised {raised[name]['repr']}", "")
    return None


def _alone(h: Any, watch: bool = False) -> dict[str, str] | None:
    h.run("member A", "processor", watch=watch)
    return _stuck_or_raised(h, "member A",
                            "transform() to return normally once should_stop() is true")


def _never_got_there(h: Any, count: int) -> dict[str, str]:
    """Member A did not convert ``count`` records: why."""
    return _stuck_or_raised(h, "member A", "transform() to convert records") or problem(
        "transform() to convert records", f"it converted fewer than {count}", "")


def _everything(h: Any) -> dict[str, str] | None:
    return _alone(h) or exactly_once(h.snapshot(), committed=False)


def _commits(h: Any) -> dict[str, str] | None:
    found = _alone(h, watch=True)
    if found:
        return found
    snapshots = h.commit_snapshots()
    if not snapshots:
        return problem("a commit_transaction() for every batch", "none was called",
                        "begin_transaction(), send the outputs, send the offsets, then "
                        "commit_transaction()")
    for number, snapshot in enumerate(snapshots, 1):
        found = in_step(snapshot, f"right after commit_transaction() number {number}")
        if found:
            return found
    return exactly_once(h.snapshot(), committed=True)


def _crash(h: Any) -> dict[str, str] | None:
    h.run("member A", "processor", crash_at=BATCH + 3)
    found = stuck_or_failed(h, ["member A"])
    if found and h.crashed():
        return problem(
            "the exception raised by convert() to propagate out of transform() (a crash)",
            "convert() raised, but transform() went on without it",
            "do not catch exceptions from convert(): its record must not be committed as done",
        )
    if found:
        return found
    raised = h.raised()
    if raised.get("member A", {}).get("kind") != "crash":
        return problem(
            "the exception raised by convert() to propagate out of transform() (a crash)",
            "transform() " + ("returned normally" if "member A" not in raised
                              else f"raised {raised['member A']['repr']}"),
            "do not catch exceptions from convert(): its record must not be committed as done",
        )
    found = in_step(h.snapshot(), "after the crash")
    if found:
        return found
    # The crashed member is gone; its successor takes its place.
    return _successor_finishes(h, "a crash and a successor")


def _rebalance(h: Any) -> dict[str, str] | None:
    # A stalls in its second batch, past max_poll_interval_ms: the group gives its partitions
    # to B, which converts and commits everything, the record A holds too; then A goes on.
    h.run("member A", "processor-a", hold_at=BATCH + 2, hold="committed", slow=True)
    if not h.wait_for(BATCH):
        return _never_got_there(h, BATCH)
    h.run("member B", "processor-b")
    # A is watched first: it goes on once B has committed everything, and its loop then ends,
    # or raises. A loop that raised leaves its transaction open, and B can never see every
    # output committed (a read_committed reader stops at the open transaction): its stall
    # would only be waited out, on a loaded machine until the check's time limit. So a raise
    # is the finding at once; otherwise both loops are watched to their end.
    found = stuck_or_failed(h, ["member A"])
    raised = h.raised()
    if not found and not raised:
        found = stuck_or_failed(h, ["member A", "member B"])
        raised = h.raised()
    if raised:  # first: a member that raised leaves its transaction open, and B waits behind it
        name = sorted(raised)[0]
        return problem(
            "both members to keep going through the rebalance",
            f"{name}'s transform() raised {raised[name]['repr']}",
            "when the group rebalanced without this member, send_offsets_to_transaction() or "
            "commit_transaction() raises (UnknownMemberIdError, IllegalGenerationError...): "
            "catch it, abort_transaction(), seek back to the committed offsets, keep polling",
        )
    if found:
        return found
    returned = h.returned()
    early = sorted(name for name, seen in returned.items() if seen["early"])
    if early:
        refused = returned[early[0]]["refused"]
        after = (f" (after {refused} of its offset sends or commits had been refused with a "
                 "rebalance error)" if refused else "")
        return problem(
            "both members to keep going until should_stop() is true",
            f"{early[0]}'s transform() returned although should_stop() had never returned "
            f"True to it{after}",
            "a rebalance error (UnknownMemberIdError, IllegalGenerationError...) is not a "
            "reason to stop: abort_transaction(), seek back to the committed offsets and keep "
            "polling; return only once should_stop() is true",
        )
    return exactly_once(h.snapshot(), committed=True, after="a rebalance")


def _zombie(h: Any) -> dict[str, str] | None:
    h.run("member A", "processor", hold_at=BATCH + 2, hold="takeover")
    if not h.wait_held():
        return _never_got_there(h, BATCH + 2)
    h.take_over("processor")  # a successor's init_transactions(): A is now a zombie
    found = stuck_or_failed(h, ["member A"])
    if found:
        return problem(
            "the zombie's transform() to stop once its producer was fenced",
            found["got"],
            "ProducerFencedError means a newer instance took over: let it propagate (or "
            "return); never catch it and go on",
        )
    raised = h.raised()
    if raised.get("member A", {}).get("kind") == "other":
        return problem(
            "the zombie's transform() to stop with ProducerFencedError, or to return",
            f"it raised {raised['member A']['repr']}",
            "after ProducerFencedError the producer can do nothing more, not even abort: stop",
        )
    found = in_step(h.snapshot(), "after the zombie stopped")
    if found:
        return found
    return _successor_finishes(h, "a takeover")


def _successor_finishes(h: Any, after: str) -> dict[str, str] | None:
    """Member A is gone: a successor with its transactional id runs to the end, and every
    input then has exactly one committed output."""
    h.close_member("member A")
    h.run("member B", "processor")
    return _stuck_or_raised(h, "member B", "the successor's transform() to run to the end") \
        or exactly_once(h.snapshot(), committed=True, after=after)


_CHECKS = {"everything": _everything, "commits": _commits, "crash": _crash,
           "rebalance": _rebalance, "zombie": _zombie}


def check(impl: str, what: str) -> None:
    """Run one exactly-once property ``what`` (everything, commits, crash, rebalance, zombie):
    observed in an isolated child, judged here."""
    fail_on(judge(_CHECKS[what], partial(Transactions, impl), time_limit=40))
