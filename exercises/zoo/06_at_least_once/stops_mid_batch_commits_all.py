"""Bug: the loop stops in the middle of a batch, then commits the whole batch.

It checks should_stop() between records too, to stop promptly. But commit() without arguments
commits the position after everything poll() returned: when it stops in the middle of a batch,
the group's committed offset passes the records it never processed, and nobody ever will.
"""

from pcmodel.topics.errors import CommitFailedError

CAUGHT_BY = ('test_stop_mid_batch_loses_nothing',)


def consume(consumer, process, should_stop):
    while not should_stop():
        batches = consumer.poll(timeout_ms=100)
        stopping = False
        for records in batches.values():
            for record in records:
                if should_stop():
                    stopping = True
                    break
                process(record)
            if stopping:
                break
        if batches:
            try:
                consumer.commit()  # BUG: after a stop mid-batch, past unprocessed records
            except CommitFailedError:
                pass
        if stopping:
            return
