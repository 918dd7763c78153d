"""Bug: round robin builds its answer only from the partitions it deals, so a member that
gets none (more members than partitions) is missing from the result instead of mapped to an
empty list: the group's leader sends that member no assignment at all.
"""

CAUGHT_BY = ("test_roundrobin_every_member_present",)


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
    result = {}  # BUG: a member that gets nothing is missing from the answer
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    turn = 0
    for topic in topics:
        for partition in range(partitions_per_topic.get(topic, 0)):
            while topic not in subscriptions[members[turn]]:
                turn = (turn + 1) % len(members)
            result.setdefault(members[turn], []).append((topic, partition))
            turn = (turn + 1) % len(members)
    return result
