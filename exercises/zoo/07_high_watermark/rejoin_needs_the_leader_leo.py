"""Bug: a follower may rejoin the ISR only once it has every record the leader has.

Step B asks for a LEO of at least the high watermark: the follower must have every *committed*
record, so that electing it loses nothing. Asking for the leader's own LEO instead looks
safer, but on a partition that keeps receiving records the leader is always a little ahead, so
a follower that fell out once almost never gets back in, and the ISR stays one replica short
for good.
"""

CAUGHT_BY = ("test_worked_examples", "test_rejoin_rules", "test_matches_kafka_on_random_cases")


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    def in_time(r):
        return now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max

    def watermark(current, members):
        if any(r not in leos for r in members):
            return current
        return max(current, min(leos[r] for r in members))

    members = {leader} | {r for r in isr if r == leader or in_time(r)}
    for r in sorted(leos):
        # BUG: compared with the leader's LEO, not with the high watermark
        if r not in members and leos[r] >= leos[leader] and in_time(r):
            members.add(r)
    return members, watermark(high_watermark, members)
