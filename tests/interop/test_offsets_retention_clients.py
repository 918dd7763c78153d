"""kafka-python sees offsets retention on pcmodel's listener: a group that committed and left is
forgotten a retention later, and a new consumer of it starts from ``auto_offset_reset``."""

from __future__ import annotations

import pytest

from pcmodel.topics import Broker

pytestmark = pytest.mark.timeout(60)

WEEK_MS = 7 * 24 * 60 * 60_000


def test_an_empty_groups_offsets_expire_for_kafka_python():
    kafka = pytest.importorskip("kafka", reason="needs kafka-python")
    wall = [1_700_000_000_000]
    with Broker(timestamp_clock=lambda: wall[0], group_initial_rebalance_delay_ms=300) as broker, \
            broker.serve_kafka() as listener:
        broker.create_topic("t", 1)
        broker.append("t", 0, [(None, b"%d" % i) for i in range(5)])
        tp = kafka.TopicPartition("t", 0)
        consumer = kafka.KafkaConsumer(
            "t", bootstrap_servers=listener.bootstrap_servers, group_id="g",
            auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10_000)
        # The topic's metadata before the first poll joins the group: a leader that joins
        # without it (a slow machine) assigns nothing, and kafka-python may not look again
        # before metadata_max_age_ms (5 min).
        assert consumer.partitions_for_topic("t") == {0}
        seen = []
        for message in consumer:
            seen.append(message.value)
            if len(seen) == 3:
                break
        consumer.commit({tp: kafka.OffsetAndMetadata(3, "", -1)})
        consumer.close()  # leaves: the group is Empty from now
        empty_at = wall[0]

        admin = kafka.KafkaAdminClient(bootstrap_servers=listener.bootstrap_servers)
        try:
            assert admin.list_group_offsets({"g": None})["g"][tp].offset == 3
            assert len(admin.list_groups()) == 1
            wall[0] = empty_at + WEEK_MS - 1
            assert broker.expire_offsets() == {}
            wall[0] = empty_at + WEEK_MS
            assert "g" in broker.expire_offsets()
            assert admin.list_group_offsets({"g": None})["g"] == {}
            assert admin.list_groups() == []
        finally:
            admin.close()

        again = kafka.KafkaConsumer(bootstrap_servers=listener.bootstrap_servers, group_id="g",
                                    enable_auto_commit=False)
        try:
            assert again.committed(tp) is None  # it starts again from auto_offset_reset
        finally:
            again.close()
