"""DeleteTopics by name on a lone broker's Kafka listener answers the id of the topic it
deleted, as Kafka's controller does (it looks the name up and deletes in one step), even when
a topic of that name was deleted and created again while the request was being checked."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import DeleteTopicsRequest

pytestmark = pytest.mark.timeout(30)

State = DeleteTopicsRequest.DeleteTopicState


@pytest.mark.parametrize("version", [1, 6])
def test_the_id_answered_is_the_one_of_the_topic_deleted(broker, raw, version):
    broker.create_topic("a", 1)
    read_ids = broker.topic_ids
    recreated = []

    def ids_then_another_admin_recreates_the_topic():
        # The request's check reads the ids; then another administrator deletes topic "a"
        # and creates it again, before this request deletes anything.
        ids = read_ids()
        broker.delete_topic("a")
        broker.create_topic("a", 3)
        recreated.append(read_ids()["a"])
        return ids

    broker.topic_ids = ids_then_another_admin_recreates_the_topic
    if version >= 6:
        request = DeleteTopicsRequest[6](timeout_ms=5000, topics=[State(name="a",
                                                                       topic_id=None)])
    else:
        request = DeleteTopicsRequest[version](timeout_ms=5000, topic_names=["a"])
    answer = raw.request(request).responses
    del broker.topic_ids
    assert broker.list_topics() == {}  # the topic created again is the one deleted
    assert [(r.name, r.error_code) for r in answer] == [("a", 0)]
    if version >= 6:
        assert answer[0].topic_id == recreated[0]
