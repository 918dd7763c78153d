"""Bug: step A keeps only the ISR members whose LEO is known.

Written to avoid a ``KeyError`` in the minimum, it drops from the ISR a follower that is in sync
but has not fetched from this leader yet, instead of letting it hold the HW: the HW moves past
records that follower may not have, and the ISR shrinks for no lag at all.
"""

CAUGHT_BY = ('test_unknown_leo_holds_the_hw',)


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    """Return ``(new_isr, new_high_watermark)`` after one pass of the leader's bookkeeping.

    Leader 0 with ISR {0, 1, 2}, LEOs {0: 10, 1: 4, 2: 9}, broker 1 last caught up 5 s ago and
    a 1 s limit: broker 1 leaves, and the HW moves to min(10, 9) = 9.
    """
    # A: laggards leave; the leader is always in sync with itself.
    members = {leader} | {
        r for r in isr
        if r in leos  # BUG: an in-sync member that has not fetched yet is dropped
        and now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max
    }
    hw = _watermark(high_watermark, members, leos)
    # B: caught-up followers with every committed record rejoin (judged after A).
    for r in sorted(leos):
        if (r not in members and leos[r] >= hw
                and now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max):
            members.add(r)
    # C: the smallest LEO over the new ISR, never going back.
    return frozenset(members), _watermark(hw, members, leos)


def _watermark(current, members, leos):
    if any(r not in leos for r in members):
        return current  # an ISR member that has not fetched yet holds it
    return max(current, min(leos[r] for r in members))
