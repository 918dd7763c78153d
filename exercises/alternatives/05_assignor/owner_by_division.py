"""Correct, unlike solution.py: range computes each partition's owner by division (the first
n % c members own n // c + 1 partitions each, the rest n // c), logging a skipped topic and
printing every decision; round robin searches from the turn with an unwrapped index."""

import logging

log = logging.getLogger(__name__)


def assign(subscriptions, partitions_per_topic):
    result = {}
    for member in subscriptions:
        result[member] = []
    topics = set()
    for ts in subscriptions.values():
        topics.update(ts)
    for topic in sorted(topics):
        if topic not in partitions_per_topic:
            log.warning("no metadata for %s", topic)
            continue
        owners = sorted([m for m in subscriptions if topic in subscriptions[m]])
        n, c = partitions_per_topic[topic], len(owners)
        big = n % c  # members 0..big-1 get n//c + 1
        for p in range(n):
            cut = big * (n // c + 1)
            if p < cut:
                i = p // (n // c + 1)
            else:
                i = big + (p - cut) // (n // c)
            result[owners[i]].append((topic, p))
            print("range", topic, p, "->", owners[i])
    return result


def assign_roundrobin(subscriptions, partitions_per_topic):
    members = sorted(subscriptions)
    result = {m: [] for m in members}
    topics = sorted({t for ts in subscriptions.values() for t in ts})
    nxt = 0
    for topic in topics:
        for p in range(partitions_per_topic.get(topic, 0)):
            k = nxt
            while topic not in subscriptions[members[k % len(members)]]:
                k += 1
            result[members[k % len(members)]].append((topic, p))
            nxt = (k + 1) % len(members)
            print("roundrobin", topic, p, "->", members[k % len(members)])
    return result
