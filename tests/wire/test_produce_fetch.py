"""Produce, Fetch and ListOffsets through the listener, checked record by record."""

from __future__ import annotations

import threading

import pytest
from kafka.protocol.admin import DeleteRecordsRequest
from kafka.protocol.consumer import ListOffsetsRequest
from kafka.protocol.producer import InitProducerIdRequest

from pcmodel.topics.structs import TopicPartition
from tests.wire.conftest import (
    RawClient,
    fetch_request,
    fetched_records,
    produce_request,
    record_batch,
)

GZIP, LZ4 = 1, 3


def _partition(response, index=0):
    return response.responses[0].partition_responses[index]


@pytest.mark.parametrize("acks", [1, -1])
def test_produce_appends_the_batch_and_answers_its_offset(broker, raw, acks):
    broker.create_topic("t", 1)
    for base in (0, 3):
        response = raw.request(produce_request("t", 0, record_batch([b"a", b"b", b"c"]),
                                               acks=acks))
        part = _partition(response)
        assert (part.error_code, part.base_offset, part.log_start_offset) == (0, base, 0)
    records = broker.fetch({TopicPartition("t", 0): 0}, max_records=10)[("t", 0)].records
    assert [r.value for r in records] == [b"a", b"b", b"c"] * 2
    assert [r.timestamp for r in records[:3]] == [1000, 1001, 1002]  # the producer's CreateTime
    assert {r.timestamp_type for r in records} == {0}


def test_a_log_append_time_topic_stamps_the_batch_and_answers_the_stamp(broker, raw):
    broker.create_topic("t", 1, configs={"message.timestamp.type": "LogAppendTime"})
    part = _partition(raw.request(produce_request("t", 0, record_batch([b"a", b"b"]))))
    assert part.error_code == 0 and part.log_append_time_ms > 1_000
    records = fetched_records(raw.request(fetch_request({("t", 0): 0})).responses[0]
                              .partitions[0])
    assert [(r.timestamp, r.timestamp_type) for r in records] == [
        (part.log_append_time_ms, 1)] * 2


def test_max_message_bytes_weighs_the_batch_as_sent(broker, raw):
    broker.create_topic("t", 1, configs={"max.message.bytes": "200"})
    part = _partition(raw.request(produce_request("t", 0, record_batch([bytes(1000)]))))
    assert part.error_code == 10  # MESSAGE_TOO_LARGE
    assert "exceeds the maximum configured value of 200" in part.error_message
    packed = record_batch([bytes(1000)], compression=GZIP)
    assert len(packed) < 200
    part = _partition(raw.request(produce_request("t", 0, packed)))
    assert (part.error_code, part.base_offset) == (0, 0)


def test_a_topics_compression_type_compresses_what_a_client_sent_plain(broker, raw):
    broker.create_topic("t", 1, configs={"compression.type": "gzip"})
    values = [b"the same words again " * 20] * 4
    assert _partition(raw.request(produce_request("t", 0, record_batch(values)))).error_code == 0
    stats = broker.log_stats("t")[0]
    assert (stats.records, stats.compressed_batches) == (4, 1)
    assert stats.stored_bytes < stats.uncompressed_bytes
    records = fetched_records(raw.request(fetch_request({("t", 0): 0})).responses[0]
                              .partitions[0])
    assert [r.value for r in records] == values


def test_a_create_time_too_far_ahead_is_invalid_timestamp(broker, raw):
    import time

    broker.create_topic("t", 1)
    ahead = time.time_ns() // 1_000_000 + 2 * 3_600_000  # two hours; Kafka 4 takes one
    part = _partition(raw.request(produce_request("t", 0, record_batch([b"a"], timestamp=ahead))))
    assert part.error_code == 32
    assert "out of range" in part.record_errors[0].batch_index_error_message  # Kafka's place
    assert broker.end_offsets([TopicPartition("t", 0)]) == {TopicPartition("t", 0): 0}


def test_acks_0_gets_no_response_and_appends(broker, raw, listener):
    broker.create_topic("t", 1)
    raw.send(produce_request("t", 0, record_batch([b"x"]), acks=0))
    # The next request's answer comes first: nothing was sent for the acks=0 one.
    response = raw.request(ListOffsetsRequest[6](
        replica_id=-1, isolation_level=0, topics=[ListOffsetsRequest.ListOffsetsTopic(
            name="t", partitions=[ListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(
                partition_index=0, current_leader_epoch=-1, timestamp=-1)])]))
    assert response.topics[0].partitions[0].offset == 1


def test_acks_0_failure_closes_the_connection(broker, raw):
    raw.send(produce_request("missing", 0, record_batch([b"x"]), acks=0))
    assert raw.sock.recv(1) == b""  # Kafka's way to tell an acks=0 producer


def test_illegal_acks_is_invalid_required_acks(broker, raw):
    broker.create_topic("t", 1)
    part = _partition(raw.request(produce_request("t", 0, record_batch([b"x"]), acks=2)))
    assert part.error_code == 21
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}


def test_a_clients_gzip_batch_is_kept_compressed_with_its_headers(broker, raw):
    broker.create_topic("t", 1)
    # (kafka-python's writer sends a batch uncompressed when gzip would not make it smaller)
    values = [b"v1" * 100, b"v2" * 100]
    batch = record_batch(values, keys=[b"k1", None], compression=GZIP,
                         headers=[("trace", b"42")])
    assert _partition(raw.request(produce_request("t", 0, batch))).error_code == 0
    records = broker.fetch({TopicPartition("t", 0): 0})[("t", 0)].records
    assert [(r.key, r.value, r.headers) for r in records] == [
        (b"k1", values[0], (("trace", b"42"),)), (None, values[1], (("trace", b"42"),))]
    # compression.type=producer: the log keeps the batch in the client's codec.
    assert broker.log_stats("t")[0].compressed_batches == 1


def test_a_batch_is_weighed_as_the_topic_stores_it(broker, raw):
    # 40 KiB of zeros: about 100 bytes in gzip, as sent, but 40 KiB once stored uncompressed.
    broker.create_topic("plain", 1, configs={"compression.type": "uncompressed",
                                             "max.message.bytes": "10000"})
    broker.create_topic("kept", 1, configs={"max.message.bytes": "10000"})
    batch = record_batch([bytes(40_000)], compression=GZIP)
    assert len(batch) < 10_000
    assert _partition(raw.request(produce_request("kept", 0, batch))).error_code == 0
    too_large = _partition(raw.request(produce_request("plain", 0, batch)))
    assert too_large.error_code == 10 and "exceeds the maximum" in too_large.error_message
    assert broker.end_offsets([TopicPartition("plain", 0)]) == {("plain", 0): 0}


def test_missing_codec_is_unsupported_compression_type(broker, raw, monkeypatch):
    from pcmodel.wire import records

    if not records.compression_available("lz4"):
        pytest.skip("no lz4 codec installed to build the batch with")
    batch = record_batch([b"v" * 100], compression=LZ4)
    broker.create_topic("t", 1)
    # The broker without the lz4 package:
    monkeypatch.setitem(records._CODECS, LZ4, ("lz4", lambda: False))
    part = _partition(raw.request(produce_request("t", 0, batch)))
    assert part.error_code == 76
    assert "lz4" in part.error_message
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}


def test_corrupt_batch_appends_nothing(broker, raw):
    broker.create_topic("t", 1)
    batch = bytearray(record_batch([b"a", b"b"]))
    batch[-1] ^= 0xFF  # flip bits of the last record: the CRC no longer matches
    part = _partition(raw.request(produce_request("t", 0, bytes(batch))))
    assert part.error_code == 2  # CORRUPT_MESSAGE
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}


def test_two_batches_for_one_partition_are_invalid_record(broker, raw):
    broker.create_topic("t", 1)
    two = record_batch([b"a"]) + record_batch([b"b"])
    assert _partition(raw.request(produce_request("t", 0, two))).error_code == 87
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 0}


def test_produce_to_unknown_partition_is_error_3(broker, raw):
    broker.create_topic("t", 1)
    assert _partition(raw.request(produce_request("t", 5, record_batch([b"a"])))).error_code == 3


def test_idempotent_retry_is_appended_once(broker, raw):
    broker.create_topic("t", 1)
    init = raw.request(InitProducerIdRequest[4](
        transactional_id=None, transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1))
    assert init.error_code == 0
    producer = (init.producer_id, init.producer_epoch, 0)
    first = _partition(raw.request(produce_request("t", 0, record_batch([b"a", b"b"],
                                                                        producer=producer))))
    retry = _partition(raw.request(produce_request("t", 0, record_batch([b"a", b"b"],
                                                                        producer=producer))))
    assert (first.error_code, retry.error_code) == (0, 0)
    assert retry.base_offset == first.base_offset == 0
    gap = (init.producer_id, init.producer_epoch, 5)
    assert _partition(raw.request(produce_request("t", 0, record_batch([b"c"], producer=gap)))
                      ).error_code == 45
    assert broker.end_offsets([TopicPartition("t", 0)]) == {("t", 0): 2}


@pytest.mark.parametrize("version", [4, 7, 11, 12])
def test_fetch_returns_records_from_the_offset(broker, raw, version):
    broker.create_topic("t", 2)
    broker.append("t", 0, [(b"k%d" % i, b"v%d" % i) for i in range(5)])
    response = raw.request(fetch_request({("t", 0): 2, ("t", 1): 0}, version=version))
    parts = {p.partition_index: p for p in response.responses[0].partitions}
    # The one batch goes out whole, from its base offset, as Kafka sends it: a client drops
    # the records before its position.
    assert [r.offset for r in fetched_records(parts[0])] == [0, 1, 2, 3, 4]
    wanted = [r for r in fetched_records(parts[0]) if r.offset >= 2]
    assert [r.value for r in wanted] == [b"v2", b"v3", b"v4"]
    assert (parts[0].error_code, parts[0].high_watermark) == (0, 5)
    if version >= 5:
        assert parts[0].log_start_offset == 0
    assert fetched_records(parts[1]) == [] and parts[1].high_watermark == 0


def test_fetch_past_the_end_is_offset_out_of_range(broker, raw):
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"a")])
    response = raw.request(fetch_request({("t", 0): 5}, max_wait_ms=10_000))
    assert response.responses[0].partitions[0].error_code == 1  # answered at once


def test_fetch_unknown_topic_is_error_3(raw):
    response = raw.request(fetch_request({("nope", 0): 0}))
    assert response.responses[0].partitions[0].error_code == 3


def test_fetch_long_polls_until_a_record_arrives(broker, listener):
    broker.create_topic("t", 1)
    with RawClient(listener.address) as client:
        client.send(fetch_request({("t", 0): 0}, max_wait_ms=30_000))
        # The fetch is parked on the log: answer only after the append below.
        appended = threading.Event()

        def append_when_parked():
            appended.set()
            broker.append("t", 0, [(None, b"late")])

        client.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.sock.recv(1, 2)  # MSG_PEEK: no answer yet while the log is empty
        client.sock.settimeout(10)
        threading.Thread(target=append_when_parked).start()
        frame = client.recv_frame()
    from kafka.protocol.consumer import FetchResponse

    response = FetchResponse.decode(frame, version=12, header=True)
    assert appended.is_set()
    assert [r.value for r in fetched_records(response.responses[0].partitions[0])] == [b"late"]


def test_fetch_waits_for_min_bytes_then_answers(broker, listener):
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"x" * 10)])
    with RawClient(listener.address) as client:
        client.send(fetch_request({("t", 0): 0}, max_wait_ms=30_000, min_bytes=200))
        client.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.sock.recv(1, 2)  # 10 bytes are not 200: still waiting
        client.sock.settimeout(10)
        broker.append("t", 0, [(None, b"y" * 300)])
        from kafka.protocol.consumer import FetchResponse

        response = FetchResponse.decode(client.recv_frame(), version=12, header=True)
    assert [len(r.value) for r in fetched_records(response.responses[0].partitions[0])] == [
        10, 300]


def test_fetch_without_data_answers_after_max_wait(broker, raw):
    broker.create_topic("t", 1)
    response = raw.request(fetch_request({("t", 0): 0}, max_wait_ms=50))
    part = response.responses[0].partitions[0]
    assert (part.error_code, fetched_records(part)) == (0, [])


def test_fetch_respects_partition_max_bytes_but_sends_one_record(broker, raw):
    broker.create_topic("t", 1)
    for _ in range(10):  # ten batches: a byte limit cuts between batches, never inside one
        broker.append("t", 0, [(None, b"x" * 1000)])
    response = raw.request(fetch_request({("t", 0): 0}, partition_max_bytes=100))
    assert [r.offset for r in fetched_records(response.responses[0].partitions[0])] == [0]
    response = raw.request(fetch_request({("t", 0): 0}, partition_max_bytes=3500))
    assert len(fetched_records(response.responses[0].partitions[0])) == 3


def test_log_append_time_records_keep_their_timestamp(broker, raw):
    broker.create_topic("t", 1)
    broker.append("t", 0, [(None, b"a"), (None, b"b", (), 5)])  # append time, then create time
    appended = broker.fetch({TopicPartition("t", 0): 0})[("t", 0)].records
    records = fetched_records(raw.request(fetch_request({("t", 0): 0})).responses[0]
                              .partitions[0])
    assert [(r.timestamp, r.timestamp_type) for r in records] == [
        (appended[0].timestamp, 1), (5, 0)]


def _list_offsets(raw, timestamp, version=6):
    Topic = ListOffsetsRequest.ListOffsetsTopic  # noqa: N806
    timeout = {"timeout_ms": 30_000} if version >= 10 else {}
    response = raw.request(ListOffsetsRequest[version](
        replica_id=-1, isolation_level=0, topics=[Topic(name="t", partitions=[
            Topic.ListOffsetsPartition(partition_index=0, current_leader_epoch=-1,
                                       timestamp=timestamp)])], **timeout))
    part = response.topics[0].partitions[0]
    epoch = part.leader_epoch if version >= 4 else None  # a field from version 4
    return part.error_code, part.offset, part.timestamp, epoch


@pytest.mark.parametrize("version", [1, 4, 6, 10, 11])
def test_list_offsets_earliest_latest_and_by_time(broker, raw, version):
    broker.create_topic("t", 1, retention_records=3)
    broker.append("t", 0, [(None, b"v", (), ts) for ts in (100, 200, 300, 400, 500)])
    epoch = 0 if version >= 4 else None  # the lone broker's leader epoch
    assert _list_offsets(raw, -2, version) == (0, 2, -1, epoch)
    assert _list_offsets(raw, -1, version) == (0, 5, -1, epoch)
    assert _list_offsets(raw, 350, version) == (0, 3, 400, epoch)
    # Nothing at or after the time: no offset, no timestamp and no epoch, as Kafka answers.
    assert _list_offsets(raw, 600, version) == (0, -1, -1, None if version < 4 else -1)


def test_list_offsets_max_timestamp_and_the_tiered_specs_from_their_versions(broker, raw):
    broker.create_topic("t", 1, retention_records=4)
    broker.append("t", 0, [(None, b"v", (), ts) for ts in (999, 100, 950, 300, 950)])
    unsupported = 35
    # KIP-734: the first record with the largest timestamp, with the epoch that wrote it.
    assert _list_offsets(raw, -3, 7) == (0, 2, 950, 0)
    assert _list_offsets(raw, -3, 6)[0] == unsupported
    assert _list_offsets(raw, -4, 8) == (0, 1, -1, 0)  # no tiered storage: the log start
    assert _list_offsets(raw, -4, 7)[0] == unsupported
    assert _list_offsets(raw, -5, 9) == (0, -1, -1, -1)  # nothing is tiered
    assert _list_offsets(raw, -5, 8)[0] == unsupported
    assert _list_offsets(raw, -6, 11) == (0, -1, -1, -1)  # nothing waits to be tiered
    assert _list_offsets(raw, -6, 10)[0] == unsupported
    # A negative spec Kafka does not have is refused at every version, as Kafka refuses it.
    assert _list_offsets(raw, -7, 9)[0] == unsupported
    assert _list_offsets(raw, -7, 11)[0] == unsupported


@pytest.mark.parametrize("version", [0, 1, 2])
def test_delete_records_answers_each_partitions_low_watermark(broker, raw, version):
    broker.create_topic("t", 2)
    broker.append("t", 0, [(None, b"v")] * 3)
    Topic = DeleteRecordsRequest.DeleteRecordsTopic  # noqa: N806
    response = raw.request(DeleteRecordsRequest[version](timeout_ms=1000, topics=[
        Topic(name="t", partitions=[Topic.DeleteRecordsPartition(partition_index=p, offset=o)
                                    for p, o in ((0, 2), (1, 5), (2, 0))]),
        Topic(name="u", partitions=[Topic.DeleteRecordsPartition(partition_index=0,
                                                                 offset=-1)])]))
    answers = {(t.name, p.partition_index): (p.low_watermark, p.error_code)
               for t in response.topics for p in t.partitions}
    # Deleted below 2; beyond the high watermark; no such partition; no such topic.
    assert answers == {("t", 0): (2, 0), ("t", 1): (-1, 1), ("t", 2): (-1, 3), ("u", 0): (-1, 3)}
    assert broker.beginning_offsets([("t", 0)]) == {("t", 0): 2}


def test_statistics_show_requests_and_fetch_waits(broker, raw, listener):
    broker.create_topic("t", 1)
    raw.request(fetch_request({("t", 0): 0}, max_wait_ms=50))  # waits in vain
    raw.request(produce_request("t", 0, record_batch([b"a", b"b"])))
    raw.request(fetch_request({("t", 0): 0}, max_wait_ms=5000))  # answered at once
    stats = listener.statistics()
    assert stats.requests == {"Fetch": 2, "Produce": 1}
    assert (stats.connections, stats.accepted, stats.refused) == (1, 1, 0)
    empty, full = stats.fetches
    assert (empty.records, empty.max_wait, empty.partitions) == (0, 0.05, 1)
    assert empty.waited > 0
    assert (full.records, full.max_wait) == (2, 5.0)
    assert full.waited < full.max_wait  # data was there: no waiting out max_wait_ms


def test_fetch_wait_and_log_growth_charts(broker, raw, listener):
    pytest.importorskip("matplotlib")
    from pcmodel.plots import plot_fetch_waits, plot_log_growth

    broker.create_topic("t", 2)
    raw.request(fetch_request({("t", 0): 0}, max_wait_ms=20))
    broker.append("t", 0, [(None, b"a")])
    raw.request(fetch_request({("t", 0): 0}))
    fig = plot_fetch_waits(listener.statistics().fetches)
    (ax,) = fig.axes
    assert [len(c.get_offsets()) for c in ax.collections] == [1, 1]  # one found, one in vain
    fig = plot_log_growth([(0.0, (0, 0)), (1.0, (1, 0))], [(1.0, {0: 1, 1: 0})])
    assert len(fig.axes[0].lines) == 4  # two partitions: end offset and position each
    with pytest.raises(ValueError, match="no fetches"):
        plot_fetch_waits([])


def test_a_lone_broker_answers_offset_for_leader_epoch_for_its_only_epoch(broker, raw):
    from kafka.protocol.consumer import OffsetForLeaderEpochRequest

    broker.create_topic("t", 1)
    raw.request(produce_request("t", 0, record_batch([b"a", b"b"])))
    Topic = OffsetForLeaderEpochRequest.OffsetForLeaderTopic  # noqa: N806

    def answer(epoch):
        response = raw.request(OffsetForLeaderEpochRequest[4](replica_id=-1, topics=[Topic(
            topic="t", partitions=[Topic.OffsetForLeaderPartition(
                partition=0, current_leader_epoch=-1, leader_epoch=epoch)])]))
        part = response.topics[0].partitions[0]
        return part.error_code, part.leader_epoch, part.end_offset

    assert answer(0) == (0, 0, 2)
    assert answer(3) == (0, -1, -1)  # newer than its latest: undefined, as Kafka answers
    assert answer(-1) == (0, -1, -1)
