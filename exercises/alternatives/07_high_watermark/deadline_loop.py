"""Correct, unlike solution.py: one explicit loop over the replicas with a deadline computed
once (``now - limit``), a dictionary of verdicts, and the watermark found by a running minimum."""


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    oldest_allowed = now - replica_lag_time_max
    verdict = {}
    for replica in set(isr) | set(leos) | {leader}:
        if replica == leader:
            verdict[replica] = "in"
        elif replica in isr:
            recent = last_caught_up.get(replica, oldest_allowed - 1) >= oldest_allowed
            verdict[replica] = "in" if recent else "out"
        else:
            verdict[replica] = "candidate"

    def watermark(current, members):
        lowest = None
        for m in members:
            if m not in leos:
                return current
            lowest = leos[m] if lowest is None else min(lowest, leos[m])
        return current if lowest is None or lowest < current else lowest

    members = [r for r, v in verdict.items() if v == "in"]
    hw = watermark(high_watermark, members)
    for replica, v in sorted(verdict.items()):
        if v == "candidate" and replica in leos and leos[replica] >= hw and \
                last_caught_up.get(replica, oldest_allowed - 1) >= oldest_allowed:
            members.append(replica)
    return set(members), watermark(hw, members)
