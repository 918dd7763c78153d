"""Consumers in separate processes: a member killed with SIGKILL loses nothing it committed.

The broker runs in its own process; one group member runs in a child process, the survivor in
the test process. The child reports over a pipe what it processed and what it committed, and
waits for a go-ahead after each commit, so the kill lands at a known point: after a commit, with
records still unread on its partitions. The survivor must then receive those partitions after the
session timeout and read on from the child's committed offsets.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection as mpc
import os
import signal
import time

import pytest

from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.coordinator import GroupState
from pcmodel.topics.errors import CommitFailedError
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.remote import BrokerHandle, start_broker_process
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(90)

TOPIC, GROUP, PARTITIONS, RECORDS = "t", "g", 4, 400
# Short enough to keep the test quick, long enough for a loaded CI machine's heartbeats.
SESSION_MS = 2000
CONSUMER = {
    "group_id": GROUP,
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
    "session_timeout_ms": SESSION_MS,
    "heartbeat_interval_ms": 100,
    "fetch_max_wait_ms": 20,
    "max_poll_records": 5,
}


def child_member(handle: BrokerHandle, pipe: mpc.Connection) -> None:
    """Child body: poll, report processed offsets, commit, report, wait for the go-ahead."""
    consumer = KafkaConsumer(TOPIC, broker=handle, client_id="child", **CONSUMER)
    try:
        while True:
            batch = consumer.poll(timeout_ms=50)
            if not batch:
                continue
            offsets = [(tp.partition, r.offset) for tp, records in batch.items() for r in records]
            pipe.send(("processed", offsets))
            try:
                consumer.commit()
            except CommitFailedError:
                # The group rebalanced under us (a slow machine can miss a heartbeat): these
                # records will be delivered again, to us or to the other member. Poll on.
                continue
            pipe.send(("committed", offsets))
            pipe.recv()  # the go-ahead, which never comes: the parent kills us here
            return
    finally:
        consumer.close(autocommit=False)


def drain_reports(pipe: mpc.Connection, reports: list) -> None:
    """Collect what the child has sent so far (stops quietly at EOF: the child is dead)."""
    try:
        while pipe.poll():
            reports.append(pipe.recv())
    except EOFError:
        return


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_killed_consumer_process_loses_nothing_committed(method):
    ctx = multiprocessing.get_context(method)
    broker = start_broker_process(context=ctx)
    remote = broker.connect()
    ours, theirs = ctx.Pipe()
    child = None
    survivor = None
    try:
        remote.create_topic(TOPIC, PARTITIONS)
        survivor = KafkaConsumer(TOPIC, broker=remote, client_id="survivor", **CONSUMER)
        child = ctx.Process(target=child_member, args=(broker.handle, theirs))
        child.start()
        theirs.close()

        # 1. Both members in a stable group, each owning partitions. The survivor keeps polling
        #    (it must, to take part in rebalances); there are no records yet.
        reports: list = []
        deadline = time.monotonic() + 60
        consumed: list[tuple[int, int]] = []

        def poll_survivor() -> None:
            for tp, records in survivor.poll(timeout_ms=20).items():
                consumed.extend((tp.partition, r.offset) for r in records)
            assert time.monotonic() < deadline, f"stuck; child reports: {reports[-3:]}"

        def stable_with_two() -> bool:
            if GROUP not in remote.list_groups():
                return False
            group = remote.describe_group(GROUP)
            return (
                group.state is GroupState.STABLE
                and len(group.members) == 2
                and all(m.assignment for m in group.members)
                and len(survivor.assignment()) not in (0, PARTITIONS)
            )

        while not stable_with_two():
            poll_survivor()
            drain_reports(ours, reports)

        # 2. Records arrive; the child processes one batch, commits it and is killed.
        with KafkaProducer(broker=remote) as producer:
            for i in range(RECORDS):
                producer.send(TOPIC, b"%d" % i, key=b"%d" % (i % 16))
        while not any(kind == "committed" for kind, _ in reports):
            poll_survivor()
            drain_reports(ours, reports)
        os.kill(child.pid, signal.SIGKILL)
        consumed_before_kill = len(consumed)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL
        drain_reports(ours, reports)
        processed = {o for kind, offsets in reports if kind == "processed" for o in offsets}
        committed = {o for kind, offsets in reports if kind == "committed" for o in offsets}
        assert committed, "the child committed nothing before it was killed"

        # 3. After the session timeout the survivor owns every partition and reads to the end.
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        ends = remote.end_offsets(tps)
        while not (
            len(survivor.assignment()) == PARTITIONS
            and all(survivor.position(tp) == ends[tp] for tp in tps)
        ):
            poll_survivor()

        # Nothing lost: every record was processed by the child or consumed by the survivor.
        everything = {(tp.partition, o) for tp in tps for o in range(ends[tp])}
        assert everything <= processed | set(consumed)
        # Nothing the child committed was delivered again when its partitions moved. (Before the
        # kill, a rebalance caused by a slow heartbeat may legitimately have let both members
        # read the same uncommitted records: that is at-least-once, not a loss.)
        assert committed.isdisjoint(consumed[consumed_before_kill:])
        # The dead member is gone from the group.
        group = remote.describe_group(GROUP)
        assert [m.client_id for m in group.members] == ["survivor"]
    finally:
        if survivor is not None:
            survivor.close(autocommit=False)
        if child is not None and child.is_alive():
            child.kill()
            child.join(10)
        ours.close()
        remote.close()
        broker.stop()
