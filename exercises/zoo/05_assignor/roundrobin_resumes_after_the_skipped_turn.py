"""Bug: round robin finds the next subscribed member for a partition, but moves the turn on by
one from the member whose turn it was, not from the member that got the partition.

The skipped members are visited again at the next partition, so a member right after a run of
unsubscribed ones gets several partitions in a row. With equal subscriptions nothing is ever
skipped and the result is Kafka's, Kafka's two documented examples come out right too; only
groups with different subscriptions show it.
"""

CAUGHT_BY = ('test_roundrobin_matches_kafka',)


def assign(subscriptions, partitions_per_topic):
    result = {member: [] for member in subscriptions}
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    for topic in topics:
        if topic not in partitions_per_topic:
            continue
        members = sorted(m for m, subscribed in subscriptions.items() if topic in subscribed)
        count = partitions_per_topic[topic]
        per_member, extra = divmod(count, len(members))
        for i, member in enumerate(members):
            start = per_member * i + min(i, extra)
            length = per_member + (1 if i < extra else 0)
            result[member].extend((topic, p) for p in range(start, start + length))
    return result


def assign_roundrobin(subscriptions, partitions_per_topic):
    members = sorted(subscriptions)
    result = {member: [] for member in members}
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    turn = 0
    for topic in topics:
        for partition in range(partitions_per_topic.get(topic, 0)):
            k = turn
            while topic not in subscriptions[members[k]]:
                k = (k + 1) % len(members)
            result[members[k]].append((topic, partition))
            turn = (turn + 1) % len(members)  # BUG: should continue after k
    return result
