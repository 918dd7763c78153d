"""Bug: the batch is committed before it is processed (at-most-once, not at-least-once).

If the member crashes in the middle of the batch, the group already committed past the records
it never processed: its successor starts after them, and they are lost.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ('test_crash_loses_nothing',)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        if batches:
            try:
                consumer.commit()  # BUG: before processing
            except CommitFailedError:
                pass
        for records in batches.values():
            for record in records:
                process(record)
