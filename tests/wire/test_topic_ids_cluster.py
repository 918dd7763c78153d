"""Topic ids (KIP-516) on a replicated cluster's Kafka listeners: every broker answers the ids the
controller drew, internal topics included, and resolves a topic asked for by id."""

from __future__ import annotations

import uuid

import pytest
from kafka.protocol.admin import DeleteTopicsRequest
from kafka.protocol.metadata import MetadataRequest

from tests.wire.conftest import RawClient

pytestmark = pytest.mark.timeout(60)

UNKNOWN_TOPIC_ID = 100
Asked = MetadataRequest.MetadataRequestTopic


def test_every_broker_answers_the_controllers_ids(served):
    cluster, listeners = served
    ids = cluster.controller.topic_ids
    for broker in range(3):
        with RawClient(listeners.addresses[broker]) as raw:
            every = raw.request(MetadataRequest[12](topics=None,
                                                    allow_auto_topic_creation=False)).topics
            by_id = raw.request(MetadataRequest[12](
                topics=[Asked(name=None, topic_id=ids["t"]),
                        Asked(name=None, topic_id=uuid.uuid4())],
                allow_auto_topic_creation=False)).topics
        assert {t.name: t.topic_id for t in every} == ids
        assert {t.name for t in every if t.is_internal} == {"__consumer_offsets"}
        assert [(t.error_code, t.name, len(t.partitions)) for t in by_id] == [
            (0, "t", 2), (UNKNOWN_TOPIC_ID, None, 0)]


def test_delete_topics_by_id_on_a_cluster(served):
    cluster, listeners = served
    cluster.create_topic("doomed", 1, replication_factor=1)
    doomed = cluster.controller.topic_ids["doomed"]
    State = DeleteTopicsRequest.DeleteTopicState  # noqa: N806
    with RawClient(listeners.addresses[1]) as raw:
        answer = raw.request(DeleteTopicsRequest[6](timeout_ms=10_000, topics=[
            State(name=None, topic_id=doomed)]))
    assert [(r.name, r.topic_id, r.error_code) for r in answer.responses] == [
        ("doomed", doomed, 0)]
    assert "doomed" not in cluster.controller.topic_ids
