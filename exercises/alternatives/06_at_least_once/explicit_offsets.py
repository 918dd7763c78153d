"""Correct, unlike solution.py: commits explicit offsets (the next offset to read) for exactly
the partitions of the batch just processed."""

from pcmodel.topics import CommitFailedError, OffsetAndMetadata


def consume(consumer, process, should_stop):
    while not should_stop():
        batch = consumer.poll(timeout_ms=100, max_records=None)
        if not batch:
            continue
        done = {}
        for partition, records in batch.items():
            for record in records:
                process(record)
            done[partition] = OffsetAndMetadata(records[-1].offset + 1, "")
        try:
            consumer.commit(done)
        except CommitFailedError:
            continue  # the group moved on without us; the next poll rejoins
