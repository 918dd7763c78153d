"""Correct, unlike solution.py: each rule is its own function over plain lists, the ISR comes
back as a sorted list, and unknown offsets are found by a set difference."""


def _in_sync(follower, last_caught_up, now, limit):
    caught = last_caught_up.get(follower)
    return caught is not None and now - caught <= limit


def _hw(current, members, leos):
    if set(members) - set(leos):
        return current
    return max([current] + [min(leos[m] for m in members)])


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    kept = sorted({leader} | {m for m in isr
                              if _in_sync(m, last_caught_up, now, replica_lag_time_max)})
    hw = _hw(high_watermark, kept, leos)
    joining = [m for m in sorted(leos)
               if m not in kept and leos[m] >= hw
               and _in_sync(m, last_caught_up, now, replica_lag_time_max)]
    members = sorted(kept + joining)
    return members, _hw(hw, members, leos)
