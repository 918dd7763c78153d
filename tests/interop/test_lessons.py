"""Lesson programs run with kafka-python and with confluent-kafka against pcmodel's Kafka
listener and against Tansu, each checked against what Apache Kafka does.

``EXPECTED`` is Apache Kafka's behaviour for each lesson (its semantics, not a recording of
pcmodel): pcmodel must match it exactly. Tansu (0.6) deviates from Apache Kafka in places;
each deviation met is listed in ``TANSU_DEVIATIONS`` with what Tansu does, and only the rest of
that lesson is compared for Tansu. pcmodel is never bent towards them.
"""

from __future__ import annotations

import pytest

from pcmodel.topics.partitioner import default_partition
from tests.interop import lessons_kafka_python

confluent = pytest.importorskip("tests.interop.lessons_confluent",
                                reason="confluent-kafka is not installed")

KEYS = [f"user-{i}" for i in range(6)]

EXPECTED = {
    "keyed_order": {
        "count": 30,
        # Java's default partitioner: murmur2 of the key bytes, modulo the partition count.
        "partitions": {k: [default_partition(k.encode(), 3)] for k in KEYS},
        "order": {k: [0, 1, 2, 3, 4] for k in KEYS},
    },
    "seek_and_replay": {"after_seek": [4, 5, 6, 7, 8, 9], "replay": list(range(10)),
                        "position": 10},
    "group_offsets": {"altered": 0, "committed": 3, "metadata": "by-admin", "first_read": 3},
    "offsets_by_timestamp": {"found": 2, "exact": 3, "beyond": None, "earliest": 0,
                             "latest": 5},
    "gzip_headers": {"records": [
        (i, b"k%d" % i, b"payload-%d " % i * 20, [("trace", b"id-%d" % i), ("source", b"lesson")])
        for i in range(20)
    ], "latest": 20},
    "create_delete_topics": {
        "create_again": 36,       # TOPIC_ALREADY_EXISTS
        "listed": True,
        "grow": "ok",
        "partitions": 5,
        "shrink": 37,             # INVALID_PARTITIONS
        "listed_after_delete": False,
        "delete_again": 3,        # UNKNOWN_TOPIC_OR_PARTITION
    },
    "acks": {
        # acks=0: the producer never hears an offset (-1); acks=1 and all: consecutive offsets.
        "offsets": {"0": [-1] * 5, "1": [5, 6, 7, 8, 9], "all": [10, 11, 12, 13, 14]},
        "values": [b"%s-%d" % (s, i) for s in (b"0", b"1", b"all") for i in range(5)],
    },
}
#: What only kafka-python reports.
EXPECTED_KAFKA_PYTHON = {
    "offsets_by_timestamp": {"timestamps": (2000, 3000)},
    # acks=0 offsets are not compared for kafka-python: see lessons_kafka_python.acks.
    "acks": {"offsets": {"0": None, "1": [5, 6, 7, 8, 9], "all": [10, 11, 12, 13, 14]}},
}

#: Where Tansu 0.6 differs from Apache Kafka, per (lesson, observation): what Tansu does.
_NO_CREATE_PARTITIONS = ("Tansu 0.6 does not serve CreatePartitions (absent from its "
                         "ApiVersions): the topic keeps 3 partitions")
_TIME_LOOKUP = ("Tansu 0.6 answers a ListOffsets by timestamp with offset 0 and the current time, "
                "whatever the timestamp; Kafka answers the first record at or after it, or none")
TANSU_DEVIATIONS: dict[tuple[str, str], str] = {
    ("gzip_headers", "latest"): (
        "Tansu 0.6 puts the log end offset one past the *first* record of a multi-record batch "
        "(1 after 20 records sent as one batch); Kafka: one past the last (20)"),
    ("create_delete_topics", "grow"): _NO_CREATE_PARTITIONS,
    ("create_delete_topics", "partitions"): _NO_CREATE_PARTITIONS,
    ("create_delete_topics", "shrink"): _NO_CREATE_PARTITIONS,
    ("group_offsets", "metadata"): "Tansu 0.6 does not store a commit's metadata (None)",
    ("offsets_by_timestamp", "found"): _TIME_LOOKUP,
    ("offsets_by_timestamp", "exact"): _TIME_LOOKUP,
    ("offsets_by_timestamp", "beyond"): _TIME_LOOKUP,
    ("offsets_by_timestamp", "timestamps"): _TIME_LOOKUP,
}

CLIENTS = {"kafka-python": lessons_kafka_python, "confluent-kafka": confluent}


def _expected(lesson: str, client: str) -> dict:
    expected = dict(EXPECTED[lesson])
    if client == "kafka-python":
        expected.update(EXPECTED_KAFKA_PYTHON.get(lesson, {}))
    return expected


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("lesson", sorted(EXPECTED))
def test_lesson(lesson, client, broker_name, bootstrap, topic):
    observed = getattr(CLIENTS[client], lesson)(bootstrap, topic)
    expected = _expected(lesson, client)
    if broker_name == "tansu":
        for (name, field), what in TANSU_DEVIATIONS.items():
            if name == lesson and field in expected:
                print(f"Tansu deviation, not compared: {lesson}.{field}: {what}")
                expected.pop(field)
                observed.pop(field, None)
    assert {k: observed.get(k) for k in expected} == expected
