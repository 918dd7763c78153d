"""Bug: a follower without a LEO counts as having 0 records, so it can rejoin the ISR.

Step B walks the followers of ``last_caught_up`` and reads ``leos.get(r, 0)``. Once the HW
after step A is 0 (a young partition whose ISR holds a follower that has not fetched yet), a
follower that has not fetched either "has every committed record" and rejoins, though nothing
says it has any. Only a follower whose LEO is known can rejoin. Random cases rarely meet an HW
of 0 with such a follower; ``test_rejoin_rules`` builds one.
"""

CAUGHT_BY = ("test_rejoin_rules",)


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
    for r in sorted(last_caught_up):
        if (r not in members and leos.get(r, 0) >= hw  # BUG: no LEO yet counted as 0 records
                and now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max):
            members.add(r)
    # C: the smallest LEO over the new ISR, never going back.
    return frozenset(members), _watermark(hw, members, leos)


def _watermark(current, members, leos):
    if any(r not in leos for r in members):
        return current  # an ISR member that has not fetched yet holds it
    return max(current, min(leos[r] for r in members))
