"""Bug: commit() after each partition's records, which commits the whole batch.

The loop commits as soon as it finished one partition's list, to repeat less after a crash.
But commit() without arguments commits the position after everything poll() returned, the
partitions not processed yet too: a crash on the first record of the batch's second partition
leaves the group's committed offset past records nobody ever processed.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ('test_crash_loses_nothing',)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                process(record)
            try:
                consumer.commit()  # BUG: commits the partitions of the batch not processed yet
            except CommitFailedError:
                pass
