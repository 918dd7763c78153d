"""A cluster's listeners and transactions, in raw protocol: transactional producers are refused
with a code clients treat as fatal, and read_committed reads work (every record is
committed)."""

from __future__ import annotations

import pytest
from kafka.protocol.admin.transactions import (
    DescribeTransactionsRequest,
    ListTransactionsRequest,
)
from kafka.protocol.consumer import ListOffsetsRequest
from kafka.protocol.consumer.group import OffsetFetchRequest
from kafka.protocol.metadata import FindCoordinatorRequest

from pcmodel.cluster import Cluster
from pcmodel.topics.structs import TopicPartition
from tests.conftest import wait_until
from tests.wire.conftest import (
    RawClient,
    fetch_request,
    fetched_records,
    produce_request,
    record_batch,
)
from tests.wire.test_transactions import add_partitions, end, init

pytestmark = pytest.mark.timeout(60)

FAST = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=10)
NONE, INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING = 0, 48, 49
TRANSACTIONAL_ID_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_NOT_FOUND = 53, 105


@pytest.fixture(scope="module")
def served():
    with Cluster(3, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3)
        wait_until(lambda: len(cluster.metadata()[("t", 0)].isr) == 3, timeout=30)
        yield cluster, listeners


@pytest.fixture
def raw(served):
    cluster, listeners = served
    with RawClient(listeners.addresses[cluster.leader("t", 0)]) as client:
        yield client


def test_no_broker_coordinates_a_transactional_id(raw):
    old = raw.request(FindCoordinatorRequest[3](key="tx", key_type=1))
    assert (old.error_code, old.node_id) == (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1)
    assert "a lone Broker supports them" in old.error_message
    (new,) = raw.request(FindCoordinatorRequest[4](key_type=1,
                                                   coordinator_keys=["tx"])).coordinators
    assert (new.key, new.error_code, new.node_id) == ("tx", TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                                      -1)
    group = raw.request(FindCoordinatorRequest[3](key="g", key_type=0))
    assert group.error_code == NONE and group.node_id >= 0


def test_transactional_requests_are_refused(raw):
    response = init(raw, "tx")
    assert (response.error_code, response.producer_id) == (TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                                           -1)
    idempotent = init(raw, None)
    assert idempotent.error_code == NONE and idempotent.producer_id >= 0
    ids = (idempotent.producer_id, idempotent.producer_epoch)
    assert add_partitions(raw, ids, {"t": [0]}) == {("t", 0): INVALID_PRODUCER_ID_MAPPING}
    assert end(raw, ids, committed=True) == INVALID_PRODUCER_ID_MAPPING
    batch = record_batch([b"x"], producer=(*ids, 0), transactional=True)
    part = raw.request(produce_request("t", 0, batch, acks=-1, transactional_id="tx")
                       ).responses[0].partition_responses[0]
    assert part.error_code == INVALID_TXN_STATE
    (described,) = raw.request(DescribeTransactionsRequest[0](
        transactional_ids=["tx"])).transaction_states
    assert described.error_code == TRANSACTIONAL_ID_NOT_FOUND
    listed = raw.request(ListTransactionsRequest[1](state_filters=[], producer_id_filters=[]))
    assert (listed.error_code, listed.transaction_states) == (NONE, [])


def test_read_committed_reads_every_record(served, raw):
    cluster, _ = served
    idempotent = init(raw, None)
    ids = (idempotent.producer_id, idempotent.producer_epoch)
    part = raw.request(produce_request("t", 0, record_batch([b"a", b"b"], producer=(*ids, 0)),
                                       acks=-1)).responses[0].partition_responses[0]
    assert part.error_code == NONE
    end_offset = part.base_offset + 2
    fetched = raw.request(fetch_request({("t", 0): part.base_offset}, isolation_level=1)
                          ).responses[0].partitions[0]
    assert [r.value for r in fetched_records(fetched)] == [b"a", b"b"]
    assert (fetched.high_watermark, fetched.last_stable_offset) == (end_offset, end_offset)
    assert fetched.aborted_transactions == []
    Topic = ListOffsetsRequest.ListOffsetsTopic  # noqa: N806
    latest = raw.request(ListOffsetsRequest[7](
        replica_id=-1, isolation_level=1, topics=[Topic(name="t", partitions=[
            Topic.ListOffsetsPartition(partition_index=0, current_leader_epoch=-1,
                                       timestamp=-1)])])).topics[0].partitions[0]
    assert (latest.error_code, latest.offset) == (NONE, end_offset)
    cluster.connect().commit_offsets("g", -1, "", {TopicPartition("t", 0): 1})
    node = raw.request(FindCoordinatorRequest[3](key="g", key_type=0)).node_id
    Group = OffsetFetchRequest.OffsetFetchRequestGroup  # noqa: N806
    with RawClient(served[1].addresses[node]) as at_coordinator:
        group = at_coordinator.request(OffsetFetchRequest[8](require_stable=True, groups=[
            Group(group_id="g", topics=[Group.OffsetFetchRequestTopics(
                name="t", partition_indexes=[0])])])).groups[0]
    assert [(p.error_code, p.committed_offset) for p in group.topics[0].partitions] == [
        (NONE, 1)]
