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

The partition methods (growing topics, deleting records, looking offsets up, electing
leaders, moving replicas) live in :mod:`pcmodel.topics.admin_partitions`, the replica methods
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

import threading
import time
from collections.abc import Iterable, Mapping
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
from pcmodel.topics.admin_partitions import NewPartitions, PartitionAdminMixin, error_fields
from pcmodel.topics.admin_replicas import ReplicaAdminMixin
from pcmodel.topics.admin_transactions import AbortTransactionSpec, TransactionAdminMixin
from pcmodel.topics.authorization import (
    CLUSTER_OPERATIONS,
    TOPIC_OPERATIONS,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourceType,
    bit_field,
    operation_names,
)
from pcmodel.topics.broker import CLUSTER_ID
from pcmodel.topics.config import ADMIN_NO_EFFECT, check_no_effect, reject_unknown_key
from pcmodel.topics.config_resources import AlterConfigOp, ConfigResource, ConfigResourceType
from pcmodel.topics.errors import (
    BrokerResponseError,
    IllegalStateError,
    InvalidRequestError,
    KafkaConfigurationError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.partition_pages import PartitionsCursor, page_of_partitions
from pcmodel.topics.replica_placement import check_replication_factor, new_topic_assignment
from pcmodel.topics.structs import (
    ElectionType,
    OffsetSpec,
    OffsetTimestamp,
    PartitionReplicas,
    TopicPartition,
)
from pcmodel.topics.topic_configs import (
    check_topic_configs,
    describe_topic_configs,
    topic_options,
)

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


class NewTopic:
    """A topic to create: kafka-python's ``NewTopic`` (name, partitions, replication, configs).

    ``num_partitions=-1`` takes the broker's ``num_partitions``; ``replication_factor=-1``
    (the default) the broker's default factor. A lone ``Broker`` takes 1 only; a ``Cluster``
    up to its live brokers. ``replica_assignments`` (``{partition: [broker ids]}``, partitions
    0, 1, 2..., preferred leader first) places the replicas by hand instead; both counts must
    then be ``-1`` (Kafka's rule). A lone broker is broker 0. ``topic_configs`` are Kafka's
    names, honoured or refused as :mod:`pcmodel.topics.topic_configs` says (``retention.ms``,
    ``cleanup.policy=delete``, and on a cluster ``min.insync.replicas`` and
    ``unclean.leader.election.enable``).
    """

    def __init__(
        self,
        name: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        replica_assignments: Mapping[int, list[int]] | None = None,
        topic_configs: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignments = dict(replica_assignments or {})
        self.topic_configs = dict(topic_configs or {})

    def __repr__(self) -> str:
        return f"NewTopic(name={self.name!r}, num_partitions={self.num_partitions})"


def _page_topic(name: str, code: int, operations: int,
                partitions: list[dict[str, Any]]) -> dict[str, Any]:
    """One topic of a DescribeTopicPartitions answer, as kafka-python 3 hands it out."""
    return {"error_code": code, "name": name, "topic_id": None,
            "is_internal": name.startswith("__"), "partitions": partitions,
            "topic_authorized_operations": operations}


class KafkaAdminClient(PartitionAdminMixin, ReplicaAdminMixin, GroupAdminMixin, ConfigAdminMixin,
                       TransactionAdminMixin, AclAdminMixin):
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

    # --- topics -------------------------------------------------------------------------------

    def create_topics(
        self,
        new_topics: Iterable[NewTopic | str] | Mapping[str, Mapping[str, Any]],
        timeout_ms: float | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
        wait_for_metadata: bool = False,
    ) -> dict[str, Any]:
        """Create topics; return ``{"topics": [{"name", "topic_id", "error_code",
        "error_message", "topic_config_error_code", "num_partitions", "replication_factor"}]}``
        as kafka-python 3 does: the partitions and replication factor each topic got (the
        broker's defaults resolved), ``-1`` for a topic that was not created, ``topic_id``
        ``None`` (topics have no ids here), and for a topic created (or validated) its every
        config, ``{"configs": {name: {"value", "read_only", "config_source",
        "is_sensitive"}}}``.

        ``new_topics`` is a list of :class:`NewTopic`, a list of names, or kafka-python 3's dict
        ``{name: {"num_partitions": n, "replication_factor": r, "configs": {...}}}``. Each topic
        is created on its own; with ``raise_errors`` the first failure (``TopicAlreadyExistsError``,
        ``InvalidTopicError``, ``InvalidPartitionsError``, ...) is raised after the others were
        tried, as kafka-python raises from the response. ``validate_only`` checks and creates
        nothing. A created topic is visible at once (``wait_for_metadata`` changes nothing).
        """
        self._check_open()
        specs = _topic_specs(new_topics)
        results, first_error = [], None
        for spec in specs:
            error = None
            partitions, replication = spec.num_partitions, 1
            try:
                partitions, kwargs = self._create_arguments(spec)
                if "replica_assignment" in kwargs:
                    replication = len(kwargs["replica_assignment"][0])
                elif self._replicated():
                    replication = (kwargs["replication_factor"]
                                   or self._conn.default_replication_factor)
                if validate_only:
                    if spec.name in self._conn.list_topics():
                        raise TopicAlreadyExistsError(f"topic {spec.name!r} already exists")
                else:
                    self._conn.create_topic(spec.name, partitions, **kwargs)
            except BrokerResponseError as exc:
                error = exc
            result = {
                "name": spec.name,
                "topic_id": None,
                **error_fields(error),
                "topic_config_error_code": 0,
                # As Kafka answers: what the topic got, or -1 when it was not created.
                "num_partitions": partitions if error is None else -1,
                "replication_factor": replication if error is None else -1,
            }
            if error is None:  # and its every config, as CreateTopics v5+ answers
                result["configs"] = {
                    entry.name: {"value": entry.value, "read_only": entry.read_only,
                                 "config_source": entry.source.name,
                                 "is_sensitive": entry.sensitive}
                    for entry in describe_topic_configs(check_topic_configs(spec.topic_configs))}
            results.append(result)
            first_error = first_error or error
        if raise_errors and first_error is not None:
            raise first_error
        return {"topics": results}

    def delete_topics(
        self, topics: Iterable[str], timeout_ms: float | None = None, raise_errors: bool = True
    ) -> dict[str, Any]:
        """Delete topics with their records and committed offsets.

        Returns ``{"topics": [{"name", "topic_id", "error_code", "error_message"}]}``, as
        kafka-python 3 does (``topic_id`` is ``None``: topics have no ids here); with
        ``raise_errors`` the first failure (``UnknownTopicOrPartitionError``) is raised.
        """
        self._check_open()
        if isinstance(topics, str):
            raise TypeError("topics must be a list of names, not a str")
        results, first_error = [], None
        for name in topics:
            error = None
            try:
                self._conn.delete_topic(name)
            except BrokerResponseError as exc:
                error = exc
            results.append({"name": name, "topic_id": None, **error_fields(error)})
            first_error = first_error or error
        if raise_errors and first_error is not None:
            raise first_error
        return {"topics": results}

    def list_topics(self) -> list[str]:
        """The names of every topic."""
        self._check_open()
        return list(self._conn.list_topics())

    def describe_topics(self, topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Metadata of ``topics`` (all if ``None``), as kafka-python 3's list of dicts.

        Each: ``{"error_code", "name", "topic_id", "is_internal", "partitions": [{"error_code",
        "partition_index", "leader_id", "leader_epoch", "replica_nodes", "isr_nodes",
        "offline_replicas"}], "authorized_operations"}``; ``topic_id`` is ``None`` (topics
        have no ids here) and ``authorized_operations`` names every operation on a topic, as
        a Kafka broker without an authorizer answers (there are no ACLs here). A missing
        topic has ``error_code`` 3 (unknown topic) and no partitions, as in Kafka's metadata
        response. On a cluster each partition is as the controller last decided it (a
        partition without a leader has leader ``-1`` and ``error_code`` 5,
        LEADER_NOT_AVAILABLE); a lone broker is node 0, leading every one in epoch 0.
        """
        self._check_open()
        counts = self._conn.list_topics()
        names = sorted(counts) if topics is None else list(topics)
        described = []
        for name in names:
            count = counts.get(name)
            partitions = [] if count is None else self._partition_replicas(name, count)
            described.append({
                "error_code": 0 if count is not None else 3,
                "name": name,
                "topic_id": None,
                "is_internal": False,
                "partitions": [
                    {"error_code": 5 if p.leader < 0 else 0, "partition_index": p.partition,
                     "leader_id": p.leader, "leader_epoch": p.leader_epoch,
                     "replica_nodes": list(p.replicas), "isr_nodes": list(p.isr),
                     "offline_replicas": list(p.offline)}
                    for p in partitions
                ],
                "authorized_operations": operation_names(TOPIC_OPERATIONS),
            })
        return described

    def describe_cluster(self) -> dict[str, Any]:
        """The cluster's id, its controller and its brokers (Kafka's DescribeCluster), as
        kafka-python 3 answers: ``{"cluster_id", "controller_id", "brokers": [{"broker_id",
        "host", "port", "rack", "is_fenced"}], "authorized_operations"}``.

        ``cluster_id`` is ``"pcmodel"``; ``controller_id`` is the broker Kafka's Metadata
        names for admin requests (a lone broker is broker 0; a cluster names its lowest live
        broker: its controller is no broker, as in KRaft); every broker is listed, those the
        controller fenced (down past their session) with ``is_fenced``, as kafka-python asks.
        pcmodel's clients reach brokers in process, so ``host`` is ``None`` and ``port`` -1
        (a broker's Kafka listener has an address: ``serve_kafka()``). The authorized
        operations are every cluster operation (no ACLs here).
        """
        self._check_open()
        if self._replicated():
            ids, live = self._conn.broker_ids(), set(self._conn.live_broker_ids())
            controller = self._conn.controller_id()
        else:
            ids, live, controller = (0,), {0}, 0
        return {"cluster_id": CLUSTER_ID, "controller_id": controller,
                "brokers": [{"broker_id": b, "host": None, "port": -1, "rack": None,
                             "is_fenced": b not in live} for b in ids],
                "authorized_operations": operation_names(CLUSTER_OPERATIONS)}

    def describe_topic_partitions(
        self, topics: Iterable[str], response_partition_limit: int = 2000,
        cursor: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One page of ``topics`` (every topic for an empty list) and their partitions
        (Kafka's DescribeTopicPartitions, KIP-966), as kafka-python 3 answers it.

        Topics come in name order, from ``cursor`` (``{"topic_name", "partition_index"}``,
        the ``next_cursor`` of the page before) on, at most ``response_partition_limit``
        partitions (never more than 2000) in all. Returns ``{"topics": [{"error_code",
        "name", "topic_id", "is_internal", "partitions": [{"error_code", "partition_index",
        "leader_id", "leader_epoch", "replica_nodes", "isr_nodes",
        "eligible_leader_replicas", "last_known_elr", "offline_replicas"}],
        "topic_authorized_operations"}], "next_cursor": None | {"topic_name",
        "partition_index"}}``: ``topic_id`` is ``None`` (no topic ids here), the eligible
        leader replicas ``None`` (pcmodel keeps none), the authorized operations Kafka's bit
        field of every topic operation (no ACLs); a topic asked for that does not exist has
        ``error_code`` 3 (17 for an illegal name) and no partitions. A cursor whose topic was
        not asked for, or with a negative partition, is answered as Kafka answers it: every
        topic asked with INVALID_REQUEST (42). Partitions are as :meth:`describe_topics` shows
        them, a partition without a leader with leader ``-1`` and no error; "every topic" is
        every topic :meth:`list_topics` lists (a cluster's internal ``__consumer_offsets``
        left out, as there).
        """
        self._check_open()
        if isinstance(topics, str):
            raise TypeError(f"topics must be a list of topic names, not the str {topics!r}")
        names = list(topics)
        existing = self._conn.list_topics()
        every = not names
        counts = dict(existing) if every else {name: existing.get(name) for name in names}
        at = None if cursor is None else PartitionsCursor(cursor["topic_name"],
                                                         cursor["partition_index"])
        try:
            pages, following = page_of_partitions(counts, every_topic=every, cursor=at,
                                                  limit=response_partition_limit)
        except InvalidRequestError as exc:
            return {"topics": [_page_topic(name, exc.errno, -(2**31), []) for name in names],
                    "next_cursor": None}
        operations = bit_field(TOPIC_OPERATIONS)
        described = []
        for page in pages:
            if page.error is not None:
                described.append(_page_topic(page.name, page.error.errno, operations, []))
                continue
            replicas = self._partition_replicas(page.name, existing[page.name])
            described.append(_page_topic(page.name, 0, operations, [
                {"error_code": 0, "partition_index": p.partition, "leader_id": p.leader,
                 "leader_epoch": p.leader_epoch, "replica_nodes": list(p.replicas),
                 "isr_nodes": list(p.isr), "eligible_leader_replicas": None,
                 "last_known_elr": None, "offline_replicas": list(p.offline)}
                for p in replicas if p.partition in page.partitions]))
        return {"topics": described, "next_cursor": None if following is None else {
            "topic_name": following.topic_name, "partition_index": following.partition_index}}

    def wait_for_topics(self, topic_names: Iterable[str], timeout_ms: float = 10000) -> None:
        """Block until every topic named exists and each of its partitions has a leader, as
        kafka-python 3's does (it polls ``describe_topics``).

        On a lone broker a created topic is ready at once; on a cluster a partition waits for
        the controller to elect a leader (after its brokers died, say). Raises
        ``KafkaTimeoutError`` after ``timeout_ms``, naming what each topic still lacks.
        """
        self._check_open()
        if isinstance(topic_names, str):
            raise TypeError("topic_names must be a list of names, not a str")
        names = list(topic_names)
        deadline = time.monotonic() + timeout_ms / 1000
        pause = threading.Event()  # never set: a wait that no signal cuts short
        while True:
            pending = {topic["name"]: reason for topic in self.describe_topics(names)
                       if (reason := _not_ready(topic)) is not None}
            if not pending:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaTimeoutError(f"Topics not ready after {timeout_ms}ms: {pending}")
            # Leader elections do not change the topics' metadata version: ask again soon.
            pause.wait(min(0.05, remaining))

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

    def _partition_replicas(self, name: str, count: int) -> list[PartitionReplicas]:
        if self._replicated():
            try:
                return self._conn.describe_partitions(name)
            except UnknownTopicOrPartitionError:
                return []  # deleted since list_topics()
        return [PartitionReplicas(p, 0, 0, (0,), (0,), ()) for p in range(count)]

    def _create_arguments(self, spec: NewTopic) -> tuple[int, dict[str, Any]]:
        """The partition count and broker ``create_topic`` keyword arguments for a NewTopic;
        refuse what cannot be done (Kafka's errors) before anything changes."""
        topic_options(spec.topic_configs, replicates=self._replicated())  # checks them
        kwargs: dict[str, Any] = {"configs": spec.topic_configs}
        if spec.replica_assignments:
            placed = new_topic_assignment(  # a lone broker is broker 0
                self._conn, spec.num_partitions, spec.replication_factor,
                spec.replica_assignments.items(), node_id=0)
            if self._replicated():
                kwargs["replica_assignment"] = placed
            return len(placed), kwargs
        if self._replicated():
            kwargs["replication_factor"] = check_replication_factor(
                spec.replication_factor, self._conn.live_broker_count())
        else:
            check_replication_factor(spec.replication_factor, 1)
        partitions = spec.num_partitions
        if partitions == -1:
            partitions = getattr(self._given, "num_partitions", 1)
        return partitions, kwargs

def _topic_specs(
    new_topics: Iterable[NewTopic | str] | Mapping[str, Mapping[str, Any]],
) -> list[NewTopic]:
    if isinstance(new_topics, (str, NewTopic)):
        raise TypeError("new_topics must be a list of NewTopic or names, or a dict of them")
    if isinstance(new_topics, Mapping):
        return [
            NewTopic(name, opts.get("num_partitions", -1), opts.get("replication_factor", -1),
                     opts.get("assignments"), opts.get("configs"))
            for name, opts in new_topics.items()
        ]
    specs = [NewTopic(t) if isinstance(t, str) else t for t in new_topics]
    if not specs or not all(isinstance(t, NewTopic) for t in specs):
        raise ValueError(f"No valid topics found in new_topics: {new_topics!r}")
    return specs


def _not_ready(topic: Mapping[str, Any]) -> str | None:
    """Why a described topic is not ready to use (kafka-python's wording), or ``None``."""
    if topic["error_code"] != 0:
        return "missing from metadata response"
    leaderless = [f"p{p['partition_index']}=no leader" for p in topic["partitions"]
                  if p["leader_id"] < 0]
    return ",".join(leaderless) or None
