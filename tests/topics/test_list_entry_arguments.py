"""Lists whose entries, or whose very shape, are of the wrong type are refused at once.

An entry of ``describe_configs`` / ``alter_configs`` / ``reset_configs`` that is not a
``ConfigResource`` is a ``TypeError`` naming the argument and the entry's position, not an
``AttributeError`` from inside; a value that is not a list at all (an int, a single object)
gets the shared message of a bare str; the consumer's ``subscribe(b"t")`` refuses the bytes
with that message instead of walking them as ints, and its ``assign("t")`` refuses the str
with it too, and both refuse a dict, which would be walked as its keys; so do its
``beginning_offsets`` and ``end_offsets`` (``end_offsets({tp: 5})`` would answer for the
keys). ``pause``, ``resume``, ``seek_to_beginning`` and ``seek_to_end`` take each partition as
an argument of its own, as kafka-python's do, and say so when one argument holds several.
Nothing changes before the refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pcmodel.topics import KafkaConsumer
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.broker import Broker
from pcmodel.topics.config_resources import ConfigResource
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(60)

TOPIC = ConfigResource("TOPIC", "t")


@pytest.fixture
def broker() -> Iterator[Broker]:
    broker = Broker()
    broker.create_topic("t", 1)
    yield broker
    broker.close()


def raises_type_error(message: str) -> pytest.RaisesContext:
    return pytest.raises(TypeError, match="^" + re.escape(message) + "$")


@pytest.mark.parametrize("call", ["describe_configs", "alter_configs", "reset_configs"])
@pytest.mark.parametrize(("entries", "message"), [
    (["t"], "config_resources[0] must be a ConfigResource, not the str 't'"),
    ([TOPIC, b"t"], "config_resources[1] must be a ConfigResource, not the bytes b't'"),
    ([TOPIC, TOPIC, ("TOPIC", "t")],
     "config_resources[2] must be a ConfigResource, not the tuple ('TOPIC', 't')"),
    ([None], "config_resources[0] must be a ConfigResource, not the NoneType None"),
])
def test_an_entry_that_is_not_a_config_resource_is_named_with_its_position(broker, call,
                                                                          entries, message):
    with KafkaAdminClient(broker=broker) as admin, raises_type_error(message):
        getattr(admin, call)(entries)


@pytest.mark.parametrize("raise_on_unknown", [True, False])
def test_alter_configs_with_a_bad_entry_alters_none_of_the_others(broker, raise_on_unknown):
    change = ConfigResource("TOPIC", "t", {"retention.ms": "60000"})
    with KafkaAdminClient(broker=broker) as admin:
        with raises_type_error("config_resources[1] must be a ConfigResource, not the str 't'"):
            admin.alter_configs([change, "t"], raise_on_unknown=raise_on_unknown)
        assert admin.describe_configs([TOPIC]) == {"topic": {"t": {}}}  # nothing modified


@pytest.mark.parametrize(("call", "message"), [
    (lambda admin: admin.describe_configs(TOPIC),
     f"config_resources must be a list of ConfigResource, not the ConfigResource {TOPIC!r}"),
    (lambda admin: admin.describe_topics(5), "topics must be a list of str, not the int 5"),
    (lambda admin: admin.delete_groups(None), "group_ids must be a list of str, not the "
     "NoneType None"),
    (lambda admin: admin.describe_transactions(7),
     "transactional_ids must be a list of str, not the int 7"),
])
def test_a_value_that_is_not_a_list_gets_the_shared_message(broker, call, message):
    with KafkaAdminClient(broker=broker) as admin, raises_type_error(message):
        call(admin)


@pytest.mark.parametrize(("topics", "message"), [
    (b"t", "topics must be a list of str, not the bytes b't'"),
    (bytearray(b"t"), "topics must be a list of str, not the bytearray bytearray(b't')"),
    (5, "topics must be a list of str, not the int 5"),
    ({"t": 1}, "topics must be a list of str, not the dict {'t': 1}"),
])
def test_subscribe_refuses_bytes_at_once_and_keeps_the_subscription(broker, topics, message):
    broker.create_topic("other", 1)
    consumer = KafkaConsumer(broker=broker, group_id="g")
    try:
        consumer.subscribe(["other"])
        with raises_type_error(message):
            consumer.subscribe(topics)
        assert consumer.subscription() == {"other"}
        consumer.subscribe("t")  # a single str stays one topic name, as in kafka-python
        assert consumer.subscription() == {"t"}
    finally:
        consumer.close()


@pytest.mark.parametrize(("partitions", "message"), [
    ("t", "partitions must be a list of TopicPartition, not the str 't'"),
    (b"t", "partitions must be a list of TopicPartition, not the bytes b't'"),
    (5, "partitions must be a list of TopicPartition, not the int 5"),
    (TopicPartition("t", 0), "partitions must be a list of TopicPartition, not the "
     "TopicPartition TopicPartition(topic='t', partition=0): pass "
     "[TopicPartition(topic='t', partition=0)]"),
    ({TopicPartition("t", 0): 5}, "partitions must be a list of TopicPartition, not the dict "
     "{TopicPartition(topic='t', partition=0): 5}"),
])
def test_assign_refuses_what_is_not_a_list_and_keeps_the_assignment(broker, partitions,
                                                                    message):
    consumer = KafkaConsumer(broker=broker)
    try:
        consumer.assign([TopicPartition("t", 0)])
        with raises_type_error(message):
            consumer.assign(partitions)
        assert consumer.assignment() == {TopicPartition("t", 0)}
    finally:
        consumer.close()


T0 = TopicPartition("t", 0)


@pytest.mark.parametrize("call", ["beginning_offsets", "end_offsets"])
@pytest.mark.parametrize(("partitions", "message"), [
    ({T0: 5}, f"partitions must be a list of TopicPartition, not the dict {{{T0!r}: 5}}"),
    ("t", "partitions must be a list of TopicPartition, not the str 't'"),
    (bytearray(b"t"), "partitions must be a list of TopicPartition, not the bytearray "
     "bytearray(b't')"),
    (5, "partitions must be a list of TopicPartition, not the int 5"),
    (T0, f"partitions must be a list of TopicPartition, not the TopicPartition {T0!r}: "
     f"pass [{T0!r}]"),
], ids=["dict", "str", "bytearray", "int", "partition"])
def test_the_consumers_offset_lookups_refuse_what_is_not_a_list(broker, call, partitions,
                                                                 message):
    consumer = KafkaConsumer(broker=broker)
    try:
        with raises_type_error(message):
            getattr(consumer, call)(partitions)
    finally:
        consumer.close()


@pytest.mark.parametrize("call", ["pause", "resume", "seek_to_beginning", "seek_to_end"])
@pytest.mark.parametrize("several", [[T0], {T0}, (T0, TopicPartition("t", 1))],
                         ids=["list", "set", "tuple"])
def test_a_partition_argument_holding_several_is_refused_and_nothing_moves(broker, call,
                                                                          several):
    broker.append("t", 0, [(None, b"a"), (None, b"b")])
    consumer = KafkaConsumer(broker=broker)
    try:
        consumer.assign([T0])
        consumer.seek(T0, 0)
        consumer.pause(T0)
        with raises_type_error(f"{call}() takes each partition as an argument of its own, not "
                               f"the {type(several).__name__} {several!r}: "
                               f"{call}(*partitions)"):
            getattr(consumer, call)(several)
        assert consumer.paused() == {T0}
        assert consumer.position(T0) == 0
    finally:
        consumer.close()


def test_good_partition_arguments_are_still_taken(broker):
    broker.append("t", 0, [(None, b"a"), (None, b"b")])
    consumer = KafkaConsumer(broker=broker)
    try:
        for partitions in ([T0], (T0,), [("t", 0)]):
            assert consumer.end_offsets(partitions) == {T0: 2}
            assert consumer.beginning_offsets(partitions) == {T0: 0}
        assert consumer.end_offsets(tp for tp in [T0]) == {T0: 2}  # any iterable
        consumer.assign([T0])
        consumer.pause(("t", 0))  # a (topic, partition) tuple is one partition
        assert consumer.paused() == {T0}
        consumer.resume(*[T0])
        assert consumer.paused() == set()
        consumer.seek_to_end(T0)
        assert consumer.position(T0) == 2
    finally:
        consumer.close()
