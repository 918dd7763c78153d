"""Every real client finds, at its first try, versions the listener serves: no request of
kafka-python 3, confluent-kafka, aiokafka or kcat is answered UNSUPPORTED_VERSION, as none is
by a Kafka 4 broker."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from pcmodel.topics import Broker

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def _kafka_python(bootstrap: str) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send("t", b"kafka-python").get(timeout=20)
    finally:
        producer.close()


def _confluent_kafka(bootstrap: str) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
    producer.produce("t", b"confluent-kafka")
    assert producer.flush(20) == 0


def _aiokafka(bootstrap: str) -> None:
    aiokafka = pytest.importorskip("aiokafka")

    async def produce() -> None:
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("t", b"aiokafka")
        finally:
            await producer.stop()

    asyncio.run(produce())


def _kcat(bootstrap: str) -> None:
    if KCAT is None:
        pytest.skip("kcat is not installed (Debian/Ubuntu: apt-get install kcat)")
    result = subprocess.run([KCAT, "-b", bootstrap, "-P", "-t", "t", "-p", "0"],
                            input="kcat\n", capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("client", [_kafka_python, _confluent_kafka, _aiokafka, _kcat],
                         ids=["kafka-python", "confluent-kafka", "aiokafka", "kcat"])
def test_a_client_is_never_answered_unsupported_version(client):
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        client(listener.bootstrap_servers)
        assert broker.end_offsets([("t", 0)]) == {("t", 0): 1}
        stats = listener.statistics()
        assert stats.requests.get("ApiVersions", 0) >= 1
        assert stats.unserved == {}
