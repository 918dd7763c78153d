"""The transactions part of :class:`~pcmodel.topics.admin.KafkaAdminClient`: which
transactional ids the coordinator knows, what each one's transaction holds, and the tools that
find and end a *hanging* transaction.

``list_transactions`` and ``describe_transactions`` (Kafka's ListTransactions and
DescribeTransactions, what ``kafka-transactions.sh list`` and ``describe`` print), with
kafka-python 3's arguments and results: :class:`TransactionListing` rows per broker, and one
:class:`TransactionDescription` per transactional id. A lone broker is its own transaction
coordinator, broker 0; on a cluster each transactional id's coordinator is the leader of its
partition of ``__transaction_state``, and each broker lists the ids it coordinates.

A transaction *hangs* when a partition holds it open but its coordinator will never write its
marker: the coordinator forgot it, or forgot that it holds that partition. Its last stable
offset then stays where the transaction began, and every ``read_committed`` reader of the
partition stops there for ever. Neither a lone broker nor a cluster loses a transaction on its
own (a lone broker writes its markers in the same step as the commit or abort; a cluster's
coordinator stores its decision before its markers and writes them until they are written),
but an unclean election of a ``__transaction_state`` partition can lose the coordinator's
records of it. Kafka's tools for that case (KIP-664) are here:

* ``find_hanging_transactions`` is ``kafka-transactions.sh find-hanging``: it asks each
  partition which transactions it holds open (DescribeProducers), keeps those whose producer
  has been silent there longer than ``max_transaction_timeout_ms`` (no live transaction can be
  older), and asks the coordinators about their producers (ListTransactions,
  DescribeTransactions): one whose producer no coordinator knows, or whose transaction the
  coordinator does not hold in that partition, is hanging.
* ``abort_transaction`` is ``kafka-transactions.sh abort``: it sends the partition's leader
  the ABORT marker a coordinator would have sent (WriteTxnMarkers), with the producer's id and
  epoch and a coordinator epoch (see :class:`AbortTransactionSpec`). It needs no coordinator,
  so it also ends a transaction that is alive: that transaction's records are aborted in that
  partition, whatever its producer does next.

kafka-python 3's ``find_hanging_transactions`` looks the other way, from the coordinators
(transactions the coordinator still knows, running longer than the timeout plus five minutes),
which cannot find a transaction the coordinator forgot: this one follows Kafka's tool, keeping
kafka-python's arguments (see its docstring for the result).

Prior art: kafka-python's ``kafka/admin/_transactions.py``; the Java ``Admin`` interface
(``listTransactions``, ``describeTransactions``, ``describeProducers``,
``abortTransaction``) and ``TransactionsCommand`` (``FindHangingTransactionsCommand``,
``AbortTransactionCommand``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from pcmodel.topics.broker_checks import _check_list, _check_partitions
from pcmodel.topics.brokers_clock import brokers_wall_clock
from pcmodel.topics.errors import (
    IllegalArgumentError,
    TransactionalIdNotFoundError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.errors.base import error_detail
from pcmodel.topics.structs import ActiveProducer, TopicPartition, validate_topic_partition
from pcmodel.topics.transactions import TransactionListing

__all__ = ["AbortTransactionSpec", "TransactionAdminMixin", "TransactionDescription",
           "TransactionListing"]

#: Kafka's ``transaction.max.timeout.ms`` default, ``find-hanging``'s search horizon.
DEFAULT_MAX_TRANSACTION_TIMEOUT_MS = 900_000


class TransactionDescription(NamedTuple):
    """One transactional id's transaction, as kafka-python 3's ``describe_transactions``
    returns it: the broker coordinating it, its state (Kafka's names: ``"Ongoing"``,
    ``"CompleteCommit"``...), its producer id and epoch, its timeout, when the ongoing (or
    last) transaction began (epoch ms, ``-1`` if none did) and the partitions it holds."""

    coordinator_id: int
    state: str
    producer_id: int
    producer_epoch: int
    transaction_timeout_ms: int
    transaction_start_time_ms: int
    topic_partitions: set[TopicPartition]


class AbortTransactionSpec(NamedTuple):
    """The transaction ``abort_transaction`` ends: the producer whose transaction is open in
    ``topic_partition``, at ``producer_epoch``, and the ``coordinator_epoch`` its marker
    carries (kafka-python 3's ``AbortTransactionSpec``, the Java ``AbortTransactionSpec``).

    The partition refuses a coordinator epoch older than that of the producer's last marker
    there, as Kafka's does: take the producer's ``coordinator_epoch`` from
    ``describe_producers`` (``kafka-transactions.sh`` uses 0 where that says ``-1``). The
    default ``-1`` passes only where the producer never had a marker from a coordinator.
    """

    topic_partition: TopicPartition
    producer_id: int
    producer_epoch: int
    coordinator_epoch: int = -1


def _optional_list(name: str, values: Iterable[object] | None, of: str) -> list:
    """``values`` as a list (``None``: empty), refusing a bare str as ``_check_list`` does."""
    return [] if values is None else _check_list(name, values, of)


class TransactionAdminMixin:
    """Transaction administration (KafkaAdminClient part: the client provides ``_conn``,
    ``_check_open()``, ``_replicated()``, ``_check_broker_ids()``, ``_live_brokers()``,
    ``_partition_replicas()``, ``list_topics()`` and ``describe_producers()``)."""

    def list_transactions(
        self,
        broker_ids: Iterable[int] | None = None,
        producer_id_filters: Iterable[int] | None = None,
        state_filters: Iterable[str] | None = None,
        duration_filter_ms: int | None = None,
        transactional_id_pattern: str | None = None,
    ) -> dict[int, list[TransactionListing]]:
        """The transactional ids each coordinator knows (Kafka's ListTransactions), as
        ``{broker id: [TransactionListing]}``, each list by transactional id.

        Filters keep the ids of one of ``producer_id_filters``, in one of ``state_filters``
        (Kafka's state names), whose transaction has been ongoing for longer than
        ``duration_filter_ms``, and whose id matches the regular expression
        ``transactional_id_pattern`` (anywhere in it, as Kafka's ``Pattern.find``).
        ``broker_ids`` chooses the brokers asked (default: every live one; a lone broker is
        broker 0; an empty list asks none, as kafka-python's), each listing the ids it
        coordinates, as Kafka's brokers answer. Returns at once. Raises
        ``IllegalArgumentError`` for an unknown state, a pattern that does not compile or a
        broker that is not one, ``TypeError`` for a bare str given as one of the lists (pass
        ``["Ongoing"]``).
        """
        self._check_open()
        asked = self._live_brokers() if broker_ids is None else self._check_broker_ids(
            broker_ids)
        pattern = None
        if transactional_id_pattern is not None:
            try:
                pattern = re.compile(transactional_id_pattern)
            except (re.error, TypeError) as exc:
                raise IllegalArgumentError(
                    f"transactional_id_pattern {transactional_id_pattern!r} is not a regular "
                    f"expression: {exc}") from None
        rows = self._conn.list_transactions(
            _optional_list("state_filters", state_filters, "str"),
            _optional_list("producer_id_filters", producer_id_filters, "int"),
            -1 if duration_filter_ms is None else duration_filter_ms)
        if pattern is not None:
            rows = [row for row in rows if pattern.search(row.transactional_id)]
        by_broker: dict[int, list[TransactionListing]] = {b: [] for b in asked}
        for row in rows:
            coordinator = self._coordinator_of(row.transactional_id)
            if coordinator in by_broker:
                by_broker[coordinator].append(row)
        return by_broker

    def describe_transactions(
        self, transactional_ids: Iterable[str]
    ) -> dict[str, TransactionDescription]:
        """Each transactional id's transaction (Kafka's DescribeTransactions), as
        ``{transactional id: TransactionDescription}`` in the order asked. Returns at once.
        Raises, as kafka-python does, the first failed id's error:
        ``TransactionalIdNotFoundError`` for an id the coordinator does not know;
        ``TypeError`` for a bare str (pass ``["tx-1"]``).
        """
        self._check_open()
        ids = _check_list("transactional_ids", transactional_ids)
        found: dict[str, TransactionDescription] = {}
        for tid, answer in self._conn.describe_transactions(ids).items():
            if answer.error is not None:
                detail = answer.error.args[0] if answer.error.args else ""
                raise type(answer.error)(
                    f"DescribeTransactions failed for transactional id {tid!r}: {detail}")
            found[tid] = TransactionDescription(
                self._coordinator_of(tid), answer.state, answer.producer_id,
                answer.producer_epoch, answer.timeout_ms, answer.start_time_ms,
                set(answer.partitions))
        return found

    def abort_transaction(self, spec: AbortTransactionSpec) -> None:
        """Abort the transaction ``spec`` names in its partition (``kafka-transactions.sh
        abort``): the partition's leader appends the ABORT marker, as its coordinator would
        have, once every in-sync replica has it on a cluster. From then on the partition's last
        stable offset passes the transaction, and ``read_committed`` readers skip its records.
        The coordinator is not told (see the module).

        Raises, as kafka-python does, the partition's error: ``UnknownTopicOrPartitionError``,
        ``InvalidProducerEpochError`` (an epoch older than the producer's newest there),
        ``TransactionCoordinatorFencedError`` (a coordinator epoch older than its last
        marker's there), ``NotEnoughReplicasError`` (too few in-sync replicas on a cluster);
        nothing is written then. ``InvalidRequestError`` for a cluster's internal topic.
        ``TypeError`` / ``IllegalArgumentError`` for a malformed ``spec``.
        """
        self._check_open()
        if not isinstance(spec, tuple) or len(spec) != 4:
            raise TypeError("spec must be an AbortTransactionSpec(topic_partition, producer_id, "
                            f"producer_epoch, coordinator_epoch), not {spec!r}")
        tp = validate_topic_partition(spec[0])
        try:
            self._conn.write_txn_marker(tp.topic, tp.partition, spec[1], spec[2], False,
                                        spec[3])
        except (TypeError, IllegalArgumentError):
            raise
        except Exception as exc:
            raise type(exc)(f"WriteTxnMarkers (abort) failed for {tp.topic}-{tp.partition}: "
                            f"{error_detail(exc)}") from None

    def find_hanging_transactions(
        self,
        broker_ids: Iterable[int] | None = None,
        max_transaction_timeout_ms: int = DEFAULT_MAX_TRANSACTION_TIMEOUT_MS,
        *,
        topics: Iterable[str] | None = None,
        partitions: Iterable[TopicPartition] | None = None,
    ) -> list[dict[str, Any]]:
        """The hanging transactions of the partitions of ``topics`` (default: every topic),
        or of ``partitions`` alone, held by one of ``broker_ids`` (default: any broker), as
        ``kafka-transactions.sh find-hanging`` finds them (see the module; its ``--topic`` and
        ``--partition``). Partitions are asked of each broker named, or of their leaders.

        Returns one dict per hanging transaction and partition, by partition then producer id:
        ``topic_partition``, ``producer_id``, ``producer_epoch``, ``coordinator_epoch``,
        ``start_offset`` (its first record there), ``last_timestamp`` (its producer's last
        there, epoch ms) and ``age_ms`` (since then, on the brokers' clock: the tool's
        ``Duration``), with kafka-python's ``transactional_id``, ``state`` and
        ``coordinator_id`` (``None``, ``None`` and ``-1`` when no coordinator knows the
        producer) and ``topic_partitions`` (``[topic_partition]``). To end one, pass
        ``abort_transaction`` an :class:`AbortTransactionSpec` of its partition, producer id and
        epoch, and coordinator epoch (0 where it is ``-1``, as ``kafka-transactions.sh``
        does). Returns at once. Raises what ``describe_producers``
        raises, ``IllegalArgumentError`` for a broker that is not one, a negative timeout or
        both ``topics`` and ``partitions``, ``UnknownTopicOrPartitionError`` for a topic or
        partition that does not exist, ``TypeError`` for a bare str given as one of the lists.
        """
        self._check_open()
        if isinstance(max_transaction_timeout_ms, bool) or not isinstance(
                max_transaction_timeout_ms, int) or max_transaction_timeout_ms < 0:
            raise IllegalArgumentError("max_transaction_timeout_ms must be an int >= 0, not "
                                       f"{max_transaction_timeout_ms!r}")
        if topics is not None and partitions is not None:
            raise IllegalArgumentError("pass topics or partitions, not both: partitions "
                                       "already name their topics")
        names = None if topics is None else _check_list("topics", topics)
        only = None if partitions is None else set(_check_partitions("partitions", partitions))
        brokers = _optional_list("broker_ids", broker_ids, "int")
        # The brokers' clock: the machine's, or a stepped cluster's, which moves with its
        # virtual time (the producers' last timestamps are dated by it).
        now_ms = brokers_wall_clock(self._conn)()
        open_here: dict[tuple[TopicPartition, int], ActiveProducer] = {}
        for broker_id, searched in self._partitions_to_search(names, only, brokers):
            answers = self.describe_producers(searched, broker_id)
            for tp, answer in answers.items():
                for producer in answer.active_producers:
                    if (producer.current_transaction_start_offset >= 0
                            and now_ms - producer.last_timestamp > max_transaction_timeout_ms):
                        open_here.setdefault((tp, producer.producer_id), producer)
        if not open_here:
            return []
        producer_ids = sorted({producer_id for _, producer_id in open_here})
        ids = {row.producer_id: row.transactional_id
               for rows in self.list_transactions(producer_id_filters=producer_ids).values()
               for row in rows}
        described = self._conn.describe_transactions(sorted(set(ids.values()))) if ids else {}
        hanging = []
        for (tp, producer_id), producer in sorted(open_here.items()):
            tid = ids.get(producer_id)
            answer = described.get(tid) if tid is not None else None
            known = answer is not None and answer.error is None
            if known and tp in answer.partitions:
                continue  # the coordinator holds it there: it writes the marker in time
            if answer is not None and answer.error is not None and not isinstance(
                    answer.error, TransactionalIdNotFoundError):
                raise answer.error
            hanging.append({
                "topic_partition": tp,
                "producer_id": producer_id,
                "producer_epoch": producer.producer_epoch,
                "coordinator_epoch": producer.coordinator_epoch,
                "start_offset": producer.current_transaction_start_offset,
                "last_timestamp": producer.last_timestamp,
                "age_ms": now_ms - producer.last_timestamp,
                "transactional_id": tid if known else None,
                "state": answer.state if known else None,
                "coordinator_id": self._coordinator_of(tid) if known else -1,
                "topic_partitions": [tp],
            })
        return hanging

    def _partitions_to_search(self, topics: list[str] | None,
                              only: set[TopicPartition] | None, brokers: list[int]
                              ) -> list[tuple[int | None, list[TopicPartition]]]:
        """``(broker to ask, partitions)`` pairs: every partition of ``topics`` (``None``:
        every topic), or the partitions ``only`` names, at its leader (``None``), or at each
        of ``brokers`` the partitions it holds a replica of."""
        replicas: list[tuple[TopicPartition, tuple[int, ...]]] = []
        counts = self._conn.list_topics()
        if only is not None:
            topics = sorted({tp.topic for tp in only})
        for name in sorted(counts) if topics is None else topics:
            if name not in counts:
                raise UnknownTopicOrPartitionError(f"no topic {name!r} here")
            replicas.extend((TopicPartition(name, p.partition), p.replicas)
                            for p in self._partition_replicas(name, counts[name]))
        if only is not None:
            missing = sorted(only - {tp for tp, _ in replicas})
            if missing:
                raise UnknownTopicOrPartitionError(
                    f"topic {missing[0].topic!r} has no partition {missing[0].partition}")
            replicas = [(tp, held) for tp, held in replicas if tp in only]
        if not brokers:
            return [(None, [tp for tp, _ in replicas])] if replicas else []
        known = self._conn.broker_ids() if self._replicated() else (0,)
        for broker_id in brokers:
            if isinstance(broker_id, bool) or broker_id not in known:
                raise IllegalArgumentError(f"broker {broker_id!r} is not a broker here; the "
                                           f"brokers are {list(known)}")
        searches = [(broker_id, [tp for tp, held in replicas if broker_id in held])
                    for broker_id in brokers]
        return [(broker_id, tps) for broker_id, tps in searches if tps]

    def _coordinator_of(self, transactional_id: str) -> int:
        """The broker coordinating ``transactional_id``: broker 0 alone, on a cluster the
        leader of its ``__transaction_state`` partition (``-1`` while it has none)."""
        if not self._replicated():
            return 0
        return self._conn.transaction_coordinator_id(transactional_id)
