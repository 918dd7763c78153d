"""What a committed offset carries besides the offset, on a cluster: its metadata, held to the
cluster's ``offset_metadata_max_bytes`` per partition, and the leader epoch committed with it,
which the ``__consumer_offsets`` records keep, so that a new coordinator answers it too."""

from __future__ import annotations

import json

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.topics import KafkaConsumer
from pcmodel.topics.errors import (
    IllegalArgumentError,
    OffsetMetadataTooLargeError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import OffsetAndMetadata, TopicPartition
from tests.cluster.test_group_state import form_group, kill_coordinator, kill_coordinator_threads
from tests.conftest import wait_until
from tests.topics.test_offset_commit_fields import admin_refuses_the_long_metadata_alone

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


def stored(cluster, conn, group="g"):
    """The live commit records of the group's offsets partition: key -> decoded value."""
    live = {}
    for record in cluster.log(conn._offsets.coordinator(group), OFFSETS_TOPIC, 0):
        live[record.key] = None if record.value is None else json.loads(record.value)
    return {k: v for k, v in live.items() if v is not None}


@pytest.mark.timeout(30)
def test_too_long_metadata_is_refused_alone_and_epochs_survive_a_new_coordinator(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    consumer = KafkaConsumer(broker=cluster, group_id="g", enable_auto_commit=False)
    try:
        with pytest.raises(OffsetMetadataTooLargeError) as refused:
            consumer.commit({T0: OffsetAndMetadata(3, "m" * 4097, 2),
                             T1: OffsetAndMetadata(4, "ok", 9)})
        assert refused.value.partitions == (T0,)
        assert consumer.committed(T0) is None
        assert consumer.committed(T1, metadata=True) == OffsetAndMetadata(4, "ok", 9)
        conn = cluster.connect()
        assert stored(cluster, conn)[b"g\x00t\x001"]["leader_epoch"] == 9
        kill_coordinator(cluster)
        assert consumer.committed(T1, metadata=True) == OffsetAndMetadata(4, "ok", 9)
        consumer.commit({T0: OffsetAndMetadata(5, "😀" * 2048)})  # 4096 UTF-16 units: taken
        assert consumer.committed(T0, metadata=True) == OffsetAndMetadata(5, "😀" * 2048, -1)
    finally:
        consumer.close()


@pytest.mark.timeout(30)
def test_the_limit_is_the_clusters_setting(make_cluster):
    # Above the brokers' default: the coordinator holds the metadata to the cluster's limit.
    cluster = make_cluster(offset_metadata_max_bytes=5000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    conn.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(1, "m" * 5000, 3)})
    with pytest.raises(OffsetMetadataTooLargeError) as refused:
        conn.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(2, "m" * 5001),
                                          T1: OffsetAndMetadata(2, "")})
    assert refused.value.partitions == (T0,)
    assert conn.committed("g", [T0, T1]) == {T0: OffsetAndMetadata(1, "m" * 5000, 3),
                                             T1: OffsetAndMetadata(2, "", -1)}
    with pytest.raises(IllegalArgumentError):
        Cluster(1, mode="steps", offset_metadata_max_bytes=2**31)


@pytest.mark.timeout(30)
def test_the_groups_checks_and_unknown_partitions_refuse_the_whole_commit(make_cluster):
    cluster = make_cluster(group_initial_rebalance_delay_ms=0)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    first, _ = form_group(conn)
    with pytest.raises(UnknownMemberIdError):
        conn.commit_offsets("g", first.generation, "ghost",
                            {T0: OffsetAndMetadata(1, "m" * 5000), T1: 1})
    with pytest.raises(UnknownTopicOrPartitionError):
        conn.commit_offsets("g", first.generation, first.member_id,
                            {TopicPartition("t", 7): OffsetAndMetadata(1, "m" * 5000), T1: 1})
    assert conn.committed("g", [T0, T1]) == {T0: None, T1: None}
    with pytest.raises(OffsetMetadataTooLargeError):  # then the metadata, partition by partition
        conn.commit_offsets("g", first.generation, first.member_id,
                            {T0: OffsetAndMetadata(1, "m" * 5000), T1: 1})
    assert conn.committed("g", [T0, T1]) == {T0: None, T1: OffsetAndMetadata(1)}


@pytest.mark.timeout(30)
def test_the_admin_reports_the_refused_partition_on_a_cluster(make_cluster):
    cluster = make_cluster()
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    admin_refuses_the_long_metadata_alone(cluster)


@pytest.mark.timeout(60)
def test_a_broker_process_that_becomes_coordinator_loads_the_epoch():
    settings = dict(replica_lag_time_max_ms=1000, broker_session_timeout_ms=1000, tick_ms=20)
    with Cluster(3, mode="processes", **settings) as cluster:
        cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
        conn = cluster.connect()
        with pytest.raises(OffsetMetadataTooLargeError):
            conn.commit_offsets("g", -1, "", {T0: OffsetAndMetadata(4, "note", 6),
                                              T1: OffsetAndMetadata(5, "m" * 4097, 6)})
        kill_coordinator_threads(cluster)
        wait_until(lambda: conn.list_groups() == ["g"], timeout=20)
        assert conn.committed("g", [T0, T1]) == {T0: OffsetAndMetadata(4, "note", 6),
                                                 T1: None}


def test_describe_configs_lists_the_clusters_metadata_limit(make_cluster):
    cluster = make_cluster(offset_metadata_max_bytes=5000)
    configs = {e.name: e.value for e in cluster.describe_broker_configs(2)}
    assert configs["offset.metadata.max.bytes"] == "5000"


def test_a_staged_offsets_leader_epoch_survives_a_new_transaction_coordinator(make_cluster):
    # The coordinator stores the staged offsets in __transaction_state; the one that takes
    # over loads them from there, epoch included, and commits them.
    cluster = make_cluster(3)
    cluster.create_topic("t", 1, replication_factor=3)
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    conn.add_offsets_to_txn("tx", pid, epoch, "g")
    tp = TopicPartition("t", 0)
    conn.txn_offset_commit("tx", "g", pid, epoch, {tp: OffsetAndMetadata(5, "m", 3)})
    state = TopicPartition(TRANSACTION_TOPIC, cluster.transaction_log().partition_for("tx"))
    coordinator = cluster.leader(*state)
    cluster.kill(coordinator)
    cluster.run_for(3)
    assert cluster.leader(*state) not in (None, coordinator)
    conn.end_txn("tx", pid, epoch, True)
    cluster.settle()
    assert conn.committed("g", [tp])[tp] == OffsetAndMetadata(5, "m", 3)


@pytest.mark.timeout(30)
def test_a_transactions_offsets_are_held_to_the_clusters_limit(make_cluster):
    # Above the brokers' default, as for a plain commit: 5000 units pass, 5001 do not; the
    # other partition is staged and committed with the transaction.
    cluster = make_cluster(offset_metadata_max_bytes=5000)
    cluster.create_topic("t", 2, replication_factor=3, min_insync_replicas=2)
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    conn.add_offsets_to_txn("tx", pid, epoch, "g")
    with pytest.raises(OffsetMetadataTooLargeError) as refused:
        conn.txn_offset_commit("tx", "g", pid, epoch, {T0: OffsetAndMetadata(2, "m" * 5001),
                                                       T1: OffsetAndMetadata(3, "m" * 5000, 4)})
    assert refused.value.partitions == (T0,)
    conn.end_txn("tx", pid, epoch, True)
    cluster.settle()
    assert conn.committed("g", [T0, T1]) == {T0: None, T1: OffsetAndMetadata(3, "m" * 5000, 4)}
