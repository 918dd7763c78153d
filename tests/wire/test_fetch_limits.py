"""A Fetch's size limits, as Kafka applies them (KIP-74, ``ReplicaManager.readFromLocalLog``,
``LogSegment.read``): the first partition that sends any bytes sends at least its first batch
whole, whatever ``max_bytes`` and ``partition_max_bytes`` say; otherwise a partition's batches
go up to its limit and the last one is cut there (a partial batch, which clients discard), and
a first batch that does not fit is not sent at all."""

from __future__ import annotations

import struct

import pytest

from tests.wire.conftest import fetch_request, fetched_batches, fetched_records

VALUE = bytes(100)
#: A record with its producer's timestamp (CreateTime).
RECORD = (None, VALUE, (), 1_000)


def _offsets(partition_data):
    return [r.offset for r in fetched_records(partition_data)]


def _batch_sizes(data: bytes) -> list[int]:
    """The bytes of each whole v2 batch in ``data`` (base offset 8, length 4, then the rest)."""
    sizes, position = [], 0
    while position + 12 <= len(data):
        size = 12 + struct.unpack_from(">i", data, position + 8)[0]
        if position + size > len(data):
            break
        sizes.append(size)
        position += size
    return sizes


@pytest.mark.parametrize("limit", ["max_bytes", "partition_max_bytes"])
def test_only_the_first_partition_with_bytes_may_exceed_the_limits(broker, raw, limit):
    broker.create_topic("t", 3)
    for p in (1, 2):  # partition 0 stays empty: it does not count as the first
        broker.append("t", p, [RECORD] * 3)
    answer = raw.request(fetch_request({("t", 0): 0, ("t", 1): 0, ("t", 2): 0},
                                       **{limit: 10}))
    parts = {p.partition_index: p for p in answer.responses[0].partitions}
    # Partition 1 sends its first batch whole; partition 2 has no room left in the response
    # (max_bytes), or its first batch does not fit in its own 10 bytes: it sends nothing, not
    # part of a batch (clients find no record in that and stop).
    assert [_offsets(parts[p]) for p in (0, 1, 2)] == [[], [0, 1, 2], []]
    assert (parts[2].records or b"") == b""
    # The partition left out says how far its log goes: the client fetches it again.
    assert (parts[2].error_code, parts[2].high_watermark) == (0, 3)


def test_a_partitions_batches_go_whole_up_to_the_limit_and_the_next_is_cut(broker, raw):
    broker.create_topic("t", 1)
    broker.append("t", 0, [RECORD] * 2)
    broker.append("t", 0, [RECORD] * 2, compression="gzip")
    pid, epoch = broker.init_producer_id(transactional_id="tx")
    broker.add_partitions_to_txn("tx", pid, epoch, [("t", 0)])
    broker.append_idempotent("t", 0, [RECORD] * 2, producer_id=pid,
                             producer_epoch=epoch, first_sequence=0, transactional=True)
    whole = raw.request(fetch_request({("t", 0): 0})).responses[0].partitions[0].records
    first_two = sum(_batch_sizes(whole)[:2])
    for limit in ("max_bytes", "partition_max_bytes"):
        part = raw.request(fetch_request({("t", 0): 0}, **{limit: first_two + 10})) \
            .responses[0].partitions[0]
        # Two whole batches, then 10 bytes of the transactional one: Kafka's byte slice.
        assert len(part.records) == first_two + 10
        assert part.records == whole[:first_two + 10]
        assert [(b.base_offset, b.compression_type, b.is_transactional)
                for b in fetched_batches(part)] == [(0, 0, False), (2, 1, False)]
        assert _offsets(part) == [0, 1, 2, 3]
    # A limit smaller than one batch still sends the first batch, whole: from its base offset.
    part = raw.request(fetch_request({("t", 0): 5}, partition_max_bytes=1)) \
        .responses[0].partitions[0]
    assert _offsets(part) == [4, 5] and len(part.records) == _batch_sizes(whole)[2]
