"""A Kafka listener per broker of a replicated cluster, spoken to in raw protocol: Metadata from
the controller's state, leader checks (NOT_LEADER_OR_FOLLOWER, leader epochs), acks, kills and
restarts."""

from __future__ import annotations

import socket

import pytest
from kafka.protocol.admin import (
    DeleteRecordsRequest,
    DescribeClusterRequest,
    DescribeGroupsRequest,
    ListGroupsRequest,
)
from kafka.protocol.consumer import ListOffsetsRequest
from kafka.protocol.metadata import FindCoordinatorRequest, MetadataRequest
from kafka.protocol.producer import InitProducerIdRequest

from pcmodel.cluster import Cluster
from pcmodel.cluster.clock import VirtualClock
from pcmodel.topics.errors import IllegalArgumentError, IllegalStateError
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.view import SingleBrokerView, check_leader_epoch
from tests.conftest import wait_until
from tests.wire.conftest import (
    FAST,
    RawClient,
    fetch_request,
    fetched_records,
    produce_request,
    record_batch,
)

OFFSET_OUT_OF_RANGE, NOT_LEADER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS = 1, 6, 7, 19
FENCED_EPOCH, UNKNOWN_EPOCH = 74, 75


@pytest.fixture
def cluster():
    with Cluster(3, **FAST) as c:
        yield c


@pytest.fixture
def listeners(cluster):
    with cluster.serve_kafka() as served:
        yield served


def raw_to(listeners, broker):
    return RawClient(listeners.addresses[broker])


def metadata(listeners, broker, topics=None):
    with raw_to(listeners, broker) as raw:
        if topics is not None:
            topics = [MetadataRequest.MetadataRequestTopic(name=t) for t in topics]
        return raw.request(MetadataRequest[12](topics=topics, allow_auto_topic_creation=False))


def produce(raw, topic, partition, values, *, acks=-1, producer=(-1, -1, -1), timeout_ms=10000):
    response = raw.request(produce_request(topic, partition, record_batch(values,
                                                                          producer=producer),
                                           acks=acks, timeout_ms=timeout_ms))
    return response.responses[0].partition_responses[0]


def fetch(raw, topic, partition, offset, epoch=-1):
    response = raw.request(fetch_request({(topic, partition): offset},
                                         current_leader_epoch=epoch))
    return response.responses[0].partitions[0]


def followers(cluster, topic, partition=0):
    state = cluster.metadata()[(topic, partition)]
    return [b for b in state.replicas if b != state.leader]


def test_metadata_is_the_controllers_state_on_every_broker(cluster, listeners):
    cluster.create_topic("t", 3, replication_factor=2, min_insync_replicas=1)
    wait_until(lambda: all(len(s.isr) == 2 for tp, s in cluster.metadata().items()
                           if tp.topic == "t"))
    expected_brokers = [(b, "127.0.0.1", port) for b, (_, port) in
                        sorted(listeners.addresses.items())]
    for broker in range(3):
        response = metadata(listeners, broker)
        assert [(b.node_id, b.host, b.port) for b in response.brokers] == expected_brokers
        assert response.controller_id in (0, 1, 2)
        topics = {t.name: t for t in response.topics}
        assert topics["__consumer_offsets"].is_internal and not topics["t"].is_internal
        for part in topics["t"].partitions:
            state = cluster.metadata()[("t", part.partition_index)]
            assert part.leader_id == state.leader
            assert part.leader_epoch == state.leader_epoch
            assert part.replica_nodes == list(state.replicas)
            assert sorted(part.isr_nodes) == sorted(state.isr)
            assert part.offline_replicas == []
        # Leaders rotate over the brokers (the controller's placement).
        assert sorted(p.leader_id for p in topics["t"].partitions) == [0, 1, 2]


def test_describe_cluster_lists_a_fenced_broker_only_when_asked(cluster, listeners):
    victim = 0  # the controller Metadata names: the lowest live broker
    cluster.kill(victim)
    wait_until(lambda: victim not in cluster.live_brokers())

    def describe(include_fenced):
        with raw_to(listeners, 1) as raw:
            return raw.request(DescribeClusterRequest[2](
                include_cluster_authorized_operations=False, endpoint_type=1,
                include_fenced_brokers=include_fenced))

    plain, with_fenced = describe(False), describe(True)
    assert [(b.broker_id, b.is_fenced) for b in plain.brokers] == [(1, False), (2, False)]
    assert [(b.broker_id, b.is_fenced) for b in with_fenced.brokers] == [
        (0, True), (1, False), (2, False)]
    assert (with_fenced.brokers[0].host, with_fenced.brokers[0].port) == \
        listeners.addresses[victim]  # where it listened, and will again
    assert plain.controller_id == with_fenced.controller_id == 1
    cluster.restart(victim)
    wait_until(lambda: victim in cluster.live_brokers())
    assert [(b.broker_id, b.is_fenced) for b in describe(True).brokers] == [
        (0, False), (1, False), (2, False)]


def test_kafka_python_describes_a_cluster_with_its_fenced_brokers(cluster, listeners):
    from kafka.admin import KafkaAdminClient

    cluster.kill(2)
    wait_until(lambda: 2 not in cluster.live_brokers())
    admin = KafkaAdminClient(bootstrap_servers=listeners.bootstrap_servers)
    try:
        described = admin.describe_cluster()
    finally:
        admin.close()
    assert (described["cluster_id"], described["controller_id"]) == ("pcmodel", 0)
    assert [(b["broker_id"], b["is_fenced"]) for b in described["brokers"]] == [
        (0, False), (1, False), (2, True)]


def test_a_killed_broker_refuses_connections_leaves_metadata_and_returns_on_its_port(
        cluster, listeners):
    cluster.create_topic("t", 1, replication_factor=3)
    victim = cluster.leader("t", 0)
    witness = (victim + 1) % 3
    host, port = listeners.addresses[victim]
    open_connection = raw_to(listeners, victim)
    cluster.kill(victim)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=5).close()
    with pytest.raises(ConnectionError):  # an open connection is cut, as by a crash
        open_connection.recv_frame()
    open_connection.close()
    assert listeners.listener(victim) is None
    # The controller notices when the broker's session expires: a new leader, epoch + 1.
    wait_until(lambda: cluster.leader("t", 0) not in (None, victim))
    wait_until(lambda: victim not in cluster.live_brokers())
    response = metadata(listeners, witness, ["t"])
    assert victim not in [b.node_id for b in response.brokers]
    (part,) = response.topics[0].partitions
    assert (part.leader_id, part.leader_epoch) == (cluster.leader("t", 0), 1)
    assert part.offline_replicas == [victim] and victim not in part.isr_nodes

    cluster.restart(victim)
    assert listeners.addresses[victim] == (host, port)
    # Registered fenced, as in KRaft, it accepts connections once its next heartbeat
    # unfences it, on the same port; and it lists itself from the first answer.
    wait_until(lambda: listeners.listener(victim) is not None)
    with RawClient((host, port)) as raw:
        assert victim in [b.node_id for b in raw.request(MetadataRequest[12](topics=None))
                          .brokers]
    wait_until(lambda: victim in cluster.isr("t", 0))
    (part,) = metadata(listeners, witness, ["t"]).topics[0].partitions
    assert victim in part.isr_nodes and part.offline_replicas == []


def test_a_stopped_broker_closes_its_listener_and_leaves_metadata_at_once(cluster, listeners):
    cluster.create_topic("t", 1, replication_factor=3)
    victim = cluster.leader("t", 0)
    witness = (victim + 1) % 3
    host, port = listeners.addresses[victim]
    cluster.stop(victim)  # a controlled shutdown: the controller knows before it stops
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=5).close()
    response = metadata(listeners, witness, ["t"])  # no session timeout to wait for
    assert victim not in [b.node_id for b in response.brokers]
    (part,) = response.topics[0].partitions
    assert part.leader_id not in (-1, victim) and part.leader_epoch == 1
    assert victim not in part.isr_nodes
    cluster.restart(victim)
    wait_until(lambda: listeners.listener(victim) is not None)  # once it is unfenced
    with RawClient((host, port)) as raw:
        assert victim in [b.node_id for b in raw.request(MetadataRequest[12](topics=None))
                          .brokers]


def test_a_restarted_broker_accepts_connections_only_once_unfenced():
    # Kafka's BrokerServer enables request processing only after the controller unfenced
    # it. On a virtual clock that stands still the previous incarnation's session never runs
    # out, so the new one cannot register: it refuses connections, rather than answering
    # NOT_LEADER_OR_FOLLOWER for partitions it does not lead yet.
    clock = VirtualClock()
    with Cluster(3, clock=clock, **FAST) as cluster, cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=3)
        victim = cluster.leader("t", 0)
        host, port = listeners.addresses[victim]
        cluster.kill(victim)
        cluster.restart(victim)
        assert victim in cluster._unregistered  # DUPLICATE_BROKER_REGISTRATION meanwhile
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=5).close()
        assert listeners.listener(victim) is None
        clock.advance(2.0)  # the old session expires; the new incarnation registers
        wait_until(lambda: victim in cluster.live_brokers())
        wait_until(lambda: listeners.listener(victim) is not None)
        with RawClient((host, port)) as raw:
            brokers = raw.request(MetadataRequest[12](topics=None)).brokers
        assert victim in [b.node_id for b in brokers]
        assert any(e.kind == "unfenced" and e.broker == victim for e in cluster.events)


def test_produce_goes_to_the_leader_only_with_the_clusters_acks(cluster, listeners):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("t", 0)
    follower = followers(cluster, "t")[0]
    with raw_to(listeners, follower) as raw:
        assert produce(raw, "t", 0, [b"x"]).error_code == NOT_LEADER
        assert produce(raw, "t", 0, [b"x"], acks=1).error_code == NOT_LEADER
        raw.send(produce_request("t", 0, record_batch([b"x"]), acks=0))
        with pytest.raises(ConnectionError):  # acks=0 failures close the connection (Kafka)
            raw.recv_frame()
    with raw_to(listeners, leader) as raw:
        answer = produce(raw, "t", 0, [b"a", b"b"], acks=-1)
        assert (answer.error_code, answer.base_offset) == (0, 0)
        # acks=all answered only once every in-sync replica has the records.
        assert all(r.log_end_offset >= 2 for r in cluster.replica_status("t", 0)
                   if r.in_isr)
        assert produce(raw, "t", 0, [b"c"], acks=1).base_offset == 2
    assert [r.value for r in cluster.log(follower, "t", 0)][:2] == [b"a", b"b"]


def test_not_enough_replicas_before_the_append_and_a_timeout_after_it(cluster, listeners):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=3)
    leader = cluster.leader("t", 0)
    lagging = followers(cluster, "t")[0]
    with raw_to(listeners, leader) as raw:
        # The follower stops replicating; it is still in the ISR until it lags for 1 s, so
        # the leader appends and waits, then the ISR shrinks below 3: the high watermark
        # stands still below the minimum (Kafka 3.7), so the produce times out.
        cluster.isolate(lagging)
        answer = produce(raw, "t", 0, [b"a"], acks=-1, timeout_ms=2000)
        assert answer.error_code == REQUEST_TIMED_OUT
        assert lagging not in cluster.isr("t", 0)
        assert produce(raw, "t", 0, [b"b"], acks=-1).error_code == NOT_ENOUGH_REPLICAS
        # acks=1 does not ask the ISR.
        assert produce(raw, "t", 0, [b"c"], acks=1).error_code == 0
    assert [r.value for r in cluster.log(leader, "t", 0)] == [b"a", b"c"]


def test_fetch_serves_below_the_high_watermark_from_the_leader_only():
    # A follower that lags stays in the ISR for a minute here: the HW waits for it.
    with Cluster(3, **{**FAST, "replica_lag_time_max_ms": 60_000}) as cluster, \
            cluster.serve_kafka() as listeners:
        cluster.create_topic("t", 1, replication_factor=2, min_insync_replicas=1)
        wait_until(lambda: len(cluster.isr("t", 0)) == 2)
        leader = cluster.leader("t", 0)
        (follower,) = followers(cluster, "t")
        epoch = cluster.metadata()[("t", 0)].leader_epoch
        with raw_to(listeners, leader) as raw:
            cluster.isolate(follower)
            assert produce(raw, "t", 0, [b"a", b"b"], acks=1).error_code == 0
            part = fetch(raw, "t", 0, 0, epoch)  # appended, not committed: nothing to read
            assert (part.error_code, part.high_watermark, fetched_records(part)) == (0, 0, [])
            assert cluster.replica_status("t", 0)[0].log_end_offset == 2
            cluster.heal(follower)
            wait_until(lambda: cluster.replica_status("t", 0)[0].high_watermark == 2)
            part = fetch(raw, "t", 0, 0, epoch)
            assert (part.error_code, part.high_watermark) == (0, 2)
            assert [r.value for r in fetched_records(part)] == [b"a", b"b"]
            assert fetch(raw, "t", 0, 0, epoch + 1).error_code == UNKNOWN_EPOCH
        with raw_to(listeners, follower) as raw:
            assert fetch(raw, "t", 0, 0, epoch).error_code == NOT_LEADER
            assert fetch(raw, "t", 0, 0).error_code == NOT_LEADER


def test_a_former_leader_answers_fenced_leader_epoch(cluster, listeners):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    wait_until(lambda: len(cluster.isr("t", 0)) == 3)
    first = cluster.leader("t", 0)
    cluster.isolate(first, controller=True)  # a full partition: the controller moves on
    wait_until(lambda: cluster.leader("t", 0) not in (None, first))
    second = cluster.leader("t", 0)
    cluster.heal(first)  # it hears the new state (epoch 1) as it returns
    with raw_to(listeners, first) as raw:
        # The client still believes in epoch 0; the former leader knows epoch 1.
        assert fetch(raw, "t", 0, 0, 0).error_code == FENCED_EPOCH
        assert fetch(raw, "t", 0, 0, 1).error_code == NOT_LEADER
    with raw_to(listeners, second) as raw:
        assert fetch(raw, "t", 0, 0, 0).error_code == FENCED_EPOCH
        assert fetch(raw, "t", 0, 0, 1).error_code == 0


def test_list_offsets_from_the_leader_with_its_epoch(cluster, listeners):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("t", 0)

    def latest(raw, epoch=-1):
        response = raw.request(ListOffsetsRequest[6](
            replica_id=-1, isolation_level=0, topics=[ListOffsetsRequest.ListOffsetsTopic(
                name="t", partitions=[ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(
                    partition_index=0, current_leader_epoch=epoch, timestamp=-1)])]))
        return response.topics[0].partitions[0]

    with raw_to(listeners, leader) as raw:
        produce(raw, "t", 0, [b"a", b"b", b"c"], acks=-1)
        answer = latest(raw, 0)
        assert (answer.error_code, answer.offset, answer.leader_epoch) == (0, 3, 0)
        assert latest(raw, 1).error_code == UNKNOWN_EPOCH
    with raw_to(listeners, followers(cluster, "t")[0]) as raw:
        assert latest(raw).error_code == NOT_LEADER


def delete_records(raw, topic, offsets, timeout_ms=10000, version=2):
    """DeleteRecords ``{partition: offset}``; ``{partition: (low watermark, error code)}``."""
    Topic = DeleteRecordsRequest.DeleteRecordsTopic  # noqa: N806
    response = raw.request(DeleteRecordsRequest[version](timeout_ms=timeout_ms, topics=[Topic(
        name=topic, partitions=[Topic.DeleteRecordsPartition(partition_index=p, offset=o)
                                for p, o in offsets.items()])]))
    return {p.partition_index: (p.low_watermark, p.error_code)
            for p in response.topics[0].partitions}


def test_delete_records_at_the_leader_waits_for_the_followers(cluster, listeners):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    leader = cluster.leader("t", 0)
    with raw_to(listeners, leader) as raw:
        produce(raw, "t", 0, [b"a", b"b", b"c"], acks=-1)
        assert delete_records(raw, "t", {0: 2}) == {0: (2, 0)}
        # The answer came once every live replica had deleted them (the low watermark).
        assert {r.log_start_offset for r in cluster.replica_status("t", 0)} == {2}
        assert delete_records(raw, "t", {0: 4})[0] == (-1, OFFSET_OUT_OF_RANGE)
    with raw_to(listeners, followers(cluster, "t")[0]) as raw:
        assert delete_records(raw, "t", {0: 3}, version=0)[0] == (-1, NOT_LEADER)
    assert cluster.low_watermark("t", 0) == 2


def test_find_coordinator_follows_the_offsets_partition_leader(cluster, listeners):
    def coordinator(broker):
        with raw_to(listeners, broker) as raw:
            return raw.request(FindCoordinatorRequest[3](key="g", key_type=0))

    first = coordinator(0)
    assert first.error_code == 0
    assert first.node_id == cluster.leader("__consumer_offsets", 0)
    assert (first.host, first.port) == listeners.addresses[first.node_id]
    cluster.kill(first.node_id)
    wait_until(lambda: cluster.leader("__consumer_offsets", 0) not in (None, first.node_id))
    witness = next(b for b in range(3) if b != first.node_id)
    second = coordinator(witness)
    assert (second.error_code, second.node_id) == (0, cluster.leader("__consumer_offsets", 0))


def test_list_groups_answers_the_groups_each_broker_coordinates(cluster, listeners):
    # A client lists a cluster's groups by asking every broker and joining the answers
    # (kafka-python's list_groups does), so a group must come from its coordinator alone.
    cluster.create_topic("t", 1, replication_factor=3)
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {TopicPartition("t", 0): 1})
    coordinator = cluster.leader("__consumer_offsets", 0)

    def listed(broker):
        with raw_to(listeners, broker) as raw:
            answer = raw.request(ListGroupsRequest[4](states_filter=[]))
        return [(g.group_id, g.group_state) for g in answer.groups]

    assert {b: listed(b) for b in range(3)} == {
        b: [("g", "Empty")] if b == coordinator else [] for b in range(3)}
    cluster.kill(coordinator)
    wait_until(lambda: cluster.leader("__consumer_offsets", 0) not in (None, coordinator))
    new = cluster.leader("__consumer_offsets", 0)
    assert {b: listed(b) for b in cluster.live_brokers()} == {
        b: [("g", "Empty")] if b == new else [] for b in cluster.live_brokers()}


def test_describe_groups_at_the_coordinator_whoever_leads_the_partitions(cluster, listeners):
    # The coordinator describes a group whose offsets are on partitions other brokers lead;
    # it answers without asking them (Kafka's DescribeGroups never answers a partition error).
    cluster.create_topic("t", 3, replication_factor=3)
    assert len({cluster.leader("t", p) for p in range(3)}) == 3  # one led by each broker
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {TopicPartition("t", p): 1 for p in range(3)})
    coordinator = cluster.leader("__consumer_offsets", 0)
    with raw_to(listeners, coordinator) as raw:
        (group,) = raw.request(DescribeGroupsRequest[5](
            groups=["g"], include_authorized_operations=False)).groups
    assert (group.error_code, group.group_state, group.members) == (0, "Empty", [])


def test_idempotent_retry_through_a_new_leader_is_stored_once(cluster, listeners):
    cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
    first = cluster.leader("t", 0)
    with raw_to(listeners, first) as raw:
        init = raw.request(InitProducerIdRequest[4](
            transactional_id=None, transaction_timeout_ms=60000, producer_id=-1,
            producer_epoch=-1))
        assert init.error_code == 0
        producer = (init.producer_id, init.producer_epoch, 0)
        assert produce(raw, "t", 0, [b"a", b"b"], producer=producer).base_offset == 0
    cluster.kill(first)
    wait_until(lambda: cluster.leader("t", 0) not in (None, first))
    with raw_to(listeners, cluster.leader("t", 0)) as raw:
        # The producer did not hear the answer and sends the batch again: same offsets.
        retry = produce(raw, "t", 0, [b"a", b"b"], producer=producer)
        assert (retry.error_code, retry.base_offset) == (0, 0)
        after = produce(raw, "t", 0, [b"c"], producer=(*producer[:2], 2))
        assert (after.error_code, after.base_offset) == (0, 2)
    assert [r.value for r in cluster.log(cluster.leader("t", 0), "t", 0)] == [b"a", b"b", b"c"]


def test_create_topics_takes_replication_settings(cluster, listeners):
    from kafka.protocol.admin import CreateTopicsRequest

    Topic = CreateTopicsRequest.CreatableTopic  # noqa: N806
    Config = Topic.CreatableTopicConfig  # noqa: N806
    Assign = Topic.CreatableReplicaAssignment  # noqa: N806
    with raw_to(listeners, 1) as raw:
        response = raw.request(CreateTopicsRequest[7](topics=[
            Topic(name="r2", num_partitions=2, replication_factor=2, assignments=[],
                  configs=[Config(name="min.insync.replicas", value="2")]),
            Topic(name="r4", num_partitions=1, replication_factor=4, assignments=[],
                  configs=[]),
            Topic(name="default", num_partitions=1, replication_factor=-1, assignments=[],
                  configs=[]),
            Topic(name="placed", num_partitions=-1, replication_factor=-1, configs=[],
                  assignments=[Assign(partition_index=1, broker_ids=[0, 2]),
                               Assign(partition_index=0, broker_ids=[2, 1])]),
            Topic(name="twice", num_partitions=-1, replication_factor=-1, configs=[],
                  assignments=[Assign(partition_index=0, broker_ids=[0]),
                               Assign(partition_index=0, broker_ids=[1])]),
            Topic(name="counted", num_partitions=1, replication_factor=-1, configs=[],
                  assignments=[Assign(partition_index=0, broker_ids=[0])]),
            Topic(name="nowhere", num_partitions=-1, replication_factor=-1, configs=[],
                  assignments=[Assign(partition_index=0, broker_ids=[5])]),
        ], timeout_ms=5000, validate_only=False))
    results = {r.name: r for r in response.topics}
    assert (results["r2"].error_code, results["r2"].replication_factor) == (0, 2)
    assert results["r4"].error_code == 38  # INVALID_REPLICATION_FACTOR: 3 brokers
    assert (results["default"].error_code, results["default"].replication_factor) == (0, 3)
    placed = results["placed"]
    assert (placed.error_code, placed.num_partitions, placed.replication_factor) == (0, 2, 2)
    assert [cluster.metadata()[("placed", p)].replicas for p in (0, 1)] == [(2, 1), (0, 2)]
    assert (results["twice"].error_code, results["counted"].error_code,
            results["nowhere"].error_code) == (39, 42, 39)  # INVALID_REPLICA_ASSIGNMENT/REQUEST
    assert "multiple manual partition assignments" in results["twice"].error_message
    assert "no such broker is registered" in results["nowhere"].error_message
    state = cluster.metadata()[("r2", 1)]
    assert len(state.replicas) == 2
    assert cluster.controller.topics["r2"].min_insync_replicas == 2


def test_serving_needs_a_threaded_cluster_and_one_port_per_broker():
    with Cluster(2, mode="steps") as stepped, \
            pytest.raises(IllegalStateError, match="not mode='steps'"):
        stepped.serve_kafka()
    with Cluster(2, **FAST) as cluster, \
            pytest.raises(IllegalArgumentError, match="one port per broker"):
        cluster.serve_kafka(ports=[0])


def test_the_epoch_rule_and_a_lone_broker_view():
    assert check_leader_epoch(3, -1) == 0 and check_leader_epoch(3, 3) == 0
    assert check_leader_epoch(3, 2) == FENCED_EPOCH
    assert check_leader_epoch(3, 4) == UNKNOWN_EPOCH
    view = SingleBrokerView(7, "h", 9)
    (part,) = view.partitions("t", 1)
    assert (part.leader, part.leader_epoch, part.replicas, part.isr) == (7, 0, (7,), (7,))
    assert view.coordinator("g") == (7, "h", 9) and view.controller_id() == 7


def test_admin_grows_and_deletes_a_replicated_topic(cluster, listeners):
    from kafka.protocol.admin import CreatePartitionsRequest, DeleteTopicsRequest

    cluster.create_topic("t", 1, replication_factor=3)
    with raw_to(listeners, 2) as raw:
        grown = raw.request(CreatePartitionsRequest[3](topics=[
            CreatePartitionsRequest.CreatePartitionsTopic(name="t", count=3, assignments=None)],
            timeout_ms=5000, validate_only=False))
        assert grown.results[0].error_code == 0
        parts = raw.request(MetadataRequest[12](topics=None)).topics
        (topic,) = [t for t in parts if t.name == "t"]
        assert sorted(p.leader_id for p in topic.partitions) == [0, 1, 2]
        deleted = raw.request(DeleteTopicsRequest[6](topics=[
            DeleteTopicsRequest.DeleteTopicState(name="t", topic_id=None)], timeout_ms=5000))
        assert deleted.responses[0].error_code == 0
        internal = raw.request(DeleteTopicsRequest[6](topics=[
            DeleteTopicsRequest.DeleteTopicState(name="__consumer_offsets", topic_id=None)],
            timeout_ms=5000))
        assert internal.responses[0].error_code == 17  # INVALID_TOPIC_EXCEPTION
        names = [t.name for t in raw.request(MetadataRequest[12](topics=None)).topics]
    assert names == ["__consumer_offsets"]
