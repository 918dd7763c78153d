"""A transactional KafkaProducer: the Java client's states, what each call needs, commit and
abort, fencing, timeouts, failed batches and the epoch bump that follows them.

Records are read back from the broker with ``fetch(isolation_level=...)`` and
``visible_records``, as a consumer reads them, so that these tests depend on the producer only.
"""

from __future__ import annotations

import threading
import time

import pytest

from pcmodel.topics.broker import Broker
from pcmodel.topics.errors import (
    IllegalStateError,
    InvalidProducerEpochError,
    InvalidProducerIdMappingError,
    KafkaConfigurationError,
    MessageSizeTooLargeError,
    ProducerFencedError,
    TransactionAbortedError,
)
from pcmodel.topics.log_transactions import ControlRecord, visible_records
from pcmodel.topics.producer import KafkaProducer
from pcmodel.topics.structs import TopicPartition
from tests.topics.conftest import WallClock, wait_until

pytestmark = pytest.mark.timeout(60)

T0 = TopicPartition("t", 0)
T1 = TopicPartition("t", 1)


@pytest.fixture
def broker():
    b = Broker()
    b.create_topic("t", 2)
    yield b
    b.close()


@pytest.fixture
def make_producer(broker):
    """``make_producer(**config)``: a producer on ``broker``, closed at teardown."""
    made = []

    def make(**config):
        producer = KafkaProducer(broker=config.pop("broker", broker), **config)
        made.append(producer)
        return producer

    yield make
    for producer in made:
        producer.close()


def read(broker, tp, level="read_committed"):
    """The values a consumer at ``level`` is handed from ``tp``, from offset 0."""
    result = broker.fetch({tp: 0}, isolation_level=level)[tp]
    records = visible_records(result.records, result.transactional_batches,
                              result.aborted_transactions or (), level == "read_committed")
    return [r.value for r in records]


def markers(broker, tp):
    """The COMMIT (True) and ABORT (False) markers of ``tp``, in order."""
    return [r.commit for r in broker.fetch({tp: 0})[tp].records if isinstance(r, ControlRecord)]


def transactional(make_producer, tid="tx", **config):
    producer = make_producer(transactional_id=tid, **config)
    producer.init_transactions()
    return producer


# --- configuration -------------------------------------------------------------------------


def test_a_transactional_id_implies_idempotence_and_refuses_to_go_without_it(make_producer):
    producer = make_producer(transactional_id="tx")
    assert producer.config["enable_idempotence"] is True
    assert make_producer(enable_idempotence=False).config["enable_idempotence"] is False
    with pytest.raises(KafkaConfigurationError, match="needs idempotence"):
        make_producer(transactional_id="tx", enable_idempotence=False)
    with pytest.raises(KafkaConfigurationError, match="acks='all'"):
        make_producer(transactional_id="tx", acks=1)


def test_transaction_timeout_is_given_to_the_coordinator(broker, make_producer):
    transactional(make_producer, transaction_timeout_ms=12_345)
    assert broker.describe_transactions(["tx"])["tx"].timeout_ms == 12_345


# --- the states: what may be called when ---------------------------------------------------


def test_every_call_before_init_transactions_says_to_call_it(make_producer):
    producer = make_producer(transactional_id="tx")
    for call in (lambda: producer.send("t", b"v"), producer.begin_transaction,
                 producer.commit_transaction, producer.abort_transaction,
                 lambda: producer.send_offsets_to_transaction({T0: 1}, "g")):
        with pytest.raises(IllegalStateError, match=r"call init_transactions\(\) first"):
            call()


def test_outside_a_transaction_sends_and_ends_say_to_begin_one(make_producer):
    producer = transactional(make_producer)
    for call in (lambda: producer.send("t", b"v"), producer.commit_transaction,
                 producer.abort_transaction,
                 lambda: producer.send_offsets_to_transaction({T0: 1}, "g")):
        with pytest.raises(IllegalStateError, match=r"call begin_transaction\(\)"):
            call()
    with pytest.raises(IllegalStateError, match="READY"):
        producer.init_transactions()  # once only, as in the Java client


def test_begin_twice_says_a_transaction_is_open(make_producer):
    producer = transactional(make_producer)
    producer.begin_transaction()
    with pytest.raises(IllegalStateError, match=r"a transaction is open.*commit_transaction"):
        producer.begin_transaction()


def test_a_plain_producer_has_no_transactional_calls(make_producer):
    producer = make_producer()
    for call in (producer.init_transactions, producer.begin_transaction,
                 producer.commit_transaction, producer.abort_transaction):
        with pytest.raises(IllegalStateError, match="transactional_id"):
            call()


def test_a_transaction_with_nothing_in_it_commits_and_aborts(broker, make_producer):
    producer = transactional(make_producer)
    producer.begin_transaction()
    producer.commit_transaction()
    producer.begin_transaction()
    producer.abort_transaction()
    assert markers(broker, T0) == []  # the coordinator never heard of them
    producer.begin_transaction()
    producer.send("t", b"v", partition=0)
    producer.commit_transaction()
    assert read(broker, T0) == [b"v"]


# --- commit and abort ----------------------------------------------------------------------


def test_commit_sends_lingering_records_and_makes_them_visible_at_once(broker, make_producer):
    producer = transactional(make_producer, linger_ms=600_000)
    producer.begin_transaction()
    futures = [producer.send("t", b"%d" % i, partition=i % 2) for i in range(6)]
    assert not any(f.is_done for f in futures)  # lingering: commit must not wait for linger
    producer.commit_transaction()
    assert all(f.succeeded() for f in futures)
    assert read(broker, T0) == [b"0", b"2", b"4"] and read(broker, T1) == [b"1", b"3", b"5"]
    assert markers(broker, T0) == markers(broker, T1) == [True]
    assert broker.describe_transactions(["tx"])["tx"].state == "CompleteCommit"


def test_abort_fails_unsent_records_and_hides_sent_ones(broker, make_producer):
    producer = transactional(make_producer, linger_ms=600_000)
    producer.begin_transaction()
    sent = producer.send("t", b"sent", partition=0)
    producer.flush()
    unsent = [producer.send("t", b"unsent-%d" % i, partition=1) for i in range(3)]
    producer.abort_transaction()
    assert sent.succeeded()
    for future in unsent:
        with pytest.raises(TransactionAbortedError):
            future.get(timeout=5)
    assert read(broker, T0) == [] and read(broker, T0, "read_uncommitted") == [b"sent"]
    assert read(broker, T1, "read_uncommitted") == []  # never sent at all
    assert markers(broker, T0) == [False]
    # The producer goes on: the next transaction commits.
    producer.begin_transaction()
    producer.send("t", b"next", partition=0)
    producer.commit_transaction()
    assert read(broker, T0) == [b"next"]


def test_records_sent_before_commit_are_in_it_even_from_other_threads(broker, make_producer):
    producer = transactional(make_producer, linger_ms=5)
    producer.begin_transaction()
    start = threading.Barrier(5)
    futures: list = []
    lock = threading.Lock()

    def sender(n):
        start.wait()
        for i in range(200):
            future = producer.send("t", b"%d-%d" % (n, i), partition=n % 2)
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    producer.commit_transaction()
    assert len(futures) == 800 and all(f.succeeded() for f in futures)
    assert len(read(broker, T0)) + len(read(broker, T1)) == 800


def test_a_send_that_races_a_commit_is_in_the_transaction_or_refused(broker, make_producer):
    producer = transactional(make_producer)

    def race(go, outcomes, n):
        go.wait()
        try:
            outcomes.append(producer.send("t", b"r%d" % n, partition=0))
        except IllegalStateError as exc:
            outcomes.append(exc)

    for n in range(20):
        producer.begin_transaction()
        go, outcomes = threading.Barrier(2), []
        thread = threading.Thread(target=race, args=(go, outcomes, n))
        thread.start()
        go.wait()
        producer.commit_transaction()
        thread.join()
        (outcome,) = outcomes
        if isinstance(outcome, IllegalStateError):
            assert "COMMITTING_TRANSACTION" in str(outcome) or "READY" in str(outcome)
        else:  # let in before the commit closed the door: committed with it
            assert outcome.succeeded()
    committed = read(broker, T0)
    assert committed == read(broker, T0, "read_uncommitted")  # nothing left behind, unmarked
    assert len(committed) == len(set(committed))


class HoldingPartitioner:
    """Kafka's custom partitioner shape, always partition 0; while ``hold`` is set, a record
    that opens a new batch waits in ``on_new_batch`` (inside ``send()``, after its state check)
    until ``release`` is set."""

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    def partition(self, topic, key, key_bytes, value, value_bytes, cluster):
        return 0

    def on_new_batch(self, topic, cluster, prev_partition):
        if self.hold.is_set():
            self.entered.set()
            assert self.release.wait(30)


def test_a_commit_waits_for_a_send_under_way_and_commits_its_record(broker, make_producer):
    partitioner = HoldingPartitioner()
    producer = transactional(make_producer, partitioner=partitioner)
    producer.begin_transaction()
    partitioner.hold.set()
    held = []
    sender = threading.Thread(target=lambda: held.append(producer.send("t", b"held")))
    sender.start()
    assert partitioner.entered.wait(30)  # the send() is under way, its record not queued yet
    committer = threading.Thread(target=producer.commit_transaction)
    committer.start()
    wait_until(lambda: producer._transaction_manager.state.name == "COMMITTING_TRANSACTION")
    with pytest.raises(IllegalStateError, match="COMMITTING_TRANSACTION"):
        producer.send("t", b"too late")  # the door is closed to new sends...
    partitioner.release.set()  # ...and the one under way finishes, then the commit
    sender.join(30)
    committer.join(30)
    assert held[0].succeeded()
    assert read(broker, T0) == [b"held"]
    assert broker.describe_transactions(["tx"])["tx"].state == "CompleteCommit"


# --- fencing -------------------------------------------------------------------------------


def test_a_new_instance_fences_the_old_one_and_aborts_its_transaction(broker, make_producer):
    old = transactional(make_producer)
    old.begin_transaction()
    old.send("t", b"zombie", partition=0)
    old.flush()
    new = transactional(make_producer)  # the same transactional id
    assert markers(broker, T0) == [False]  # init_transactions() aborted what the old one left
    with pytest.raises(ProducerFencedError):
        old.commit_transaction()
    # Fatal: every later call raises it, whatever it is.
    for call in (old.abort_transaction, old.begin_transaction, old.init_transactions,
                 lambda: old.send("t", b"more", partition=0), old.commit_transaction):
        with pytest.raises(ProducerFencedError, match="close"):
            call()
    old.close()  # still works
    new.begin_transaction()
    new.send("t", b"new", partition=0)
    new.commit_transaction()
    assert read(broker, T0) == [b"new"]
    assert read(broker, T0, "read_uncommitted") == [b"zombie", b"new"]


def test_an_append_with_an_old_epoch_is_fatal_as_fencing(broker, make_producer):
    old = transactional(make_producer)
    old.begin_transaction()
    old.send("t", b"first", partition=0).get(timeout=5)  # partition 0 is in the transaction
    transactional(make_producer)
    refused = old.send("t", b"second", partition=0)  # appended with the old epoch
    with pytest.raises(InvalidProducerEpochError):
        refused.get(timeout=5)
    with pytest.raises(ProducerFencedError, match="an append was refused"):
        old.send("t", b"third", partition=0)
    with pytest.raises(ProducerFencedError):
        old.commit_transaction()


def test_a_transaction_that_outlives_its_timeout_is_aborted_and_the_producer_fenced(
        make_producer):
    clock = WallClock(time.time_ns() // 1_000_000)  # records are stamped with the real time
    broker = Broker(timestamp_clock=clock,
                    transaction_abort_timed_out_transaction_cleanup_interval_ms=None)
    try:
        broker.create_topic("t", 1)
        producer = transactional(make_producer, broker=broker, transaction_timeout_ms=1000)
        producer.begin_transaction()
        producer.send("t", b"late", partition=0).get(timeout=5)
        assert broker.abort_timed_out_transactions(clock.now + 999) == []
        assert broker.abort_timed_out_transactions(clock.now + 1001) == ["tx"]
        assert markers(broker, T0) == [False]
        with pytest.raises(ProducerFencedError):
            producer.commit_transaction()
        with pytest.raises(ProducerFencedError):
            producer.begin_transaction()
        assert read(broker, T0) == []
        producer.close()
    finally:
        broker.close()


# --- failed batches: abortable ------------------------------------------------------------


def test_a_failed_batch_makes_the_transaction_abortable(broker, make_producer):
    broker.create_topic("small", 1, configs={"max.message.bytes": "200"})
    producer = transactional(make_producer)
    producer.begin_transaction()
    ok = producer.send("t", b"fine", partition=0)
    too_big = producer.send("small", b"x" * 500, partition=0)
    with pytest.raises(MessageSizeTooLargeError):
        too_big.get(timeout=5)
    with pytest.raises(MessageSizeTooLargeError, match=r"call abort_transaction\(\)"):
        producer.commit_transaction()
    for call in (producer.begin_transaction, lambda: producer.send("t", b"more")):
        with pytest.raises(MessageSizeTooLargeError, match=r"abort_transaction\(\)"):
            call()
    producer.abort_transaction()
    assert ok.succeeded() and read(broker, T0) == []
    assert markers(broker, T0) == [False]


def test_after_a_numbered_batch_failed_the_abort_bumps_the_epoch(broker, make_producer):
    broker.create_topic("small", 1, configs={"max.message.bytes": "200"})
    small = TopicPartition("small", 0)
    producer = transactional(make_producer)
    epoch = broker.describe_transactions(["tx"])["tx"].producer_epoch
    producer.begin_transaction()
    producer.send("small", b"ok", partition=0).get(timeout=5)
    with pytest.raises(MessageSizeTooLargeError):
        producer.send("small", b"x" * 500, partition=0).get(timeout=5)
    producer.abort_transaction()
    # The failed batch's sequence numbers are a gap the partition would refuse for ever;
    # with the epoch bumped (KIP-360) the producer numbers from 0 again and goes on.
    assert broker.describe_transactions(["tx"])["tx"].producer_epoch == epoch + 1
    producer.begin_transaction()
    producer.send("small", b"after", partition=0).get(timeout=5)
    producer.commit_transaction()
    assert read(broker, small) == [b"after"]


@pytest.mark.parametrize("first_call", ["send", "send_offsets"])
def test_after_the_coordinator_forgot_the_id_the_abort_gets_a_new_producer_id(
        broker, make_producer, first_call):
    producer = transactional(make_producer)
    producer.begin_transaction()
    producer.send("t", b"before", partition=0).get(timeout=5)
    producer.commit_transaction()
    old = broker.describe_transactions(["tx"])["tx"]
    # Idle for longer than transactional.id.expiration.ms: the coordinator forgets the id.
    # Idle counts from the id's last call (the commit, some ms after the start): a minute on.
    assert broker.expire_transactional_ids(old.start_time_ms + 604_800_000 + 60_000) == ["tx"]
    producer.begin_transaction()
    if first_call == "send":
        with pytest.raises(InvalidProducerIdMappingError):
            producer.send("t", b"lost", partition=0).get(timeout=5)
    else:
        with pytest.raises(InvalidProducerIdMappingError):
            producer.send_offsets_to_transaction({T1: 3}, "g")
    with pytest.raises(InvalidProducerIdMappingError):  # abortable: commit refuses
        producer.commit_transaction()
    producer.abort_transaction()  # no EndTxn (refused); InitProducerId: a new producer id
    new = broker.describe_transactions(["tx"])["tx"]
    assert new.producer_id != old.producer_id and new.producer_epoch == 0
    producer.begin_transaction()
    producer.send("t", b"after", partition=0).get(timeout=5)
    producer.commit_transaction()
    assert read(broker, T0) == [b"before", b"after"]


def test_a_coordinator_that_forgot_an_ongoing_transaction_gets_no_end_txn(broker,
                                                                          make_producer):
    # Kafka's coordinator forgets an ongoing transaction only if its log lost the records (an
    # unclean election); the Java client's abort then skips EndTxn, which would be refused.
    producer = transactional(make_producer)
    producer.begin_transaction()
    producer.send("t", b"kept open", partition=0).get(timeout=5)
    broker._transactions.forget("tx")
    with pytest.raises(InvalidProducerIdMappingError):
        producer.send("t", b"lost", partition=1).get(timeout=5)
    producer.abort_transaction()
    assert broker.describe_transactions(["tx"])["tx"].state == "Empty"  # a new producer id
    producer.begin_transaction()
    producer.send("t", b"after", partition=1).get(timeout=5)
    producer.commit_transaction()
    assert read(broker, T1) == [b"after"]


def test_a_partition_that_cannot_join_the_transaction_fails_its_batch(broker, make_producer):
    broker.create_topic("bounded", 1, retention_policy="block", retention_records=10)
    producer = transactional(make_producer)
    producer.begin_transaction()
    future = producer.send("bounded", b"v", partition=0)
    with pytest.raises(Exception, match="retention_policy='block'"):
        future.get(timeout=5)
    with pytest.raises(Exception, match=r"abort_transaction\(\)"):
        producer.commit_transaction()
    producer.abort_transaction()
    epoch = broker.describe_transactions(["tx"])["tx"].producer_epoch
    assert epoch == 0  # nothing was numbered: no epoch bump needed
    producer.begin_transaction()
    producer.send("t", b"v", partition=0)
    producer.commit_transaction()
    assert read(broker, T0) == [b"v"]


# --- close, and a cluster ------------------------------------------------------------------


def test_close_aborts_an_open_transaction(broker, make_producer):
    producer = transactional(make_producer, linger_ms=600_000)
    producer.begin_transaction()
    producer.send("t", b"sent", partition=0)
    producer.flush()
    unsent = producer.send("t", b"unsent", partition=0)
    producer.close()
    with pytest.raises(TransactionAbortedError):
        unsent.get(timeout=5)
    assert markers(broker, T0) == [False]
    assert broker.describe_transactions(["tx"])["tx"].state == "CompleteAbort"
