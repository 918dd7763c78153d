"""kcat (librdkafka's command-line client) lists metadata, produces and consumes through
pcmodel's Kafka listener."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pcmodel.topics import Broker

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


@pytest.fixture(scope="module")
def served():
    if KCAT is None:
        pytest.skip("kcat is not installed (Debian/Ubuntu: apt-get install kcat)")
    with Broker() as broker, broker.serve_kafka() as listener:
        yield broker, listener.bootstrap_servers


def _kcat(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run([KCAT, *args], input=stdin, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kcat_lists_metadata(served):
    broker, bootstrap = served
    broker.create_topic("kcat-meta", 3)
    out = _kcat("-b", bootstrap, "-L", "-t", "kcat-meta")
    assert "1 brokers:" in out
    assert 'topic "kcat-meta" with 3 partitions' in out


def test_kcat_produces_and_consumes_keyed_records(served):
    broker, bootstrap = served
    broker.create_topic("kcat-data", 1)
    lines = "".join(f"k{i}:value {i}\n" for i in range(5))
    _kcat("-b", bootstrap, "-P", "-t", "kcat-data", "-K", ":", "-p", "0", stdin=lines)
    records = broker.fetch({("kcat-data", 0): 0})[("kcat-data", 0)].records
    assert [(r.key, r.value) for r in records] == [
        (b"k%d" % i, b"value %d" % i) for i in range(5)]
    out = _kcat("-b", bootstrap, "-C", "-t", "kcat-data", "-o", "beginning", "-e",
                "-f", "%k=%s@%o\n")
    assert out.splitlines() == [f"k{i}=value {i}@{i}" for i in range(5)]


def test_kcat_reads_committed_records_only_at_read_committed(served):
    broker, bootstrap = served
    broker.create_topic("kcat-txn", 1)
    tp = ("kcat-txn", 0)
    pid, epoch = broker.init_producer_id(transactional_id="kcat-tx")
    for sequence, (value, commit) in enumerate([(b"committed", True), (b"aborted", False)]):
        broker.add_partitions_to_txn("kcat-tx", pid, epoch, [tp])
        broker.append_idempotent(*tp, [(None, value)], producer_id=pid, producer_epoch=epoch,
                                 first_sequence=sequence, transactional=True)
        broker.end_txn("kcat-tx", pid, epoch, commit)
    broker.append(*tp, [(None, b"plain")])

    def consumed(level: str) -> list[str]:
        return _kcat("-b", bootstrap, "-C", "-t", "kcat-txn", "-o", "beginning", "-e",
                     "-X", f"isolation.level={level}", "-f", "%s@%o\n").splitlines()

    # Offsets 1 and 3 are the markers, which no consumer shows.
    assert consumed("read_committed") == ["committed@0", "plain@4"]
    assert consumed("read_uncommitted") == ["committed@0", "aborted@2", "plain@4"]
