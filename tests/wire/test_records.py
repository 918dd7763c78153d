"""Record batches through both codecs: aiokafka's C one when installed, kafka-python's always."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pcmodel.topics.log import LogRecord
from pcmodel.topics.log_transactions import TransactionalBatch, control_record
from pcmodel.wire.records import BatchRejected, decode_batch, encode_records, is_transactional
from tests.wire.conftest import record_batch


def test_round_trip_keeps_every_field():
    records = [LogRecord(10 + i, 1000 + i, 0, b"k%d" % i if i % 2 else None, b"v%d" % i,
                         (("h", b"%d" % i),)) for i in range(50)]
    data = encode_records(records, 1 << 20)
    from kafka.record.memory_records import MemoryRecords

    batches = MemoryRecords(data)
    decoded = []
    while batches.has_next():
        batch = batches.next_batch()
        assert batch.validate_crc()
        decoded.extend((r.offset, r.timestamp, r.key, r.value, tuple(r.headers)) for r in batch)
    assert decoded == [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in records]


def test_decode_of_a_produced_batch():
    batch = decode_batch(record_batch([b"a", b"b"], keys=[b"x", None], headers=[("h", b"1")],
                                      producer=(7, 0, 3)))
    assert batch.records == [(b"x", b"a", (("h", b"1"),), 1000), (None, b"b", (("h", b"1"),), 1001)]
    assert (batch.producer_id, batch.producer_epoch, batch.first_sequence) == (7, 0, 3)


@pytest.mark.parametrize("data, code", [
    (b"", 87), (b"\x00" * 10, 87), (record_batch([b"a"])[:-1], 87),
])
def test_incomplete_batches_are_invalid_record(data, code):
    with pytest.raises(BatchRejected) as info:
        decode_batch(data)
    assert info.value.code == code


def test_the_pure_python_codec_gives_the_same_bytes():
    """Hide aiokafka in a fresh interpreter: kafka-python's codec must produce the same batches."""
    records = [LogRecord(i, 1000 + i, 0, None, b"v%d" % i, ()) for i in range(20)]
    here = encode_records(records, 1 << 20)
    script = textwrap.dedent("""
        import sys
        sys.modules["aiokafka"] = None  # as if it were not installed
        from pcmodel.topics.log import LogRecord
        from pcmodel.wire import records
        assert records.CODEC_LIBRARY == "kafka-python", records.CODEC_LIBRARY
        data = records.encode_records(
            [LogRecord(i, 1000 + i, 0, None, b"v%d" % i, ()) for i in range(20)], 1 << 20)
        decoded = records.decode_batch(data[:len(data)])
        assert [r[1] for r in decoded.records] == [b"v%d" % i for i in range(20)]
        sys.stdout.write(data.hex())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert bytes.fromhex(result.stdout) == here


# --- transactions -----------------------------------------------------------------------------

#: Offsets 0-5: a plain record, a transactional batch of three, its COMMIT marker, a plain one.
_TXN_RECORDS = (
    [LogRecord(0, 1000, 0, None, b"plain", ())]
    + [LogRecord(i, 1000 + i, 0, b"k", b"t%d" % i, ()) for i in (1, 2, 3)]
    + [control_record(4, 1004, commit=True)]
    + [LogRecord(5, 1005, 0, None, b"plain", ())])
_TXN_BATCHES = [TransactionalBatch(1, 3, 7, 2), TransactionalBatch(4, 4, 7, 2, is_control=True)]


def _batches(data):
    from kafka.record.memory_records import MemoryRecords

    found = []
    batches = MemoryRecords(data)
    while batches.has_next():
        batch = batches.next_batch()
        assert batch.validate_crc()
        found.append(batch)
    return found


def test_transactional_batches_and_markers_are_batches_of_their_own():
    batches = _batches(encode_records(_TXN_RECORDS, 1 << 20, _TXN_BATCHES))
    assert [(b.base_offset, b.next_offset, b.is_transactional, b.is_control_batch,
             b.producer_id, b.producer_epoch) for b in batches] == [
        (0, 1, False, False, -1, -1), (1, 4, True, False, 7, 2), (4, 5, True, True, 7, 2),
        (5, 6, False, False, -1, -1)]
    (marker,) = list(batches[2])
    assert (marker.offset, marker.key, marker.value) == (4, _TXN_RECORDS[4].key,
                                                          _TXN_RECORDS[4].value)
    assert [r.value for r in batches[1]] == [b"t1", b"t2", b"t3"]


def test_a_size_limit_inside_a_transactional_batch_keeps_its_attributes():
    # Room for one record per batch: the transactional batch is cut into pieces.
    one = len(encode_records(_TXN_RECORDS[1:2], 1 << 20, _TXN_BATCHES))
    for first in (1, 2, 3):
        batches = _batches(encode_records(_TXN_RECORDS[first:], one, _TXN_BATCHES))
        assert [(b.base_offset, b.next_offset, b.is_transactional, b.producer_id)
                for b in batches] == [(first, first + 1, True, 7)]


def test_a_gap_inside_a_transactional_batch_keeps_the_records_offsets():
    # The cleaner of a compacted topic removed offset 2.
    records = [r for r in _TXN_RECORDS if r.offset != 2]
    batches = _batches(encode_records(records, 1 << 20, _TXN_BATCHES))
    assert [[r.offset for r in b] for b in batches[:2]] == [[0], [1, 3]]
    assert batches[1].next_offset == 4


def test_a_control_batch_from_a_client_is_invalid_record():
    with pytest.raises(BatchRejected) as info:
        decode_batch(record_batch([b"x"], producer=(7, 0, 0), transactional=True, control=True))
    assert info.value.code == 87 and "control records" in str(info.value)


def test_a_transactional_batch_is_decoded_as_such():
    data = record_batch([b"x"], producer=(7, 0, 0), transactional=True)
    assert is_transactional(data) and decode_batch(data).transactional
    plain = record_batch([b"x"], producer=(7, 0, 0))
    assert not is_transactional(plain) and not decode_batch(plain).transactional
    assert not is_transactional(b"") and not is_transactional(data[:20])


def test_both_codecs_give_the_same_transactional_bytes():
    here = encode_records(_TXN_RECORDS, 1 << 20, _TXN_BATCHES)
    script = textwrap.dedent("""
        import sys
        sys.modules["aiokafka"] = None  # as if it were not installed
        from tests.wire.test_records import _TXN_BATCHES, _TXN_RECORDS
        from pcmodel.wire import records
        assert records.CODEC_LIBRARY == "kafka-python", records.CODEC_LIBRARY
        sys.stdout.write(records.encode_records(_TXN_RECORDS, 1 << 20, _TXN_BATCHES).hex())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert bytes.fromhex(result.stdout) == here
