"""Correct, unlike solution.py: kafka-python's shape: subscribers grouped per topic with a
defaultdict, range by slicing a list of partitions, round robin with ``itertools.cycle``."""

import itertools
from collections import defaultdict


def assign(subscriptions, partitions_per_topic):
    by_topic = defaultdict(list)
    for member, topics in subscriptions.items():
        for topic in topics:
            by_topic[topic].append(member)
    owned = defaultdict(list)
    for topic, members in by_topic.items():
        if topic not in partitions_per_topic:
            continue
        members.sort()
        partitions = list(range(partitions_per_topic[topic]))
        share, rest = divmod(len(partitions), len(members))
        start = 0
        for index, member in enumerate(members):
            size = share + (index < rest)
            owned[member] += [(topic, p) for p in partitions[start:start + size]]
            start += size
    return {member: owned[member] for member in subscriptions}


def assign_roundrobin(subscriptions, partitions_per_topic):
    members = sorted(subscriptions)
    owned = {member: [] for member in members}
    if not members:
        return owned
    wanted = sorted(
        (topic, p)
        for topic in set().union(*map(set, subscriptions.values()))
        if topic in partitions_per_topic
        for p in range(partitions_per_topic[topic])
    )
    ring = itertools.cycle(members)
    member = next(ring)
    for topic, p in wanted:
        while topic not in subscriptions[member]:
            member = next(ring)
        owned[member].append((topic, p))
        member = next(ring)
    return owned
