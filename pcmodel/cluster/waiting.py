"""What clients wait for on a cluster: topic metadata changes and any change at all (a mixin
of ``Cluster``), and the connection pcmodel's clients use (:meth:`ClientSupport.connect`)."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["ClientSupport"]


class ClientSupport:
    """The client-facing waits of :class:`~pcmodel.cluster.cluster.Cluster`."""

    def connect(self) -> Any:
        """A client connection: ``KafkaProducer(broker=cluster)`` and ``KafkaConsumer(...,
        broker=cluster)`` call this. See :mod:`pcmodel.cluster.client`."""
        from pcmodel.cluster.client import ClusterConnection
        from pcmodel.cluster.offsets import OffsetsTopic

        with self._lock:
            offsets = self._offsets_topic
        if offsets is None:
            offsets = OffsetsTopic(self)
            with self._lock:
                self._offsets_topic = self._offsets_topic or offsets
                offsets = self._offsets_topic
        return ClusterConnection(self, offsets)

    def metadata_version(self) -> int:
        """A counter that changes whenever a topic is created."""
        with self._lock:
            return len(self.controller.topics)

    def await_metadata_change(self, version: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for :meth:`metadata_version` to differ from
        ``version``; return the current one."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.controller.topics) == version and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return len(self.controller.topics)

    def change_count(self) -> int:
        """A counter that moves whenever anything in the cluster changes (see
        :meth:`await_change`)."""
        with self._lock:
            return self._changes

    def await_change(self, count: int, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for :meth:`change_count` to move past ``count``
        (an append, a replication round, an election, a fault). In a stepped cluster nothing
        moves by itself, so this returns at once."""
        if self.mode == "steps":
            return
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._changes == count and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._changed.wait(remaining)
