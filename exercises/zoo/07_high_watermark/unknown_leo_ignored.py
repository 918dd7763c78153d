"""Bug: ISR members that have not fetched yet are ignored by the high watermark.

A new leader does not know its followers' LEOs until they fetch; skipping them advances the HW
past records they may not have.
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
        if r == leader or now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max
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
    known = [leos[r] for r in members if r in leos]  # BUG: unknown LEOs skipped
    return max(current, min(known))
