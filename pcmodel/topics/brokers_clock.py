"""The date a client puts on what it creates: the brokers' wall clock, as its connection has it.

A producer dates each record it creates (its create timestamp), and an admin tool measures
ages against "now" (how long a transaction has been open). Kafka's clients take both from the
machine they run on, as the brokers do, so the dates agree. Here a client asks its connection:

* a cluster's connection (``replicates``) answers the cluster's wall clock
  (:func:`~pcmodel.cluster.clock.wall_clock_on`): the machine's on a cluster in real time; on
  a stepped cluster the machine's at its creation moved on by virtual time, as its brokers,
  coordinators and retention date things, so that a record created "now", the brokers' dates,
  ``offsets_for_times`` and ``retention.ms`` all agree, the same way on every run;
* anything else (a lone ``Broker``, a proxy of one in another process) is dated by the
  machine's clock (:func:`~pcmodel.topics.log_records.wall_clock_ms`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcmodel.topics.log_records import wall_clock_ms

__all__ = ["brokers_wall_clock"]


def brokers_wall_clock(conn: Any) -> Callable[[], int]:
    """The clock (epoch ms) by which a client of connection ``conn`` dates what it creates:
    the cluster's wall clock for a cluster's connection, the machine's otherwise (see the
    module). Asking the returned clock never blocks."""
    # ``is True``: a proxy of a broker in another process answers any name with a callable.
    if getattr(conn, "replicates", False) is True:
        clock: Callable[[], int] = conn.wall_clock_ms
        return clock
    return wall_clock_ms
