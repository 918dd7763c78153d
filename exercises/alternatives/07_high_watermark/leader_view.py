"""Correct, unlike solution.py: a small class holds the leader's view and answers one
question per method; the update is three method calls."""


class _LeaderView:
    def __init__(self, leader, leos, last_caught_up, now, limit):
        self.leader = leader
        self.leos = dict(leos)
        self.caught = dict(last_caught_up)
        self.now = now
        self.limit = limit

    def recent(self, replica):
        return replica in self.caught and self.now - self.caught[replica] <= self.limit

    def watermark(self, current, members):
        offsets = [self.leos.get(m) for m in members]
        if None in offsets:
            return current
        return max(current, min(offsets))


def leader_update(leader, isr, high_watermark, leos, last_caught_up, now, replica_lag_time_max):
    view = _LeaderView(leader, leos, last_caught_up, now, replica_lag_time_max)
    members = {leader}
    members.update(r for r in isr if view.recent(r))
    hw = view.watermark(high_watermark, members)
    members.update([r for r in leos if r not in members and leos[r] >= hw and view.recent(r)])
    return frozenset(members), view.watermark(hw, members)
