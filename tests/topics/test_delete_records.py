"""DeleteRecords on one broker: the log start moves, consumers below it reset, errors per
partition as Kafka answers them, and the admin client's kafka-python 3 results."""

from __future__ import annotations

import pytest

from pcmodel.topics import (
    CLIENT_METHODS,
    BrokerResponseError,
    IllegalStateError,
    KafkaAdminClient,
    KafkaTimeoutError,
    OffsetAndMetadata,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
    start_broker_process,
)
from pcmodel.topics.structs import DeletedRecords
from tests.topics.conftest import drain, fill, tp

pytestmark = pytest.mark.timeout(60)


def test_records_below_the_offset_go_and_the_answer_is_the_low_watermark(broker):
    broker.create_topic("t", 3)
    fill(broker, "t", 0, [b"a", b"b", b"c", b"d"])
    fill(broker, "t", 1, [b"x", b"y"])
    t0, t1, t2 = tp("t", 0), tp("t", 1), tp("t", 2)
    answers = broker.delete_records({t0: 2, t1: -1, t2: 0})
    assert answers == {t0: DeletedRecords(2), t1: DeletedRecords(2), t2: DeletedRecords(0)}
    assert broker.beginning_offsets([t0, t1, t2]) == {t0: 2, t1: 2, t2: 0}
    assert broker.end_offsets([t0, t1]) == {t0: 4, t1: 2}  # the end does not move
    assert [r.value for r in broker.fetch({t0: 2})[t0].records] == [b"c", b"d"]
    # An offset at or below the start deletes nothing and answers the start.
    assert broker.delete_records({t0: 1}) == {t0: DeletedRecords(2)}
    assert broker.delete_records({t0: 4}) == {t0: DeletedRecords(4)}  # up to the end: empty
    assert broker.describe_topic("t").log_start_offsets == (4, 2, 0)


def test_each_partition_fails_on_its_own_as_kafka_answers(broker):
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a", b"b"])
    t0 = tp("t", 0)
    answers = broker.delete_records({t0: 3, tp("t", 1): 0, tp("gone", 0): 0})
    assert isinstance(answers[t0].error, OffsetOutOfRangeError)
    assert "beyond the high watermark 2" in str(answers[t0].error)
    assert answers[t0].low_watermark == -1
    assert isinstance(answers[tp("t", 1)].error, UnknownTopicOrPartitionError)
    assert isinstance(answers[tp("gone", 0)].error, UnknownTopicOrPartitionError)
    assert isinstance(broker.delete_records({t0: -2})[t0].error, OffsetOutOfRangeError)
    assert broker.beginning_offsets([t0]) == {t0: 0}  # nothing was deleted
    with pytest.raises(TypeError, match="must be an int"):
        broker.delete_records({t0: "1"})
    with pytest.raises(TypeError):
        broker.delete_records({("t",): 1})
    broker.close()
    with pytest.raises(IllegalStateError):
        broker.delete_records({t0: 1})


def test_a_consumer_below_the_new_start_resets_and_committed_offsets_stay(broker, make_consumer):
    broker.create_topic("t", 1)
    t0 = tp("t", 0)
    fill(broker, "t", 0, [b"%d" % i for i in range(6)])
    first = make_consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    first.assign([t0])
    assert [r.value for r in drain(first, 2)][:2] == [b"0", b"1"]
    first.commit({t0: OffsetAndMetadata(2)})
    first.close(autocommit=False)
    broker.delete_records({t0: 4})
    assert broker.committed("g", [t0]) == {t0: OffsetAndMetadata(2)}  # kept, as in Kafka
    # Its committed position is gone now: the next reader of the group starts at the start.
    second = make_consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    second.assign([t0])
    assert [r.value for r in drain(second, 2)] == [b"4", b"5"]


def test_deleting_from_a_block_topic_frees_its_space(broker):
    broker.create_topic("b", 1, retention_policy="block", retention_records=2)
    b0 = tp("b", 0)
    broker.commit_offsets("slow", -1, "", {b0: 0})
    fill(broker, "b", 0, [b"1", b"2"])
    # Full: the slow group never committed past the two records.
    with pytest.raises(KafkaTimeoutError, match="partition full"):
        broker.append("b", 0, [(None, b"3")], timeout=0)
    assert broker.delete_records({b0: 2}) == {b0: DeletedRecords(2)}
    broker.append("b", 0, [(None, b"3"), (None, b"4")], timeout=0)  # room for two again
    assert (broker.beginning_offsets([b0]), broker.end_offsets([b0])) == ({b0: 2}, {b0: 4})


def test_the_admin_client_answers_and_raises_as_kafka_python_3(broker):
    broker.create_topic("t", 2)
    fill(broker, "t", 0, [b"a", b"b", b"c"])
    t0, t1 = tp("t", 0), tp("t", 1)
    with KafkaAdminClient(broker=broker) as admin:
        assert admin.delete_records({t0: 1, t1: -1}) == {
            t0: {"partition_index": 0, "low_watermark": 1, "error_code": 0},
            t1: {"partition_index": 1, "low_watermark": 0, "error_code": 0}}
        with pytest.raises(OffsetOutOfRangeError,
                           match="Error deleting records from topic t partition 0: cannot"):
            admin.delete_records({t0: 9, t1: 0})
        broker.create_topic("u", 1)
        with pytest.raises(BrokerResponseError, match=r"t\(partition=0\): OffsetOutOfRange"
                                                      r"Error, u\(partition=0\): OffsetOut"):
            admin.delete_records({t0: 9, tp("u", 0): 5})
        with pytest.raises(UnknownTopicOrPartitionError, match="not known: t-7, v-0"):
            admin.delete_records({t0: 2, tp("t", 7): 0, tp("v", 0): 0})
        assert broker.beginning_offsets([t0]) == {t0: 1}  # nothing was deleted


def test_a_broker_process_deletes_records_for_its_remote_clients():
    process = start_broker_process()
    try:
        with process.connect() as remote:
            remote.create_topic("t", 1)
            remote.append("t", 0, [(None, b"a"), (None, b"b")])
            t0 = tp("t", 0)
            assert remote.delete_records({t0: 1}) == {t0: DeletedRecords(1)}
            error = remote.delete_records({t0: 5})[t0].error
            assert isinstance(error, OffsetOutOfRangeError)
            assert remote.beginning_offsets([t0]) == {t0: 1}
    finally:
        process.stop()
    assert "delete_records" in CLIENT_METHODS  # what a broker process serves

