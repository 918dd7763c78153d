"""The leader's rules for the in-sync replica set (ISR) and the high watermark, as pure functions.

A partition's leader knows, for each follower, the log end offset (LEO) it last fetched from and
the last time it was *caught up* (had fetched everything the leader had). From that alone it
decides who is in sync and which records are committed. Each rule is a small function with its
invariant, so that it can be read, tested and taught on its own.

The cluster's leaders apply them as Kafka's do (:func:`isr_at_check`, then
:func:`high_watermark`): a follower leaves the ISR, at the leader's periodic check (every half
lag limit), when it has not been caught up for longer than the lag limit *and* lacks some of
the leader's records (one with every record stays, however long ago it fetched); a follower
joins only when it fetches, once it has every committed record, and the high watermark waits
for a follower about to join (:func:`joining_replicas`) unless its broker is fenced or
shutting down (ineligible, as the controller last told the leader); and it stands still while
the ISR is smaller than ``min.insync.replicas``. The high-watermark exercise asks students for
a simpler one-pass version, :func:`leader_update`, and grades it against that function.

Prior art: Kafka ``Partition.scala`` (``maybeIncrementLeaderHW``, ``maybeShrinkIsr``,
``maybeExpandIsr``, ``getOutOfSyncReplicas``, ``effectiveMinIsr``) and ``Replica.scala``
(``updateFetchState``: ``lastCaughtUpTimeMs``; ``isCaughtUp``).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import NamedTuple

__all__ = [
    "LeaderUpdate",
    "caught_up_time",
    "can_join_isr",
    "effective_min_isr",
    "high_watermark",
    "isr_at_check",
    "joining_replicas",
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
    leos: Mapping[int, int] | None = None,
) -> frozenset[int]:
    """The followers in ``isr`` that have not been caught up for longer than the lag limit.

    Invariant: the leader is never out of sync with itself; a follower stays in sync as long
    as it was caught up at some moment in the last ``replica_lag_time_max`` seconds, however
    many records it lags by (Kafka dropped the record-count rule, KIP-16/``replica.lag.max.
    messages``, because bursts made healthy followers flap). Given ``leos`` (the leader's own
    LEO and the followers' known ones), a follower whose LEO is the leader's stays in sync
    whenever it last fetched, as Kafka's ``isCaughtUp`` has it: it lacks nothing, so on an
    idle partition a follower that cannot fetch leaves the ISR only once a record arrives
    (or the controller fences its broker).
    """
    leader_leo = None if leos is None else leos.get(leader)
    return frozenset(
        r
        for r in isr
        if r != leader
        and (leader_leo is None or leos.get(r) != leader_leo)
        and now - last_caught_up.get(r, float("-inf")) > replica_lag_time_max
    )


def joining_replicas(
    isr: Set[int],
    leader: int,
    leos: Mapping[int, int],
    last_caught_up: Mapping[int, float],
    now: float,
    replica_lag_time_max: float,
    ineligible: Set[int] = frozenset(),
) -> frozenset[int]:
    """The followers outside ``isr`` that are caught up (they have the leader's LEO, or were
    caught up within the lag limit) but not yet in: the high watermark waits for them too.

    Without that wait a follower that fell out of the ISR could never return while records
    keep coming: the watermark would be the leader's own LEO, always a little ahead of the
    follower's last fetch, and joining asks for the watermark. Waiting for it lets the
    watermark stop at its LEO, which it then has at its next fetch (Kafka's
    ``shouldWaitForReplicaToJoinIsr`` in ``maybeIncrementLeaderHW``). A follower that stops
    fetching stops being caught up after the lag limit and holds nothing any more.

    Invariant: a follower on an ``ineligible`` broker (fenced or shutting down, as the
    leader last heard from the controller) is never waited for, however recently it was
    caught up: it could not join anyway, and a dead broker would otherwise hold the
    watermark for a whole lag limit (Kafka's ``isReplicaIsrEligible``).
    """
    leader_leo = leos[leader]
    return frozenset(
        r for r, leo in leos.items()
        if r not in isr and r != leader and r not in ineligible and (
            leo == leader_leo
            or now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max)
    )


def can_join_isr(follower_leo: int, high_watermark: int, leader_epoch_start: int) -> bool:
    """A follower outside the ISR may rejoin once it has every committed record.

    Invariant: adding it never lowers the high watermark (its LEO is at least the HW), and it
    has copied at least one record of the current leader's epoch, so it truncated correctly
    (``leader_epoch_start`` is the leader's LEO when it took over).
    """
    return follower_leo >= high_watermark and follower_leo >= leader_epoch_start


def effective_min_isr(min_insync_replicas: int, replicas: int) -> int:
    """The ``min.insync.replicas`` a leader enforces: the topic's, but never more than the
    partition's ``replicas`` (Kafka's ``effectiveMinIsr``), so that a partition whose
    replicas are all in sync is never short of them."""
    return min(min_insync_replicas, replicas)


def high_watermark(current: int, isr: Set[int], leos: Mapping[int, int],
                   min_insync_replicas: int = 1, joining: Set[int] = frozenset()) -> int:
    """The leader's new high watermark: the smallest LEO over the ISR, never going back.

    Invariant: every record below the result is on every in-sync replica, so any of them can
    become leader without losing it; and a committed record stays committed (a consumer that
    read it never sees it vanish), hence the ``max`` with ``current``. A replica whose LEO is
    unknown (``leos`` lacks it) holds the watermark where it is. So does an ISR smaller than
    ``min_insync_replicas`` (Kafka 3.7, KAFKA-15583): a record is committed only once that
    many replicas have it, so the ``acks=1`` writes a shrunken ISR takes stay invisible to
    consumers until enough replicas are back in sync. The ``joining`` followers
    (:func:`joining_replicas`, whose LEOs ``leos`` has) hold it back as ISR members do.
    """
    if len(isr) < min_insync_replicas or any(r not in leos for r in isr):
        return current
    return max(current, min(leos[r] for r in set(isr) | set(joining)))


def isr_at_check(
    *,
    leader: int,
    isr: Set[int],
    high_watermark_now: int,
    leos: Mapping[int, int],
    last_caught_up: Mapping[int, float],
    now: float,
    replica_lag_time_max: float,
    leader_epoch_start: int,
    fetched: int | None = None,
    ineligible: Set[int] = frozenset(),
    shrink: bool = True,
) -> frozenset[int]:
    """The ISR a Kafka leader asks for at one of its checks.

    With ``shrink`` (the periodic check, which Kafka's ``ReplicaManager`` runs every
    ``replica.lag.time.max.ms / 2``, so that a stuck follower leaves 1 to 1.5 lag limits
    after its last catch-up), followers out of sync (:func:`out_of_sync_replicas` with their
    LEOs: not caught up within the lag limit and missing records) leave, as in Kafka's
    ``maybeShrinkIsr``; without it nobody leaves. The
    follower that has just fetched (``fetched``), if outside the ISR, joins once its LEO
    reaches the current high watermark and the start of the leader's epoch
    (:func:`can_join_isr`), as in Kafka's ``maybeExpandIsr``, which runs at a follower's fetch
    and asks nothing of its caught-up time. A follower that stopped fetching never joins, nor
    does one on an ``ineligible`` broker (fenced or shutting down: Kafka's
    ``canAddReplicaToIsr``; the controller would refuse it).
    """
    members = set(isr) | {leader}
    if shrink:
        members -= out_of_sync_replicas(members, leader, last_caught_up, now,
                                        replica_lag_time_max, leos)
    if fetched is not None and fetched in leos and fetched not in members \
            and fetched not in ineligible \
            and can_join_isr(leos[fetched], high_watermark_now, leader_epoch_start):
        members.add(fetched)
    return frozenset(members)


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
    """One pass of the leader's bookkeeping: shrink the ISR, expand it, advance the HW (the
    high-watermark exercise's version; the cluster's leaders apply :func:`isr_at_check`).

    ``leos`` holds the leader's own LEO and each follower's last fetch offset; ``last_caught_up``
    each follower's last caught-up time (seconds). Order matters: laggards leave first (so they
    stop holding the watermark back), then followers rejoin that have every committed record
    and were caught up within the lag limit (the recent catch-up stands in for Kafka's "when
    it fetches": a follower that stopped fetching never rejoins), then the watermark moves to
    the smallest LEO of the resulting ISR.

    Simpler than Kafka's leader in three ways, which :func:`isr_at_check` and
    :func:`high_watermark` with ``min_insync_replicas`` follow: a follower with every record
    of the leader is dropped too once its caught-up time is too old, a follower rejoins
    without having just fetched (but must have been caught up recently), and the watermark
    ignores ``min.insync.replicas``.
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
