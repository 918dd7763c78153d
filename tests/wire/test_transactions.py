"""The transaction coordinator's APIs through the listener, in raw protocol: InitProducerId with
a transactional id, FindCoordinator for one, AddPartitionsToTxn, AddOffsetsToTxn,
TxnOffsetCommit, EndTxn, DescribeTransactions and ListTransactions, with their errors."""

from __future__ import annotations

import pytest
from kafka.protocol.admin.transactions import (
    DescribeTransactionsRequest,
    ListTransactionsRequest,
)
from kafka.protocol.metadata import ApiVersionsRequest, FindCoordinatorRequest
from kafka.protocol.producer import InitProducerIdRequest
from kafka.protocol.producer.transaction import (
    AddOffsetsToTxnRequest,
    AddPartitionsToTxnRequest,
    EndTxnRequest,
    TxnOffsetCommitRequest,
)

from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition

NONE, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_MEMBER_ID, INVALID_REQUEST = 0, 3, 25, 42
ILLEGAL_GENERATION = 22
INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING = 47, 48, 49
INVALID_TRANSACTION_TIMEOUT, OPERATION_NOT_ATTEMPTED = 50, 55
PRODUCER_FENCED, TRANSACTIONAL_ID_NOT_FOUND = 90, 105
T0 = TopicPartition("t", 0)


def init(raw, tid="tx", *, version=4, producer=(-1, -1), timeout_ms=60_000):
    return raw.request(InitProducerIdRequest[version](
        transactional_id=tid, transaction_timeout_ms=timeout_ms, producer_id=producer[0],
        producer_epoch=producer[1]))


def add_partitions(raw, ids, partitions, *, tid="tx", version=3):
    """AddPartitionsToTxn for ``{topic: [partitions]}``: ``{(topic, partition): code}``."""
    Topic = AddPartitionsToTxnRequest.AddPartitionsToTxnTopic  # noqa: N806
    response = raw.request(AddPartitionsToTxnRequest[version](
        v3_and_below_transactional_id=tid, v3_and_below_producer_id=ids[0],
        v3_and_below_producer_epoch=ids[1],
        v3_and_below_topics=[Topic(name=t, partitions=ps) for t, ps in partitions.items()]))
    return {(t.name, p.partition_index): p.partition_error_code
            for t in response.results_by_topic_v3_and_below for p in t.results_by_partition}


def end(raw, ids, committed, *, tid="tx", version=3):
    return raw.request(EndTxnRequest[version](
        transactional_id=tid, producer_id=ids[0], producer_epoch=ids[1],
        committed=committed)).error_code


def add_offsets(raw, ids, group, *, tid="tx", version=3):
    return raw.request(AddOffsetsToTxnRequest[version](
        transactional_id=tid, producer_id=ids[0], producer_epoch=ids[1],
        group_id=group)).error_code


def txn_commit(raw, ids, group, offsets, *, tid="tx", version=3, member=("", -1, None)):
    """TxnOffsetCommit of ``{(topic, partition): offset}``: ``{(topic, partition): code}``."""
    Topic = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic  # noqa: N806
    by_topic = {}
    for (topic, partition), offset in offsets.items():
        by_topic.setdefault(topic, []).append(Topic.TxnOffsetCommitRequestPartition(
            partition_index=partition, committed_offset=offset, committed_leader_epoch=-1,
            committed_metadata="m"))
    member_id, generation, instance = member
    response = raw.request(TxnOffsetCommitRequest[version](
        transactional_id=tid, group_id=group, producer_id=ids[0], producer_epoch=ids[1],
        generation_id=generation, member_id=member_id, group_instance_id=instance,
        topics=[Topic(name=t, partitions=ps) for t, ps in by_topic.items()]))
    return {(t.name, p.partition_index): p.error_code
            for t in response.topics for p in t.partitions}


def started(raw, broker, tid="tx", partitions=(T0,)):
    """A transactional producer with a transaction holding ``partitions``: its ids."""
    response = init(raw, tid)
    ids = (response.producer_id, response.producer_epoch)
    by_topic = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    assert add_partitions(raw, ids, by_topic, tid=tid) == {tuple(tp): NONE for tp in partitions}
    return ids


# --- ApiVersions, FindCoordinator, InitProducerId ---------------------------------------------


def test_api_versions_advertise_the_transaction_apis_clients_send(raw):
    served = {k.api_key: (k.min_version, k.max_version)
              for k in raw.request(ApiVersionsRequest[3](
                  client_software_name="t", client_software_version="1")).api_keys}
    # InitProducerId, AddPartitionsToTxn (v4+ is the brokers' form), AddOffsetsToTxn, EndTxn,
    # TxnOffsetCommit, DescribeTransactions, ListTransactions.
    assert {key: served[key] for key in (22, 24, 25, 26, 28, 65, 66)} == {
        22: (0, 4), 24: (0, 3), 25: (0, 3), 26: (0, 3), 28: (0, 3), 65: (0, 0), 66: (0, 1)}


@pytest.mark.parametrize("version", [1, 3, 4])
def test_find_coordinator_names_this_broker_for_a_transactional_id(listener, raw, version):
    if version >= 4:
        request = FindCoordinatorRequest[version](key_type=1, coordinator_keys=["a", "b"])
        answers = [(c.key, c.node_id, c.port, c.error_code)
                   for c in raw.request(request).coordinators]
        assert answers == [("a", 0, listener.port, NONE), ("b", 0, listener.port, NONE)]
    else:
        response = raw.request(FindCoordinatorRequest[version](key="a", key_type=1))
        assert (response.error_code, response.node_id, response.host, response.port) == (
            NONE, 0, listener.advertised_host, listener.port)


@pytest.mark.parametrize("key_type", [2, 7, -1])
def test_find_coordinator_of_another_kind_is_invalid_request(raw, key_type):
    response = raw.request(FindCoordinatorRequest[4](key_type=key_type, coordinator_keys=["a"]))
    (answer,) = response.coordinators
    assert (answer.error_code, answer.node_id) == (INVALID_REQUEST, -1)
    assert "unknown coordinator type" in answer.error_message


def test_init_producer_id_gives_the_transactional_id_a_new_epoch_each_time(broker, raw):
    first = init(raw)
    second = init(raw)
    assert (first.error_code, second.error_code) == (NONE, NONE)
    assert second.producer_id == first.producer_id
    assert (first.producer_epoch, second.producer_epoch) == (0, 1)
    assert broker.describe_transactions(["tx"])["tx"].producer_epoch == 1
    other = init(raw, "other")
    assert other.producer_id != first.producer_id


@pytest.mark.parametrize(("version", "fenced"), [(3, INVALID_PRODUCER_EPOCH),
                                                 (4, PRODUCER_FENCED)])
def test_a_bump_from_an_instance_two_takeovers_old_is_fenced(raw, version, fenced):
    first = init(raw)
    init(raw)
    init(raw)  # two newer instances took the id over
    # The first asks to bump its own epoch (KIP-360): it is fenced, in the code its version
    # knows.
    stale = init(raw, version=version, producer=(first.producer_id, first.producer_epoch))
    assert (stale.error_code, stale.producer_id, stale.producer_epoch) == (fenced, -1, -1)


def test_a_bump_from_the_instance_just_taken_over_is_fenced(raw):
    first = init(raw)
    init(raw)  # a newer instance takes the id over
    stale = init(raw, producer=(first.producer_id, first.producer_epoch))
    assert (stale.error_code, stale.producer_id, stale.producer_epoch) == (PRODUCER_FENCED,
                                                                            -1, -1)


@pytest.mark.parametrize(("tid", "producer", "timeout_ms", "code"), [
    ("", (-1, -1), 60_000, INVALID_REQUEST),                  # an empty transactional id
    ("tx", (-1, 3), 60_000, INVALID_REQUEST),                 # an epoch without a producer id
    ("tx", (5, -1), 60_000, INVALID_REQUEST),                 # a producer id without an epoch
    ("tx", (-1, -1), 0, INVALID_TRANSACTION_TIMEOUT),
    ("tx", (-1, -1), 900_001, INVALID_TRANSACTION_TIMEOUT),   # above transaction.max.timeout.ms
    ("tx", (-1, -1), -5, INVALID_TRANSACTION_TIMEOUT),
    ("tx", (7, 0), 60_000, PRODUCER_FENCED),                  # a producer id the id never had
])
def test_init_producer_id_refusals(broker, raw, tid, producer, timeout_ms, code):
    if producer[0] >= 0:
        init(raw)  # the id exists, with another producer id
    response = init(raw, tid, producer=producer, timeout_ms=timeout_ms)
    assert (response.error_code, response.producer_id, response.producer_epoch) == (code, -1, -1)


# --- AddPartitionsToTxn, EndTxn --------------------------------------------------------------


def test_add_partitions_starts_the_transaction(broker, raw):
    broker.create_topic("t", 2)
    ids = started(raw, broker, partitions=(T0, TopicPartition("t", 1)))
    described = broker.describe_transactions(["tx"])["tx"]
    assert (described.state, described.partitions) == ("Ongoing", (T0, TopicPartition("t", 1)))
    assert end(raw, ids, committed=True) == NONE
    assert broker.describe_transactions(["tx"])["tx"].state == "CompleteCommit"


def test_add_partitions_with_a_missing_one_adds_none(broker, raw):
    broker.create_topic("t", 1)
    response = init(raw)
    ids = (response.producer_id, response.producer_epoch)
    codes = add_partitions(raw, ids, {"t": [0, 5, 0], "nope": [0], "bad name!": [1]})
    assert codes == {("t", 0): OPERATION_NOT_ATTEMPTED, ("t", 5): UNKNOWN_TOPIC_OR_PARTITION,
                     ("nope", 0): UNKNOWN_TOPIC_OR_PARTITION,
                     ("bad name!", 1): UNKNOWN_TOPIC_OR_PARTITION}
    described = broker.describe_transactions(["tx"])["tx"]
    assert (described.state, described.partitions) == ("Empty", ())


@pytest.mark.parametrize(("version", "fenced"), [(1, INVALID_PRODUCER_EPOCH),
                                                 (2, PRODUCER_FENCED), (3, PRODUCER_FENCED)])
def test_a_fenced_producer_hears_the_code_its_version_knows(broker, raw, version, fenced):
    broker.create_topic("t", 1)
    old = init(raw)
    init(raw)
    ids = (old.producer_id, old.producer_epoch)
    assert add_partitions(raw, ids, {"t": [0]}, version=version) == {("t", 0): fenced}
    assert add_offsets(raw, ids, "g", version=version) == fenced
    assert end(raw, ids, committed=True, version=version) == fenced
    # TxnOffsetCommit answers a fenced producer INVALID_PRODUCER_EPOCH at every version, as
    # Kafka's verification of it does.
    assert txn_commit(raw, ids, "g", {("t", 0): 1}, version=version) == {
        ("t", 0): INVALID_PRODUCER_EPOCH}


def test_calls_from_a_producer_id_the_transactional_id_does_not_have(broker, raw):
    broker.create_topic("t", 1)
    init(raw)
    stranger = (99, 0)
    assert add_partitions(raw, stranger, {"t": [0]}) == {("t", 0): INVALID_PRODUCER_ID_MAPPING}
    assert add_offsets(raw, stranger, "g") == INVALID_PRODUCER_ID_MAPPING
    assert end(raw, stranger, committed=False) == INVALID_PRODUCER_ID_MAPPING
    assert add_partitions(raw, (0, 0), {"t": [0]}, tid="") == {("t", 0): INVALID_REQUEST}


def test_end_txn_without_a_transaction_is_invalid_txn_state(broker, raw):
    broker.create_topic("t", 1)
    response = init(raw)
    ids = (response.producer_id, response.producer_epoch)
    assert end(raw, ids, committed=True) == INVALID_TXN_STATE
    assert add_partitions(raw, ids, {"t": [0]}) == {("t", 0): NONE}
    assert end(raw, ids, committed=False) == NONE
    assert end(raw, ids, committed=False) == NONE  # a retry of the same call
    assert end(raw, ids, committed=True) == INVALID_TXN_STATE  # it ended the other way


# --- AddOffsetsToTxn, TxnOffsetCommit ---------------------------------------------------------


def test_offsets_staged_in_a_transaction_are_the_groups_only_once_it_commits(broker, raw):
    broker.create_topic("t", 2)
    ids = started(raw, broker)
    assert add_offsets(raw, ids, "g") == NONE
    assert txn_commit(raw, ids, "g", {("t", 0): 4, ("t", 1): 2}) == {("t", 0): NONE,
                                                                       ("t", 1): NONE}
    assert broker.committed("g", [T0]) == {T0: None}
    assert end(raw, ids, committed=True) == NONE
    assert broker.committed("g", [T0, TopicPartition("t", 1)]) == {
        T0: OffsetAndMetadata(4, "m"), TopicPartition("t", 1): OffsetAndMetadata(2, "m")}


def test_offsets_of_an_aborted_transaction_are_dropped(broker, raw):
    broker.create_topic("t", 1)
    ids = started(raw, broker)
    assert add_offsets(raw, ids, "g") == NONE
    assert txn_commit(raw, ids, "g", {("t", 0): 4}) == {("t", 0): NONE}
    assert end(raw, ids, committed=False) == NONE
    assert broker.committed("g", [T0]) == {T0: None}


def test_txn_offset_commit_answers_each_partition(broker, raw):
    broker.create_topic("t", 1)
    ids = started(raw, broker)
    assert add_offsets(raw, ids, "g") == NONE
    codes = txn_commit(raw, ids, "g", {("t", 0): 3, ("t", 9): 1, ("nope", 0): 1})
    assert codes == {("t", 0): NONE, ("t", 9): UNKNOWN_TOPIC_OR_PARTITION,
                     ("nope", 0): UNKNOWN_TOPIC_OR_PARTITION}
    assert txn_commit(raw, ids, "g", {("t", 0): -2}) == {("t", 0): INVALID_REQUEST}
    assert end(raw, ids, committed=True) == NONE
    assert broker.committed("g", [T0]) == {T0: OffsetAndMetadata(3, "m")}


def test_txn_offset_commit_needs_the_group_in_the_transaction(broker, raw):
    broker.create_topic("t", 1)
    ids = started(raw, broker)
    assert txn_commit(raw, ids, "g", {("t", 0): 3}) == {("t", 0): INVALID_TXN_STATE}


def test_txn_offset_commit_checks_the_consumers_membership_from_v3(broker, raw):
    broker.create_topic("t", 1)
    ids = started(raw, broker)
    assert add_offsets(raw, ids, "g") == NONE
    # v3 carries the consumer's member id and generation (KIP-447): a group that does not
    # exist has no generation 4, and one that does has no member "ghost".
    assert txn_commit(raw, ids, "g", {("t", 0): 3}, member=("ghost", 4, None)) == {
        ("t", 0): ILLEGAL_GENERATION}
    join = broker.join_group("g", "", protocols=[("range", b"")], timeout=5)
    assert txn_commit(raw, ids, "g", {("t", 0): 3}, member=("ghost", join.generation, None)) == {
        ("t", 0): UNKNOWN_MEMBER_ID}
    # v2 has no member fields: the same offsets are staged.
    assert txn_commit(raw, ids, "g", {("t", 0): 3}, version=2,
                      member=("ghost", 4, None)) == {("t", 0): NONE}


# --- DescribeTransactions, ListTransactions ----------------------------------------------------


def test_describe_transactions_answers_each_id_asked(broker, raw):
    broker.create_topic("t", 2)
    ids = started(raw, broker, partitions=(TopicPartition("t", 1), T0))
    response = raw.request(DescribeTransactionsRequest[0](
        transactional_ids=["tx", "nope", "", "tx"]))
    answers = [(s.transactional_id, s.error_code, s.transaction_state, s.producer_id,
                s.producer_epoch, s.transaction_timeout_ms,
                [(t.topic, sorted(t.partitions)) for t in s.topics])
               for s in response.transaction_states]
    ongoing = ("tx", NONE, "Ongoing", ids[0], ids[1], 60_000, [("t", [0, 1])])
    assert answers == [ongoing, ("nope", TRANSACTIONAL_ID_NOT_FOUND, "", 0, 0, 0, []),
                       ("", INVALID_REQUEST, "", 0, 0, 0, []), ongoing]
    started_ms = response.transaction_states[0].transaction_start_time_ms
    assert started_ms == broker.describe_transactions(["tx"])["tx"].start_time_ms > 0


def _listed(raw, version=1, **filters):
    filters.setdefault("state_filters", [])
    filters.setdefault("producer_id_filters", [])
    response = raw.request(ListTransactionsRequest[version](**filters))
    return (response.error_code, sorted(response.unknown_state_filters),
            [(s.transactional_id, s.producer_id, s.transaction_state)
             for s in response.transaction_states])


def test_list_transactions_filters_as_kafka_does(broker, raw):
    broker.create_topic("t", 1)
    ongoing = started(raw, broker, "a")
    idle = init(raw, "b").producer_id
    every = [("a", ongoing[0], "Ongoing"), ("b", idle, "Empty")]
    assert _listed(raw, version=0) == (NONE, [], every)
    assert _listed(raw, state_filters=["Ongoing"]) == (NONE, [], every[:1])
    assert _listed(raw, producer_id_filters=[idle, 12345]) == (NONE, [], every[1:])
    # A state Kafka does not know is reported, and matches nothing.
    assert _listed(raw, state_filters=["Bogus"]) == (NONE, ["Bogus"], [])
    assert _listed(raw, state_filters=["Empty", "Bogus"]) == (NONE, ["Bogus"], every[1:])
    # v1: only ids whose last transaction began longer ago than the duration, whatever their
    # state (Kafka's filter): "a" began just now; "b" never began one, which counts as long ago.
    assert _listed(raw, duration_filter=3_600_000) == (NONE, [], every[1:])
    assert _listed(raw, duration_filter=-7) == (NONE, [], every)
