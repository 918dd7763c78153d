"""The consumer's subscription: a group's topics (``subscribe``) or chosen partitions (``assign``).

The two modes are mutually exclusive, as in Kafka: ``subscribe()`` (topics or a pattern, needs
a ``group_id``) lets the group assign partitions, with an optional rebalance listener;
``assign()`` takes exactly the given partitions, without a group. Mixing them raises
``IllegalStateError`` saying to ``unsubscribe()`` first. A subscription only records what is
wanted and flags a rejoin; the next ``poll()`` joins the group
(:mod:`~pcmodel.topics.membership`). A pattern matches whole topic names and picks up topics
created later.

:class:`SubscriptionMixin` is one part of :class:`~pcmodel.topics.consumer.KafkaConsumer`.

Prior art: the Java client's ``SubscriptionState`` (``subscribe``, ``assignFromUser``),
kafka-python's ``kafka/consumer/subscription_state.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pcmodel.topics.broker_checks import _check_list, _check_partitions
from pcmodel.topics.errors import (
    IllegalArgumentError,
    IllegalStateError,
    InvalidGroupIdError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import (
    ConsumerRebalanceListener,
    TopicPartition,
)
from pcmodel.topics.topic_settings import check_topic_name

__all__ = ["SubscriptionMixin"]


class SubscriptionMixin:
    """``subscribe`` / ``assign`` and what the consumer currently owns."""

    def subscribe(
        self,
        topics: Iterable[str] | str = (),
        pattern: str | re.Pattern[str] | None = None,
        listener: ConsumerRebalanceListener | None = None,
    ) -> None:
        """Join the group for ``topics`` (or every topic matching ``pattern``).

        Replaces any earlier subscription; the group rebalances on the next ``poll()``. An
        empty ``topics`` without a ``pattern`` is ``unsubscribe()``, as the Java client's
        ``subscribe(emptyList)`` (kafka-python raises ``ValueError``; the Java client wins).
        Raises ``InvalidGroupIdError`` without a ``group_id``, ``IllegalStateError`` when mixed
        with ``assign()`` or when both ``topics`` and ``pattern`` are given, ``TypeError`` for
        a listener that is not a ``ConsumerRebalanceListener`` and for ``topics`` given as
        bytes or another value that is not a list (a single str is one topic, as in
        kafka-python) and for a ``pattern`` that is neither a str nor a compiled str pattern
        (a listener given second, in the Java client's order, is refused so, saying so),
        ``IllegalArgumentError`` for a str that is not a regular expression; nothing changed
        then. A topic that
        does not exist is created if ``allow_auto_create_topics`` and the broker allow it (as a
        Kafka broker answers the consumer's metadata request); otherwise the group is
        subscribed to it and its partitions are assigned once it is created.
        """
        self._check_open()
        if self._group_id is None:
            raise InvalidGroupIdError(
                "subscribe() needs a group_id; without one, use assign() to pick partitions"
            )
        # A single str is one topic name (kafka-python's convenience); bytes, which would be
        # walked as ints, are refused with the shared message.
        listed = [topics] if isinstance(topics, str) else _check_list("topics", topics)
        topics = {check_topic_name(t) for t in listed}
        if not topics and pattern is None:
            self.unsubscribe()
            return
        if self._manual:
            raise IllegalStateError(
                "subscription to topics, partitions and pattern are mutually exclusive: "
                "this consumer used assign(); call unsubscribe() first"
            )
        if isinstance(pattern, ConsumerRebalanceListener):
            # The Java client's subscribe(topics, listener) order: here the second is pattern.
            raise TypeError("subscribe()'s second argument is the pattern, not the listener: "
                            "pass the listener as subscribe(topics, listener=...)")
        if topics and pattern is not None:
            raise IllegalStateError("subscribe() takes topics or a pattern, not both")
        if listener is not None and not isinstance(listener, ConsumerRebalanceListener):
            hint = (f": pass an instance, {listener.__name__}()" if isinstance(listener, type)
                    and issubclass(listener, ConsumerRebalanceListener) else "")
            raise TypeError(
                f"listener must be a ConsumerRebalanceListener, got {type(listener).__name__}"
                f"{hint}"
            )
        compiled = None if pattern is None else _compile(pattern)
        # The version first: a topic created in between is then picked up by the next refresh.
        version = self._conn.metadata_version()
        existing = self._conn.list_topics()
        if compiled is not None:
            topics = {t for t in existing if compiled.fullmatch(t)}
        else:
            if self.config["allow_auto_create_topics"]:
                for topic in sorted(t for t in topics if t not in existing):
                    try:
                        self._conn.partitions_for(topic, auto_create=True)
                    except UnknownTopicOrPartitionError:
                        pass  # auto-creation is off on the broker: wait for the topic
        with self._lock:
            self._pattern, self._pattern_version = compiled, version
            # Rejoin only for a change: with the eager protocol a rejoin revokes everything.
            if topics != self._subscribed_topics or not self._member_id:
                self._rejoin_needed = True
            self._subscribed_topics = topics
            self._listener = listener
        self._start_heartbeat()

    def unsubscribe(self) -> None:
        """Leave the group (or drop the manual assignment) and forget every partition.

        A subscribed member calls ``on_partitions_revoked`` and leaves without an auto-commit,
        as the Java client's ``unsubscribe()`` (kafka-python commits first); in the middle of
        a rebalance, or with its membership gone, ``on_partitions_lost`` instead, as Java's
        ``onLeavePrepare`` (see :mod:`~pcmodel.topics.membership`). A listener that raises
        does not stop it: the member leaves, the subscription is dropped, then the listener's
        exception is raised (a subscription kept after leaving would never join again)."""
        self._check_open()
        try:
            if self._subscribed_topics is not None:
                self._leave_group(commit=False)
        finally:
            with self._lock:
                self._subscribed_topics = None
                self._pattern = None
                self._manual = False
                self._states.clear()
                self._rejoin_needed = self._join_pending = self._lost = False

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Take exactly ``partitions``, without a group (kafka-python's manual assignment).

        Positions of partitions kept from the previous assignment are kept. With
        ``enable_auto_commit`` and a ``group_id``, an auto-commit that is due (its
        ``auto_commit_interval_ms`` has passed) is made first, of the old assignment's
        positions, as the Java client's ``assign()`` does. Raises
        ``IllegalStateError`` if the consumer subscribed, ``UnknownTopicOrPartitionError`` for a
        partition that does not exist, ``TypeError`` for a bare str or bytes or another entry
        that is not a ``TopicPartition`` (nothing changes then). An empty list is
        ``unsubscribe()``, a subscribed consumer's too, as in the Java client and kafka-python.
        """
        self._check_open()
        tps = _check_partitions("partitions", partitions)
        if not tps:
            self.unsubscribe()
            return
        if self._subscribed_topics is not None:
            raise IllegalStateError(
                "subscription to topics, partitions and pattern are mutually exclusive: "
                "this consumer subscribed; call unsubscribe() first"
            )
        self._conn.end_offsets(tps)  # raises for an unknown topic or partition
        # A due auto-commit goes first, as the Java client's assign(): no rebalance follows
        # to commit what was consumed of the partitions being dropped.
        self._maybe_auto_commit()
        with self._lock:
            self._states = {tp: self._states.get(tp) or self._new_state() for tp in tps}
            self._manual = True
            self._work.notify_all()

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer currently owns."""
        with self._lock:
            return set(self._states)

    def subscription(self) -> set[str] | None:
        """The subscribed topics (those matching the pattern), or ``None`` if not subscribed."""
        with self._lock:
            return None if self._subscribed_topics is None else set(self._subscribed_topics)


def _compile(pattern: object) -> re.Pattern[str]:
    """``subscribe()``'s ``pattern`` compiled: ``TypeError`` unless a str or a compiled str
    pattern, ``IllegalArgumentError`` naming the argument for a str that is not a regular
    expression."""
    if isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str):
        return pattern
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a regular expression (a str or re.compile(str)), not "
                        f"the {type(pattern).__name__} {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise IllegalArgumentError(f"pattern {pattern!r} is not a regular expression: "
                                   f"{exc}") from None
