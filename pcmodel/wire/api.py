"""The contract between the listener and the handlers: one :class:`ApiHandler` per API key.

A handler is a plain function ``handle(ctx, request) -> response``. ``request`` is the decoded
kafka-python request object (its fields are the schema's, in snake case: ``request.topics``,
``request.acks``...); the function returns a response built with ``ctx.response(...)``, or
``None`` when Kafka sends no response (a Produce with ``acks=0``). Handlers only map fields to
:class:`~pcmodel.topics.broker.Broker` calls and back; framing, headers, versions and errors
that escape a handler are the listener's business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    import kafka.errors as kafka_errors
    from kafka.protocol.api_message import ApiMessage
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the Kafka protocol listener needs kafka-python 3: pip install 'kafka-python>=3,<4' "
        "(the 'kafka' extra)"
    ) from exc

from pcmodel.topics.errors import KafkaError, UnknownTopicOrPartitionError
from pcmodel.topics.structs import TopicPartition
from pcmodel.topics.topic_settings import check_topic_name

__all__ = [
    "ApiHandler",
    "CloseConnection",
    "RequestContext",
    "authorized_operations",
    "committed_leader_epoch",
    "error_code",
    "error_message",
    "impossible_partition",
    "kafka_errors",
]


class CloseConnection(Exception):  # noqa: N818 - an instruction to the listener, not an error
    """Raised by a handler to make the listener close the connection (Kafka's way of telling
    an ``acks=0`` producer that its request failed); the message says why and is logged."""


@dataclass(frozen=True)
class ApiHandler:
    """How one API key is served: versions ``min_version..max_version`` by ``handle``.

    ApiVersions advertises exactly this range, so it must be the range ``handle`` implements
    completely (fields of newer versions included).
    """

    request_class: type[ApiMessage]
    response_class: type[ApiMessage]
    min_version: int
    max_version: int
    handle: Callable[[RequestContext, Any], Any]

    def __post_init__(self) -> None:
        if self.request_class.API_KEY != self.response_class.API_KEY:
            raise ValueError(f"{self.request_class.name} and {self.response_class.name} differ")
        if not 0 <= self.min_version <= self.max_version <= self.request_class.max_version:
            raise ValueError(
                f"{self.request_class.name}: versions {self.min_version}..{self.max_version} are "
                f"outside what kafka-python can decode (0..{self.request_class.max_version})"
            )

    @property
    def api_key(self) -> int:
        """The Kafka API key (0 for Produce, 1 for Fetch, ...)."""
        return self.request_class.API_KEY

    @property
    def name(self) -> str:
        """The API's name in Kafka's schemas, such as ``"Produce"``."""
        return self.request_class.name.removesuffix("Request")


@dataclass
class RequestContext:
    """What a handler knows about the request it serves and the listener that received it.

    ``node_id``, ``host`` and ``port`` are what the listener advertises; ``view`` (a
    :class:`~pcmodel.wire.view.ClusterView`) says which brokers exist, who leads what and who
    coordinates which group (Metadata, FindCoordinator, the leader checks of Produce, Fetch and
    ListOffsets); ``handlers`` is the registry (ApiVersions reads it); ``broker`` is the
    :class:`~pcmodel.topics.broker.Broker` every handler calls (on a cluster, a connection
    that serves what *this* broker holds: :mod:`pcmodel.wire.node_connection`).
    """

    broker: Any
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    node_id: int
    host: str
    port: int
    handlers: Mapping[int, ApiHandler]
    response_class: type[ApiMessage]
    #: Per-connection state a handler may keep between requests (it is the connection's own).
    connection_state: dict[str, Any] = field(default_factory=dict)
    #: The listener's :class:`~pcmodel.wire.stats.StatsRecorder` (``None`` outside a listener).
    stats: Any = None
    #: The :class:`~pcmodel.wire.view.ClusterView` (a lone broker's unless the listener got one).
    view: Any = None
    #: The client's address as Kafka shows it (``"/127.0.0.1"``; ``""`` outside a listener).
    client_host: str = ""
    #: Whether the listener is stopping: a handler that waits long (JoinGroup, SyncGroup)
    #: asks it between slices of its wait, and closes its connection once it is.
    stopping: Callable[[], bool] = lambda: False

    def __post_init__(self) -> None:
        if self.view is None:
            from pcmodel.wire.view import SingleBrokerView

            self.view = SingleBrokerView(self.node_id, self.host, self.port)

    def response(self, **fields: Any) -> ApiMessage:
        """A response of this request's API at this request's version, with ``fields`` set."""
        return self.response_class(version=self.api_version, **fields)


def authorized_operations(asked: bool, operations: Iterable[int]) -> set[int] | None:
    """A response's authorized-operations field: every one of ``operations`` if the client
    asked for them (pcmodel has no ACLs: :mod:`pcmodel.topics.authorization`), else ``None``,
    the schema's "not asked" (-2^31)."""
    return set(operations) if asked else None


def error_code(exc: BaseException) -> int:
    """Kafka's error code for an exception a :class:`Broker` method raised.

    pcmodel's broker errors carry Kafka's code in ``errno`` (``UnknownTopicOrPartitionError``
    is 3, ...); a ``TypeError``/``ValueError`` from validation is INVALID_REQUEST (42);
    anything else is UNKNOWN_SERVER_ERROR (-1).
    """
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and not isinstance(exc, OSError):
        return code
    if isinstance(exc, (TypeError, ValueError)):
        return kafka_errors.InvalidRequestError.errno
    return kafka_errors.UnknownError.errno


def error_message(exc: BaseException) -> str:
    """The text of an exception for a response's ``error_message``: what it says, without
    pcmodel's ``[Error N] ClassName:`` prefix, which the client adds itself when it shows it
    (as it does to a Kafka broker's message)."""
    if isinstance(exc, KafkaError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def impossible_partition(tp: TopicPartition) -> KafkaError | None:
    """Why no broker can hold ``tp``, as Kafka answers a request naming it: an
    ``InvalidTopicError`` (INVALID_TOPIC_EXCEPTION) for an illegal topic name, UNKNOWN_TOPIC_OR_
    PARTITION for a negative index; ``None`` for a partition a broker may have. Handlers answer
    these themselves: pcmodel's brokers refuse them as a caller's mistake."""
    try:
        check_topic_name(tp.topic)
    except KafkaError as exc:
        return exc
    return UnknownTopicOrPartitionError.no_partition(tp) if tp.partition < 0 else None


def committed_leader_epoch(epoch: int) -> int:
    """A request's ``committed_leader_epoch`` as stored: -1 (none, Kafka's sentinel, which is
    also what a version without the field decodes to) for any negative one."""
    return epoch if epoch >= 0 else -1
