"""DescribeTopicPartitions' paging (KIP-966), as Kafka's metadata cache pages: topics by name,
partitions from the cursor, at most so many per page, and the cursor of the next page."""

from __future__ import annotations

import re

import pytest

from pcmodel.topics import Broker, KafkaAdminClient
from pcmodel.topics.errors import InvalidRequestError, InvalidTopicError
from pcmodel.topics.errors import UnknownTopicOrPartitionError as Unknown
from pcmodel.topics.partition_pages import (
    MAX_PARTITIONS_PER_PAGE,
    PartitionsCursor,
    TopicPage,
    page_of_partitions,
)

COUNTS = {"b": 2, "a": 3, "c": 1}


def page(counts=COUNTS, every=True, cursor=None, limit=2000):
    return page_of_partitions(counts, every_topic=every, cursor=cursor, limit=limit)


def test_everything_fits_one_page_in_name_order():
    assert page() == ([TopicPage("a", range(3)), TopicPage("b", range(2)),
                       TopicPage("c", range(1))], None)


def test_pages_end_inside_a_topic_or_at_the_next_one_and_resume_at_the_cursor():
    assert page(limit=4) == ([TopicPage("a", range(3)), TopicPage("b", range(1))],
                             PartitionsCursor("b", 1))
    assert page(limit=3) == ([TopicPage("a", range(3))], PartitionsCursor("b", 0))
    assert page(cursor=PartitionsCursor("b", 1), limit=4) == (
        [TopicPage("b", range(1, 2)), TopicPage("c", range(1))], None)


def test_the_limit_is_at_least_one_and_at_most_kafkas():
    assert page(limit=0) == ([TopicPage("a", range(1))], PartitionsCursor("a", 1))
    many = page({"t": 5000}, limit=10_000)
    assert many == ([TopicPage("t", range(MAX_PARTITIONS_PER_PAGE))],
                    PartitionsCursor("t", MAX_PARTITIONS_PER_PAGE))


def test_topics_asked_for_that_do_not_exist_are_reported_unless_all_were_asked():
    pages, following = page({"c": 1, "nope": None, "bad name!": None}, every=False)
    assert following is None
    assert [(p.name, p.partitions, type(p.error)) for p in pages] == [
        ("bad name!", range(0), InvalidTopicError), ("c", range(1), type(None)),
        ("nope", range(0), Unknown)]
    assert page({"c": 1, "nope": None}, every=True) == ([TopicPage("c", range(1))], None)
    # A full page's cursor points at the next topic asked, whether it exists or not.
    assert page({"a": 3, "nope": None}, every=False, limit=3) == (
        [TopicPage("a", range(3))], PartitionsCursor("nope", 0))


def test_a_cursor_past_a_topics_end_gives_nothing_of_it_and_skips_earlier_topics():
    assert page(cursor=PartitionsCursor("a", 7)) == (
        [TopicPage("a", range(7, 3)), TopicPage("b", range(2)), TopicPage("c", range(1))],
        None)
    assert page(cursor=PartitionsCursor("bb", 0)) == ([TopicPage("c", range(1))], None)


@pytest.mark.parametrize("cursor, every", [
    (PartitionsCursor("z", 0), False),  # its topic was not asked for
    (PartitionsCursor("a", -1), True),
])
def test_kafka_refuses_a_cursor_outside_the_request(cursor, every):
    with pytest.raises(InvalidRequestError):
        page(cursor=cursor, every=every)


def test_the_admin_client_pages_as_kafka_python_3_answers():
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        broker.create_topic("a", 3)
        broker.create_topic("b", 2)
        first = admin.describe_topic_partitions([], response_partition_limit=4)
        assert [(t["name"], [p["partition_index"] for p in t["partitions"]])
                for t in first["topics"]] == [("a", [0, 1, 2]), ("b", [0])]
        assert first["next_cursor"] == {"topic_name": "b", "partition_index": 1}
        (b,) = admin.describe_topic_partitions([], cursor=first["next_cursor"])["topics"]
        assert b["partitions"] == [{
            "error_code": 0, "partition_index": 1, "leader_id": 0, "leader_epoch": 0,
            "replica_nodes": [0], "isr_nodes": [0], "eligible_leader_replicas": None,
            "last_known_elr": None, "offline_replicas": []}]
        assert (b["topic_id"], b["is_internal"], b["topic_authorized_operations"]) == (
            broker.topic_ids()["b"], False, 3576)  # READ..ALTER_CONFIGS, Kafka's bit field
        refused = admin.describe_topic_partitions(
            ["b"], cursor={"topic_name": "a", "partition_index": 0})
        assert refused == {"next_cursor": None, "topics": [{
            "error_code": 42, "name": "b", "topic_id": None, "is_internal": False,
            "partitions": [], "topic_authorized_operations": -(2**31)}]}
        with pytest.raises(TypeError):
            admin.describe_topic_partitions("a")


@pytest.mark.parametrize("cursor, error, message", [
    ({"partition_index": 0}, ValueError, "cursor lacks 'topic_name': pass the next_cursor"),
    ({}, ValueError, "cursor lacks 'topic_name' and 'partition_index'"),
    ({"topic_name": b"a", "partition_index": 0}, TypeError,
     "cursor's topic_name must be a str, not the bytes b'a'"),
    ({"topic_name": "a", "partition_index": "0"}, TypeError,
     "cursor's partition_index must be an int, not the str '0'"),
    ({"topic_name": "a", "partition_index": True}, TypeError,
     "cursor's partition_index must be an int, not the bool True"),
])
def test_a_cursor_without_its_fields_is_refused_with_what_to_pass(cursor, error, message):
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        broker.create_topic("a", 3)
        with pytest.raises(error, match="^" + re.escape(message)):
            admin.describe_topic_partitions([], cursor=cursor)
