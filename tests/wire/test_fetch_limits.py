"""A Fetch's size limits, as Kafka applies them (KIP-74): the first partition with records sends
at least its first record whatever ``max_bytes`` and ``partition_max_bytes`` say; after that the
limits are hard, for later partitions and for later batches of the same partition alike."""

from __future__ import annotations

import pytest

from pcmodel.topics.log_records import LogRecord
from pcmodel.topics.structs import TopicPartition
from pcmodel.wire.records import encode_records
from tests.wire.conftest import fetch_request, fetched_batches, fetched_records

VALUE = bytes(100)
#: A record with its producer's timestamp (CreateTime): without one the broker stamps each
#: append's time, and records of different appends could not share a batch.
RECORD = (None, VALUE, (), 1_000)
#: One record of ``VALUE`` alone in a batch, as the listener encodes it.
ONE = len(encode_records([LogRecord(0, 1_000, 0, None, VALUE, ())], 1 << 20))


def _offsets(partition_data):
    return [r.offset for r in fetched_records(partition_data)]


@pytest.mark.parametrize("limit", ["max_bytes", "partition_max_bytes"])
def test_only_the_first_partition_with_records_may_exceed_the_limits(broker, raw, limit):
    broker.create_topic("t", 3)
    for p in (1, 2):  # partition 0 stays empty: it does not count as the first
        broker.append("t", p, [RECORD] * 3)
    answer = raw.request(fetch_request({("t", 0): 0, ("t", 1): 0, ("t", 2): 0},
                                       **{limit: 10}))
    parts = {p.partition_index: p for p in answer.responses[0].partitions}
    assert [_offsets(parts[p]) for p in (0, 1, 2)] == [[], [0], []]
    # The partition left out says how far its log goes: the client fetches it again.
    assert (parts[2].error_code, parts[2].high_watermark) == (0, 3)


def test_a_partitions_later_batches_respect_the_limit(broker, raw):
    broker.create_topic("t", 1)
    broker.append("t", 0, [RECORD] * 2)
    broker.append("t", 0, [RECORD] * 2, compression="gzip")  # still re-batched
    pid, epoch = broker.init_producer_id(transactional_id="tx")
    broker.add_partitions_to_txn("tx", pid, epoch, [("t", 0)])
    broker.append_idempotent("t", 0, [RECORD] * 2, producer_id=pid,
                             producer_epoch=epoch, first_sequence=0, transactional=True)
    # Room for the plain records and a few bytes: the transactional batch that follows, a
    # batch of its own, does not fit, so none of it goes.
    stored = broker.fetch({TopicPartition("t", 0): 0})[("t", 0)].records
    plain = len(encode_records(stored[:4], 1 << 20))  # as the listener encodes them
    for limit in ("max_bytes", "partition_max_bytes"):
        part = raw.request(fetch_request({("t", 0): 0}, **{limit: plain + 10})) \
            .responses[0].partitions[0]
        assert len(part.records) <= plain + 10
        assert [(b.base_offset, b.is_transactional) for b in fetched_batches(part)] == [
            (0, False)]
        assert _offsets(part) == [0, 1, 2, 3]
    # A limit smaller than one record still sends the first one, whole.
    part = raw.request(fetch_request({("t", 0): 4}, partition_max_bytes=1)) \
        .responses[0].partitions[0]
    assert _offsets(part) == [4] and len(part.records) == ONE
