"""Exercise 07: the leader's ISR and high-watermark update. Edit this file (see README.md).

Interface: ``leader_update(leader, isr, high_watermark, leos, last_caught_up, now,
replica_lag_time_max)`` returning ``(new_isr, new_high_watermark)``.
"""


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    """Return ``(new_isr, new_high_watermark)`` after one pass of the leader's bookkeeping."""
    raise NotImplementedError(
        "steps A-C: drop followers not caught up within replica_lag_time_max (never the "
        "leader); let caught-up followers with LEO >= HW rejoin; HW = max(current, min LEO "
        "over the new ISR)"
    )
