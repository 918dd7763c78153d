"""A new topic whose name differs from an existing one only by ``.`` against ``_`` is refused,
as Kafka's controller refuses it (``Topic.hasCollisionChars`` / ``unifyCollisionChars``: the two
would share their metrics' names): ``InvalidTopicError`` "Topic 'a.b' collides with existing
topic: a_b", nothing created; a name taken is ``TopicAlreadyExistsError`` in Kafka's words. On a
cluster as on a lone broker."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.admin import KafkaAdminClient, NewTopic
from pcmodel.topics.errors import InvalidTopicError, TopicAlreadyExistsError

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=["lone broker", "cluster"])
def target(request, make_cluster):
    if request.param == "cluster":
        yield make_cluster(3)
        return
    with Broker() as broker:
        yield broker


def test_a_name_that_collides_is_refused_and_nothing_is_created(target):
    target.create_topic("a_b", 1)
    with pytest.raises(InvalidTopicError) as refused:
        target.create_topic("a.b", 2)
    assert refused.value.args[0] == "Topic 'a.b' collides with existing topic: a_b"
    with pytest.raises(TopicAlreadyExistsError) as taken:
        target.create_topic("a_b", 1)
    assert taken.value.args[0] == "Topic 'a_b' already exists."
    assert "a.b" not in target.topic_ids()


def test_the_admin_client_of_a_cluster_is_refused_the_same(make_cluster):
    cluster = make_cluster(3)
    with KafkaAdminClient(broker=cluster) as admin:
        admin.create_topics([NewTopic("orders.eu", 1)])
        answer = admin.create_topics([NewTopic("orders_eu", 1)], raise_errors=False)["topics"]
    assert [(t["error_code"], t["error_message"]) for t in answer] == [
        (17, "Topic 'orders_eu' collides with existing topic: orders.eu")]

