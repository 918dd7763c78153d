"""Graded checks for exercise 06: an at-least-once consumer loop on pcmodel's topics.

The student writes ``consume(consumer, process, should_stop)``. Each workload builds a
:class:`~pcmodel.topics.Broker` in the check's child process, fills a topic, and drives the
student's loop with real :class:`~pcmodel.topics.KafkaConsumer` members of one group: to the end,
into a crash (``process`` raising), and through a rebalance (a second member joining). It then
compares what was processed with what the log holds and what the group committed, which is how
Kafka's own delivery tests reason: committed offsets must never pass an unprocessed record (no
loss), and only records after the last commit may be processed twice.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from pcmodel.grading.buffer_checks import STALL
from pcmodel.grading.checks import CheckFailed, run_check
from pcmodel.grading.crew import Crew, Worker, WorkerState, patience
from pcmodel.grading.probes import load_impl

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


def _stuck(group: _Group, workers: list[Worker]) -> dict[str, str] | None:
    stuck = group.crew.wait(STALL * 2 * patience(), workers)
    if stuck:
        missing = len(group.all - group.seen())
        return _problem("consume() to return once should_stop() is true",
                        f"{', '.join(w.name for w in stuck)} still running, {missing} records "
                        "never processed",
                        "check should_stop() after every poll, and keep polling until it is true")
    failed = [w for w in workers if w.state is WorkerState.FAILED]
    if failed:
        return _problem("consume() to run", failed[0].describe(), "")
    return None


def _everything(impl: str) -> dict[str, str] | None:
    group = _Group(impl)
    try:
        found = _stuck(group, [group.run("member A", group.member())])
        if found:
            return found
        if "member A" in group.raised:
            return _problem("consume() to return normally",
                            f"it raised {group.raised['member A']!r}", "")
        counts = Counter((p, o) for _, p, o in group.processed)
        twice = sorted(r for r, n in counts.items() if n > 1)
        if twice or set(counts) != group.all:
            return _problem(f"each of the {len(group.all)} records processed once",
                            f"missing {sorted(group.all - set(counts))[:4]}, twice {twice[:4]}",
                            "process every record of every partition in each batch poll() "
                            "returns")
        last: dict[int, int] = {}
        for _, p, o in group.processed:
            if last.get(p, -1) > o:
                return _problem("each partition's records processed in offset order",
                                f"partition {p}: offset {o} after {last[p]}",
                                "process each partition's list in order")
            last[p] = o
        return None
    finally:
        group.close()


def _commits(impl: str) -> dict[str, str] | None:
    group = _Group(impl)
    try:
        found = _stuck(group, [group.run("member A", group.member())])
        if found:
            return found
        committed = group.committed()
        if any(committed[p] != PER_PARTITION for p in range(PARTITIONS)):
            return _problem(
                f"the group's committed offsets to reach the end ({PER_PARTITION}) of each "
                "partition when consume() returns",
                f"committed {committed}",
                "call consumer.commit() after processing each batch (auto-commit is off)",
            )
        return None
    finally:
        group.close()


def _crash(impl: str) -> dict[str, str] | None:
    group = _Group(impl)
    try:
        crasher = group.member()
        worker = group.run("member A", crasher, crash_at=23)
        found = _stuck(group, [worker])
        if found and group.crashed:
            return _problem(
                "the exception raised by process() to propagate out of consume() (a crash)",
                "process() raised on the 23rd record, but consume() went on without it: the "
                "record was dropped",
                "do not catch exceptions from process()",
            )
        if found:
            return found
        if not isinstance(group.raised.get("member A"), _Crash):
            return _problem(
                "the exception raised by process() to propagate out of consume() (a crash)",
                "consume() " + ("returned normally" if "member A" not in group.raised
                                else f"raised {group.raised['member A']!r}"),
                "do not catch exceptions from process(): a record that failed must not be "
                "committed as done",
            )
        committed = group.committed()
        done = group.seen()
        skipped = [(p, o) for p in range(PARTITIONS) for o in range(committed[p])
                   if (p, o) not in done]
        if skipped:
            return _problem(
                "committed offsets never to pass a record that was not processed",
                f"after the crash the group committed {committed}, but records {skipped[:4]} "
                "were never processed: they are lost",
                "commit only after processing the whole batch, never before",
            )
        crasher.close(autocommit=False)  # the crashed member is gone; its partitions move
        survivor = group.run("member B", group.member())
        found = _stuck(group, [survivor])
        if found:
            return found
        a = Counter((p, o) for m, p, o in group.processed if m == "member A")
        b = Counter((p, o) for m, p, o in group.processed if m == "member B")
        lost = sorted(group.all - set(a) - set(b))
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
    finally:
        group.close()


def _rebalance(impl: str) -> dict[str, str] | None:
    group = _Group(impl)
    try:
        slow = group.member(max_poll_interval_ms=_POLL_INTERVAL_MS)
        first = group.run("member A", slow, stall_at=BATCH + 2)
        if not _wait_for(group, BATCH):
            return _stuck(group, [first]) or _problem(
                "member A to process records", f"it processed fewer than {BATCH}", "")
        second = group.run("member B", group.member())
        found = _stuck(group, [first, second])
        if found:
            return found
        if group.raised:
            name, exc = next(iter(group.raised.items()))
            return _problem(
                "both members to keep consuming through the rebalance",
                f"{name}'s consume() raised {exc!r}",
                "a commit after the group rebalanced without this member (it was too slow, "
                "past max_poll_interval_ms) raises CommitFailedError: catch it and keep "
                "polling; the partition's new owner re-reads from the last commit",
            )
        lost = sorted(group.all - group.seen())
        if lost:
            return _problem("every record processed by one member or the other",
                            f"lost: {lost[:5]}", "commit after processing, not before")
        return None
    finally:
        group.close()


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
    """Run one delivery property ``what`` (everything, commits, crash, rebalance) isolated."""
    found = run_check(_CHECKS[what], impl, time_limit=40)
    if found is not None:
        raise CheckFailed.from_problem(found)
