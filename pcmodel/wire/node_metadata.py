"""What one broker of a replicated cluster knows of it: the metadata its listener answers with.

A Kafka broker answers Metadata (topics, partitions, leaders, ISRs, live brokers) from *its
own* metadata image: the records of the controller's metadata log it has replicated. While
it hears the controller that is the controller's current state; a broker cut off from the
controller keeps answering the image it had when it stopped hearing (a leader that has been
replaced, brokers since fenced, topics since created missing), and a client that asks it is
sent to the old leaders, which answer NOT_LEADER_OR_FOLLOWER or a fenced leader epoch until
the client asks another broker. :class:`NodeMetadata` gives
:class:`~pcmodel.wire.node_connection.NodeConnection` that view, from
:meth:`Cluster.metadata_image <pcmodel.cluster.state_delivery.StateDelivery.metadata_image>`.

Topic ids come with the image: a topic the controller created again under the same name has
a new id, which a stale image does not know yet. A topic the stale image lacks is unknown
there: UNKNOWN_TOPIC_OR_PARTITION, or, if the client lets the broker create it,
LEADER_NOT_AVAILABLE (retriable), as a Kafka broker answers while the creation it asked the
controller for has not come back.

Prior art: Kafka's ``KRaftMetadataCache`` (``getTopicMetadata``, ``getAliveBrokerNodes``),
fed by ``BrokerMetadataPublisher``; ``AutoTopicCreationManager`` for the topics it asks to
create.
"""

from __future__ import annotations

import uuid

from pcmodel.cluster.client import partition_replicas
from pcmodel.cluster.errors import LeaderNotAvailableError
from pcmodel.cluster.state_delivery import MetadataImage
from pcmodel.topics.errors import UnknownTopicOrPartitionError
from pcmodel.topics.structs import PartitionReplicas
from pcmodel.topics.topic_settings import is_internal_topic

__all__ = ["NodeMetadata"]


class NodeMetadata:
    """Broker ``node_id``'s own metadata, for a :class:`~pcmodel.cluster.client.
    ClusterConnection` subclass that has ``_cluster`` and ``node_id``. Never blocks beyond
    the cluster lock."""

    def metadata_image(self) -> MetadataImage:
        """This broker's image of the cluster (see the module docstring)."""
        return self._cluster.metadata_image(self.node_id)

    def list_topics(self) -> dict[str, int]:
        """``{topic: partitions}`` this broker knows, Kafka's internal topics
        (:func:`~pcmodel.topics.topic_settings.is_internal_topic`) left out."""
        counts: dict[str, int] = {}
        for tp in self.metadata_image().partitions:
            if not is_internal_topic(tp.topic):
                counts[tp.topic] = max(counts.get(tp.topic, 0), tp.partition + 1)
        return dict(sorted(counts.items()))

    def topic_ids(self) -> dict[str, uuid.UUID]:
        """``{topic: topic id}`` of every topic this broker knows, internal topics included:
        the ids the controller drew when it created them."""
        return dict(sorted(self.metadata_image().topic_ids.items()))

    def partitions_for(self, topic: str, *, auto_create: bool = False) -> set[int]:
        """The topic's partition numbers as this broker knows them. While it hears the
        controller, a missing topic is created if ``auto_create`` (see
        ``ClusterConnection.partitions_for``); cut off, it raises
        ``UnknownTopicOrPartitionError``, or ``LeaderNotAvailableError`` if ``auto_create``
        (the creation cannot reach the controller)."""
        image = self.metadata_image()
        if image.current:
            return super().partitions_for(topic, auto_create=auto_create)
        found = {tp.partition for tp in image.partitions if tp.topic == topic}
        if found:
            return found
        if auto_create:
            raise LeaderNotAvailableError(
                f"broker {self.node_id} cannot reach the controller to create topic {topic!r}; "
                "retry, or ask another broker")
        raise UnknownTopicOrPartitionError(f"broker {self.node_id} knows no topic {topic!r}")

    def describe_partitions(self, topic: str) -> list[PartitionReplicas]:
        """Each partition of ``topic`` as this broker knows it, in partition order (see
        ``ClusterConnection.describe_partitions``). Raises ``UnknownTopicOrPartitionError``
        for a topic it does not know."""
        image = self.metadata_image()
        found = partition_replicas(topic, image.partitions, image.live)
        if not found:
            raise UnknownTopicOrPartitionError(f"broker {self.node_id} knows no topic {topic!r}")
        return found

    def controller_id(self) -> int:
        """The broker Metadata names as controller: the lowest live one this broker knows
        (``-1`` if none), as ``ClusterConnection.controller_id``."""
        return min(self.metadata_image().live, default=-1)
