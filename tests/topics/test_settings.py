"""Every setting kafka-python 3 accepts is accepted, checked, and listed in docs/settings.md."""

from __future__ import annotations

import inspect
import pathlib

import pytest

from pcmodel.topics import (
    Broker,
    CooperativeStickyPartitionAssignor,
    KafkaConfigurationError,
    KafkaConsumer,
    KafkaProducer,
    RangePartitionAssignor,
    RoundRobinPartitionAssignor,
    StickyPartitionAssignor,
)
from pcmodel.topics.config import (
    BOOTSTRAP_SERVERS_MESSAGE,
    CONSUMER_NO_EFFECT,
    PRODUCER_NO_EFFECT,
)
from pcmodel.topics.settings_doc import render_settings_doc

kafka_producer = pytest.importorskip("kafka.producer.kafka")
kafka_consumer = pytest.importorskip("kafka.consumer.group")

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_docs_settings_table_is_up_to_date():
    assert DOC.read_text() == render_settings_doc(), (
        "docs/settings.md is stale: python -m pcmodel.topics.settings_doc > docs/settings.md"
    )


def test_every_kafka_python_producer_key_is_accepted_with_its_default():
    defaults = dict(kafka_producer.KafkaProducer.DEFAULT_CONFIG)
    defaults.pop("bootstrap_servers")
    defaults["partitioner"] = "default"  # kafka-python's partitioner object is its own class
    with Broker() as broker:
        KafkaProducer(broker=broker, **defaults).close()


def test_every_kafka_python_consumer_key_is_accepted_with_its_default():
    defaults = dict(kafka_consumer.KafkaConsumer.DEFAULT_CONFIG)
    defaults.pop("bootstrap_servers")
    with Broker() as broker:
        consumer = KafkaConsumer(broker=broker, **defaults)
        # kafka-python's own assignor classes are understood by their names.
        assert consumer.config["partition_assignment_strategy"] == ("range", "roundrobin")
        consumer.close()


def test_no_effect_tables_cover_exactly_the_keys_not_honoured():
    producer_keys = set(kafka_producer.KafkaProducer.DEFAULT_CONFIG) - {"bootstrap_servers"}
    consumer_keys = set(kafka_consumer.KafkaConsumer.DEFAULT_CONFIG) - {"bootstrap_servers"}
    from pcmodel.topics.consumer_config import HONOURED as CONSUMER_HONOURED
    from pcmodel.topics.producer_config import HONOURED as PRODUCER_HONOURED

    assert producer_keys == set(PRODUCER_HONOURED) | set(PRODUCER_NO_EFFECT)
    assert consumer_keys == set(CONSUMER_HONOURED) | set(CONSUMER_NO_EFFECT)
    assert not set(PRODUCER_HONOURED) & set(PRODUCER_NO_EFFECT)
    assert not set(CONSUMER_HONOURED) & set(CONSUMER_NO_EFFECT)


@pytest.mark.parametrize("client", [KafkaProducer, KafkaConsumer])
def test_bootstrap_servers_gets_one_message_for_both_clients(client):
    with pytest.raises(KafkaConfigurationError) as info:
        client(bootstrap_servers="localhost:9092")
    assert str(info.value) == f"KafkaConfigurationError: {BOOTSTRAP_SERVERS_MESSAGE}"
    assert "from kafka import" in str(info.value) and "broker=" in str(info.value)


@pytest.mark.parametrize("client", [KafkaProducer, KafkaConsumer])
def test_unknown_key_names_the_closest_legal_one(client):
    with Broker() as broker, pytest.raises(KafkaConfigurationError, match="'client_id'"):
        client(broker=broker, clientid="x")


def test_assignor_classes_and_names_are_both_accepted():
    with Broker() as broker:
        for strategy, expected in [
            ([RangePartitionAssignor], ("range",)),
            ((RoundRobinPartitionAssignor, StickyPartitionAssignor), ("roundrobin", "sticky")),
            (CooperativeStickyPartitionAssignor, ("cooperative-sticky",)),
            (["range", CooperativeStickyPartitionAssignor], ("range", "cooperative-sticky")),
        ]:
            consumer = KafkaConsumer(broker=broker, partition_assignment_strategy=strategy)
            assert consumer.config["partition_assignment_strategy"] == expected
            consumer.close()


def test_every_producer_keyword_kafka_python_lacks_is_explained_in_the_docs():
    parameters = inspect.signature(KafkaProducer.__init__).parameters
    own = {name for name, parameter in parameters.items()
           if parameter.kind is parameter.KEYWORD_ONLY
           and name not in kafka_producer.KafkaProducer.DEFAULT_CONFIG}
    assert {"partitioner_adaptive_partitioning_enable", "partitioner_availability_timeout_ms",
            "partitioner_ignore_keys", "broker"} <= own
    intro = render_settings_doc().split("| setting |")[0]
    assert sorted(name for name in own if f"`{name}" not in intro) == []
