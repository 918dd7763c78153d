"""A real client looks up the record with the largest timestamp (KIP-734, which librdkafka asks
with ListOffsets v7) next to the earliest and latest offsets."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker

pytestmark = pytest.mark.timeout(60)


def test_confluent_kafka_lists_the_largest_timestamp():
    confluent = pytest.importorskip("confluent_kafka",
                                    reason="needs confluent-kafka (the interop extra)")
    admin_module = pytest.importorskip("confluent_kafka.admin",
                                       reason="needs confluent-kafka (the interop extra)")
    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("t", 1, retention_records=4)
        broker.append("t", 0, [(None, b"v", (), ts) for ts in (999, 100, 950, 300, 950)])
        admin = admin_module.AdminClient({"bootstrap.servers": listener.bootstrap_servers})
        tp = confluent.TopicPartition("t", 0)
        spec = admin_module.OffsetSpec
        answers = {}
        for name, asked in (("max", spec.max_timestamp()), ("earliest", spec.earliest()),
                            ("latest", spec.latest())):
            info = admin.list_offsets({tp: asked})[tp].result(timeout=20)
            answers[name] = (info.offset, info.timestamp)
        # 999 is no longer retained: the first of the two records stamped 950 is offset 2.
        assert answers == {"max": (2, 950), "earliest": (1, -1), "latest": (5, -1)}
