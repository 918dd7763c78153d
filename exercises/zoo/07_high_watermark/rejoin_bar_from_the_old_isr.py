"""Bug: the HW a follower must reach to rejoin (step B) is computed over the ISR as it was passed
in, before step A.

A laggard that step A drops still counts: its small LEO lowers the bar, so a follower without
every committed record rejoins; and its unknown LEO holds the bar at the current HW. Step B
must use the ISR left after step A.
"""

CAUGHT_BY = ('test_unknown_leo_holds_the_hw', 'test_matches_kafka_on_random_cases')


def _watermark(current, members, leos):
    if any(r not in leos for r in members):
        return current
    return max(current, min(leos[r] for r in members))


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    members = {leader} | {
        r for r in isr
        if r == leader or now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max
    }
    bar = _watermark(high_watermark, set(isr) | {leader}, leos)  # BUG: the old ISR
    for r in sorted(leos):
        if (r not in members and leos[r] >= bar
                and now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max):
            members.add(r)
    return frozenset(members), _watermark(high_watermark, members, leos)
