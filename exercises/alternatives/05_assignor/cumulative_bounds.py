"""Correct, unlike solution.py: range computes each member's bounds from the cumulative share
(``n * i // c`` is not Kafka's, so it uses the extras-first formula explicitly); round robin keeps
a position into the sorted members instead of a cycle, and results are built as sets."""


def _topics(subscriptions):
    every = set()
    for topics in subscriptions.values():
        every.update(topics)
    return sorted(every)


def assign(subscriptions, partitions_per_topic):
    result = {member: set() for member in subscriptions}
    for topic in _topics(subscriptions):
        count = partitions_per_topic.get(topic)
        if count is None:
            continue
        takers = sorted(m for m in subscriptions if topic in set(subscriptions[m]))
        c = len(takers)
        for i, member in enumerate(takers):
            low = i * (count // c) + min(i, count % c)
            high = (i + 1) * (count // c) + min(i + 1, count % c)
            result[member].update((topic, p) for p in range(low, high))
    return {member: sorted(parts) for member, parts in result.items()}


def assign_roundrobin(subscriptions, partitions_per_topic):
    members = sorted(subscriptions)
    wants = {m: set(subscriptions[m]) for m in members}
    result = {m: set() for m in members}
    position = 0
    for topic in _topics(subscriptions):
        for p in range(partitions_per_topic.get(topic, 0)):
            for step in range(len(members)):
                candidate = members[(position + step) % len(members)]
                if topic in wants[candidate]:
                    result[candidate].add((topic, p))
                    position = (position + step + 1) % len(members)
                    break
    return {m: sorted(result[m]) for m in members}
