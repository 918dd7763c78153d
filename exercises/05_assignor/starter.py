"""Exercise 05: Kafka's range and round-robin assignors. Edit this file (see README.md).

Interface: ``assign(subscriptions, partitions_per_topic)`` (range) and
``assign_roundrobin(subscriptions, partitions_per_topic)``, each returning
``{member_id: [(topic, partition), ...]}`` with every member present.
"""


def assign(subscriptions, partitions_per_topic):
    """Range: for each topic, consecutive partitions to its subscribers in sorted order."""
    raise NotImplementedError(
        "steps A-B: start from {member: []}; per sorted topic, split its partitions into "
        "consecutive ranges over its sorted subscribers, extras to the first"
    )


def assign_roundrobin(subscriptions, partitions_per_topic):
    """Round robin: all subscribed partitions, sorted, dealt to the sorted members in a circle."""
    raise NotImplementedError(
        "step D: deal sorted (topic, partition) pairs to sorted members in one circle, "
        "skipping members not subscribed to the topic"
    )
