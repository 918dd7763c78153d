"""How a :class:`~pcmodel.topics.producer.KafkaProducer` ends: ``close()``, what it frees,
the exit hook that closes a producer left open, and what a construction that failed frees.

A producer holds a connection of its own (two once it has asked for metadata), a sender
thread, an ``atexit`` hook and its accumulator; its serializer and partitioner objects are
closed with it. :meth:`ProducerClosingMixin._release` frees them all, once, whether
``close()`` ended the producer or its construction failed after it connected (a broker process
that went away before ``InitProducerId`` answered): as the Java client's constructor closes
what it opened before it rethrows, a producer that was never returned leaves nothing behind.
The broker object the producer was given is never closed: it is not the producer's.

:class:`ProducerClosingMixin` is one part of ``KafkaProducer``; it uses the state that
``KafkaProducer.__init__`` sets up and the sender's (:mod:`~pcmodel.topics.sender`).
"""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import Any

from pcmodel.topics.accumulator import ProducerState
from pcmodel.topics.producer_config import check_timeout
from pcmodel.topics.serde import close_all, object_form

__all__ = ["ProducerClosingMixin", "close_at_exit"]


class ProducerClosingMixin:
    """``close()`` and the freeing of what a producer holds (KafkaProducer part)."""

    _lock: threading.Lock
    _state: ProducerState
    _broker: Any
    _given_broker: Any
    _metadata_conn: Any
    _sender: threading.Thread
    _stopped: threading.Event
    _aborted: threading.Event
    _batch_ready: threading.Condition
    _accumulator: Any
    _serializers: dict[str, Any]
    _client_partitioner: Any
    _close_at_exit: Any
    config: dict[str, Any]

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, stop the sender thread and refuse further sends. Idempotent.

        Waits up to ``timeout`` seconds (forever when ``None``; a negative one is
        ``IllegalArgumentError``, as in the Java client) for queued records; records still
        unsent then fail with ``KafkaError("Producer is closed forcefully.")``, the Java
        client's ``KafkaException`` (kafka-python raises ``IllegalStateError`` there); an
        append still waiting for a broker process is cut short and fails the same way, so
        close() returns soon after ``timeout``.
        A transaction left open is aborted first (its unsent records fail with
        ``TransactionAbortedError``); a fenced producer closes all the same. Called from a
        callback, it closes as ``close(0)`` does and returns at once, as in the Java client.
        """
        check_timeout("close()", timeout)  # nothing is closed for a bad timeout
        if threading.current_thread() is self._sender:
            self._close_from_callback(timeout)
            return
        self._abort_on_close(timeout)
        with self._lock:
            if self._state is ProducerState.OPEN:
                self._state = ProducerState.CLOSING
            self._batch_ready.notify_all()
        # shutdown() makes a send() blocked in put() fail (nothing queued) and lets the sender
        # drain every batch already in the accumulator before its get() raises ShutDown.
        self._accumulator.shutdown()
        if not self._stopped.wait(timeout):
            self._aborted.set()
            # The sender may be waiting for a broker that does not answer: cut that call short
            # (it fails its batch) so that close() returns in time. Only our own connection.
            if self._broker is not self._given_broker and hasattr(self._broker, "close"):
                self._broker.close()
            self._stopped.wait(self.config["request_timeout_ms"] / 1000)
        self._sender.join(timeout=self.config["request_timeout_ms"] / 1000)
        self._release()

    def _release(self) -> None:
        """Mark the producer closed and free what it holds; only the first call does."""
        with self._lock:
            already_closed = self._state is ProducerState.CLOSED
            self._state = ProducerState.CLOSED
        if already_closed:
            return
        atexit.unregister(self._close_at_exit)
        self._accumulator.close()
        for conn in (self._broker, self._metadata_conn):
            if conn is not None and conn is not self._given_broker and hasattr(conn, "close"):
                conn.close()
        objects = object_form(self._serializers, "serialize")
        if self._client_partitioner is not None:
            objects["partitioner"] = self._client_partitioner.given
        close_all(objects)


def close_at_exit(ref: weakref.ReferenceType[Any]) -> None:
    """The ``atexit`` hook of a producer: close it, flushing what it queued, if it still
    exists (the hook holds it weakly, so a forgotten producer can still be collected)."""
    producer = ref()
    if producer is not None:
        producer.close()
