"""Bug: at most one follower rejoins the ISR per update (a ``break`` after the first).

Kafka's leader expands the ISR at a follower's fetch, one follower at a time, and that looks
like the rule to copy. But this update judges every follower at once: a second follower that
has every committed record and fetched recently is left out, and the HW it would not hold back
is computed without it, so the partition has fewer in-sync replicas than it should.
"""

CAUGHT_BY = ('test_matches_kafka_on_random_cases',)


def _watermark(current, members, leos):
    if any(r not in leos for r in members):
        return current
    return max(current, min(leos[r] for r in members))


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    members = {leader} | {
        r for r in isr
        if r == leader or now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max
    }
    hw = _watermark(high_watermark, members, leos)
    for r in sorted(leos):
        if (r not in members and leos[r] >= hw
                and now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max):
            members.add(r)
            break  # BUG
    return frozenset(members), _watermark(hw, members, leos)
