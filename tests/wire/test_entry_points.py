"""The ways to open the Kafka door: Broker.serve_kafka, start_broker_process(kafka_port=...),
``pcmodel broker --kafka``; and the hint a Kafka client gets at the pickle port."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

import pytest
from kafka.protocol.metadata import MetadataRequest

from pcmodel.topics.cli import parse_kafka_address
from pcmodel.topics.remote import BrokerServer, start_broker_process
from tests.conftest import wait_until
from tests.wire.conftest import RawClient


def _address(bootstrap: str) -> tuple[str, int]:
    host, port = bootstrap.rsplit(":", 1)
    return host, int(port)


def test_serve_kafka_is_a_context_manager_with_an_address(broker):
    with broker.serve_kafka(port=0) as listener:
        assert listener.address == ("127.0.0.1", listener.port) and listener.port > 0
        assert listener.bootstrap_servers == f"127.0.0.1:{listener.port}"
    assert listener.connection_count == 0


def test_pcmodel_clients_and_kafka_clients_share_one_broker(broker, listener):
    from pcmodel.topics import KafkaProducer

    broker.create_topic("shared", 1)
    with KafkaProducer(broker=broker) as producer:
        producer.send("shared", b"from pcmodel").get(timeout=10)
    with RawClient(listener.address) as raw:
        (topic,) = raw.request(MetadataRequest[12](topics=None)).topics
    assert topic.name == "shared"


def test_broker_process_with_a_kafka_port():
    with start_broker_process(kafka_port=0) as process:
        assert process.bootstrap_servers is not None
        process.connect().create_topic("t", 2)
        with RawClient(_address(process.bootstrap_servers)) as raw:
            (topic,) = raw.request(MetadataRequest[12](topics=None)).topics
        assert (topic.name, len(topic.partitions)) == ("t", 2)


def test_broker_process_without_a_kafka_port_has_none():
    with start_broker_process() as process:
        assert process.bootstrap_servers is None


@pytest.mark.parametrize("text, expected", [
    ("9092", ("127.0.0.1", 9092)),
    ("0.0.0.0:9093", ("0.0.0.0", 9093)),
    ("[::1]:9094", ("::1", 9094)),
])
def test_kafka_address_parsing(text, expected):
    assert parse_kafka_address(text) == expected


@pytest.mark.parametrize("text", ["abc", "host:", "70000"])
def test_bad_kafka_address_says_what_is_wanted(text):
    with pytest.raises(ValueError, match="(?i)port"):
        parse_kafka_address(text)


def test_pcmodel_broker_command_with_kafka_serves_kafka_clients():
    command = [sys.executable, "-m", "pcmodel.cli", "broker", "--kafka", "127.0.0.1:0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        bootstrap = None
        for line in server.stdout:
            if line.startswith("Kafka clients: bootstrap_servers="):
                bootstrap = line.split("=", 1)[1].split()[0].strip("'")
                break
        assert bootstrap is not None, "pcmodel broker printed no Kafka address"
        with RawClient(_address(bootstrap)) as raw:
            assert raw.request(MetadataRequest[12](topics=None)).topics == []
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
        assert server.returncode == 0 and "stopped" in out
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=10)


def test_kafka_client_at_the_pickle_port_is_told_once(broker, caplog):
    server = BrokerServer(broker).start()
    try:
        with caplog.at_level(logging.WARNING, "pcmodel.topics.remote"):
            for _ in range(3):
                with RawClient(server.handle.address) as raw:
                    raw.send(MetadataRequest[12](topics=None))
                    try:
                        raw.recv_frame()  # the pickle port's challenge, not a Kafka answer
                    except (ConnectionError, OSError):
                        pass
            wait_until(lambda: "start the broker with --kafka" in caplog.text)
    finally:
        server.stop()
    assert caplog.text.count("this port speaks pcmodel's protocol") == 1
    assert "failed authentication" not in caplog.text
