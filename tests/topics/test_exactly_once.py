"""Exactly once: consume, transform and produce in one transaction, with the consumer's offsets.

A *processor* reads an input topic with a ``read_committed`` consumer in a group, writes one
output record per input record with a transactional producer, and commits the consumer's
offsets in the same transaction (``send_offsets_to_transaction`` with its group metadata). A
processor killed in the middle of a transaction is replaced by a new instance with the same
transactional id (and the same static group member id): the new producer's
``init_transactions()`` aborts what the dead one left open and fences it, and the new consumer
starts from the offsets the last committed transaction stored. A ``read_committed`` reader of
the output then sees every output exactly once, in process and through a broker process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection as mpc
import os
import signal
from collections import Counter
from typing import Any

import pytest

from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.errors import CommitFailedError, IllegalGenerationError, ProducerFencedError
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.remote import start_broker_process
from pcmodel.topics.structs import MemberState, OffsetAndMetadata, TopicPartition
from tests.conftest import wait_until
from tests.topics.conftest import Poller, drain

pytestmark = pytest.mark.timeout(90)

IN, OUT, GROUP, TID = "in", "out", "processors", "processor"
PARTITIONS, RECORDS = 2, 60
IN_TPS = [TopicPartition(IN, p) for p in range(PARTITIONS)]
OUT_TPS = [TopicPartition(OUT, p) for p in range(PARTITIONS)]
PROCESSOR_CONSUMER = {
    "group_id": GROUP,
    # Static: a replacement takes the dead member's place at once, without waiting for its
    # session to time out (how exactly-once applications are deployed).
    "group_instance_id": "processor-0",
    "isolation_level": "read_committed",
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
    "max_poll_records": 7,
    "fetch_max_wait_ms": 20,
    "heartbeat_interval_ms": 50,
    "session_timeout_ms": 10_000,
}
EXPECTED = Counter(b"out-%d" % i for i in range(RECORDS))


def fill_input(broker: Any) -> None:
    """RECORDS plain input records, spread over the input partitions."""
    for p in range(PARTITIONS):
        broker.append(IN, p, [(b"k%d" % i, b"%d" % i) for i in range(RECORDS)
                              if i % PARTITIONS == p])


def start_processor(broker: Any, name: str) -> tuple[KafkaConsumer, KafkaProducer]:
    """One processor instance: its producer first (fencing any older one), then its consumer."""
    producer = KafkaProducer(broker=broker, transactional_id=TID, client_id=name)
    producer.init_transactions()
    consumer = KafkaConsumer(IN, broker=broker, client_id=name, **PROCESSOR_CONSUMER)
    return consumer, producer


def process_once(consumer: KafkaConsumer, producer: KafkaProducer, commit: bool = True) -> int:
    """Process one poll's records in one transaction; return how many. ``commit=False`` leaves
    the transaction open with its outputs in the log and its offsets staged: a crash there."""
    batch = consumer.poll(timeout_ms=50)
    if not batch:
        return 0
    producer.begin_transaction()
    for records in batch.values():
        for record in records:
            producer.send(OUT, b"out-" + record.value, key=record.key)
    offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
    producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
    if commit:
        producer.commit_transaction()
    else:
        producer.flush()
    return sum(len(records) for records in batch.values())


def all_input_committed(broker: Any) -> bool:
    ends = broker.end_offsets(IN_TPS)
    committed = broker.committed(GROUP, IN_TPS)
    return all(committed[tp] is not None and committed[tp].offset == ends[tp] for tp in IN_TPS)


def read_output(broker: Any, level: str) -> Counter:
    """Every output record a reader at ``level`` is handed (all transactions are decided)."""
    reader = KafkaConsumer(broker=broker, isolation_level=level, auto_offset_reset="earliest",
                           fetch_max_wait_ms=20)
    try:
        reader.assign(OUT_TPS)
        ends = reader.end_offsets(OUT_TPS)
        got: list = []

        def at_end() -> bool:
            for records in reader.poll(timeout_ms=20).values():
                got.extend(records)
            return all(reader.position(tp) == ends[tp] for tp in OUT_TPS)

        wait_until(at_end, 30)
        return Counter(r.value for r in got)
    finally:
        reader.close()


def check_exactly_once(broker: Any) -> None:
    assert read_output(broker, "read_committed") == EXPECTED
    # The killed instance's outputs are in the log, aborted: a reader of everything sees them
    # twice, which is what read_committed had to hide.
    uncommitted = read_output(broker, "read_uncommitted")
    assert set(uncommitted) == set(EXPECTED) and sum(uncommitted.values()) > RECORDS


def process_until(consumer: KafkaConsumer, producer: KafkaProducer, count: int) -> None:
    """Process (and commit) until at least ``count`` input records went through."""
    done = [0]

    def enough() -> bool:
        done[0] += process_once(consumer, producer)
        return done[0] >= count

    wait_until(enough, 30)


# --- in process ----------------------------------------------------------------------------


@pytest.fixture
def topics(broker):
    broker.create_topic(IN, PARTITIONS)
    broker.create_topic(OUT, PARTITIONS)
    fill_input(broker)


def test_a_processor_killed_mid_transaction_is_replaced_and_outputs_are_exactly_once(
        broker, topics):
    first_consumer, first_producer = start_processor(broker, "first")
    second = None
    try:
        process_until(first_consumer, first_producer, 20)
        # The crash: outputs written, offsets staged, no commit; the consumer stops as a killed
        # process's would (a static member leaves no LeaveGroup behind).
        wait_until(lambda: process_once(first_consumer, first_producer, commit=False) > 0, 30)
        first_consumer.close(autocommit=False)
        assert broker.describe_transactions([TID])[TID].state == "Ongoing"

        second = start_processor(broker, "second")  # its init aborted the open transaction
        assert broker.describe_transactions([TID])[TID].state == "Empty"
        wait_until(lambda: process_once(*second) >= 0 and all_input_committed(broker), 30)
        # The zombie learns it was replaced at its next call, and can still be closed.
        with pytest.raises(ProducerFencedError):
            first_producer.commit_transaction()
    finally:
        first_producer.close()
        if second is not None:
            second[0].close(autocommit=False)
            second[1].close()
    check_exactly_once(broker)


def test_offsets_sent_with_group_metadata_are_committed_only_with_the_transaction(
        broker, topics, make_consumer):
    producer = KafkaProducer(broker=broker, transactional_id=TID)
    consumer = make_consumer(IN, group_id=GROUP, enable_auto_commit=False,
                             auto_offset_reset="earliest", isolation_level="read_committed")
    try:
        producer.init_transactions()
        records = drain(consumer, 1)
        offsets = {}
        for record in records:
            offsets[TopicPartition(IN, record.partition)] = OffsetAndMetadata(record.offset + 1)
        producer.begin_transaction()
        producer.send(OUT, b"out", partition=0)
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        assert set(broker.committed(GROUP, list(offsets)).values()) == {None}
        producer.commit_transaction()
        assert broker.committed(GROUP, list(offsets)) == offsets
        # An aborted transaction's offsets are dropped.
        producer.begin_transaction()
        producer.send_offsets_to_transaction({tp: OffsetAndMetadata(RECORDS) for tp in IN_TPS},
                                             consumer.group_metadata())
        producer.abort_transaction()
        assert broker.committed(GROUP, list(offsets)) == offsets
    finally:
        producer.close()


def test_offsets_of_a_stale_generation_fail_and_the_transaction_must_abort(
        broker, topics, make_consumer):
    producer = KafkaProducer(broker=broker, transactional_id=TID)
    settings = dict(group_id=GROUP, enable_auto_commit=False, auto_offset_reset="earliest",
                    isolation_level="read_committed")
    first = make_consumer(IN, **settings)
    try:
        producer.init_transactions()
        drain(first, 1)
        stale = first.group_metadata()
        producer.begin_transaction()
        producer.send(OUT, b"out", partition=0)
        # A second member joins: the group rebalances to a new generation.
        second = make_consumer(IN, **settings)
        with Poller(second):
            def rebalanced() -> bool:
                first.poll(timeout_ms=20)
                now = first.group_metadata()
                return now.state == MemberState.STABLE and now.generation_id > stale.generation_id

            wait_until(rebalanced, 30)
        # As the Java client and kafka-python report it: CommitFailedError, the coordinator's
        # ILLEGAL_GENERATION as its cause.
        with pytest.raises(CommitFailedError) as refused:
            producer.send_offsets_to_transaction({IN_TPS[0]: OffsetAndMetadata(1)}, stale)
        assert isinstance(refused.value.__cause__, IllegalGenerationError)
        with pytest.raises(CommitFailedError, match=r"abort_transaction\(\)"):
            producer.commit_transaction()
        producer.abort_transaction()
        assert broker.committed(GROUP, IN_TPS) == {tp: None for tp in IN_TPS}
        # The current generation's metadata is accepted.
        producer.begin_transaction()
        producer.send_offsets_to_transaction({IN_TPS[0]: OffsetAndMetadata(1)},
                                             first.group_metadata())
        producer.commit_transaction()
        assert broker.committed(GROUP, IN_TPS)[IN_TPS[0]] == OffsetAndMetadata(1)
    finally:
        producer.close()


# --- through a broker process, the processor killed with SIGKILL --------------------------


def processor_process(handle: Any, name: str, crash_after: int | None,
                      pipe: mpc.Connection) -> None:
    """Child body. With ``crash_after``: process (committing) that many records, then leave a
    transaction open, report "mid-transaction" and wait to be killed. Without: process until
    the parent says stop, then close."""
    consumer, producer = start_processor(handle, name)
    if crash_after is not None:
        done = 0
        while done < crash_after:
            done += process_once(consumer, producer)
        while not process_once(consumer, producer, commit=False):
            pass
        pipe.send("mid-transaction")
        pipe.recv()  # never answered: the parent kills this process here
        return
    while not pipe.poll():
        process_once(consumer, producer)
    consumer.close(autocommit=False)
    producer.close()
    pipe.send("closed")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_exactly_once_through_a_broker_process_with_a_processor_killed(method):
    ctx = multiprocessing.get_context(method)
    broker = start_broker_process(context=ctx)
    remote = broker.connect()
    children: list = []
    pipes: list = []
    try:
        remote.create_topic(IN, PARTITIONS)
        remote.create_topic(OUT, PARTITIONS)
        fill_input(remote)

        def start(name: str, crash_after: int | None) -> tuple[Any, mpc.Connection]:
            ours, theirs = ctx.Pipe()
            child = ctx.Process(target=processor_process,
                                args=(broker.handle, name, crash_after, theirs))
            child.start()
            theirs.close()
            children.append(child)
            pipes.append(ours)
            return child, ours

        first, first_pipe = start("first", 20)
        assert first_pipe.poll(60), "the first processor never reached its transaction"
        assert first_pipe.recv() == "mid-transaction"
        assert remote.describe_transactions([TID])[TID].state == "Ongoing"
        os.kill(first.pid, signal.SIGKILL)
        first.join(30)
        assert first.exitcode == -signal.SIGKILL

        second, second_pipe = start("second", None)
        wait_until(lambda: all_input_committed(remote), 60)
        second_pipe.send("stop")
        assert second_pipe.poll(30) and second_pipe.recv() == "closed"
        second.join(30)
        assert second.exitcode == 0
        check_exactly_once(remote)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(10)
        for pipe in pipes:
            pipe.close()
        remote.close()
        broker.stop()
