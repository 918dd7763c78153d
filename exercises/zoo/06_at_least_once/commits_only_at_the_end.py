"""Bug: offsets are committed only when the loop stops.

Nothing is lost, but after a crash the successor starts from the beginning: everything the
crashed member processed is processed again, not just its last batch.
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
        consumer.commit()  # BUG: only once, at the very end
    except CommitFailedError:
        pass
