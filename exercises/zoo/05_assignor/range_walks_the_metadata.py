"""Bug: range walks the topics of ``partitions_per_topic``, not the topics subscribed to.

The metadata can name a topic no member subscribed to: it has no subscribers, and dividing its
partitions among none raises ``ZeroDivisionError``, so the group gets no assignment at all.
"""

CAUGHT_BY = ('test_range_each_partition_once', 'test_range_matches_kafka')


def assign(subscriptions, partitions_per_topic):
    """Range: for each topic, consecutive partitions to its subscribers in sorted order.

    With C0 and C1 both subscribed to t0 and t1 (3 partitions each):
    C0: [t0p0, t0p1, t1p0, t1p1] and C1: [t0p2, t1p2].
    """
    result = {member: [] for member in subscriptions}
    for topic in sorted(partitions_per_topic):  # BUG: a topic nobody subscribed to has no members
        members = sorted(m for m, subscribed in subscriptions.items() if topic in subscribed)
        count = partitions_per_topic[topic]
        per_member, extra = divmod(count, len(members))
        for i, member in enumerate(members):
            start = per_member * i + min(i, extra)
            length = per_member + (1 if i < extra else 0)
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
