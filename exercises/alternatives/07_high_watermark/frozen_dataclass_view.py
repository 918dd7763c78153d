"""Correct, unlike solution.py: a frozen dataclass holds copies of the leader's view, typed; the
ISR comes back as a sorted list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionView:
    leader: int
    leos: dict[int, int]
    last_caught_up: dict[int, float]
    now: float
    limit: float

    def in_time(self, follower: int) -> bool:
        seen = self.last_caught_up.get(follower)
        return seen is not None and self.now - seen <= self.limit

    def hw_over(self, members: set[int], current: int) -> int:
        if not all(m in self.leos for m in members):
            return current
        return max(current, min(self.leos[m] for m in members))


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now,
                  replica_lag_time_max) -> tuple[list[int], int]:
    view = PartitionView(leader, dict(leos), dict(last_caught_up), now, replica_lag_time_max)
    kept = {leader} | {r for r in isr if r != leader and view.in_time(r)}
    hw = view.hw_over(kept, high_watermark)
    joiners = {r for r in view.leos if r not in kept and view.leos[r] >= hw and view.in_time(r)}
    new_isr = kept | joiners
    return sorted(new_isr), view.hw_over(new_isr, hw)
