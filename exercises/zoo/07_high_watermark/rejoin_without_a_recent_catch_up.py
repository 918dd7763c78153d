"""Bug: a follower outside the ISR rejoins as soon as its LEO reaches the HW, however long ago it
was last caught up.

Step B has two conditions and this keeps only the first. A follower that stopped fetching long
ago but had every committed record then joins the ISR, and the next pass drops it again; while
it is in, ``acks="all"`` waits for a replica that is not fetching.
"""

CAUGHT_BY = ('test_rejoin_rules',)


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
        if r not in members and leos[r] >= hw:  # BUG: no check of when it was caught up
            members.add(r)
    # C: the smallest LEO over the new ISR, never going back.
    return frozenset(members), _watermark(hw, members, leos)


def _watermark(current, members, leos):
    if any(r not in leos for r in members):
        return current  # an ISR member that has not fetched yet holds it
    return max(current, min(leos[r] for r in members))
