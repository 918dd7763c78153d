"""The metadata part of :class:`~pcmodel.topics.admin.KafkaAdminClient`: which topics and
brokers there are, and who leads each partition.

``list_topics``, ``describe_topics`` (Kafka's Metadata), ``describe_cluster``
(DescribeCluster), ``describe_topic_partitions`` (DescribeTopicPartitions, KIP-966, one page at
a time) and ``wait_for_topics``, answered as kafka-python 3 answers them. All are read from the
broker at call time: a lone broker is broker 0, leading every partition in epoch 0; a cluster's
partitions are as its controller last decided them.

Prior art: kafka-python's ``kafka/admin/_topics.py`` (``list_topics``, ``describe_topics``,
``wait_for_topics``) and ``_cluster.py`` (``describe_cluster``), the Java ``Admin`` interface
(``describeTopics``, ``describeCluster``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pcmodel.topics.authorization import (
    CLUSTER_OPERATIONS,
    TOPIC_OPERATIONS,
    bit_field,
    operation_names,
)
from pcmodel.topics.broker import CLUSTER_ID
from pcmodel.topics.broker_checks import INT32_MAX, _check_list, _check_mapping
from pcmodel.topics.config import MAX_WAIT_MS, waitable_ms
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidRequestError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.partition_pages import PartitionsCursor, page_of_partitions
from pcmodel.topics.structs import PartitionReplicas
from pcmodel.topics.topic_settings import is_internal_topic

__all__ = ["MetadataAdminMixin"]


def _page_topic(name: str, code: int, operations: int, partitions: list[dict[str, Any]],
                topic_id: uuid.UUID | None = None) -> dict[str, Any]:
    """One topic of a DescribeTopicPartitions answer, as kafka-python 3 hands it out."""
    return {"error_code": code, "name": name, "topic_id": topic_id,
            "is_internal": is_internal_topic(name), "partitions": partitions,
            "topic_authorized_operations": operations}


class MetadataAdminMixin:
    """Topics, brokers and partition leaders (KafkaAdminClient part: the client provides
    ``_conn``, ``_check_open()`` and ``_replicated()``)."""

    def list_topics(self) -> list[str]:
        """The names of every topic, a cluster's internal topics (``__consumer_offsets``, as
        :func:`~pcmodel.topics.topic_settings.is_internal_topic` names them) left out, as the
        Java ``Admin.listTopics()`` leaves internal topics out by default (kafka-python 3 lists
        every topic of the metadata, internal ones too). Another name that starts with ``__``
        (a user's ``__audit``) is an ordinary topic, listed."""
        self._check_open()
        return list(self._conn.list_topics())

    def describe_topics(self, topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Metadata of ``topics`` (all if ``None``), as kafka-python 3's list of dicts.

        Each: ``{"error_code", "name", "topic_id", "is_internal", "partitions": [{"error_code",
        "partition_index", "leader_id", "leader_epoch", "replica_nodes", "isr_nodes",
        "offline_replicas"}], "authorized_operations"}``; ``topic_id`` is the topic's id as
        text, as kafka-python gives it (see :meth:`_topic_ids`; ``None`` for a missing
        topic), and ``authorized_operations`` names every operation on a topic, as
        a Kafka broker without an authorizer answers (there are no ACLs here). A missing
        topic has ``error_code`` 3 (unknown topic) and no partitions, as in Kafka's metadata
        response. An internal topic (a cluster's ``__consumer_offsets``) is described when
        named, with ``is_internal`` true, and left out of "all", as Kafka's Metadata and the
        Java ``Admin`` do. On a cluster each partition is as the controller last decided it (a
        partition without a leader has leader ``-1`` and ``error_code`` 5,
        LEADER_NOT_AVAILABLE); a lone broker is node 0, leading every one in epoch 0.
        Raises ``TypeError`` for a bare str (pass ``["orders"]``).
        """
        self._check_open()
        names = None if topics is None else _check_list("topics", topics)
        counts = self._described_counts(names)
        ids = self._topic_ids()
        if names is None:
            names = sorted(counts)
        described = []
        for name in names:
            count = counts.get(name)
            partitions = [] if count is None else self._partition_replicas(name, count)
            described.append({
                "error_code": 0 if count is not None else 3,
                "name": name,
                "topic_id": str(ids[name]) if count is not None and name in ids else None,
                "is_internal": is_internal_topic(name),
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
        "partition_index"}}``: ``topic_id`` is the topic's id (a ``uuid.UUID`` here, as
        kafka-python gives it; ``None`` for a topic not described), the eligible
        leader replicas ``None`` (pcmodel keeps none), the authorized operations Kafka's bit
        field of every topic operation (no ACLs); a topic asked for that does not exist has
        ``error_code`` 3 (17 for an illegal name) and no partitions. A cursor whose topic was
        not asked for, or with a negative partition, is answered as Kafka answers it: every
        topic asked with INVALID_REQUEST (42). Partitions are as :meth:`describe_topics` shows
        them, a partition without a leader with leader ``-1`` and no error; "every topic" is
        every topic :meth:`list_topics` lists (a cluster's internal ``__consumer_offsets``
        left out, as there), and an internal topic named is described. Raises ``TypeError``
        for a bare str (pass ``["orders"]``) or a ``cursor`` that is not a mapping of a str
        ``topic_name`` and an int ``partition_index``, ``ValueError`` for one that lacks
        either.
        """
        self._check_open()
        names = _check_list("topics", topics)
        at = None if cursor is None else _check_cursor(cursor)
        existing = self._described_counts(names)
        every = not names
        counts = dict(existing) if every else {name: existing.get(name) for name in names}
        try:
            pages, following = page_of_partitions(counts, every_topic=every, cursor=at,
                                                  limit=response_partition_limit)
        except InvalidRequestError as exc:
            # No operations: the schema's default for them, Integer.MIN_VALUE.
            return {"topics": [_page_topic(name, exc.errno, -INT32_MAX - 1, [])
                               for name in names], "next_cursor": None}
        operations = bit_field(TOPIC_OPERATIONS)
        ids = self._topic_ids()
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
                for p in replicas if p.partition in page.partitions], ids.get(page.name)))
        return {"topics": described, "next_cursor": None if following is None else {
            "topic_name": following.topic_name, "partition_index": following.partition_index}}

    def wait_for_topics(self, topic_names: Iterable[str], timeout_ms: float = 10000) -> None:
        """Block until every topic named exists and each of its partitions has a leader, as
        kafka-python 3's does (it polls ``describe_topics``).

        On a lone broker a created topic is ready at once; on a cluster a partition waits for
        the controller to elect a leader (after its brokers died, say). Raises
        ``KafkaTimeoutError`` after ``timeout_ms``, naming what each topic still lacks;
        ``TypeError`` / ``IllegalArgumentError`` for a ``timeout_ms`` that is not a number of
        milliseconds from 0 to :data:`~pcmodel.topics.config.MAX_WAIT_MS`, ``TypeError`` for
        a bare str or bytes (pass ``["orders"]``).
        """
        self._check_open()
        if isinstance(topic_names, str):
            raise TypeError("topic_names must be a list of names, not a str")
        names = _check_list("topic_names", topic_names)  # bytes, which is no name either
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)):
            raise TypeError(f"timeout_ms must be a number of milliseconds, got {timeout_ms!r}")
        if not waitable_ms(timeout_ms):  # NaN above all: the loop below would never end
            raise IllegalArgumentError(
                f"timeout_ms must be from 0 to {MAX_WAIT_MS:g} ms, got {timeout_ms}")
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

    def _topic_ids(self) -> dict[str, uuid.UUID]:
        """``{topic: topic id}``: the ids the broker (a cluster's controller) drew when it
        created its topics, as its Kafka listener answers them; a broker in another process
        serves them as one in this process does."""
        own = getattr(self._conn, "topic_ids", None)
        if own is None:  # a cluster's connection: the cluster itself keeps them
            own = getattr(self._given, "topic_ids", None)
        return own() if callable(own) else {}

    def _described_counts(self, names: list[str] | None) -> dict[str, int]:
        """``{topic: partitions}`` a describe of ``names`` (``None`` or empty: every topic)
        may answer: the topics :meth:`list_topics` lists, and the internal ones named (a
        cluster's ``__consumer_offsets``), as Kafka's Metadata describes an internal topic
        asked for by name (``KafkaApis.getTopicMetadata``, ``Topic.isInternal``)."""
        counts = dict(self._conn.list_topics())
        if names and self._replicated():
            internal = self._conn.internal_topics()
            counts.update({name: internal[name] for name in names if name in internal})
        return counts

    def _partition_replicas(self, name: str, count: int) -> list[PartitionReplicas]:
        """Each partition's leader, epoch and replicas (every part of the client reads them
        here); a lone broker is broker 0, leading all of them in epoch 0."""
        if self._replicated():
            try:
                return self._conn.describe_partitions(name)
            except UnknownTopicOrPartitionError:
                return []  # deleted since list_topics()
        return [PartitionReplicas(p, 0, 0, (0,), (0,), ()) for p in range(count)]


def _not_ready(topic: Mapping[str, Any]) -> str | None:
    """Why a described topic is not ready to use (kafka-python's wording), or ``None``."""
    if topic["error_code"] != 0:
        return "missing from metadata response"
    leaderless = [f"p{p['partition_index']}=no leader" for p in topic["partitions"]
                  if p["leader_id"] < 0]
    return ",".join(leaderless) or None


def _check_cursor(cursor: Mapping[str, Any]) -> PartitionsCursor:
    """``cursor`` (a page's ``next_cursor``) as a :class:`PartitionsCursor`, checked before
    anything is asked: ``TypeError`` for a value that is not a mapping or a field of the wrong
    type, ``ValueError`` for a missing field."""
    _check_mapping("cursor", cursor, "'topic_name' and 'partition_index' to their values")
    missing = [key for key in ("topic_name", "partition_index") if key not in cursor]
    if missing:
        raise ValueError(f"cursor lacks {' and '.join(map(repr, missing))}: pass the "
                         f"next_cursor of the page before, not {dict(cursor)!r}")
    topic, partition = cursor["topic_name"], cursor["partition_index"]
    if not isinstance(topic, str):
        raise TypeError(f"cursor's topic_name must be a str, not the "
                        f"{type(topic).__name__} {topic!r}")
    if isinstance(partition, bool) or not isinstance(partition, int):
        raise TypeError(f"cursor's partition_index must be an int, not the "
                        f"{type(partition).__name__} {partition!r}")
    return PartitionsCursor(topic, partition)
