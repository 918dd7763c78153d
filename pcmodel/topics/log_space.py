"""The space of a ``"block"`` partition: a layer-1 bounded buffer of one token per record.

A topic created with ``retention_policy="block"`` (pcmodel's own, not Kafka's) turns its log back
into a bounded buffer: it holds at most its capacity of records that the slowest consumer group
has not yet committed. The waiting is done by a bounded buffer of that capacity
(:func:`~pcmodel.buffers.make_buffer`) holding one token per such record: an append *puts* a
token per record, and so blocks while the buffer is full, and a group committing past records
*takes* their tokens. The buffer's ``variant`` (condition, semaphore, queue) decides which
textbook algorithm does the waiting, so the variants can be compared at this layer as well.

Thread safety: the token buffer has its own lock; :meth:`PartitionSpace.reserve` blocks, so the
broker calls it without its own lock.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from pcmodel.buffers import make_buffer
from pcmodel.errors import ShutDown
from pcmodel.topics.errors import (
    IllegalArgumentError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)

__all__ = ["PartitionSpace"]


class PartitionSpace:
    """The free space of a ``"block"`` partition of ``capacity`` records (see the module)."""

    def __init__(self, capacity: int, *, variant: str = "condition",
                 instrument: str = "off") -> None:
        if capacity < 1:
            raise IllegalArgumentError(
                "retention_policy='block' needs retention_records >= 1 (the capacity)"
            )
        self._tokens = make_buffer(variant, capacity, name="partition-space",
                                   instrument=instrument)
        self.capacity = capacity

    def reserve(self, count: int, timeout: float | None) -> None:
        """Wait until ``count`` more records fit, and take their space.

        Blocks while the slowest group lags by the capacity. Raises ``KafkaTimeoutError`` after
        ``timeout`` seconds (``None`` waits for ever), holding no space then;
        ``IllegalArgumentError`` if ``count`` exceeds the capacity (it could never fit);
        ``UnknownTopicOrPartitionError`` if the space was closed (topic deleted) meanwhile.
        """
        if count == 0:
            return
        if count > self.capacity:
            raise IllegalArgumentError(
                f"a batch of {count} records can never fit in a partition of capacity "
                f"{self.capacity} (retention_policy='block'); send smaller batches"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        placed = 0
        try:
            while placed < count:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                self._tokens.put(1, timeout=remaining)
                placed += 1
        except queue.Full:
            self.free(placed)
            raise KafkaTimeoutError(
                f"partition full: the slowest consumer group did not commit past enough records "
                f"within {timeout} s (retention_policy='block', capacity {self.capacity})"
            ) from None
        except ShutDown:
            self.free(placed)
            raise UnknownTopicOrPartitionError(
                "the partition was closed (topic deleted or broker closed) while an append "
                "waited for space"
            ) from None

    def free(self, count: int) -> None:
        """Give back the space of ``count`` records (dropped, or reserved and never appended);
        wakes appenders waiting for it. Never blocks."""
        # Tokens are indistinguishable; the buffer always holds at least the number taken here
        # (retained unconsumed records plus outstanding reservations), so get_nowait never fails.
        for _ in range(count):
            try:
                self._tokens.get_nowait()
            except (queue.Empty, ShutDown):
                return

    def stats(self) -> Any:
        """The token buffer's ``BufferStats``: its "blocked on full" time is how long appenders
        waited for the slowest group."""
        return self._tokens.stats()

    def close(self) -> None:
        """Wake appenders waiting for space with ``UnknownTopicOrPartitionError``; idempotent."""
        self._tokens.shutdown(immediate=True)
        self._tokens.close()
