"""Correct, in another style: each member's quota is computed up front (the first
``count % n`` members get one more), and the sorted partitions are cut into consecutive
slices of those sizes; round robin deals from a flat, sorted list of (topic, partition)
pairs with an index into the sorted members.
"""

from itertools import accumulate


def assign(subscriptions, partitions_per_topic):
    answer = {member: [] for member in subscriptions}
    for topic in sorted(set().union(*subscriptions.values())):
        if topic not in partitions_per_topic:
            continue
        takers = sorted(m for m in subscriptions if topic in subscriptions[m])
        count = partitions_per_topic[topic]
        quotas = [count // len(takers) + (i < count % len(takers)) for i in range(len(takers))]
        ends = list(accumulate(quotas))
        starts = [0] + ends[:-1]
        for member, start, end in zip(takers, starts, ends):
            answer[member] += [(topic, p) for p in range(start, end)]
    return {member: sorted(owned) for member, owned in answer.items()}


def assign_roundrobin(subscriptions, partitions_per_topic):
    members = sorted(subscriptions)
    answer = {member: [] for member in members}
    wanted = sorted(
        (topic, p)
        for topic in set().union(*subscriptions.values())
        for p in range(partitions_per_topic.get(topic, 0))
    )
    i = 0
    for topic, p in wanted:
        while topic not in subscriptions[members[i % len(members)]]:
            i += 1
        answer[members[i % len(members)]].append((topic, p))
        i += 1
    return answer
