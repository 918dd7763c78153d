"""Transactions with real clients through pcmodel's listener: kafka-python 3 and confluent-kafka
(librdkafka) producers commit and abort, ``read_committed`` consumers of both libraries see only
what was committed and wait at the last stable offset while a transaction is open,
consume-transform-produce commits a group's offsets only with its transaction, and a second
producer with the same transactional id fences the first, all on a lone broker (on a
replicated cluster: ``test_cluster_transactions_clients``)."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.conftest import wait_until
from tests.interop.transaction_clients import (
    LIBRARIES,
    Consumer,
    TransactionalProducer,
    fenced,
    read_all,
    values,
)

pytest.importorskip("confluent_kafka", reason="needs confluent-kafka (the interop extra)")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def served():
    """A broker and its listener's bootstrap address (a broker per test: transactional ids
    and groups start afresh)."""
    with Broker(group_initial_rebalance_delay_ms=300) as broker, \
            broker.serve_kafka() as listener:
        yield broker, listener


@pytest.mark.parametrize("library", LIBRARIES)
def test_read_committed_sees_committed_records_and_none_of_an_aborted_transaction(served,
                                                                                  library):
    broker, listener = served
    broker.create_topic("t", 2)
    producer = TransactionalProducer(library, listener.bootstrap_servers, "tx")
    try:
        producer.init()
        producer.begin()
        for partition in (0, 1):
            producer.send("t", partition, b"kept-%d" % partition)
        producer.commit()
        producer.begin()
        for partition in (0, 1):
            producer.send("t", partition, b"dropped-%d" % partition)
        producer.flush()
        producer.abort()
    finally:
        producer.close()
    ends = broker.end_offsets([TopicPartition("t", 0), TopicPartition("t", 1)])
    assert ends == {("t", 0): 4, ("t", 1): 4}  # a record and a marker per transaction
    for reader in LIBRARIES:  # each library reads what the other wrote
        committed = read_all(reader, listener.bootstrap_servers, "read_committed", ends)
        assert sorted(values(committed)) == [b"kept-0", b"kept-1"], reader
        uncommitted = read_all(reader, listener.bootstrap_servers, "read_uncommitted", ends)
        assert sorted(values(uncommitted)) == [b"dropped-0", b"dropped-1", b"kept-0",
                                               b"kept-1"], reader
        assert sorted((p, o) for _, p, o, _ in uncommitted) == [(0, 0), (0, 2), (1, 0), (1, 2)]


@pytest.mark.parametrize("library", LIBRARIES)
def test_read_committed_waits_at_the_last_stable_offset(served, library):
    broker, listener = served
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"before-0"), (None, b"before-1")])
    producer = TransactionalProducer(library, listener.bootstrap_servers, "tx")
    consumer = Consumer(library, listener.bootstrap_servers, "read_committed")
    try:
        producer.init()
        producer.begin()
        producer.send("t", 0, b"in-transaction")
        producer.flush()
        broker.append("t", 0, [(None, b"after")])  # behind the open transaction
        consumer.assign([("t", 0)])
        assert values(consumer.read_to({("t", 0): 2})) == [b"before-0", b"before-1"]
        # The consumer now fetches at the last stable offset: the broker answers it nothing,
        # fetch after fetch, while the transaction is open.
        seen = len(listener.statistics().fetches)
        late = []

        def empty_fetches_since() -> int:
            late.extend(consumer.poll())
            return sum(f.records == 0 for f in listener.statistics().fetches[seen:])

        wait_until(lambda: empty_fetches_since() >= 3, timeout=30)
        assert late == [] and consumer.position("t", 0) == 2
        assert read_all("kafka-python", listener.bootstrap_servers, "read_uncommitted",
                     {("t", 0): 4})[-2:] == [("t", 0, 2, b"in-transaction"),
                                             ("t", 0, 3, b"after")]
        producer.commit()
        assert consumer.read_count(2) == [("t", 0, 2, b"in-transaction"), ("t", 0, 3, b"after")]
    finally:
        consumer.close()
        producer.close()


@pytest.mark.parametrize("library", LIBRARIES)
def test_consume_transform_produce_commits_the_offsets_with_the_transaction(served, library):
    broker, listener = served
    broker.create_topic("in", 1)
    broker.create_topic("out", 1)
    broker.append("in", 0, [(None, b"a"), (None, b"b"), (None, b"c")])
    consumer = Consumer(library, listener.bootstrap_servers, "read_committed", group="ctp")
    producer = TransactionalProducer(library, listener.bootstrap_servers, "ctp-tx")
    source = TopicPartition("in", 0)
    try:
        consumer.subscribe(["in"])
        if library == "kafka-python":
            # kafka-python joins a group without waiting for its topics' metadata: a leader
            # whose metadata answer came after the join assigns nothing ("No partition
            # metadata for topic in") and rejoins when it comes. kafka-python 3.0.12 drops the
            # SyncGroup answer of that rejoin when it arrives after poll() returned, and the
            # member then waits for an assignment that never comes. With the metadata loaded
            # first, the first assignment is the right one.
            assert consumer.client.partitions_for_topic("in") == {0}
        consumed = consumer.read_count(3)
        producer.init()
        for attempt in ("aborted", "committed"):
            producer.begin()
            for value in values(consumed):
                producer.send("out", 0, value.upper())
            producer.send_offsets({("in", 0): 3}, consumer)
            # Staged in the transaction, not yet the group's.
            assert broker.committed("ctp", [source]) == {source: None}
            if attempt == "aborted":
                producer.flush()  # in the log, to be aborted (else the client drops them)
                producer.abort()
                assert broker.committed("ctp", [source]) == {source: None}
            else:
                producer.commit()
                assert broker.committed("ctp", [source]) == {
                    source: OffsetAndMetadata(3, "")}
    finally:
        producer.close()
        consumer.close()
    ends = broker.end_offsets([TopicPartition("out", 0)])
    # Each attempt wrote three records and a marker: only the committed ones are read.
    assert ends == {("out", 0): 8}
    for reader in LIBRARIES:
        out = read_all(reader, listener.bootstrap_servers, "read_committed", ends)
        assert [(o, v) for _, _, o, v in out] == [(4, b"A"), (5, b"B"), (6, b"C")], reader


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_second_producer_with_the_same_transactional_id_fences_the_first(served, library):
    broker, listener = served
    broker.create_topic("t", 1)
    zombie = TransactionalProducer(library, listener.bootstrap_servers, "same")
    successor = TransactionalProducer(library, listener.bootstrap_servers, "same")
    try:
        zombie.init()
        zombie.begin()
        zombie.send("t", 0, b"from-the-zombie")
        zombie.flush()
        successor.init()  # aborts what the zombie left open, and fences it
        with fenced(library):
            zombie.commit()
        successor.begin()
        successor.send("t", 0, b"from-the-successor")
        successor.commit()
    finally:
        zombie.close()
        successor.close()
    described = broker.describe_transactions(["same"])["same"]
    assert described.state == "CompleteCommit"
    ends = broker.end_offsets([TopicPartition("t", 0)])
    for reader in LIBRARIES:
        assert values(read_all(reader, listener.bootstrap_servers, "read_committed", ends)) == [
            b"from-the-successor"], reader


def test_kafka_pythons_admin_describes_and_lists_an_open_transaction(served):
    from kafka.admin import KafkaAdminClient

    broker, listener = served
    broker.create_topic("t", 2)
    producer = TransactionalProducer("kafka-python", listener.bootstrap_servers, "admin-tx")
    admin = KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
    try:
        producer.init()
        producer.begin()
        producer.send("t", 1, b"x")
        producer.flush()
        (listing,) = admin.list_transactions()[0]
        assert (listing.transactional_id, listing.state.value) == ("admin-tx", "Ongoing")
        described = admin.describe_transactions(["admin-tx"])["admin-tx"]
        assert (described.state.value, described.producer_id) == ("Ongoing",
                                                                 listing.producer_id)
        assert {(tp.topic, tp.partition) for tp in described.topic_partitions} == {("t", 1)}
        producer.commit()
        (listing,) = admin.list_transactions()[0]
        assert listing.state.value == "CompleteCommit"
    finally:
        admin.close()
        producer.close()
