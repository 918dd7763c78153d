"""Serializers and deserializers in both forms: functions, and objects as Kafka's clients take.

An object's ``serialize``/``deserialize`` gets the topic and the record's headers (and may add
headers), a two-argument method gets ``(topic, data)``, ``close()`` is called once when the
client closes, and anything else is refused with a message naming both forms.
"""

from __future__ import annotations

import json

import pytest

from pcmodel.topics.errors import KafkaConfigurationError, KafkaError, SerializationError
from pcmodel.topics.producer import KafkaProducer
from tests.topics.conftest import drain, tp

pytestmark = pytest.mark.timeout(20)


class JsonSerializer:
    """A Serializer as kafka-python 3 and the Java client define it, recording its calls."""

    def __init__(self, add_header: tuple[str, bytes] | None = None) -> None:
        self.calls: list[tuple[str, list]] = []
        self.closed = 0
        self.add_header = add_header

    def serialize(self, topic, headers, data):
        self.calls.append((topic, list(headers)))
        if self.add_header is not None:
            headers.append(self.add_header)
        return json.dumps(data).encode()

    def close(self):
        self.closed += 1


class JsonDeserializer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list]] = []
        self.closed = 0

    def deserialize(self, topic, headers, data):
        self.calls.append((topic, list(headers)))
        return json.loads(data)

    def close(self):
        self.closed += 1


class TwoArguments:
    """The Java interface's other form: serialize(topic, data)."""

    def serialize(self, topic, data):
        return f"{topic}:{data}".encode()


@pytest.fixture
def topic(broker):
    broker.create_topic("t", 1)
    return "t"


def produce(broker, records, **serializers):
    producer = KafkaProducer(broker=broker, **serializers)
    for kwargs in records:
        producer.send("t", **kwargs).get(timeout=10)
    producer.close()
    return producer


def test_serializer_objects_get_the_topic_and_headers_and_are_closed_once(broker, topic,
                                                                          make_consumer):
    keys, values = JsonSerializer(), JsonSerializer(add_header=("type", b"json"))
    producer = produce(broker, [{"key": "k", "value": {"n": 1}, "headers": [("a", b"1")]}],
                       key_serializer=keys, value_serializer=values)
    producer.close()  # a second close closes nothing again
    assert keys.calls == [("t", [("a", b"1")])]
    assert values.calls == [("t", [("a", b"1")])]
    assert (keys.closed, values.closed) == (1, 1)
    deserializer = JsonDeserializer()
    consumer = make_consumer(auto_offset_reset="earliest", value_deserializer=deserializer)
    consumer.assign([tp(topic, 0)])
    [record] = drain(consumer, 1)
    assert (record.key, record.value) == (b'"k"', {"n": 1})
    # The header the value's serializer added travelled with the record, and counts in its size.
    assert record.headers == [("a", b"1"), ("type", b"json")]
    assert record.serialized_header_size == len("a1typejson")
    assert deserializer.calls == [("t", [("a", b"1"), ("type", b"json")])]
    consumer.close(autocommit=False)
    assert deserializer.closed == 1


def test_functions_and_two_argument_methods_still_work(broker, topic, make_consumer):
    produce(broker, [{"key": "k", "value": 7}], key_serializer=str.encode,
            value_serializer=TwoArguments())
    consumer = make_consumer(auto_offset_reset="earliest", key_deserializer=bytes.decode)
    consumer.assign([tp(topic, 0)])
    [record] = drain(consumer, 1)
    assert (record.key, record.value) == ("k", b"t:7")


def test_kafka_pythons_own_serializer_classes_are_accepted(broker, topic, make_consumer):
    serializer = pytest.importorskip("kafka.serializer")

    class Upper(serializer.Serializer):
        def serialize(self, topic, headers, data):
            return data.upper().encode()

    class Lower(serializer.Deserializer):
        def deserialize(self, topic, headers, data):
            return data.decode().lower()

    produce(broker, [{"value": "Hello"}], value_serializer=Upper())
    consumer = make_consumer(auto_offset_reset="earliest", value_deserializer=Lower())
    consumer.assign([tp(topic, 0)])
    assert [r.value for r in drain(consumer, 1)] == ["hello"]


def test_a_type_error_inside_a_serializer_is_its_failure_not_a_retry(broker, topic):
    calls = []

    class Broken:
        def serialize(self, topic, headers, data):
            calls.append(data)
            raise TypeError("cannot serialize that")

    with KafkaProducer(broker=broker, value_serializer=Broken()) as producer, \
            pytest.raises(SerializationError, match="value_serializer failed"):
        producer.send("t", value="x")
    assert calls == ["x"]  # called once, never again with two arguments
    assert broker.end_offsets([tp("t", 0)]) == {tp("t", 0): 0}  # nothing was sent


def test_a_header_a_serializer_adds_must_be_a_str_bytes_pair(broker, topic):
    bad = JsonSerializer(add_header=("type", "json"))  # str, not bytes
    with KafkaProducer(broker=broker, value_serializer=bad) as producer, \
            pytest.raises(TypeError, match=r"\(str, bytes\) pair"):
        producer.send("t", value=1)


def test_every_object_is_closed_and_then_the_first_failure_is_raised(broker, topic):
    class FailsToClose(JsonSerializer):
        def close(self):
            super().close()
            raise OSError("disk gone")

    keys, values = FailsToClose(), JsonSerializer()
    producer = KafkaProducer(broker=broker, key_serializer=keys, value_serializer=values)
    with pytest.raises(KafkaError, match="closing the key_serializer failed.*disk gone"):
        producer.close()
    assert (keys.closed, values.closed) == (1, 1)
    producer.close()  # closed: nothing is closed, nor raised, again
    assert (keys.closed, values.closed) == (1, 1)


@pytest.mark.parametrize(("given", "message"), [
    (JsonSerializer, r"got the class JsonSerializer; pass an instance: "
                     r"value_serializer=JsonSerializer\(\)"),
    (42, r"value_serializer must be a function f\(data\) or an object with "
         r"serialize\(topic, headers, data\), got 42"),
    (JsonDeserializer(), r"or an object with serialize"),  # the wrong kind of object
])
def test_what_is_neither_form_is_refused_before_anything_starts(broker, topic, given, message):
    with pytest.raises(KafkaConfigurationError, match=message):
        KafkaProducer(broker=broker, value_serializer=given)


def test_a_consumer_refuses_a_serializer_where_a_deserializer_belongs(make_consumer):
    with pytest.raises(KafkaConfigurationError, match=r"key_deserializer must be a function "
                                                      r"f\(data\) or an object with "
                                                      r"deserialize\(topic, headers, data\)"):
        make_consumer(key_deserializer=JsonSerializer())
