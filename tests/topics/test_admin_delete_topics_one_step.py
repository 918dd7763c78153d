"""``delete_topics`` deletes each topic by name in one step, as Kafka's controller does, and
answers the id of the topic it deleted: another client deleting and creating the topic again
meanwhile cannot make it answer a stale id (a lone broker, a broker in another process, a
cluster of threads and one of broker processes)."""

from __future__ import annotations

import uuid

import pytest

from pcmodel.topics.admin import KafkaAdminClient
from tests.topics.admin_targets import broker_process, cluster, lone_broker, process_cluster

pytestmark = pytest.mark.timeout(30)


class RecreatedOnLookup:
    """A connection whose ``topic_ids()`` answers, then lets another administrator delete
    topic ``"a"`` and create it again (once): an id read before a deletion is stale then.
    It notes the id of the topic each ``delete_topic`` finds in place (nothing else runs)."""

    def __init__(self, target) -> None:
        self.target = target
        self.conn = target.connect()
        self.armed = True
        self.deleted: list[uuid.UUID] = []

    def connect(self):
        return self

    def topic_ids(self) -> dict[str, uuid.UUID]:
        ids = self.conn.topic_ids()
        if self.armed:
            self.armed = False
            other = self.target.connect()
            other.delete_topic("a")
            other.create_topic("a", 2)
            if other is not self.target:
                other.close()
        return ids

    def delete_topic(self, name: str):
        self.deleted.append(self.conn.topic_ids()[name])
        return self.conn.delete_topic(name)

    def close_own(self) -> None:
        if self.conn is not self.target:
            self.conn.close()

    def __getattr__(self, name):
        return getattr(self.conn, name)


@pytest.mark.parametrize("where", [lone_broker, broker_process, cluster, process_cluster],
                         ids=lambda w: w.__name__)
def test_the_id_answered_is_the_one_of_the_topic_deleted(where):
    with where() as target:
        conn = RecreatedOnLookup(target)
        try:
            conn.create_topic("a", 1)
            with KafkaAdminClient(broker=conn) as admin:
                answer = admin.delete_topics(["a"])["topics"]
            left = conn.list_topics()
        finally:
            conn.close_own()
    assert [r["error_code"] for r in answer] == [0]
    assert answer[0]["topic_id"] == str(conn.deleted[0])
    assert left == {}
