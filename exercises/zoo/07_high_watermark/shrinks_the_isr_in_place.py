"""Bug: the ISR passed in is shrunk in place (``isr.discard(r)``) instead of building a new set.

The function is to be pure: the leader calls it with its current state and then decides what
to keep (in Kafka, the new ISR is first written to the controller, and only once that is
accepted does the leader's own view change). Changing the caller's set behind its back means a
rejected ISR change is applied anyway, and a caller that compares the old ISR with the new one
sees no difference. The grader calls it with arguments it keeps a copy of and finds them changed.
"""

CAUGHT_BY = ("test_laggards_leave_the_isr", "test_matches_kafka_on_random_cases")


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    def in_time(r):
        return now - last_caught_up.get(r, float("-inf")) <= replica_lag_time_max

    for r in list(isr):
        if r != leader and not in_time(r):
            isr.discard(r)  # BUG: changes the caller's set
    isr.add(leader)

    def watermark(current):
        if any(r not in leos for r in isr):
            return current
        return max(current, min(leos[r] for r in isr))

    hw = watermark(high_watermark)
    for r in sorted(leos):
        if r not in isr and leos[r] >= hw and in_time(r):
            isr.add(r)
    return isr, watermark(hw)
