"""Correct, unlike solution.py: range peels off shares one member at a time, and round robin
turns a deque of members.

Range: each subscriber in sorted order takes the ceiling of (partitions left / members left),
which hands the ``n % c`` extra partitions to the first members, exactly as Kafka's
``n // c`` plus one for ``i < n % c``. Round robin: the member whose turn it is sits at the
front of a ``collections.deque``; ``rotate(-1)`` passes the turn on, across topics.
"""

from collections import deque


def assign(subscriptions, partitions_per_topic):
    """Range, share by share: C0 and C1 on t0 and t1 (3 partitions each) give
    C0: [t0p0, t0p1, t1p0, t1p1] and C1: [t0p2, t1p2]."""
    owned = {member: [] for member in subscriptions}
    subscribed = set().union(*map(set, subscriptions.values()))
    for topic in sorted(subscribed & set(partitions_per_topic)):
        members = sorted(m for m in subscriptions if topic in subscriptions[m])
        next_partition, left = 0, partitions_per_topic[topic]
        for position, member in enumerate(members):
            share = -(-left // (len(members) - position))  # ceiling division
            owned[member] += [(topic, p) for p in range(next_partition, next_partition + share)]
            next_partition += share
            left -= share
    return owned


def assign_roundrobin(subscriptions, partitions_per_topic):
    """Round robin with a rotating deque: C0 and C1 on t0 and t1 (3 partitions each) give
    C0: [t0p0, t0p2, t1p1] and C1: [t0p1, t1p0, t1p2]."""
    owned = {member: [] for member in subscriptions}
    circle = deque(sorted(subscriptions))
    every_topic = sorted(set().union(*map(set, subscriptions.values())))
    partitions = [(t, p) for t in every_topic for p in range(partitions_per_topic.get(t, 0))]
    for topic, partition in partitions:
        while topic not in subscriptions[circle[0]]:
            circle.rotate(-1)
        owned[circle[0]].append((topic, partition))
        circle.rotate(-1)
    return owned
