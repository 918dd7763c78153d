"""Metadata answers INVALID_TOPIC_EXCEPTION for an illegal topic name, whether or not the client
lets the broker create topics, as Kafka's ``KafkaApis.getTopicMetadata`` does (``Topic.validate``
before UNKNOWN_TOPIC_OR_PARTITION): the client then fails at once instead of waiting for a
topic that can never exist."""

from __future__ import annotations

import pytest
from kafka.protocol.metadata import MetadataRequest

pytestmark = pytest.mark.timeout(30)

UNKNOWN_TOPIC, INVALID_TOPIC = 3, 17


def _topic_errors(raw, names, allow_create):
    Topic = MetadataRequest.MetadataRequestTopic  # noqa: N806
    response = raw.request(MetadataRequest[12](
        topics=[Topic(name=name) for name in names], allow_auto_topic_creation=allow_create))
    return {t.name: t.error_code for t in response.topics}


@pytest.mark.parametrize("allow_create", [False, True])
def test_an_illegal_name_is_invalid_with_or_without_auto_creation(raw, allow_create):
    assert _topic_errors(raw, ["bad name!", "."], allow_create) == {
        "bad name!": INVALID_TOPIC, ".": INVALID_TOPIC}


def test_a_legal_missing_name_is_unknown_without_auto_creation(raw, broker):
    assert _topic_errors(raw, ["later"], False) == {"later": UNKNOWN_TOPIC}
    assert "later" not in broker.list_topics()
