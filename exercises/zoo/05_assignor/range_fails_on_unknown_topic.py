"""Bug: range assignment looks up every subscribed topic's partition count, even a topic the
cluster has no metadata for (deleted, or not created yet): ``KeyError`` instead of skipping it
as Kafka does, so one member's stale subscription breaks the whole group's assignment.
"""

CAUGHT_BY = ("test_range_each_partition_once", "test_range_matches_kafka")


def assign(subscriptions, partitions_per_topic):
    result = {member: [] for member in subscriptions}
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    for topic in topics:
        members = sorted(m for m, subscribed in subscriptions.items() if topic in subscribed)
        count = partitions_per_topic[topic]  # BUG: KeyError for a topic with no metadata
        per_member, extra = divmod(count, len(members))
        for i, member in enumerate(members):
            start = per_member * i + min(i, extra)
            length = per_member + (1 if i < extra else 0)
            result[member].extend((topic, p) for p in range(start, start + length))
    return {member: sorted(owned) for member, owned in result.items()}


def assign_roundrobin(subscriptions, partitions_per_topic):
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
