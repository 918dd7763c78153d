"""Correct, unlike solution.py: the three steps as set algebra on named predicates.

Who lags and who may rejoin are sets computed with set operations; the HW is a ``min`` over the
LEOs that ``max`` keeps from going back, with ``None`` standing for "an ISR member whose LEO is
unknown", which holds the HW where it is.
"""


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    """Leader 0, ISR {0, 1, 2}, LEOs {0: 10, 1: 4, 2: 9}, broker 1 caught up 5 s ago, limit 1 s:
    returns ({0, 2}, 9)."""

    def recently_caught_up(replica):
        return (replica in last_caught_up
                and now - last_caught_up[replica] <= replica_lag_time_max)

    def watermark(current, members):
        smallest = None if members - set(leos) else min(leos[r] for r in members)
        return current if smallest is None else max(current, smallest)

    followers_in_sync = set(filter(recently_caught_up, set(isr) - {leader}))
    after_shrink = followers_in_sync | {leader}
    hw_after_shrink = watermark(high_watermark, after_shrink)
    rejoining = {r for r in set(leos) - after_shrink
                 if leos[r] >= hw_after_shrink and recently_caught_up(r)}
    new_isr = after_shrink | rejoining
    return new_isr, watermark(hw_after_shrink, new_isr)
