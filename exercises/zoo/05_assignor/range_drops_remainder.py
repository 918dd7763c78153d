"""Bug: range hands out only ``count // members`` partitions per member.

The remainder ``count % members`` is never assigned: those partitions have no owner and their
records are never consumed. The counts look even, but they add up to fewer partitions than the
topic has: no extras went to the first members.
"""

CAUGHT_BY = ('test_range_each_partition_once', 'test_range_balanced')


def assign(subscriptions, partitions_per_topic):
    """Range: for each topic, consecutive partitions to its subscribers in sorted order.

    With C0 and C1 both subscribed to t0 and t1 (3 partitions each):
    C0: [t0p0, t0p1, t1p0, t1p1] and C1: [t0p2, t1p2].
    """
    result = {member: [] for member in subscriptions}
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    for topic in topics:
        if topic not in partitions_per_topic:
            continue  # Kafka skips topics it has no metadata for
        members = sorted(m for m, subscribed in subscriptions.items() if topic in subscribed)
        count = partitions_per_topic[topic]
        per_member, extra = divmod(count, len(members))
        for i, member in enumerate(members):
            start = per_member * i
            length = per_member  # BUG: the remainder is dropped
            result[member].extend((topic, p) for p in range(start, start + length))
    return {member: sorted(owned) for member, owned in result.items()}


def assign_roundrobin(subscriptions, partitions_per_topic):
    """Round robin: all subscribed partitions, sorted, dealt to the sorted members in a circle.

    A member not subscribed to a partition's topic is skipped for it. With C0 and C1 both
    subscribed to t0 and t1 (3 partitions each): C0: [t0p0, t0p2, t1p1], C1: [t0p1, t1p0, t1p2].
    """
    members = sorted(subscriptions)
    result = {member: [] for member in members}
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    turn = 0
    for topic in topics:
        for partition in range(partitions_per_topic.get(topic, 0)):
            while topic not in subscriptions[members[turn]]:
                turn = (turn + 1) % len(members)
            result[members[turn]].append((topic, partition))
            turn = (turn + 1) % len(members)
    return result
