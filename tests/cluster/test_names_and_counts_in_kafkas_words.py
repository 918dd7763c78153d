"""An illegal topic name and a partition count that adds none are refused in the words Kafka's
controller answers them: ``Topic.validate`` ("Topic name is invalid: ...") and
``ReplicationControlManager.createPartitions`` ("Topic already has N partition(s).", "The topic
T currently has N partition(s); C would not be an increase."), on a lone broker and a cluster,
checked only (``validate_only``) or not, nothing changed."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker
from pcmodel.topics.admin import KafkaAdminClient, NewPartitions, NewTopic
from pcmodel.topics.errors import InvalidPartitionsError, InvalidTopicError
from pcmodel.topics.topic_settings import check_topic_name

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("name, reason", [
    ("", "the empty string is not allowed"),
    (".", "'.' is not allowed"),
    ("..", "'..' is not allowed"),
    ("x" * 250, f"the length of '{'x' * 250}' is longer than the max allowed length 249"),
    ("bad name!", "'bad name!' contains one or more characters other than ASCII "
                  "alphanumerics, '.', '_' and '-'"),
])
def test_an_illegal_name_is_refused_in_kafkas_words(name, reason):
    with pytest.raises(InvalidTopicError) as refused:
        check_topic_name(name)
    assert refused.value.args[0] == f"Topic name is invalid: {reason}"
    with Broker() as broker, KafkaAdminClient(broker=broker) as admin:
        answer = admin.create_topics([NewTopic(name, 1)], raise_errors=False)["topics"]
        assert [(t["error_code"], t["error_message"]) for t in answer] == [
            (17, f"Topic name is invalid: {reason}")]
        assert broker.list_topics() == {}


def test_legal_names_pass():
    for name in ("a", "A-b_c.9", "x" * 249, "..."):
        assert check_topic_name(name) == name


@pytest.fixture(params=["lone broker", "cluster"])
def target(request, make_cluster):
    if request.param == "cluster":
        yield make_cluster(3)
        return
    with Broker() as broker:
        yield broker


@pytest.mark.parametrize("validate_only", [False, True])
@pytest.mark.parametrize("total, words", [
    (2, "Topic already has 2 partition(s)."),
    (1, "The topic t currently has 2 partition(s); 1 would not be an increase."),
])
def test_a_count_that_adds_no_partition_is_refused_in_kafkas_words(target, validate_only,
                                                                   total, words):
    target.create_topic("t", 2)
    with KafkaAdminClient(broker=target) as admin:
        answer = admin.create_partitions({"t": NewPartitions(total)},
                                         validate_only=validate_only, raise_errors=False)
        with pytest.raises(InvalidPartitionsError) as refused:
            target.add_partitions("t", total)
        assert admin.list_topics() == ["t"]
        assert admin.describe_topics(["t"])[0]["partitions"][-1]["partition_index"] == 1
    assert [(r["error_code"], r["error_message"]) for r in answer["results"]] == [(37, words)]
    assert refused.value.args[0] == words
