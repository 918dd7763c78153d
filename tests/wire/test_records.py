"""Record batches through both codecs: aiokafka's C one when installed, kafka-python's always."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pcmodel.topics.log import LogRecord
from pcmodel.wire.records import BatchRejected, decode_batch, encode_records
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
