"""KafkaAdminClient: topics, partitions and consumer groups, with kafka-python 3's call shapes.

``KafkaAdminClient(broker=broker)`` manages a pcmodel broker with the methods a program written
for kafka-python calls on a cluster, with their arguments and return values (plain dicts, as
kafka-python 3 builds them from Kafka's responses), and raising Kafka's errors
(``TopicAlreadyExistsError``, ``UnknownTopicOrPartitionError``, ``InvalidPartitionsError``,
``GroupNotEmptyError``, ...). The same lines then work on a real cluster after changing the
import and ``broker=`` to ``bootstrap_servers=``::

    admin = KafkaAdminClient(broker=broker)
    admin.create_topics([NewTopic("orders", num_partitions=3, replication_factor=1)])
    admin.create_partitions({"orders": NewPartitions(total_count=6)})
    admin.list_group_offsets({"billing": None})  # {"billing": {TopicPartition: offset}}
    admin.reset_group_offsets("billing", {TopicPartition("orders", 0): OffsetSpec.EARLIEST})

This module is the facade (construction, ``close()``, what every part shares). Creating and
deleting topics lives in :mod:`pcmodel.topics.admin_topics`, the metadata methods
(``list_topics``, ``describe_topics``, ``describe_cluster``, ``describe_topic_partitions``,
``wait_for_topics``) in :mod:`pcmodel.topics.admin_metadata`, the partition methods (growing
topics, deleting records, looking offsets up, electing leaders, moving replicas) in
:mod:`pcmodel.topics.admin_partitions`, the replica methods
(the producers a replica remembers, log directories) in :mod:`pcmodel.topics.admin_replicas`,
the consumer-group methods in
:mod:`pcmodel.topics.admin_groups`, the config methods (``describe_configs``,
``alter_configs``, ``reset_configs``) in :mod:`pcmodel.topics.admin_configs`, the transaction
methods (``list_transactions``, ``describe_transactions``, ``find_hanging_transactions``,
``abort_transaction``) in
:mod:`pcmodel.topics.admin_transactions`, the ACL methods (``describe_acls``, ``create_acls``,
``delete_acls``: security is disabled here, as on a Kafka broker without an authorizer) in
:mod:`pcmodel.topics.admin_acls`. kafka-python 3 renamed
them; the 2.x names (``list_consumer_groups``, ``describe_consumer_groups``,
``list_consumer_group_offsets``, ``delete_consumer_groups``) are here too, with the 2.x
results, because most tutorials still use them.

Everything is read from the broker's public methods at call time, so what the admin client shows
always agrees with what producers and consumers see. ``Broker.create_topic`` stays as the short
form; the admin client adds nothing the broker cannot do.

Prior art: kafka-python's ``kafka/admin/`` (``_topics.py``, ``_partitions.py``, ``_groups.py``)
and the Java ``Admin`` interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pcmodel.topics.admin_acls import (
    ACL,
    AclAdminMixin,
    ACLFilter,
    ResourcePattern,
    ResourcePatternFilter,
)
from pcmodel.topics.admin_configs import ConfigAdminMixin
from pcmodel.topics.admin_groups import GroupAdminMixin
from pcmodel.topics.admin_metadata import MetadataAdminMixin
from pcmodel.topics.admin_partitions import NewPartitions, PartitionAdminMixin
from pcmodel.topics.admin_replicas import ReplicaAdminMixin
from pcmodel.topics.admin_topics import NewTopic, TopicsAdminMixin
from pcmodel.topics.admin_transactions import AbortTransactionSpec, TransactionAdminMixin
from pcmodel.topics.authorization import (
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourceType,
)
from pcmodel.topics.broker_checks import _check_list
from pcmodel.topics.config import ADMIN_NO_EFFECT, check_no_effect, reject_unknown_key
from pcmodel.topics.config_resources import AlterConfigOp, ConfigResource, ConfigResourceType
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    KafkaConfigurationError,
)
from pcmodel.topics.structs import ElectionType, OffsetSpec, OffsetTimestamp, TopicPartition

__all__ = [
    "ACL",
    "ACLFilter",
    "ACLOperation",
    "ACLPermissionType",
    "ACLResourcePatternType",
    "AbortTransactionSpec",
    "AlterConfigOp",
    "ConfigResource",
    "ConfigResourceType",
    "KafkaAdminClient",
    "NewPartitions",
    "NewTopic",
    "ElectionType",
    "OffsetSpec",
    "OffsetTimestamp",
    "ResourcePattern",
    "ResourcePatternFilter",
    "ResourceType",
]


class KafkaAdminClient(TopicsAdminMixin, MetadataAdminMixin, PartitionAdminMixin, ReplicaAdminMixin,
                       GroupAdminMixin, ConfigAdminMixin, TransactionAdminMixin, AclAdminMixin):
    """Administers topics and consumer groups of a pcmodel broker (see the module docstring).

    ``KafkaAdminClient(broker=..., client_id=..., request_timeout_ms=...)``; kafka-python's
    connection settings are accepted with no effect, as by the producer and consumer. Every
    method returns at once (the broker acts synchronously) and is thread-safe.
    """

    def __init__(self, *, broker: Any = None, **configs: Any) -> None:
        honoured = {"client_id": "pcmodel-admin", "request_timeout_ms": 30_000}
        for key in sorted(configs):
            if key not in honoured and key not in ADMIN_NO_EFFECT:
                reject_unknown_key(key, [*honoured, *ADMIN_NO_EFFECT], client="KafkaAdminClient")
        check_no_effect(configs, ADMIN_NO_EFFECT)
        if broker is None or not hasattr(broker, "connect"):
            raise KafkaConfigurationError(
                "pass broker= (a pcmodel Broker, or a handle to a broker process)"
            )
        self.config = {**honoured, **{k: v for k, v in configs.items() if k in honoured}}
        self._given = broker
        self._conn = broker.connect()
        self._closed = False

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._conn is not self._given and hasattr(self._conn, "close"):
            self._conn.close()

    def __enter__(self) -> KafkaAdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<KafkaAdminClient {self.config['client_id']}{' closed' if self._closed else ''}>"

    # --- helpers ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise IllegalStateError("this admin client is closed; create a new one")

    def _missing_partitions(self, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """The partitions named that the broker does not have, in the order given."""
        counts = self._conn.list_topics()
        return [tp for tp in partitions if not 0 <= tp.partition < counts.get(tp.topic, 0)]

    def _replicated(self) -> bool:
        """True on a cluster: topics have a replication factor and their partitions leaders."""
        return getattr(self._conn, "replicates", False) is True

    def _check_broker_ids(self, broker_ids: Iterable[int], name: str = "broker_ids") -> list[int]:
        """The brokers a call that asks each broker apart is to ask, as given (the caller
        chooses its default for ``None``). Raises, before anything is asked, ``TypeError``
        for a bare str, a mapping or another value that is not a list (``name``, the
        argument's, in the message) and ``IllegalArgumentError`` for an id that is not one
        of the cluster's brokers, alive or not (a lone broker is broker 0), where
        kafka-python raises ``UnknownBrokerIdError`` for an id its metadata does not list."""
        asked = _check_list(name, broker_ids, "int")
        brokers = self._conn.broker_ids() if self._replicated() else (0,)
        for broker_id in asked:
            if isinstance(broker_id, bool) or broker_id not in brokers:
                raise IllegalArgumentError(f"broker {broker_id!r} is not a broker here; the "
                                           f"brokers are {list(brokers)}")
        return asked

    def _live_brokers(self) -> list[int]:
        """Every broker the controller counts as alive (a lone broker: broker 0)."""
        return list(self._conn.live_broker_ids()) if self._replicated() else [0]

