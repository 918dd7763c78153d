"""CreatePartitions on a lone broker's Kafka listener, refused as Kafka's controller
(``ReplicationControlManager.createPartitions``) refuses it: the topic is looked up first, and
an assignment list that is empty (not null) places none of the new partitions."""

from __future__ import annotations

import pytest
from kafka.protocol.admin import CreatePartitionsRequest

pytestmark = pytest.mark.timeout(30)

UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS, INVALID_REPLICA_ASSIGNMENT = 3, 37, 39
Topic = CreatePartitionsRequest.CreatePartitionsTopic


def grow(raw, name, count, assignments=None, validate_only=False):
    """``(error code, error message)`` of CreatePartitions v3 for one topic."""
    answer = raw.request(CreatePartitionsRequest[3](
        topics=[Topic(name=name, count=count, assignments=assignments)], timeout_ms=5000,
        validate_only=validate_only)).results
    return [(r.error_code, r.error_message) for r in answer][0]


@pytest.mark.parametrize("validate_only", [False, True])
@pytest.mark.parametrize("name", ["nope", ""])
@pytest.mark.parametrize("count", [0, 3])
def test_a_topic_that_does_not_exist_is_unknown_whatever_the_count(broker, raw, name, count,
                                                                   validate_only):
    assert grow(raw, name, count, validate_only=validate_only)[0] == UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("validate_only", [False, True])
def test_an_empty_assignment_list_places_no_new_partition(broker, raw, validate_only):
    broker.create_topic("t", 2)
    assert grow(raw, "t", 4, assignments=[], validate_only=validate_only) == (
        INVALID_REPLICA_ASSIGNMENT,
        "Attempted to add 2 additional partition(s), but only 0 assignment(s) were specified.")
    assert grow(raw, "t", 2, assignments=[])[0] == INVALID_PARTITIONS  # no increase: as Kafka
    assert broker.list_topics() == {"t": 2}
    assert grow(raw, "t", 3, assignments=None) == (0, None)  # null: the broker places it
    assert broker.list_topics() == {"t": 3}
