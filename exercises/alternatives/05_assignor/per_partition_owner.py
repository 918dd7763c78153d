"""Correct, unlike solution.py: range decides the owner of each partition in turn (walking the
subscribers, moving on when one has its quota); round robin deals from a list of (topic,
partition) pairs built topic by topic, with a counter of dealt cards."""


def assign(subscriptions, partitions_per_topic):
    out = {}
    for member in subscriptions:
        out[member] = []
    for topic in sorted({t for ts in subscriptions.values() for t in ts}):
        if topic not in partitions_per_topic:
            continue
        subscribers = sorted(m for m, ts in subscriptions.items() if topic in ts)
        n = partitions_per_topic[topic]
        quota = [n // len(subscribers) + (1 if k < n % len(subscribers) else 0)
                 for k in range(len(subscribers))]
        k = 0
        for p in range(n):
            while quota[k] == 0:
                k += 1
            out[subscribers[k]].append((topic, p))
            quota[k] -= 1
    return out


def assign_roundrobin(subscriptions, partitions_per_topic):
    names = sorted(subscriptions)
    out = {name: [] for name in names}
    cards = []
    for topic in sorted({t for ts in subscriptions.values() for t in ts}):
        cards.extend((topic, p) for p in range(partitions_per_topic.get(topic, 0)))
    dealt = 0
    for topic, p in cards:
        while topic not in subscriptions[names[dealt % len(names)]]:
            dealt += 1
        out[names[dealt % len(names)]].append((topic, p))
        dealt += 1
    return out
