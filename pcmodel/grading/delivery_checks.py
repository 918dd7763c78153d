"""Graded checks for exercise 06: an at-least-once consumer loop on pcmodel's topics.

The student writes ``consume(consumer, process, should_stop)``. The live harness
:class:`Deliveries` builds a :class:`~pcmodel.topics.Broker` in the check's child process, fills a
topic, and drives the student's loop with real :class:`~pcmodel.topics.KafkaConsumer` members of
one group: to the end, into a crash (``process`` raising), and through a rebalance (a second
member joining). Each check is a scenario over it, replayed in the grader on what the child
observed (:func:`pcmodel.grading.replay.judge`): which member processed which record, in which
order, what consume() raised, what the group committed. The grader then reasons as Kafka's own
delivery tests do: committed offsets must never pass an unprocessed record (no loss), and only
records after the last commit may be processed twice.
"""

from __future__ import annotations

import threading
from collections import Counter
from functools import partial
from typing import Any

from pcmodel.grading.checks import fail_on
from pcmodel.grading.crew import Crew, Worker, WorkerState, patience
from pcmodel.grading.probes import load_impl
from pcmodel.grading.replay import judge, shape
from pcmodel.grading.thread_harness import STALL

__all__ = ["check"]

TOPIC = "orders"
PARTITIONS = 3
PER_PARTITION = 20
BATCH = 7  # max_poll_records: polls then often return two partitions at once (e.g. 6 + 1)
_POLL_INTERVAL_MS = 300  # max_poll_interval_ms of the member that is slow on one record
_SLOW_RECORD = 0.7  # seconds that member spends on that record


class _Crash(Exception):
    """Raised by process() on purpose: the member crashes here."""


def _problem(expected: str, got: str, hint: str) -> dict[str, str]:
    return {"expected": expected, "got": got, "hint": hint}


class _Group:
    """A broker with one filled topic, and consumers of group "g" running the student's loop."""

    def __init__(self, impl: str) -> None:
        from pcmodel.topics import Broker, TopicPartition

        self.consume = load_impl(impl, "consume").consume
        self.broker = Broker()
        self.broker.create_topic(TOPIC, PARTITIONS)
        self.tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        for p in range(PARTITIONS):
            records = [(None, f"{p}-{i}".encode()) for i in range(PER_PARTITION)]
            self.broker.append(TOPIC, p, records)
        self.all = {(p, i) for p in range(PARTITIONS) for i in range(PER_PARTITION)}
        self.lock = threading.Lock()
        self.processed: list[tuple[str, int, int]] = []  # (member, partition, offset)
        self.crew = Crew(None)
        self.consumers: list[Any] = []
        self.raised: dict[str, BaseException] = {}
        self.crashed = False  # process() raised on purpose

    def member(self, **extra: Any) -> Any:
        from pcmodel.topics import KafkaConsumer

        consumer = KafkaConsumer(TOPIC, broker=self.broker, group_id="g",
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 max_poll_records=BATCH, fetch_max_wait_ms=20, **extra)
        self.consumers.append(consumer)
        return consumer

    def seen(self) -> set[tuple[int, int]]:
        with self.lock:
            return {(p, o) for _, p, o in self.processed}

    def run(self, name: str, consumer: Any, crash_at: int | None = None,
            stall_at: int | None = None) -> Worker:
        count = [0]

        def process(record: Any) -> None:
            count[0] += 1
            if crash_at is not None and count[0] == crash_at:
                self.crashed = True
                raise _Crash(f"{name} crashed processing {record.partition}:{record.offset}")
            if stall_at is not None and count[0] == stall_at:
                # Longer than max_poll_interval_ms: the group moves on without this member,
                # so its next commit belongs to an old generation and fails.
                threading.Event().wait(_SLOW_RECORD)
            with self.lock:
                self.processed.append((name, record.partition, record.offset))
            self.crew.tick()

        def body(w: Worker) -> None:
            w.step("consume(consumer, process, should_stop)")
            try:
                self.consume(consumer, process, lambda: self.seen() >= self.all)
            except BaseException as exc:  # noqa: BLE001 - what consume raised is the finding
                self.raised[name] = exc
            w.finished()

        return self.crew.start(name, body)

    def committed(self) -> dict[int, int]:
        offsets = self.broker.committed("g", self.tps)
        return {tp.partition: (om.offset if om is not None else 0) for tp, om in offsets.items()}

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
        "crashed": shape.bool,
        "processed": shape.list_of(shape.list_of(shape.plain)),
        "committed": shape.list_of(shape.int),
    }

    def __init__(self, impl: str) -> None:
        self.group = _Group(impl)
        self.members: dict[str, Any] = {}
        self.workers: dict[str, Worker] = {}

    def run(self, name: str, crash_at: int | None = None, stall_at: int | None = None,
            slow: bool = False) -> None:
        """A new member ``name`` of the group runs the student's loop in a worker thread."""
        extra = {"max_poll_interval_ms": _POLL_INTERVAL_MS} if slow else {}
        self.members[name] = self.group.member(**extra)
        self.workers[name] = self.group.run(name, self.members[name], crash_at, stall_at)

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

    def processed(self) -> list[list[Any]]:
        with self.group.lock:
            return [list(entry) for entry in self.group.processed]

    def committed(self) -> list[int]:
        """The group's committed offset of each partition (0 where none)."""
        offsets = self.group.committed()
        return [offsets[p] for p in range(PARTITIONS)]

    def close_member(self, name: str) -> None:
        self.members[name].close(autocommit=False)

    def close(self) -> None:
        self.group.close()


# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------

ALL = {(p, i) for p in range(PARTITIONS) for i in range(PER_PARTITION)}


def _records(h: Any) -> list[tuple[str, int, int]]:
    processed = h.processed()
    out = []
    for entry in processed:
        member, p, o = entry
        if not (isinstance(member, str) and (p, o) in ALL):
            raise ValueError("a processed record that is not in the topic")
        out.append((member, p, o))
    return out


def _stuck(h: Any, names: list[str]) -> dict[str, str] | None:
    seen = h.settle(names)
    if seen["stuck"]:
        return _problem("consume() to return once should_stop() is true",
                        f"{', '.join(seen['stuck'])} still running, {seen['missing']} records "
                        "never processed",
                        "check should_stop() after every poll, and keep polling until it is true")
    if seen["failed"]:
        return _problem("consume() to run", seen["failed"][0], "")
    return None


def _everything(h: Any) -> dict[str, str] | None:
    h.run("member A")
    found = _stuck(h, ["member A"])
    if found:
        return found
    raised = h.raised()
    if "member A" in raised:
        return _problem("consume() to return normally",
                        f"it raised {raised['member A']['repr']}", "")
    processed = _records(h)
    counts = Counter((p, o) for _, p, o in processed)
    twice = sorted(r for r, n in counts.items() if n > 1)
    if twice or set(counts) != ALL:
        return _problem(f"each of the {len(ALL)} records processed once",
                        f"missing {sorted(ALL - set(counts))[:4]}, twice {twice[:4]}",
                        "process every record of every partition in each batch poll() "
                        "returns")
    last: dict[int, int] = {}
    for _, p, o in processed:
        if last.get(p, -1) > o:
            return _problem("each partition's records processed in offset order",
                            f"partition {p}: offset {o} after {last[p]}",
                            "process each partition's list in order")
        last[p] = o
    return None


def _commits(h: Any) -> dict[str, str] | None:
    h.run("member A")
    found = _stuck(h, ["member A"])
    if found:
        return found
    committed = h.committed()
    if len(committed) != PARTITIONS:
        raise ValueError("not one committed offset per partition")
    if any(offset != PER_PARTITION for offset in committed):
        return _problem(
            f"the group's committed offsets to reach the end ({PER_PARTITION}) of each "
            "partition when consume() returns",
            f"committed {dict(enumerate(committed))}",
            "call consumer.commit() after processing each batch (auto-commit is off)",
        )
    return None


def _crash(h: Any) -> dict[str, str] | None:
    h.run("member A", 23)
    found = _stuck(h, ["member A"])
    if found and h.crashed():
        return _problem(
            "the exception raised by process() to propagate out of consume() (a crash)",
            "process() raised on the 23rd record, but consume() went on without it: the "
            "record was dropped",
            "do not catch exceptions from process()",
        )
    if found:
        return found
    raised = h.raised()
    if not raised.get("member A", {}).get("crash"):
        return _problem(
            "the exception raised by process() to propagate out of consume() (a crash)",
            "consume() " + ("returned normally" if "member A" not in raised
                            else f"raised {raised['member A']['repr']}"),
            "do not catch exceptions from process(): a record that failed must not be "
            "committed as done",
        )
    committed = h.committed()
    if len(committed) != PARTITIONS:
        raise ValueError("not one committed offset per partition")
    done = {(p, o) for _, p, o in _records(h)}
    # A commit past the end passes records that were never there: the first one counts.
    skipped = [(p, o) for p in range(PARTITIONS)
               for o in range(min(committed[p], PER_PARTITION + 1)) if (p, o) not in done]
    if skipped:
        return _problem(
            "committed offsets never to pass a record that was not processed",
            f"after the crash the group committed {dict(enumerate(committed))}, but records "
            f"{skipped[:4]} were never processed: they are lost",
            "commit only after processing the whole batch, never before",
        )
    h.close_member("member A")  # the crashed member is gone; its partitions move
    h.run("member B")
    found = _stuck(h, ["member B"])
    if found:
        return found
    processed = _records(h)
    a = Counter((p, o) for m, p, o in processed if m == "member A")
    b = Counter((p, o) for m, p, o in processed if m == "member B")
    lost = sorted(ALL - set(a) - set(b))
    if lost:
        return _problem("every record processed by member A or by its successor B",
                        f"lost: {lost[:5]}", "commit after processing, not before")
    again = sorted(set(a) & set(b))
    if len(again) > BATCH:
        return _problem(
            f"only the uncommitted batch (at most {BATCH} records) processed twice",
            f"{len(again)} records processed again after the crash, e.g. {again[:4]}",
            "commit after every batch, not only at the end",
        )
    return None


def _rebalance(h: Any) -> dict[str, str] | None:
    h.run("member A", None, BATCH + 2, True)
    if not h.wait_for(BATCH):
        return _stuck(h, ["member A"]) or _problem(
            "member A to process records", f"it processed fewer than {BATCH}", "")
    h.run("member B")
    found = _stuck(h, ["member A", "member B"])
    if found:
        return found
    raised = h.raised()
    if raised:
        name = sorted(raised)[0]
        return _problem(
            "both members to keep consuming through the rebalance",
            f"{name}'s consume() raised {raised[name]['repr']}",
            "a commit after the group rebalanced without this member (it was too slow, "
            "past max_poll_interval_ms) raises CommitFailedError: catch it and keep "
            "polling; the partition's new owner re-reads from the last commit",
        )
    lost = sorted(ALL - {(p, o) for _, p, o in _records(h)})
    if lost:
        return _problem("every record processed by one member or the other",
                        f"lost: {lost[:5]}", "commit after processing, not before")
    return None


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


_CHECKS = {"everything": _everything, "commits": _commits, "crash": _crash,
           "rebalance": _rebalance}


def check(impl: str, what: str) -> None:
    """Run one delivery property ``what`` (everything, commits, crash, rebalance): observed in
    an isolated child, judged here."""
    fail_on(judge(_CHECKS[what], partial(Deliveries, impl), time_limit=40))
