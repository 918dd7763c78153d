"""Correct, unlike solution.py: a replica whose LEO is unknown counts as having exactly the
current high watermark, so ``min`` needs no special case: it can never lift the HW above the
current one, and ``max`` with the current HW keeps it there. The ISR is built with set algebra,
and the HW for rejoining is the same function as the final one."""


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    in_sync = {r for r, t in last_caught_up.items() if now - t <= replica_lag_time_max}

    def watermark(current, members):
        return max(current, min(leos.get(r, current) for r in members))

    kept = (set(isr) & in_sync) | {leader}
    threshold = watermark(high_watermark, kept)
    rejoining = {r for r, leo in leos.items() if leo >= threshold} & in_sync
    new_isr = kept | rejoining
    return new_isr, watermark(threshold, new_isr)
