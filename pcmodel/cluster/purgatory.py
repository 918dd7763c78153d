"""Produce requests waiting for replication (``acks="all"``), and the future a client holds.

A leader answers an ``acks="all"`` produce only once the high watermark passes the last record
(every in-sync replica has it) — or fails it when the wait times out, the ISR shrank below
``min_insync_replicas``, or the broker lost leadership. Kafka parks such requests in its
"produce purgatory" and re-checks them whenever the watermark moves; so does this module.

Prior art: Kafka ``DelayedProduce`` (``tryComplete``) and
``Partition.checkEnoughReplicasReachOffset``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from pcmodel.cluster.clock import check_seconds
from pcmodel.cluster.errors import NotEnoughReplicasAfterAppendError
from pcmodel.topics.structs import TopicPartition

__all__ = ["DelayedProduce", "ProduceFuture", "ProduceResult"]


class ProduceResult(NamedTuple):
    """An acknowledged produce: the batch holds offsets ``base_offset .. base_offset + count - 1``.

    ``base_offset`` is ``-1`` with ``acks=0`` (the producer never hears back, as in Kafka).
    ``broker`` is the leader that answered, ``leader_epoch`` its epoch. ``log_append_time`` is
    the leader's append time on a topic with ``message.timestamp.type=LogAppendTime``, else
    ``-1`` (Kafka's ProduceResponse field).
    """

    topic: str
    partition: int
    base_offset: int
    count: int
    broker: int
    leader_epoch: int
    log_append_time: int = -1


class ProduceFuture:
    """The answer to one produce request: a :class:`ProduceResult` or an exception.

    ``get(timeout)`` blocks until it is known. In a cluster driven by steps (virtual time),
    ``get`` drives the cluster itself one tick at a time, so a test can simply wait for it.
    """

    def __init__(self, driver: Callable[[ProduceFuture, float], None] | None = None) -> None:
        self._done = threading.Event()
        self._result: ProduceResult | None = None
        self._error: BaseException | None = None
        self._driver = driver

    def done(self) -> bool:
        """Whether the outcome is known."""
        return self._done.is_set()

    def succeeded(self) -> bool:
        """Whether the produce was acknowledged."""
        return self._done.is_set() and self._error is None

    def exception(self) -> BaseException | None:
        """The error the produce failed with, ``None`` if it succeeded or is not done."""
        return self._error

    def get(self, timeout: float | None = None) -> ProduceResult:
        """Wait for the outcome; return the result or raise the error.

        Raises ``TimeoutError`` if it is still unknown after ``timeout`` seconds (virtual
        seconds for a stepped cluster). The produce itself is not cancelled.
        ``IllegalArgumentError`` for a ``timeout`` that is not ``None`` or a finite number
        >= 0.
        """
        if timeout is not None:
            timeout = check_seconds("get()", timeout)
        if self._driver is not None and not self.done():
            self._driver(self, float("inf") if timeout is None else timeout)  # steps until done
        elif not self._done.wait(timeout):
            pass
        if not self.done():
            raise TimeoutError(f"the produce was not answered within {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def set_result(self, result: ProduceResult) -> None:
        """Complete successfully (first outcome wins)."""
        if not self._done.is_set():
            self._result = result
            self._done.set()

    def set_exception(self, error: BaseException) -> None:
        """Complete with an error (first outcome wins)."""
        if not self._done.is_set():
            self._error = error
            self._done.set()

    def __repr__(self) -> str:
        state = "pending" if not self.done() else (self._error or self._result)
        return f"<ProduceFuture {state!r}>"


class DelayedProduce(NamedTuple):
    """An ``acks="all"`` produce appended at ``[base, required)`` and waiting for the HW."""

    tp: TopicPartition
    base: int
    required: int
    leader_epoch: int
    deadline: float
    future: ProduceFuture
    result: ProduceResult

    def try_complete(self, high_watermark: int, isr_size: int, min_isr: int) -> bool:
        """Answer the request if the HW reached it; return whether it is answered.

        Invariant: success only when every in-sync replica has the whole batch *and* there
        are at least ``min_insync_replicas`` of them; a batch committed while the ISR was
        large enough, checked once it has shrunk, is in the log but answered with
        ``NotEnoughReplicasAfterAppendError`` (the watermark itself waits for the minimum).
        """
        if high_watermark < self.required:
            return False
        if isr_size < min_isr:
            self.future.set_exception(NotEnoughReplicasAfterAppendError(
                f"{self.tp}: offsets {self.base}..{self.required - 1} were appended but the "
                f"ISR has {isr_size} replicas, fewer than min_insync_replicas={min_isr}"
            ))
        else:
            self.future.set_result(self.result)
        return True
