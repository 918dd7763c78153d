"""Bug: range sorts a topic's subscribers by the number in their member id ("natural" order:
consumer-9 before consumer-10), not as strings.

It reads better, and for C0..C9 it is the same order. But the range assignor is Kafka's, and
Kafka compares member ids as strings: with consumer-10 and consumer-9 in a group, the extra
partitions go to the wrong members, and a group whose leader runs another client (the Java
one, kafka-python) gets another assignment than this one for the same members.
"""

import re

CAUGHT_BY = ("test_range_balanced", "test_range_matches_kafka")


def _key(member):
    digits = re.findall(r"\d+", member)
    return (int(digits[-1]) if digits else -1, member)


def assign(subscriptions, partitions_per_topic):
    result = {member: [] for member in subscriptions}
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    for topic in topics:
        if topic not in partitions_per_topic:
            continue
        members = sorted((m for m, s in subscriptions.items() if topic in s), key=_key)  # BUG
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
            while topic not in subscriptions[members[turn]]:
                turn = (turn + 1) % len(members)
            result[members[turn]].append((topic, partition))
            turn = (turn + 1) % len(members)
    return result
