"""One broker of a replicated cluster, as its Kafka listener serves it.

A Kafka broker answers from *its own* replicas: it appends only to partitions it leads,
serves consumers only from them (below the high watermark), and tells clients where the other
brokers and leaders are. Two small objects make the listener's handlers do that on a
:class:`~pcmodel.cluster.Cluster` without knowing it is one:

- :class:`ClusterNodeView`, the handlers' :class:`~pcmodel.wire.view.ClusterView`: the live
  brokers and their listeners' addresses, each partition's leader, leader epoch, replicas, ISR
  and offline replicas (the controller's decisions as this broker last heard them: a broker
  cut off from the controller answers its stale view, as a Kafka broker answers from its own
  metadata image; :mod:`pcmodel.wire.node_metadata`), the group and transaction coordinators
  (from that view too, as Kafka's FindCoordinator reads the broker's metadata cache),
  the leader checks Kafka makes against a request's ``current_leader_epoch``, and the leader
  epochs in which this broker's records were written (its leader-epoch cache, which Fetch
  stamps on its batches);
- :class:`~pcmodel.wire.node_connection.NodeConnection`, the handlers' broker: pcmodel's
  :class:`~pcmodel.cluster.client.ClusterConnection` (groups, committed offsets, topics: the
  same requests pcmodel's clients send, through any broker) except that produce, fetch,
  offset lookups and DeleteRecords go to *this* broker, which answers NOT_LEADER_OR_FOLLOWER
  for partitions it does not lead, instead of being routed to the leader: following leaders is
  the client's job (WriteTxnMarkers, an administrator's abort, likewise goes to the
  partition's leader). Transactional requests are answered by the transaction coordinator
  only.

The second lives in :mod:`pcmodel.wire.node_connection`, which also tells how a cluster's
brokers answer the transactional requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.offsets import OFFSETS_TOPIC
from pcmodel.cluster.state_delivery import MetadataImage
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.topics.errors import CoordinatorNotAvailableError, UnknownTopicOrPartitionError
from pcmodel.topics.structs import PartitionReplicas, TopicPartition
from pcmodel.wire.api import kafka_errors
from pcmodel.wire.node_connection import NodeConnection
from pcmodel.wire.view import (
    CLUSTER_ID,
    NOT_LEADER_OR_FOLLOWER,
    BrokerAddress,
    check_leader_epoch,
)

__all__ = ["ClusterNodeView"]

_UNKNOWN_TOPIC_OR_PARTITION = kafka_errors.UnknownTopicOrPartitionError.errno


class ClusterNodeView:
    """What broker ``node_id``'s listener tells clients. See the module docstring.

    ``addresses()`` returns ``{broker id: (host, port)}`` of every broker's listener.
    """

    cluster_id = CLUSTER_ID

    def __init__(self, connection: NodeConnection,
                 addresses: Callable[[], Mapping[int, tuple[str, int]]]) -> None:
        self.connection = connection
        self.cluster: Cluster = connection._cluster
        self.node_id = connection.node_id
        self._addresses = addresses

    def brokers(self) -> list[BrokerAddress]:
        """The brokers this broker knows as alive, where their listeners are."""
        addresses = self._addresses()
        live = self.connection.metadata_image().live
        return [BrokerAddress(b, *addresses[b]) for b in sorted(live) if b in addresses]

    def fenced_brokers(self) -> list[BrokerAddress]:
        """The brokers this broker knows as down, where their listeners were."""
        addresses = self._addresses()
        live = self.connection.metadata_image().live
        return [BrokerAddress(b, *addresses[b]) for b in sorted(addresses) if b not in live]

    def controller_id(self) -> int:
        """The broker named as controller (see ``NodeMetadata.controller_id``)."""
        return self.connection.controller_id()

    def partitions(self, topic: str, count: int) -> list[PartitionReplicas]:
        """This broker's view of each existing partition below ``count``."""
        try:
            described = self.connection.describe_partitions(topic)
        except UnknownTopicOrPartitionError:
            return []
        return [p for p in described if p.partition < count]

    def coordinator(self, group_id: str) -> BrokerAddress | None:
        """The leader of the group's ``__consumer_offsets`` partition, as this broker's
        metadata image has it (stale while it is cut off from the controller), if the image
        counts it as alive (Kafka's ``KafkaApis.getCoordinator`` reads the metadata cache)."""
        partition = self.connection._offsets.partition_for(group_id)
        return self._image_leader(self.connection.metadata_image(),
                                  TopicPartition(OFFSETS_TOPIC, partition))

    def transaction_coordinator(self, transactional_id: str) -> BrokerAddress:
        """The leader of the id's ``__transaction_state`` partition, as this broker's
        metadata image has it (see :meth:`coordinator`). The topic is created at the first
        call, as Kafka creates it at the first FindCoordinator for a transactional id;
        ``CoordinatorNotAvailableError`` (retriable) while the partition has no live leader,
        or the image lacks the topic while this broker cannot reach the controller to
        create it."""
        image = self.connection.metadata_image()
        log = self.cluster.transaction_log(create=image.current)
        if image.current:
            image = self.connection.metadata_image()  # with the topic just created
        found = None if log is None else self._image_leader(
            image, TopicPartition(TRANSACTION_TOPIC, log.partition_for(transactional_id)))
        if found is None:
            raise CoordinatorNotAvailableError(
                f"transactional id {transactional_id!r}: the leader of its "
                f"{TRANSACTION_TOPIC} partition is being elected; retry")
        return found

    def _image_leader(self, image: MetadataImage, tp: TopicPartition) -> BrokerAddress | None:
        """Where the leader of ``tp`` in ``image`` listens, if ``image`` counts it alive."""
        addresses = self._addresses()
        state = image.partitions.get(tp)
        node = None if state is None else state.leader
        if node is None or node not in image.live or node not in addresses:
            return None
        return BrokerAddress(node, *addresses[node])

    def leader_error(self, tp: TopicPartition, current_leader_epoch: int) -> int:
        """Kafka's checks, in Kafka's order, with what this broker was last told: the epoch
        first (FENCED / UNKNOWN_LEADER_EPOCH), then leadership (NOT_LEADER_OR_FOLLOWER);
        a partition the cluster does not have is UNKNOWN_TOPIC_OR_PARTITION."""
        node = self.cluster.nodes[self.node_id]
        state = self.connection.told_state(tp)
        if state is None or not node.alive:
            if tp not in self.cluster.metadata():
                return _UNKNOWN_TOPIC_OR_PARTITION
            return NOT_LEADER_OR_FOLLOWER
        code = check_leader_epoch(state.leader_epoch, current_leader_epoch)
        if code:
            return code
        return 0 if state.leader == self.node_id else NOT_LEADER_OR_FOLLOWER

    def written_epochs(self, tp: TopicPartition, first_offset: int,
                       last_offset: int) -> list[tuple[int, int]]:
        """The epochs of this leader's records ``first_offset..last_offset`` (see
        :meth:`ClusterView.written_epochs <pcmodel.wire.view.ClusterView.written_epochs>`),
        from its replica's leader-epoch cache (see :meth:`ClusterConnection.written_epochs
        <pcmodel.cluster.client.ClusterConnection.written_epochs>`)."""
        return self.connection.written_epochs(tp, first_offset, last_offset)
