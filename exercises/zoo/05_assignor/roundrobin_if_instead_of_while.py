"""Bug: round robin skips one member not subscribed to the topic with ``if``, not ``while``.

When two members in a row are not subscribed, the turn moves past the first only, and the
second gets a partition of a topic it never subscribed to. With every member subscribed to
everything, or no two such members side by side, the result is right.
"""

CAUGHT_BY = ('test_roundrobin_each_partition_once', 'test_roundrobin_matches_kafka')


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
            if topic not in subscriptions[members[turn]]:  # BUG: skips one member at most
                turn = (turn + 1) % len(members)
            result[members[turn]].append((topic, partition))
            turn = (turn + 1) % len(members)
    return result
