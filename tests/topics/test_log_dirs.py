"""DescribeLogDirs on a lone broker: one log directory, in memory, with every partition's log
and the bytes it retains; through the broker, the admin client and a broker process."""

from __future__ import annotations

import shutil

import pytest

from pcmodel.topics import Broker, KafkaAdminClient
from pcmodel.topics.broker_log_dirs import IN_MEMORY, describe_log_dir
from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaStorageError,
    LogDirNotFoundError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.remote import start_broker_process
from pcmodel.topics.structs import (
    LogDirDescription,
    ReplicaInfo,
    TopicPartition,
    TopicPartitionReplica,
)

pytestmark = pytest.mark.timeout(60)

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


@pytest.fixture
def broker():
    with Broker() as b:
        b.create_topic("t", 2)
        yield b


def test_every_partition_is_in_the_one_log_dir_with_the_bytes_it_retains(broker):
    broker.append("t", 0, [(b"key", b"value")])
    broker.append("t", 0, [(None, b"more", (("h", b"1"),))])
    broker.create_topic("a", 1)
    (described,) = broker.describe_log_dirs()
    assert described == LogDirDescription(IN_MEMORY, {
        TopicPartition("a", 0): ReplicaInfo(0), T0: ReplicaInfo(3 + 5 + 4 + 1 + 1),
        T1: ReplicaInfo(0)})
    assert list(described.replicas) == [TopicPartition("a", 0), T0, T1]  # partition order
    assert described.replicas[T0].size == broker.log_stats("t")[0].stored_bytes


def test_partitions_asked_for_that_the_broker_lacks_are_left_out(broker):
    broker.append("t", 1, [(None, b"abc")])
    (described,) = broker.describe_log_dirs([T1, TopicPartition("t", 5),
                                             TopicPartition("nope", 0)])
    assert described.replicas == {T1: ReplicaInfo(3)}
    assert broker.describe_log_dirs([])[0].replicas == {}


def test_sizes_are_of_what_retention_keeps():
    wall = [1_000_000]
    with Broker(timestamp_clock=lambda: wall[0]) as broker:
        broker.create_topic("short", 1, configs={"retention.ms": "1000"})
        broker.append("short", 0, [(None, b"12345")])
        short = TopicPartition("short", 0)
        assert broker.describe_log_dirs()[0].replicas[short].size == 5
        wall[0] += 2_000  # the record is past retention: Kafka deletes it
        assert broker.describe_log_dirs()[0].replicas[short].size == 0


@pytest.mark.parametrize("bad, error", [(["t"], TypeError), ([("t", -1)], ValueError)])
def test_malformed_partitions_are_refused(broker, bad, error):
    with pytest.raises(error):
        broker.describe_log_dirs(bad)


def test_a_directory_on_disk_reports_its_volume_and_a_missing_one_its_error(tmp_path,
                                                                           monkeypatch):
    on_disk = describe_log_dir(str(tmp_path), {T0: ReplicaInfo(7)})
    assert on_disk.total_bytes >= on_disk.usable_bytes >= 0 and on_disk.total_bytes > 0
    assert (on_disk.replicas, on_disk.error) == ({T0: ReplicaInfo(7)}, None)
    volume = shutil._ntuple_diskusage(total=100, used=60, free=40)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: volume)
    assert describe_log_dir(str(tmp_path), {})[2:4] == (100, 40)  # usable: what is free
    monkeypatch.undo()
    gone = describe_log_dir(str(tmp_path / "gone"), {T0: ReplicaInfo(7)})
    assert (gone.replicas, gone.total_bytes) == ({}, -1)
    assert isinstance(gone.error, KafkaStorageError) and gone.error.errno == 56


def test_the_admin_client_answers_as_kafka_python_3_does(broker):
    broker.append("t", 0, [(None, b"abcd")])
    with KafkaAdminClient(broker=broker) as admin:
        expected = [{"broker": 0, "log_dirs": [{
            "error_code": 0, "log_dir": "(memory)", "total_bytes": -1, "usable_bytes": -1,
            "is_cordoned": False, "topics": [{"name": "t", "partitions": [
                {"partition_index": 0, "partition_size": 4, "offset_lag": 0,
                 "is_future_key": False},
                {"partition_index": 1, "partition_size": 0, "offset_lag": 0,
                 "is_future_key": False}]}]}]}]
        assert admin.describe_log_dirs() == expected
        assert admin.describe_log_dirs(["t"], brokers=[0]) == expected
        only_1 = admin.describe_log_dirs({"t": [1, 9]})[0]["log_dirs"][0]["topics"]
        assert only_1 == [{"name": "t", "partitions": [{"partition_index": 1,
                                                        "partition_size": 0, "offset_lag": 0,
                                                        "is_future_key": False}]}]
        assert admin.describe_log_dirs(brokers=[]) == []
        with pytest.raises(UnknownTopicOrPartitionError, match="unknown topic 'nope'"):
            admin.describe_log_dirs(["nope"])
        with pytest.raises(IllegalArgumentError,
                           match=r"broker 1 is not a broker here; the brokers are \[0\]$"):
            admin.describe_log_dirs(brokers=[1])
        with pytest.raises(TypeError):
            admin.describe_log_dirs("t")


def test_a_broker_in_another_process_answers_through_its_proxy():
    process = start_broker_process()
    try:
        remote = process.handle.connect()
        remote.create_topic("t", 1)
        remote.append("t", 0, [(None, b"xyz")])
        assert remote.describe_log_dirs() == (LogDirDescription(IN_MEMORY, {T0: ReplicaInfo(3)}),)
        remote.close()
    finally:
        process.stop()


def test_no_replica_moves_a_lone_broker_has_one_log_dir(broker):
    answers = broker.alter_replica_log_dirs({T0: IN_MEMORY, T1: "/var/kafka-logs",
                                             TopicPartition("t", 4): IN_MEMORY,
                                             TopicPartition("nope", 0): "/elsewhere"})
    assert answers[T0] is None  # already there
    assert isinstance(answers[T1], LogDirNotFoundError) and answers[T1].errno == 57
    assert isinstance(answers[TopicPartition("t", 4)], UnknownTopicOrPartitionError)
    assert isinstance(answers[TopicPartition("nope", 0)], LogDirNotFoundError)  # dir first
    with pytest.raises(TypeError, match="path string"):
        broker.alter_replica_log_dirs({T0: 7})
    with pytest.raises(ValueError):
        broker.alter_replica_log_dirs({("t", -1): IN_MEMORY})


def test_the_admin_client_moves_replicas_as_kafka_python_3_asks(broker):
    with KafkaAdminClient(broker=broker) as admin:
        answers = admin.alter_replica_log_dirs({TopicPartitionReplica("t", 0, 0): IN_MEMORY,
                                                ("t", 1, 0): "/data"})
        assert answers[TopicPartitionReplica("t", 0, 0)] is None
        assert isinstance(answers[TopicPartitionReplica("t", 1, 0)], LogDirNotFoundError)
        with pytest.raises(IllegalArgumentError, match="not a broker here"):
            admin.alter_replica_log_dirs({("t", 0, 3): IN_MEMORY})
        with pytest.raises(TypeError, match="TopicPartitionReplica"):
            admin.alter_replica_log_dirs({("t", 0): IN_MEMORY})
