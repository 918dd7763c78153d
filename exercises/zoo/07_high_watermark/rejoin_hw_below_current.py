"""Bug: the high watermark used for rejoining (step B) can be below the current one.

Step B computes the HW "as in step C", which never goes below the current HW; here it is the
bare smallest LEO over the ISR left after step A. When an ISR member is behind the HW (it
restarted and lost records, but the leader still counts it in sync), a follower outside with
fewer records than the HW rejoins the ISR: elected leader, it loses committed records.
"""

CAUGHT_BY = ('test_rejoin_rules', 'test_matches_kafka_on_random_cases')


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
    if any(r not in leos for r in members):
        hw = high_watermark
    else:
        hw = min(leos[r] for r in members)  # BUG: no max with the current HW
    # B: caught-up followers with every committed record rejoin (judged after A).
    for r in sorted(leos):
        if (r not in members and leos[r] >= hw
                and now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max):
            members.add(r)
    # C: the smallest LEO over the new ISR, never going back.
    return frozenset(members), _watermark(high_watermark, members, leos)


def _watermark(current, members, leos):
    if any(r not in leos for r in members):
        return current  # an ISR member that has not fetched yet holds it
    return max(current, min(leos[r] for r in members))
