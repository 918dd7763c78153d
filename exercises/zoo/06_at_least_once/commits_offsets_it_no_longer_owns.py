"""Bug: the loop keeps every offset it ever processed in one dict, and commits the whole dict.

Committing explicit offsets (the next offset to read of each record processed) is fine, but the
dict outlives a rebalance: once another member owns a partition this one read before, every
later commit writes the old offset for it again. The broker accepts it (any member of the
current generation may commit any partition), so the new owner's progress is moved back, and
the records between are delivered again after the next failure.
"""

from pcmodel.topics import CommitFailedError, OffsetAndMetadata

CAUGHT_BY = ("test_survives_a_rebalance",)


def consume(consumer, process, should_stop):
    done = {}  # BUG: never forgets a partition the group gave to another member
    while not should_stop():
        batch = consumer.poll(timeout_ms=100)
        if not batch:
            continue
        for partition, records in batch.items():
            for record in records:
                process(record)
                done[partition] = OffsetAndMetadata(record.offset + 1, "")
        try:
            consumer.commit(dict(done))
        except CommitFailedError:
            continue
