"""Kafka 4's consumer groups (KIP-848) on a cluster's Kafka listeners, request by request:
ConsumerGroupHeartbeat and ConsumerGroupDescribe are answered by the group's coordinator and
NOT_COORDINATOR elsewhere, as Kafka's brokers do; ListGroups, OffsetCommit and DeleteGroups
treat a consumer group as a lone broker does."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import DeleteGroupsRequest, ListGroupsRequest
from kafka.protocol.consumer.group import OffsetCommitRequest
from kafka.protocol.metadata import ApiVersionsRequest

from pcmodel.wire.schemas import ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest
from tests.wire.conftest import RawClient

pytestmark = pytest.mark.timeout(30)

NOT_COORDINATOR, UNSUPPORTED_VERSION, GROUP_ID_NOT_FOUND, STALE_MEMBER_EPOCH = 16, 35, 69, 113


def heartbeat(raw, group, member_id, epoch, owned=None):
    Owned = ConsumerGroupHeartbeatRequest.TopicPartitions
    joining = epoch == 0
    return raw.request(ConsumerGroupHeartbeatRequest[1](
        group_id=group, member_id=member_id, member_epoch=epoch,
        rebalance_timeout_ms=30_000 if joining else -1,
        subscribed_topic_names=["t"] if joining else None,
        topic_partitions=[] if joining else owned and [Owned(topic_id=t, partitions=ps)
                                                       for t, ps in owned]))


def coordinator_and_other(cluster, group):
    coordinator = cluster.connect()._offsets.coordinator(group)
    return coordinator, next(b for b in range(3) if b != coordinator)


def test_every_broker_offers_the_consumer_group_apis(served):
    cluster, listeners = served
    for b in range(3):
        with RawClient(listeners.addresses[b]) as raw:
            versions = {k.api_key: (k.min_version, k.max_version)
                        for k in raw.request(ApiVersionsRequest[3](
                            client_software_name="t", client_software_version="1")).api_keys}
        assert versions[68] == (0, 1) and versions[69] == (0, 1)


def test_the_coordinator_answers_and_the_others_say_not_coordinator(served):
    cluster, listeners = served
    coordinator, other = coordinator_and_other(cluster, "wire-a")
    with RawClient(listeners.addresses[other]) as raw:
        refused = heartbeat(raw, "wire-a", "m1", 0)
        described = raw.request(ConsumerGroupDescribeRequest[1](
            group_ids=["wire-a"], include_authorized_operations=False)).groups[0]
    assert refused.error_code == NOT_COORDINATOR and described.error_code == NOT_COORDINATOR
    with RawClient(listeners.addresses[coordinator]) as raw:
        joined = heartbeat(raw, "wire-a", "m1", 0)
        assert (joined.error_code, joined.member_epoch) == (0, 1)
        topic_id = cluster.connect().topic_ids()["t"]
        assert {(t.topic_id, p) for t in joined.assignment.topic_partitions
                for p in t.partitions} == {(topic_id, 0), (topic_id, 1)}
        described = raw.request(ConsumerGroupDescribeRequest[1](
            group_ids=["wire-a"], include_authorized_operations=False)).groups[0]
        assert (described.error_code, described.group_state, described.group_epoch) == \
            (0, "Stable", 1)
        assert [(m.member_id, m.member_epoch, m.member_type) for m in described.members] == \
            [("m1", 1, 1)]
        listed = raw.request(ListGroupsRequest[5](states_filter=[], types_filter=[])).groups
        assert ("wire-a", "consumer", "Stable") in {
            (g.group_id, g.protocol_type or "", g.group_state) for g in listed} | {
            (g.group_id, g.group_type, g.group_state) for g in listed}
    with RawClient(listeners.addresses[other]) as raw:  # a broker lists what it coordinates
        listed = raw.request(ListGroupsRequest[5](states_filter=[], types_filter=[])).groups
    assert "wire-a" not in {g.group_id for g in listed}


def test_offset_commit_checks_the_member_epoch_and_delete_groups_deletes(served):
    cluster, listeners = served
    coordinator, other = coordinator_and_other(cluster, "wire-b")
    Topic = OffsetCommitRequest[9].OffsetCommitRequestTopic  # noqa: N806

    def commit(raw, epoch):
        return raw.request(OffsetCommitRequest[9](
            group_id="wire-b", generation_id_or_member_epoch=epoch, member_id="m1",
            group_instance_id=None, retention_time_ms=-1, topics=[Topic(name="t", partitions=[
                Topic.OffsetCommitRequestPartition(
                    partition_index=0, committed_offset=3, committed_leader_epoch=-1,
                    committed_metadata="")])])).topics[0].partitions[0].error_code

    with RawClient(listeners.addresses[coordinator]) as raw:
        joined = heartbeat(raw, "wire-b", "m1", 0)
        assert commit(raw, joined.member_epoch + 1) == STALE_MEMBER_EPOCH
        assert commit(raw, joined.member_epoch) == 0
        assert heartbeat(raw, "wire-b", "m1", -1).error_code == 0
        assert raw.request(DeleteGroupsRequest[2](groups_names=["wire-b"])) \
            .results[0].error_code == 0
        described = raw.request(ConsumerGroupDescribeRequest[1](
            group_ids=["wire-b"], include_authorized_operations=False)).groups[0]
    assert described.error_code == GROUP_ID_NOT_FOUND
    assert cluster.connect().committed("wire-b", [("t", 0)])[("t", 0)] is None


def test_a_broker_without_consumer_groups_answers_unsupported_version(served):
    """The heartbeat handler, given a broker that has no consumer groups, says what to do
    instead."""
    from pcmodel.wire.handlers.consumer_groups import HANDLERS
    from pcmodel.wire.listener import KafkaListener

    cluster, listeners = served

    class ClassicOnly:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            if name in ("consumer_group_heartbeat", "describe_consumer_group"):
                raise AttributeError(name)
            return getattr(self._inner, name)

    broker = ClassicOnly(listeners.listener(0).broker)
    with KafkaListener(broker, handlers=HANDLERS | {18: listeners.listener(0).handlers[18]}) \
            as listener, RawClient(listener.address) as raw:
        answer = heartbeat(raw, "wire-c", "m", 0)
    assert answer.error_code == UNSUPPORTED_VERSION
    assert "group.protocol=classic" in answer.error_message
