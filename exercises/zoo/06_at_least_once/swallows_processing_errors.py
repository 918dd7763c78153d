"""Bug: an exception from process() is caught and ignored, and the batch is committed anyway.

The failed record is committed as if it had been processed: it is never retried, so it is lost,
and nobody learns that processing failed.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ('test_crash_loses_nothing',)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                try:
                    process(record)
                except Exception:
                    pass  # BUG: the record is dropped and then committed
        if batches:
            try:
                consumer.commit()
            except CommitFailedError:
                pass  # rebalanced meanwhile: the new owner re-reads from the last commit
