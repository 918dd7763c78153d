"""A broker process's writes that may wait for replication: produce and transaction markers
(a mixin of :class:`~pcmodel.cluster.host.NodeHost`).

The cluster's request to a broker process returns at once, with the outcome if it is already
known (``acks=0`` or ``1``, an error) or ``"pending"``: an ``acks="all"`` produce, or a
marker, waits in the node's purgatory until the followers have fetched it, which may take
seconds, and a request must not hold a connection that long. The outcome is then reported
under the request's token through :meth:`HostWrites.completions`, which the cluster's side
long-polls (:class:`~pcmodel.cluster.hosted.HostedBroker`), as a Kafka broker answers a
produce request from its purgatory when it completes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.server import portable_exception
from pcmodel.topics.structs import TopicPartition

__all__ = ["HostWrites"]


class _ReportedFuture(ProduceFuture):
    """A write waiting for replication whose outcome the cluster collects later."""

    def __init__(self, host: Any, token: int) -> None:
        super().__init__()
        self._host = host
        self._token = token

    def set_result(self, result: Any) -> None:
        if not self.done():
            super().set_result(result)
            self._host.completed[self._token] = (True, result)
            self._host.changed.notify_all()

    def set_exception(self, error: BaseException) -> None:
        if not self.done():
            super().set_exception(error)
            self._host.completed[self._token] = (False, portable_exception(error))
            self._host.changed.notify_all()


class HostWrites:
    """Produce, markers and their late answers (NodeHost part; see the module)."""

    def produce(self, tp: TopicPartition, records: list, acks: int | str, timeout: float,
                producer: tuple[int, int, int] | None, compression: str | None,
                batch_bytes: int | None, transactional: bool, token: int) -> tuple[str, Any]:
        """Append as leader. ``("ok", result)``, ``("error", exc)``, or ``("pending", None)``:
        the outcome comes later through :meth:`completions` under ``token``."""
        return self._write(token, lambda future: self.node.produce(
            tp, records, acks, timeout, future, producer, compression, batch_bytes,
            transactional))

    def write_marker(self, tp: TopicPartition, producer_id: int, producer_epoch: int,
                     commit: bool, coordinator_epoch: int, timeout: float,
                     token: int) -> tuple[str, Any]:
        """Append a transaction marker as leader (see ``ClusterNode.write_marker``); answered
        as :meth:`produce` is, once the marker is replicated."""
        return self._write(token, lambda future: self.node.write_marker(
            tp, producer_id, producer_epoch, commit, coordinator_epoch, timeout, future))

    def completions(self, timeout: float) -> list[tuple[int, bool, Any]]:
        """Wait up to ``timeout`` seconds for answered writes; return ``(token, ok, value)``."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self.completed and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.changed.wait(remaining)
            out = [(token, ok, value) for token, (ok, value) in self.completed.items()]
            self.completed.clear()
            return out

    def _write(self, token: int, write: Callable[[ProduceFuture], None]) -> tuple[str, Any]:
        """Run ``write(future)`` at the node as leader; the outcome now, or ``"pending"``."""
        future = _ReportedFuture(self, token)

        def append() -> bool:
            with self.lock:
                write(future)
                self.changed.notify_all()  # followers long-polling for data
                if future.done():
                    self.completed.pop(token, None)  # answered now, not through completions
                return future.done()

        if not self._as_leader(append):
            return "pending", None
        try:
            return "ok", future.get(0)
        except KafkaError as exc:
            return "error", exc
