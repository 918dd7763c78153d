"""DeleteTopics v6 by topic id on a lone broker's Kafka listener, as Kafka's controller
answers it: an id names one topic, and only that topic is deleted, even when a topic of the
same name was deleted and created again while the request was being checked."""

from __future__ import annotations

import uuid

import pytest
from kafka.protocol.admin import DeleteTopicsRequest

pytestmark = pytest.mark.timeout(30)

INVALID_REQUEST, UNKNOWN_TOPIC_ID = 42, 100
State = DeleteTopicsRequest.DeleteTopicState


def delete(raw, *states):
    return raw.request(DeleteTopicsRequest[6](timeout_ms=5000, topics=list(states))).responses


def test_an_old_id_never_deletes_the_topic_created_again_under_its_name(broker, raw):
    broker.create_topic("a", 1)
    old = broker.topic_ids()["a"]
    read_ids = broker.topic_ids

    def ids_then_another_admin_recreates_the_topic():
        # The request's check reads the ids; then another administrator deletes topic "a"
        # and creates it again, before this request deletes anything.
        ids = read_ids()
        broker.delete_topic("a")
        broker.create_topic("a", 3)
        return ids

    broker.topic_ids = ids_then_another_admin_recreates_the_topic
    answer = delete(raw, State(name=None, topic_id=old))
    del broker.topic_ids
    assert [(r.name, r.topic_id, r.error_code) for r in answer] == [
        (None, old, UNKNOWN_TOPIC_ID)]
    assert broker.list_topics() == {"a": 3}  # the new topic is still there
    assert broker.topic_ids()["a"] != old


def test_a_name_whose_id_is_given_twice_deletes_nothing(broker, raw):
    broker.create_topic("a", 1)
    known = broker.topic_ids()["a"]
    answer = delete(raw, State(name=None, topic_id=known), State(name=None, topic_id=known),
                    State(name="a", topic_id=None))
    assert sorted((r.name or "", r.error_code, r.error_message) for r in answer) == [
        ("", INVALID_REQUEST, "Duplicate topic id."),
        ("a", INVALID_REQUEST,
         "The provided topic name maps to an ID that was already supplied.")]
    assert broker.list_topics() == {"a": 1}


def test_each_topic_given_by_id_is_deleted_and_answered_with_its_name(broker, raw):
    for name in ("a", "b"):
        broker.create_topic(name, 1)
    ids = broker.topic_ids()
    unknown = uuid.uuid4()
    answer = delete(raw, State(name=None, topic_id=ids["b"]),
                    State(name=None, topic_id=unknown), State(name=None, topic_id=ids["a"]))
    assert sorted((r.name or "", r.topic_id, r.error_code) for r in answer) == sorted([
        ("a", ids["a"], 0), ("b", ids["b"], 0), ("", unknown, UNKNOWN_TOPIC_ID)])
    assert broker.list_topics() == {}


def test_the_broker_deletes_by_id_exactly_the_topic_the_id_names(broker):
    broker.create_topic("a", 1)
    old = broker.topic_ids()["a"]
    broker.delete_topic("a")
    broker.create_topic("a", 2)
    assert broker.delete_topic_by_id(old) is None
    assert broker.list_topics() == {"a": 2}
    assert broker.delete_topic_by_id(broker.topic_ids()["a"]) == "a"
    assert broker.list_topics() == {}
    with pytest.raises(TypeError, match="uuid.UUID"):
        broker.delete_topic_by_id(str(old))
