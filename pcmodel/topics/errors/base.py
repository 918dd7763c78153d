"""The two roots of the error tree: :class:`KafkaError` and its :class:`BrokerResponseError`.

Every error of the topics layer is a :class:`KafkaError` (kafka-python's base class); those a
broker answers a request with are :class:`BrokerResponseError` and carry Kafka's protocol error
code in ``errno``. See :mod:`pcmodel.topics.errors`.
"""

from __future__ import annotations

__all__ = ["BrokerResponseError", "KafkaError", "error_detail"]


class KafkaError(RuntimeError):
    """Base of every error the topics layer raises (kafka-python's base class, too)."""

    #: Whether the same call, made again later, can succeed.
    retriable = False

    def __str__(self) -> str:
        # kafka-python's format: the class name first, so a log line says what kind of failure.
        if not self.args:
            return type(self).__name__
        return f"{type(self).__name__}: {super().__str__()}"


class BrokerResponseError(KafkaError):
    """An error the broker answered a request with; ``errno`` is Kafka's protocol error code."""

    errno: int | None = None
    message: str | None = None
    description: str | None = None

    def __str__(self) -> str:
        return f"[Error {self.errno}] {super().__str__()}"


def error_detail(error: BaseException) -> str:
    """What ``error`` says, without the ``[Error N] ClassName:`` its text starts with: its
    first argument, or its class name when it has none (for a message that names the failure
    in its own words)."""
    return str(error.args[0]) if error.args else type(error).__name__
