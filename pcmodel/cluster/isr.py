"""The leader's rules for the in-sync replica set (ISR) and the high watermark, as pure functions.

A partition's leader knows, for each follower, the log end offset (LEO) it last fetched from and
the last time it was *caught up* (had fetched everything the leader had). From that alone it
decides who is in sync and which records are committed. Each rule is a small function with its
invariant, so that it can be read, tested and taught on its own (the high-watermark exercise
asks students to write :func:`leader_update` and grades it against these).

Prior art: Kafka ``Partition.scala`` (``maybeIncrementLeaderHW``, ``maybeShrinkIsr``,
``maybeExpandIsr``, ``getOutOfSyncReplicas``) and ``Replica.scala``
(``updateFetchState``: ``lastCaughtUpTimeMs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import NamedTuple

__all__ = [
    "LeaderUpdate",
    "caught_up_time",
    "can_join_isr",
    "high_watermark",
    "leader_update",
    "out_of_sync_replicas",
]


def caught_up_time(
    *,
    fetch_offset: int,
    fetch_time: float,
    leader_leo: int,
    previous_fetch_time: float | None,
    leader_leo_at_previous_fetch: int,
    last_caught_up: float,
) -> float:
    """A follower's last caught-up time after it fetched from ``fetch_offset`` at ``fetch_time``.

    Invariant: the result is a time at which the follower had every record the leader had.
    Fetching from the leader's current LEO proves that for now; fetching from the LEO the
    leader had at the follower's previous fetch proves it for that earlier moment (the
    follower was then as far as the leader, and has fetched that much since). Otherwise the
    follower is still behind and its time stays. Never decreases.
    """
    if fetch_offset >= leader_leo:
        return max(last_caught_up, fetch_time)
    if previous_fetch_time is not None and fetch_offset >= leader_leo_at_previous_fetch:
        return max(last_caught_up, previous_fetch_time)
    return last_caught_up


def out_of_sync_replicas(
    isr: Set[int],
    leader: int,
    last_caught_up: Mapping[int, float],
    now: float,
    replica_lag_time_max: float,
) -> frozenset[int]:
    """The followers in ``isr`` that have not been caught up for longer than the lag limit.

    Invariant: the leader is never out of sync with itself; a follower stays in sync as long
    as it was caught up at some moment in the last ``replica_lag_time_max`` seconds, however
    many records it lags by (Kafka dropped the record-count rule, KIP-16/``replica.lag.max.
    messages``, because bursts made healthy followers flap).
    """
    return frozenset(
        r
        for r in isr
        if r != leader and now - last_caught_up.get(r, float("-inf")) > replica_lag_time_max
    )


def can_join_isr(follower_leo: int, high_watermark: int, leader_epoch_start: int) -> bool:
    """A follower outside the ISR may rejoin once it has every committed record.

    Invariant: adding it never lowers the high watermark (its LEO is at least the HW), and it
    has copied at least one record of the current leader's epoch, so it truncated correctly
    (``leader_epoch_start`` is the leader's LEO when it took over).
    """
    return follower_leo >= high_watermark and follower_leo >= leader_epoch_start


def high_watermark(current: int, isr: Set[int], leos: Mapping[int, int]) -> int:
    """The leader's new high watermark: the smallest LEO over the ISR, never going back.

    Invariant: every record below the result is on every in-sync replica, so any of them can
    become leader without losing it; and a committed record stays committed (a consumer that
    read it never sees it vanish), hence the ``max`` with ``current``. A replica whose LEO is
    unknown (``leos`` lacks it) holds the watermark where it is.
    """
    if any(r not in leos for r in isr):
        return current
    return max(current, min(leos[r] for r in isr))


class LeaderUpdate(NamedTuple):
    """The outcome of :func:`leader_update`: the new ISR and the new high watermark."""

    isr: frozenset[int]
    high_watermark: int


def leader_update(
    *,
    leader: int,
    isr: Set[int],
    high_watermark_now: int,
    leos: Mapping[int, int],
    last_caught_up: Mapping[int, float],
    now: float,
    replica_lag_time_max: float,
    leader_epoch_start: int = 0,
) -> LeaderUpdate:
    """One pass of the leader's bookkeeping: shrink the ISR, expand it, advance the HW.

    ``leos`` holds the leader's own LEO and each follower's last fetch offset; ``last_caught_up``
    each follower's last caught-up time (seconds). Order matters: laggards leave first (so they
    stop holding the watermark back), then followers rejoin that have every committed record
    and were caught up within the lag limit (Kafka checks this when the follower fetches; a
    follower that stopped fetching never rejoins), then the watermark moves to the smallest LEO
    of the resulting ISR.
    """
    members = set(isr) | {leader}
    members -= out_of_sync_replicas(members, leader, last_caught_up, now, replica_lag_time_max)
    # Rejoining is judged against the watermark *after* the laggards left, so a follower just
    # dropped for lagging cannot slip straight back in.
    hw = high_watermark(high_watermark_now, members, leos)
    recent = now - replica_lag_time_max
    for r, leo in sorted(leos.items()):
        if (
            r not in members
            and can_join_isr(leo, hw, leader_epoch_start)
            and last_caught_up.get(r, float("-inf")) >= recent
        ):
            members.add(r)
    new_isr = frozenset(members)
    return LeaderUpdate(new_isr, high_watermark(hw, new_isr, leos))
