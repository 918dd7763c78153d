"""Bug: round robin deals the partitions of every topic the cluster knows, not only of the
subscribed topics. A topic nobody subscribed to has no member to take it: the search for
the next subscriber goes round the circle for ever (the assignment never returns).
"""

CAUGHT_BY = ("test_roundrobin_each_partition_once", "test_roundrobin_matches_kafka")


def assign(subscriptions, partitions_per_topic):
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
    members = sorted(subscriptions)
    result = {member: [] for member in members}
    turn = 0
    for topic in partitions_per_topic:  # BUG: every known topic, subscribed or not
        for partition in range(partitions_per_topic[topic]):
            while topic not in subscriptions[members[turn]]:
                turn = (turn + 1) % len(members)
            result[members[turn]].append((topic, partition))
            turn = (turn + 1) % len(members)
    return result
