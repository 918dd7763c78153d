"""Bug: the high watermark is taken to be the offset of the last committed record.

The smallest LEO over the ISR counts records: with LEOs 8, 9 and 10, every ISR member has
offsets 0..7, so 8 records are committed and the HW is 8, the offset of the *next* record,
like a LEO and like a committed consumer offset. Subtracting one ("the last offset everybody
has") keeps the HW a record behind: consumers never see the last committed record, and a
producer with ``acks="all"`` waits one record longer than it should.
"""

CAUGHT_BY = ("test_worked_examples", "test_hw_is_the_smallest_isr_leo",
             "test_matches_kafka_on_random_cases")


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    def in_time(r):
        return now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max

    def watermark(current, members):
        if any(r not in leos for r in members):
            return current
        # BUG: the HW is the next offset to commit (a count of records), not the last one
        return max(current, min(leos[r] for r in members) - 1)

    members = {leader} | {r for r in isr if r == leader or in_time(r)}
    hw = watermark(high_watermark, members)
    members |= {r for r in leos if r not in members and leos[r] >= hw and in_time(r)}
    return members, watermark(hw, members)
