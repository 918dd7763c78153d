"""A cluster's listeners and transactions, in raw protocol: FindCoordinator names the leader of
the transactional id's ``__transaction_state`` partition, only that coordinator answers the
transactional requests (NOT_COORDINATOR elsewhere), the partitions' leaders take transactional
batches and serve ``read_committed`` reads up to their last stable offset, and a transaction
carries on at the next coordinator when its coordinator's broker dies."""

from __future__ import annotations

from dataclasses import replace

import pytest
from kafka.protocol.admin.transactions import (
    DescribeTransactionsRequest,
    ListTransactionsRequest,
)
from kafka.protocol.consumer import ListOffsetsRequest
from kafka.protocol.consumer.group import OffsetFetchRequest
from kafka.protocol.metadata import FindCoordinatorRequest, MetadataRequest

from pcmodel.cluster import Cluster
from pcmodel.topics.errors import CoordinatorNotAvailableError
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.node_connection import NodeConnection
from tests.conftest import wait_until
from tests.wire.conftest import (
    FAST,
    RawClient,
    fetch_request,
    fetched_batches,
    produce_request,
    record_batch,
)
from tests.wire.test_transactions import add_offsets, add_partitions, end, init, txn_commit

pytestmark = pytest.mark.timeout(60)

NONE, NOT_LEADER, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR = 0, 6, 15, 16
NOT_ENOUGH_REPLICAS = 19
INVALID_TXN_STATE, UNSTABLE_OFFSET_COMMIT = 48, 88


def raw_to(listeners, broker):
    return RawClient(listeners.addresses[broker])


def find_coordinator(raw, key, key_type=1):
    """FindCoordinator v3 for ``key``, asked until a coordinator is named (the first one for a
    transactional id creates ``__transaction_state``, whose leaders are then elected)."""
    found = []

    def named():
        found[:] = [raw.request(FindCoordinatorRequest[3](key=key, key_type=key_type))]
        assert found[0].error_code in (NONE, COORDINATOR_NOT_AVAILABLE), found[0]
        return found[0].error_code == NONE

    wait_until(named, timeout=30)
    return found[0]


def coordinator_of(served, tid):
    """The broker id FindCoordinator names for ``tid``, asked at broker 0."""
    cluster, listeners = served
    with raw_to(listeners, 0) as raw:
        return find_coordinator(raw, tid).node_id


def coordinator_of_group(served, group):
    """The broker id FindCoordinator names for ``group``, asked at broker 0."""
    _, listeners = served
    with raw_to(listeners, 0) as raw:
        return find_coordinator(raw, group, key_type=0).node_id


def produce(raw, tp, values, ids, sequence=0, tid="tx"):
    batch = record_batch(values, producer=(*ids, sequence), transactional=True)
    response = raw.request(produce_request(tp[0], tp[1], batch, acks=-1, transactional_id=tid))
    return response.responses[0].partition_responses[0]


def fetch(raw, tp, isolation_level):
    response = raw.request(fetch_request({tp: 0}, isolation_level=isolation_level))
    return response.responses[0].partitions[0]


def values(partition_data):
    """The values of a fetched partition's records, markers left out (as consumers do)."""
    return [r.value for b in fetched_batches(partition_data) if not b.is_control_batch
            for r in b]


def latest(raw, tp, isolation_level):
    Topic = ListOffsetsRequest.ListOffsetsTopic  # noqa: N806
    part = raw.request(ListOffsetsRequest[7](
        replica_id=-1, isolation_level=isolation_level, topics=[Topic(name=tp[0], partitions=[
            Topic.ListOffsetsPartition(partition_index=tp[1], current_leader_epoch=-1,
                                       timestamp=-1)])])).topics[0].partitions[0]
    return part.error_code, part.offset


def offset_fetch(raw, group, tp, require_stable=True):
    Group = OffsetFetchRequest.OffsetFetchRequestGroup  # noqa: N806
    part = raw.request(OffsetFetchRequest[8](require_stable=require_stable, groups=[
        Group(group_id=group, topics=[Group.OffsetFetchRequestTopics(
            name=tp[0], partition_indexes=[tp[1]])])])).groups[0].topics[0].partitions[0]
    return part.error_code, part.committed_offset


def internal_topics(listeners, broker):
    with raw_to(listeners, broker) as raw:
        response = raw.request(MetadataRequest[12](topics=None,
                                                   allow_auto_topic_creation=False))
    return {t.name: len(t.partitions) for t in response.topics if t.is_internal}


# --- FindCoordinator, Metadata ---------------------------------------------------------------


def test_every_broker_names_the_leader_of_the_ids_transaction_state_partition(served):
    cluster, listeners = served
    node = coordinator_of(served, "named")
    assert node == cluster.leader("__transaction_state",
                                  cluster.transaction_log().partition_for("named"))
    for broker in range(3):
        with raw_to(listeners, broker) as raw:
            old = find_coordinator(raw, "named")
            assert (old.node_id, old.host, old.port) == (node, *listeners.addresses[node])
            (new,) = raw.request(FindCoordinatorRequest[4](
                key_type=1, coordinator_keys=["named"])).coordinators
            assert (new.key, new.error_code, new.node_id) == ("named", NONE, node)


def test_metadata_lists_the_transaction_log_once_a_transactional_id_created_it():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        assert "__transaction_state" not in internal_topics(listeners, 0)
        with raw_to(listeners, 1) as raw:
            find_coordinator(raw, "first")
        partitions = cluster.transaction_log().partitions
        for broker in range(3):
            assert internal_topics(listeners, broker)["__transaction_state"] == partitions


def test_while_no_broker_coordinates_the_id_clients_hear_coordinator_not_available(
        served, monkeypatch):
    cluster, listeners = served
    coordinator = coordinator_of(served, "leaderless")
    # As while the controller elects a leader for the id's __transaction_state partition:
    # the broker's metadata image (which FindCoordinator reads, as Kafka's reads its
    # metadata cache) has no leader for it, nor has the coordinators' own lookup.
    log = cluster.transaction_log()
    tp = TopicPartition("__transaction_state", log.partition_for("leaderless"))
    real_image = type(cluster).metadata_image

    def image_without_the_leader(self, broker):
        image = real_image(self, broker)
        return image._replace(partitions={**image.partitions,
                                          tp: replace(image.partitions[tp], leader=None)})

    monkeypatch.setattr(type(cluster), "metadata_image", image_without_the_leader)
    monkeypatch.setattr(type(log), "coordinator", lambda log, tid: None)
    with raw_to(listeners, coordinator) as raw:
        response = raw.request(FindCoordinatorRequest[3](key="leaderless", key_type=1))
        assert (response.error_code, response.node_id) == (COORDINATOR_NOT_AVAILABLE, -1)
        assert "__transaction_state" in response.error_message
        assert init(raw, "leaderless").error_code == COORDINATOR_NOT_AVAILABLE


# --- the coordinator's requests --------------------------------------------------------------


def test_only_the_coordinator_answers_the_transactional_requests(served):
    cluster, listeners = served
    node = coordinator_of(served, "only")
    other = (node + 1) % 3
    with raw_to(listeners, other) as elsewhere:
        refused = init(elsewhere, "only")
        assert (refused.error_code, refused.producer_id) == (NOT_COORDINATOR, -1)
    with raw_to(listeners, node) as coordinator:
        response = init(coordinator, "only")
        assert response.error_code == NONE
    ids = (response.producer_id, response.producer_epoch)
    with raw_to(listeners, other) as elsewhere:
        assert add_partitions(elsewhere, ids, {"t": [0]}, tid="only") == {
            ("t", 0): NOT_COORDINATOR}
        assert add_offsets(elsewhere, ids, "g-only", tid="only") == NOT_COORDINATOR
        assert end(elsewhere, ids, committed=True, tid="only") == NOT_COORDINATOR
        (described,) = elsewhere.request(DescribeTransactionsRequest[0](
            transactional_ids=["only"])).transaction_states
        assert described.error_code == NOT_COORDINATOR
        # An idempotent producer's id comes from any broker.
        assert init(elsewhere, None).error_code == NONE
    with raw_to(listeners, node) as coordinator:
        assert add_partitions(coordinator, ids, {"t": [0]}, tid="only") == {("t", 0): NONE}
        (described,) = coordinator.request(DescribeTransactionsRequest[0](
            transactional_ids=["only"])).transaction_states
        assert (described.error_code, described.transaction_state,
                [(t.topic, t.partitions) for t in described.topics]) == (
            NONE, "Ongoing", [("t", [0])])
        assert end(coordinator, ids, committed=False, tid="only") == NONE


def test_each_broker_lists_the_transactional_ids_it_coordinates(served):
    cluster, listeners = served
    wanted = {"listed-a", "listed-b", "listed-c"}
    for tid in wanted:
        with raw_to(listeners, coordinator_of(served, tid)) as raw:
            assert init(raw, tid).error_code == NONE
    listed = {}
    for broker in range(3):
        with raw_to(listeners, broker) as raw:
            response = raw.request(ListTransactionsRequest[1](
                state_filters=[], producer_id_filters=[]))
        assert response.error_code == NONE
        for state in response.transaction_states:
            assert state.transactional_id not in listed, "listed by two brokers"
            listed[state.transactional_id] = broker
    assert {tid: listed[tid] for tid in wanted} == {
        tid: coordinator_of(served, tid) for tid in wanted}


# --- the partitions' leaders ------------------------------------------------------------------


def test_a_transaction_is_read_committed_at_the_partitions_leader(served):
    cluster, listeners = served
    tp = ("t", 1)
    leader = cluster.leader(*tp)
    with raw_to(listeners, coordinator_of(served, "rc")) as coordinator, \
            raw_to(listeners, leader) as at_leader:
        response = init(coordinator, "rc")
        ids = (response.producer_id, response.producer_epoch)
        # Not yet in the transaction: refused, nothing appended.
        assert produce(at_leader, tp, [b"early"], ids, tid="rc").error_code == INVALID_TXN_STATE
        start = fetch(at_leader, tp, 0).high_watermark
        assert add_partitions(coordinator, ids, {"t": [1]}, tid="rc") == {tp: NONE}
        with raw_to(listeners, (leader + 1) % 3) as not_leader:
            assert produce(not_leader, tp, [b"x"], ids, tid="rc").error_code == NOT_LEADER
        assert produce(at_leader, tp, [b"kept"], ids, tid="rc").error_code == NONE
        # The open transaction holds the last stable offset where it began.
        open_read = fetch(at_leader, tp, 1)
        assert (open_read.last_stable_offset, values(open_read)) == (start, [])
        assert open_read.high_watermark == start + 1
        assert latest(at_leader, tp, 1) == (NONE, start)
        assert latest(at_leader, tp, 0) == (NONE, start + 1)
        assert values(fetch(at_leader, tp, 0)) == [b"kept"]
        assert end(coordinator, ids, committed=True, tid="rc") == NONE
        committed = fetch(at_leader, tp, 1)
        assert values(committed) == [b"kept"]
        # The record and its COMMIT marker, both stable.
        assert committed.last_stable_offset == committed.high_watermark == start + 2
        assert latest(at_leader, tp, 1) == (NONE, start + 2)
        # The next transaction is aborted: read_committed skips it, told which it was.
        assert add_partitions(coordinator, ids, {"t": [1]}, tid="rc") == {tp: NONE}
        assert produce(at_leader, tp, [b"dropped"], ids, sequence=1,
                       tid="rc").error_code == NONE
        assert end(coordinator, ids, committed=False, tid="rc") == NONE
        aborted = fetch(at_leader, tp, 1)
        assert [(a.producer_id, a.first_offset) for a in aborted.aborted_transactions] == [
            (ids[0], start + 2)]
        assert values(aborted)[-1] == b"dropped"  # sent: the consumer drops it
        assert aborted.last_stable_offset == aborted.high_watermark == start + 4


def test_a_batch_whose_transaction_cannot_be_verified_now_is_retried(served, monkeypatch):
    cluster, listeners = served
    tp = ("t", 0)
    with raw_to(listeners, coordinator_of(served, "unverified")) as coordinator:
        response = init(coordinator, "unverified")
        ids = (response.producer_id, response.producer_epoch)
        assert add_partitions(coordinator, ids, {"t": [0]}, tid="unverified") == {tp: NONE}

    def cannot_tell(*args):
        raise CoordinatorNotAvailableError("a transaction log partition is being elected")

    # Kafka answers NOT_ENOUGH_REPLICAS, which every producer retries, when the coordinator
    # cannot verify the transaction.
    monkeypatch.setattr(NodeConnection, "_check_in_transaction", cannot_tell)
    with raw_to(listeners, cluster.leader(*tp)) as at_leader:
        part = produce(at_leader, tp, [b"x"], ids, tid="unverified")
        assert part.error_code == NOT_ENOUGH_REPLICAS
        assert "cannot be verified now" in part.error_message
        monkeypatch.undo()
        assert produce(at_leader, tp, [b"x"], ids, tid="unverified").error_code == NONE
    with raw_to(listeners, coordinator_of(served, "unverified")) as coordinator:
        assert end(coordinator, ids, committed=True, tid="unverified") == NONE


def test_offsets_staged_in_a_transaction_are_unstable_until_it_commits(served):
    cluster, listeners = served
    group, tp = "g-staged", ("t", 0)
    group_coordinator = coordinator_of_group(served, group)
    with raw_to(listeners, coordinator_of(served, "staged")) as coordinator, \
            raw_to(listeners, group_coordinator) as at_group:
        response = init(coordinator, "staged")
        ids = (response.producer_id, response.producer_epoch)
        assert add_offsets(coordinator, ids, group, tid="staged") == NONE
        with raw_to(listeners, (group_coordinator + 1) % 3) as elsewhere:
            assert txn_commit(elsewhere, ids, group, {tp: 7}, tid="staged") == {
                tp: NOT_COORDINATOR}
        assert txn_commit(at_group, ids, group, {tp: 7}, tid="staged") == {tp: NONE}
        assert offset_fetch(at_group, group, tp) == (UNSTABLE_OFFSET_COMMIT, -1)
        assert offset_fetch(at_group, group, tp, require_stable=False) == (NONE, -1)
        assert end(coordinator, ids, committed=True, tid="staged") == NONE
        assert offset_fetch(at_group, group, tp) == (NONE, 7)
    assert cluster.connect().committed(group, [TopicPartition(*tp)])[tp].offset == 7


# --- the coordinator dies --------------------------------------------------------------------


def test_a_transaction_carries_on_at_the_next_coordinator():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3)
        served = (cluster, listeners)
        first = coordinator_of(served, "moving")
        with raw_to(listeners, first) as coordinator:
            response = init(coordinator, "moving")
            ids = (response.producer_id, response.producer_epoch)
            assert add_partitions(coordinator, ids, {"t": [0]}, tid="moving") == {
                ("t", 0): NONE}
        leader = cluster.leader("t", 0)
        with raw_to(listeners, leader) as at_leader:
            assert produce(at_leader, ("t", 0), [b"v"], ids, tid="moving").error_code == NONE
        cluster.kill(first)
        survivor = next(b for b in range(3) if b != first)
        with raw_to(listeners, survivor) as raw:
            wait_until(lambda: find_coordinator(raw, "moving").node_id != first, timeout=30)
            second = find_coordinator(raw, "moving").node_id
        with raw_to(listeners, second) as coordinator:
            (described,) = coordinator.request(DescribeTransactionsRequest[0](
                transactional_ids=["moving"])).transaction_states
            assert (described.error_code, described.transaction_state) == (NONE, "Ongoing")
            assert end(coordinator, ids, committed=True, tid="moving") == NONE
        with raw_to(listeners, cluster.leader("t", 0)) as at_leader:
            read = fetch(at_leader, ("t", 0), 1)
            assert values(read) == [b"v"]
            assert read.last_stable_offset == read.high_watermark == 2
