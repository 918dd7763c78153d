"""Correct, unlike solution.py: the followers that may rejoin are judged one by one (from the
highest id), the HW recomputed after each rejoin; a rejoining follower has at least that HW, so
the order changes nothing. The ISR comes back as a tuple, with a print for each rejoin."""

def _hw(isr, leos, current):
    lowest = None
    for r in isr:
        if r not in leos:
            return current
        if lowest is None or leos[r] < lowest:
            lowest = leos[r]
    return current if lowest is None or lowest < current else lowest


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    oldest_ok = now - replica_lag_time_max
    new_isr = [leader]
    for r in sorted(isr):
        if r != leader and r in last_caught_up and last_caught_up[r] >= oldest_ok:
            new_isr.append(r)
    hw = _hw(new_isr, leos, high_watermark)
    for r in sorted(last_caught_up, reverse=True):
        if r in new_isr or r not in leos:
            continue
        if leos[r] >= hw and last_caught_up[r] >= oldest_ok:
            new_isr.append(r)
            hw = _hw(new_isr, leos, hw)
            print(f"broker {r} rejoined the ISR; HW {hw}")
    return tuple(new_isr), hw
