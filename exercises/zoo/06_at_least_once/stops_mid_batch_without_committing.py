"""Bug: the loop stops in the middle of a batch and returns without committing what it processed.

It checks should_stop() between records too, and knows that commit() would commit the whole
batch; so it commits nothing and returns at once. Nothing is lost, but the records it did process
are delivered again to whoever takes the partitions over: a clean stop repeats work that a
commit of the offsets processed (``{tp: OffsetAndMetadata(last + 1, "")}``) would have kept.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ("test_stop_mid_batch_loses_nothing",)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for record in records:
                if should_stop():
                    return  # BUG: the records processed since the last commit are not committed
                process(record)
        if batches:
            try:
                consumer.commit()
            except CommitFailedError:
                pass
