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
