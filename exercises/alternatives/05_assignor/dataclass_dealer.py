"""Correct, unlike solution.py: typed, subscriptions copied into frozensets first, range with a
running partition counter, and round robin by a small dataclass dealer whose search for the next
subscriber goes at most once round the circle."""

from __future__ import annotations

from dataclasses import dataclass, field

Assignment = dict[str, list[tuple[str, int]]]


@dataclass
class Dealer:
    members: list[str]
    subs: dict[str, frozenset[str]]
    position: int = 0
    given: Assignment = field(default_factory=dict)

    def deal(self, topic: str, partition: int) -> None:
        for _ in range(len(self.members)):
            member = self.members[self.position]
            self.position = (self.position + 1) % len(self.members)
            if topic in self.subs[member]:
                self.given[member].append((topic, partition))
                return
        raise RuntimeError("no subscriber")


def _frozen(subscriptions) -> dict[str, frozenset[str]]:
    return {str(m): frozenset(t) for m, t in subscriptions.items()}


def assign(subscriptions, partitions_per_topic) -> Assignment:
    subs = _frozen(subscriptions)
    out: Assignment = {m: [] for m in subs}
    all_topics = sorted({t for ts in subs.values() for t in ts})
    for topic in all_topics:
        if topic not in partitions_per_topic:
            continue
        count = int(partitions_per_topic[topic])
        owners = sorted(m for m, ts in subs.items() if topic in ts)
        q, r = divmod(count, len(owners))
        partition = 0
        for i, m in enumerate(owners):
            take = q + (i < r)
            out[m].extend((topic, partition + k) for k in range(take))
            partition += take
    return out


def assign_roundrobin(subscriptions, partitions_per_topic) -> Assignment:
    subs = _frozen(subscriptions)
    dealer = Dealer(sorted(subs), subs, given={m: [] for m in subs})
    for topic in sorted({t for ts in subs.values() for t in ts}):
        for p in range(partitions_per_topic.get(topic, 0)):
            dealer.deal(topic, p)
    return dealer.given
